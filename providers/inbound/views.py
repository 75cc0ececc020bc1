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

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from providers.callbacks import Call, answer, call_params, call_received, unprocessed
from providers.dlr.base import MalformedBody, NotConfigured
from providers.inbound import clevertap, custom, params, sinch_rest
from providers.inbound.base import ParsedReplies
from providers.inbound.services import replies_receive
from providers.models import Provider

logger = logging.getLogger(__name__)

Format = Provider.InboundFormat


@csrf_exempt
def inbound_callback(request: HttpRequest, token: str) -> HttpResponse:
    call = call_received(
        request, token, field="inbound_token", format_field="inbound_format", what="Inbound URL"
    )
    if isinstance(call, HttpResponse):
        return call
    provider = call.provider
    if call.plain:
        return _params_reply(request, call)
    try:
        parsed = _parse(provider, call.body)
    except MalformedBody as exc:
        return call.refuse(400, str(exc))
    except NotConfigured as exc:
        return call.refuse(503, str(exc))
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


def _params_reply(request: HttpRequest, call: Call) -> HttpResponse:
    provider = call.provider
    try:
        values = call_params(request)
        incoming = params.parse(values)
    except MalformedBody as exc:
        return call.refuse(400, str(exc))
    [(_, problem)] = replies_receive(provider=provider, replies=[incoming])
    if problem:
        return call.refuse(400, problem)
    logger.debug("Inbound URL for provider %s: reply stored", provider.pk)
    return HttpResponse(params.answer(values), content_type="text/plain")
