"""Sending one message at once, outside the dispatcher: an operator's "send now" and
the provider page's Send Test SMS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from providers import phones
from providers.http import oauth, transport
from providers.http.transport import ErrorKind, SendResult
from providers.models import Message, MessageEvent, Provider
from providers.sending.claims import Claimed
from providers.sending.create import message_create
from providers.sending.record import Outcome, answer_outcome, messages_record, transport_mask
from providers.sending.rendering import RenderError, render_request


def message_send_now(*, message: Message, retry: bool = True) -> Outcome:
    """Send a message created claimed (`message_create(claimed=True)`) here and now, over
    the single-call transport, and record the outcome: the test SMS, whose result is
    shown at once. With `retry` off, a transient failure fails it at once."""
    claimed = Claimed(
        id=message.id,
        provider_id=message.provider_id,
        to=message.to,
        body=message.body,
        template_id=message.template_id,
        variables=message.variables,
        campaign_ref=message.campaign_ref,
        attempts=message.attempts,
    )
    provider = message.provider
    try:
        if provider.auth_type == Provider.AuthType.OAUTH2:
            result, masked = _send_with_token(provider, [claimed])
        else:
            result, masked = _request_and_send(provider, [claimed])
    except oauth.TokenUnavailable as exc:
        result, masked = SendResult(ok=False, error_kind=ErrorKind.TOKEN, error=str(exc)), {}
        if retry:
            _message_hold(claimed, result)
            return Outcome([claimed], result, masked)
    outcome = answer_outcome(provider, [claimed], result, masked)
    messages_record(outcomes=[outcome], retry=retry)
    return outcome


def _send_with_token(
    provider: Provider, messages: Sequence[Claimed]
) -> tuple[SendResult, dict[str, Any]]:
    """Send with the provider's OAuth 2.0 token; a 401 to it drops it and the request
    goes once more with a new one. Raises oauth.TokenUnavailable."""
    token = oauth.access_token_get(provider=provider).value
    result, masked = _request_and_send(provider, messages, access_token=token)
    if result.http_status == 401:
        oauth.access_token_drop(provider_id=provider.id, token=token)
        token = oauth.access_token_get(provider=provider).value
        result, masked = _request_and_send(provider, messages, access_token=token)
    return result, masked


def _message_hold(message: Claimed, result: SendResult) -> None:
    """Back to the queue with no attempt counted, as the dispatcher holds a provider
    whose token cannot be had; tried again after SMSGATEWAY_OAUTH_RETRY_SECONDS."""
    now = timezone.now()
    retry_at = now + timedelta(seconds=settings.SMSGATEWAY_OAUTH_RETRY_SECONDS)
    held = Message.objects.filter(id=message.id, status=Message.Status.SENDING).update(
        status=Message.Status.QUEUED, claim=None, next_attempt_at=retry_at, updated_at=now
    )
    if held:
        MessageEvent.objects.create(
            message_id=message.id,
            source=MessageEvent.Source.SYSTEM,
            status=Message.Status.QUEUED,
            code=result.error_kind,
            description=f"Held: {result.error_title}: {result.error}",
        )


def _request_and_send(
    provider: Provider, messages: Sequence[Claimed], *, access_token: str = ""
) -> tuple[SendResult, dict[str, Any]]:
    """Render and send one request (the single-call transport); no database access."""
    try:
        request = render_request(provider, messages, access_token=access_token)
    except RenderError as exc:
        return SendResult(ok=False, error_kind=ErrorKind.INVALID, error=str(exc)), {}
    result = transport.send(request, session=transport.session_for(provider.id))
    # The provider may echo a credential back; it must not reach our records.
    result.response = transport_mask(result.response, request.secrets)
    result.error = transport_mask(result.error, request.secrets)
    return result, request.masked()


# ---------------------------------------------------------------- test SMS


@dataclass
class TestSmsResult:
    ok: bool
    message_id: str | None
    http_status: int | None = None
    response: str = ""
    error: str = ""
    error_kind: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)
    # What the provider's response rules read from the answer, and the id it gave.
    readout: list[str] = field(default_factory=list)
    provider_message_id: str = ""


def test_sms_send(
    *,
    provider: Provider,
    country_code: str,
    mobile: str,
    message: str,
    template_id: str = "",
    variables: dict[str, Any] | None = None,
    user: Any = None,
) -> TestSmsResult:
    """Send a test SMS inline so its outcome can be shown at once.

    Invalid input comes back as `errors` (nothing is sent); a provider failure as
    `ok=False` with the kind of failure and the provider's answer.
    """
    try:
        number = phones.from_parts(country_code, mobile)
    except phones.InvalidNumber as exc:
        return TestSmsResult(ok=False, message_id=None, errors={"mobile": [str(exc)]})
    try:
        created = message_create(
            provider=provider,
            to=number,
            body=message,
            template_id=template_id,
            variables=variables,
            is_test=True,
            created_by=user,
            claimed=True,
        )
    except ValidationError as exc:
        errors = {("mobile" if k == "to" else k): v for k, v in exc.message_dict.items()}
        return TestSmsResult(ok=False, message_id=None, errors=errors)
    # A test is answered now: no silent retry in the background.
    sent = message_send_now(message=created, retry=False)
    outcome = sent.result_of(0)
    title = outcome.error_title
    error = f"{title}: {outcome.error}" if not outcome.ok else ""
    summary = (f"Sent (HTTP {outcome.http_status})" if outcome.ok else error)[:300]
    Provider.objects.filter(id=provider.id).update(
        last_test_at=timezone.now(), last_test_ok=outcome.ok, last_test_summary=summary
    )
    return TestSmsResult(
        ok=outcome.ok,
        message_id=str(created.id),
        http_status=outcome.http_status,
        response=outcome.response,
        error=error,
        error_kind=outcome.error_kind,
        readout=sent.readout,
        provider_message_id=outcome.provider_message_id,
    )
