"""The delivery-report (DLR) callback providers call: `/dlr/<token>/`.

Thin: find the provider by its secret token and check its basic auth, when it has one
(`providers.callbacks`, shared with the inbound URL), read the body in the provider's
DLR format, apply its reports as one set with `reports_apply`, and answer the way that
format's senders expect. CleverTap's `replied` records are also stored as replies
(`providers.inbound`), and one that names no message is only that. Bad input gets a
4xx, never a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from providers.callbacks import Call, answer, call_params, call_received, unprocessed
from providers.dlr import clevertap, custom, params, sinch_rest
from providers.dlr.apply import report_apply, reports_apply
from providers.dlr.base import MalformedBody, NotConfigured, Parsed
from providers.inbound.base import Incoming
from providers.inbound.services import replies_receive
from providers.models import DeliveryReport, Provider

logger = logging.getLogger(__name__)

Format = Provider.DlrFormat


@csrf_exempt
def dlr_callback(request: HttpRequest, token: str) -> HttpResponse:
    call = call_received(
        request, token, field="callback_token", format_field="dlr_format", what="DLR callback"
    )
    if isinstance(call, HttpResponse):
        return call
    provider = call.provider
    if call.plain:
        return _params_callback(request, call)
    try:
        parsed, replies = _parse(provider, call.body)
    except MalformedBody as exc:
        return call.refuse(400, str(exc))
    except NotConfigured as exc:
        return call.refuse(503, str(exc))
    processed, not_taken = _apply(provider, parsed)
    # Replies that name no message of ours are the inbound handling's alone; those that
    # do were counted with their report above and are stored as replies as well.
    for reply, problem in replies_receive(provider=provider, replies=replies):
        if reply.message_ref:
            continue
        if problem:
            not_taken.append(unprocessed(400, problem, reply.raw))
        else:
            processed += 1
    # A busy provider calls hundreds of times a second: only what went wrong is news.
    logger.log(
        logging.INFO if not_taken else logging.DEBUG,
        "DLR callback for provider %s: %s processed, %s unprocessed",
        provider.pk,
        processed,
        len(not_taken),
    )
    return answer(processed, not_taken)


def _parse(provider: Provider, body: bytes) -> tuple[Parsed, list[Incoming]]:
    if provider.dlr_format == Format.SINCH_REST:
        return sinch_rest.parse(body), []
    if provider.dlr_format == Format.CUSTOM:
        return custom.parse(body, provider.dlr_mapping), []
    parsed = clevertap.parse(body)
    return parsed, parsed.replies


def _apply(provider: Provider, parsed: Parsed) -> tuple[int, list[dict[str, Any]]]:
    not_taken = [unprocessed(error.code, error.error, error.record) for error in parsed.errors]
    processed = 0
    outcomes = reports_apply(provider=provider, reports=parsed.reports)
    for report, outcome in zip(parsed.reports, outcomes, strict=True):
        if outcome == DeliveryReport.Outcome.UNKNOWN_MESSAGE:
            # Stored for audit by reports_apply, but the sender should know it matched nothing.
            not_taken.append(unprocessed(404, "unknown message id", report.raw))
        else:
            processed += 1
    return processed, not_taken


def _params_callback(request: HttpRequest, call: Call) -> HttpResponse:
    provider = call.provider
    try:
        values = call_params(request)
        report = params.parse(values)
    except MalformedBody as exc:
        return call.refuse(400, str(exc))
    outcome = report_apply(provider=provider, report=report)
    level = logging.INFO if outcome == DeliveryReport.Outcome.UNKNOWN_MESSAGE else logging.DEBUG
    logger.log(level, "DLR callback for provider %s: %s", provider.pk, outcome)
    return HttpResponse(params.answer(values, outcome), content_type="text/plain")
