"""The inbound URL providers push replies (MO) to: `/mo/<token>/`.

Thin, like the DLR callback: the same guard (`providers.callbacks`: the inbound token,
the provider's optional basic auth, the 1 MB limit), the provider's inbound format's
parser, `replies_receive` for what it read, and the answer that format's senders expect.
A JSON body is answered in the DLR callback's shape; it is 400 when it held no reply at
all that could be stored, and 200 when it held some, each one not stored listed with
its reason. Parameters (Kannel, Jasmin) are answered in text.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from providers.callbacks import (
    MAX_BODY_BYTES,
    answer,
    provider_or_refusal,
    quiet,
    read_body,
    refused,
    unprocessed,
)
from providers.dlr.base import MalformedBody, NotConfigured, clean_params
from providers.inbound import clevertap, custom, params, sinch_rest
from providers.inbound.base import ParsedReplies
from providers.inbound.services import replies_receive
from providers.models import Provider

logger = logging.getLogger(__name__)

Format = Provider.InboundFormat


@csrf_exempt
def inbound_callback(request: HttpRequest, token: str) -> HttpResponse:
    found = provider_or_refusal(request, token, field="inbound_token", what="Inbound URL")
    if isinstance(found, HttpResponse):
        return found
    provider = found
    allowed = ["GET", "POST"] if provider.inbound_format == Format.PARAMS else ["POST"]
    if request.method not in allowed:
        return quiet(HttpResponseNotAllowed(allowed))
    body = read_body(request)
    if body is None:
        return _failure(provider, 413, f"body larger than {MAX_BODY_BYTES // 1024 // 1024} MB")
    if provider.inbound_format == Format.PARAMS:
        return _params_reply(request, provider)
    try:
        parsed = _parse(provider, body)
    except MalformedBody as exc:
        return _failure(provider, 400, str(exc))
    except NotConfigured as exc:
        return _failure(provider, 503, str(exc))
    processed, not_taken = _receive(provider, parsed)
    logger.log(
        logging.INFO if not_taken else logging.DEBUG,
        "Inbound URL for provider %s: %s replies stored, %s refused",
        provider.pk,
        processed,
        len(not_taken),
    )
    return answer(processed, not_taken, status=400 if not_taken and not processed else 200)


def _parse(provider: Provider, body: bytes) -> ParsedReplies:
    if provider.inbound_format == Format.SINCH_REST:
        return sinch_rest.parse(body)
    if provider.inbound_format == Format.CUSTOM:
        return custom.parse(body, provider.inbound_mapping)
    return clevertap.parse(body)


def _receive(provider: Provider, parsed: ParsedReplies) -> tuple[int, list[dict[str, Any]]]:
    not_taken = [unprocessed(error.code, error.error, error.record) for error in parsed.errors]
    processed = 0
    for reply, problem in replies_receive(provider=provider, replies=parsed.replies):
        if problem:
            not_taken.append(unprocessed(400, problem, reply.raw))
        else:
            processed += 1
    return processed, not_taken


def _params_reply(request: HttpRequest, provider: Provider) -> HttpResponse:
    try:
        # Form fields win over the query string, as on the DLR callback.
        values = clean_params({**request.GET.dict(), **request.POST.dict()})
        incoming = params.parse(values)
    except (MalformedBody, MultiPartParserError, SuspiciousOperation) as exc:
        return _failure(provider, 400, str(exc) or "unreadable parameters")
    [(_, problem)] = replies_receive(provider=provider, replies=[incoming])
    if problem:
        return _failure(provider, 400, problem)
    logger.debug("Inbound URL for provider %s: reply stored", provider.pk)
    return HttpResponse(params.answer(values), content_type="text/plain")


def _failure(provider: Provider, status: int, error: str) -> HttpResponse:
    plain = provider.inbound_format == Format.PARAMS
    return refused(provider, status, error, what="Inbound URL", plain=plain)
