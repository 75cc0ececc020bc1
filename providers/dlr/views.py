"""The delivery-report (DLR) callback providers call: `/dlr/<token>/`.

Thin: find the provider by its secret token (and check its basic auth, when it has
one), read the body in the provider's DLR
format, apply its reports as one set with `reports_apply`, and answer the way
that format's senders expect. Bad input gets a 4xx, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from providers.dlr import clevertap, custom, params, sinch_rest
from providers.dlr.apply import report_apply, reports_apply
from providers.dlr.base import MalformedBody, NotConfigured, Parsed, clean_params
from providers.models import DeliveryReport, Provider, callback_token_digest
from smsgateway.process_cache import ProcessCache

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# What secrets.token_urlsafe produces; anything else cannot match, and some of it (a NUL)
# would make PostgreSQL raise instead of simply finding nothing.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
Format = Provider.DlrFormat
CALLBACK_FIELDS = (
    "nickname",
    "dlr_format",
    "dlr_mapping",
    "callback_token",
    "callback_username",
    "callback_password",
)


@csrf_exempt
def dlr_callback(request: HttpRequest, token: str) -> HttpResponse:
    provider = _provider_for_token(token)
    if provider is None:
        logger.warning("DLR callback with an unknown token")
        return _quiet(HttpResponse("Unknown callback URL.", status=404, content_type="text/plain"))
    if provider.callback_requires_auth and not _basic_auth_ok(request, provider):
        logger.warning("DLR callback for provider %s without valid basic auth", provider.pk)
        response = HttpResponse("Authentication required.", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Basic realm="smsgateway DLR", charset="UTF-8"'
        return _quiet(response)
    allowed = ["GET", "POST"] if provider.dlr_format == Format.PARAMS else ["POST"]
    if request.method not in allowed:
        return _quiet(HttpResponseNotAllowed(allowed))
    body = _read_body(request)
    if body is None:
        return _failure(provider, 413, "body larger than 1 MB")
    if provider.dlr_format == Format.PARAMS:
        return _params_callback(request, provider)
    try:
        parsed = _parse(provider, body)
    except MalformedBody as exc:
        return _failure(provider, 400, str(exc))
    except NotConfigured as exc:
        return _failure(provider, 503, str(exc))
    processed, unprocessed = _apply(provider, parsed)
    status = "success" if not unprocessed else "partial" if processed else "fail"
    # A busy provider calls hundreds of times a second: only what went wrong is news.
    logger.log(
        logging.INFO if unprocessed else logging.DEBUG,
        "DLR callback for provider %s: %s processed, %s unprocessed",
        provider.pk,
        processed,
        len(unprocessed),
    )
    return JsonResponse({"status": status, "processed": processed, "unprocessed": unprocessed})


def _provider_for_token(token: str) -> Provider | None:
    """The provider whose callback token this is, compared in constant time.

    The database is asked for the token's SHA-256, never the token itself, so how long a
    lookup takes says nothing about how close a guess was.
    """
    if not TOKEN_RE.fullmatch(token):
        return None
    provider = _provider_cached(callback_token_digest(token))
    if provider is None:
        return None
    return provider if hmac.compare_digest(provider.callback_token, token) else None


# The providers found by callback token, kept for a moment (smsgateway.process_cache).
_found: ProcessCache[Provider] = ProcessCache()


def _provider_cached(digest: str) -> Provider | None:
    return _found.get(digest, lambda: _provider_by_digest(digest))


@receiver([post_save, post_delete], sender=Provider)
def _forget_providers(**kwargs: Any) -> None:
    _found.clear()


def _provider_by_digest(digest: str) -> Provider | None:
    """The provider with only the callback's fields loaded: its sending credentials stay
    encrypted."""
    return (
        Provider.objects.only("id", *CALLBACK_FIELDS).filter(callback_token_digest=digest).first()
    )


def _basic_auth_ok(request: HttpRequest, provider: Provider) -> bool:
    scheme, _, encoded = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        username, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    # Both compared, always, so a wrong username takes as long as a wrong password.
    username_ok = hmac.compare_digest(username.encode(), provider.callback_username.encode())
    password_ok = hmac.compare_digest(password.encode(), provider.callback_password.encode())
    return bool(sep) and username_ok and password_ok


def _read_body(request: HttpRequest) -> bytes | None:
    """The body, or None when it is over the limit (checked before reading when possible)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return None
    try:
        body = request.body
    except RequestDataTooBig:
        return None
    return body if len(body) <= MAX_BODY_BYTES else None


def _parse(provider: Provider, body: bytes) -> Parsed:
    if provider.dlr_format == Format.SINCH_REST:
        return sinch_rest.parse(body)
    if provider.dlr_format == Format.CUSTOM:
        return custom.parse(body, provider.dlr_mapping)
    return clevertap.parse(body)


def _apply(provider: Provider, parsed: Parsed) -> tuple[int, list[dict[str, Any]]]:
    unprocessed = [_unprocessed(error.code, error.error, error.record) for error in parsed.errors]
    processed = 0
    outcomes = reports_apply(provider=provider, reports=parsed.reports)
    for report, outcome in zip(parsed.reports, outcomes, strict=True):
        if outcome == DeliveryReport.Outcome.UNKNOWN_MESSAGE:
            # Stored for audit by reports_apply, but the sender should know it matched nothing.
            unprocessed.append(_unprocessed(404, "unknown message id", report.raw))
        else:
            processed += 1
    return processed, unprocessed


def _unprocessed(code: int, error: str, record: Any) -> dict[str, Any]:
    return {"status": "fail", "code": code, "error": error, "record": record}


def _params_callback(request: HttpRequest, provider: Provider) -> HttpResponse:
    try:
        # Form fields win over the query string: the dlr-url's own query comes first.
        values = clean_params({**request.GET.dict(), **request.POST.dict()})
        report = params.parse(values)
    except (MalformedBody, MultiPartParserError, SuspiciousOperation) as exc:
        return _failure(provider, 400, str(exc) or "unreadable parameters")
    outcome = report_apply(provider=provider, report=report)
    level = logging.INFO if outcome == DeliveryReport.Outcome.UNKNOWN_MESSAGE else logging.DEBUG
    logger.log(level, "DLR callback for provider %s: %s", provider.pk, outcome)
    return HttpResponse(params.answer(values, outcome), content_type="text/plain")


def _failure(provider: Provider, status: int, error: str) -> HttpResponse:
    logger.warning("DLR callback for provider %s refused (%s): %s", provider.pk, status, error)
    response: HttpResponse
    if provider.dlr_format == Format.PARAMS:
        response = HttpResponse(error, status=status, content_type="text/plain")
    else:
        response = JsonResponse({"status": "fail", "processed": 0, "error": error}, status=status)
    return _quiet(response)


def _quiet(response: HttpResponse) -> HttpResponse:
    # Django logs every 4xx with the request path, and here the path holds the provider's
    # secret token; the lines above log the provider's id instead.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response
