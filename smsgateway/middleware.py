"""Response headers every page carries, and the error answer of the URLs providers call."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)


class ContentSecurityPolicyMiddleware:
    """Adds settings.CONTENT_SECURITY_POLICY to every response that has none.

    One fixed policy needs no nonces, so a few lines do what a library would.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response


# The URLs providers call, each with a secret token in its path, and what the log calls them.
CALLBACK_URLS = {"dlr_callback": "DLR callback", "inbound_callback": "Inbound URL"}


class CallbackErrorMiddleware:
    """Answers an unexpected error in the DLR callback (or the inbound URL) without its
    URL reaching a log.

    The callback's path holds the provider's secret token; Django would log it and mail
    it to ADMINS with the traceback. Here the error is logged with the traceback but
    without the path, and the provider gets a 500, so it retries the report later.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        match = request.resolver_match
        if match is None or match.url_name not in CALLBACK_URLS:
            return None
        logger.error("%s failed", CALLBACK_URLS[match.url_name], exc_info=exception)
        response = JsonResponse(
            {"status": "fail", "processed": 0, "error": "internal error, retry later"},
            status=500,
        )
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response
