"""Creating messages: one or many, checked, de-duplicated by idempotency key, queued
for the dispatcher (which claims, renders and sends them: see dispatcher.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from providers import phones
from providers.models import Message, MessageEvent, OptOut, Provider
from providers.sending import dlt_scrub, lanes, wakeups
from providers.sending.bulk import events_insert, instances_insert, message_insert

Status = Message.Status
# Messages one request to the API may queue at once.
MAX_MESSAGES_PER_REQUEST = 1000


class InvalidMessages(ValueError):
    """Some messages of a list cannot be queued: `errors` has each one's field errors, by
    its position in the list."""

    def __init__(self, errors: dict[int, dict[str, list[str]]]) -> None:
        super().__init__(f"{len(errors)} invalid message(s)")
        self.errors = errors


@dataclass
class NewMessage:
    """One message a caller asks to queue."""

    provider: Provider
    to: str
    body: str = ""
    template_id: str = ""
    variables: dict[str, Any] = field(default_factory=dict)


def message_create(
    *,
    provider: Provider,
    to: str,
    body: str = "",
    template_id: str = "",
    variables: dict[str, Any] | None = None,
    campaign_ref: str = "",
    is_test: bool = False,
    created_by: Any = None,
    idempotency_key: str = "",
    claimed: bool = False,
) -> Message:
    """Queue a message; the dispatchers are woken when the transaction commits.

    With `claimed`, the message is created already claimed for sending by the caller
    (the test SMS, sent inline), so that no dispatcher takes it.
    Raises ValidationError for a bad number, an opted-out number or a missing custom value.
    With an idempotency key already used by this user, returns that first message; a
    message this call queued carries its first history event as `queued_event`.
    """
    new = NewMessage(provider, to, body, template_id, variables or {})
    # The opt-out list is checked by the write itself.
    errors = messages_errors([new], opt_outs=False, dlt=not is_test).get(0)
    if errors:
        raise ValidationError(errors)
    lane_id = lanes.transactional_lane_id(provider_id=provider.pk)
    message = _message(
        new, lane_id, campaign_ref=campaign_ref, is_test=is_test, created_by=created_by
    )
    message.idempotency_key = idempotency_key
    message.created_at = message.updated_at = message.next_attempt_at = timezone.now()
    if claimed:
        message.status, message.claim = Status.SENDING, uuid.uuid4()
    event = MessageEvent(
        created_at=message.created_at,
        source=MessageEvent.Source.API,
        status=Status.QUEUED,
        description="Test SMS" if is_test else "Queued",
    )
    if message_insert(message, event=event, unless_opted_out=True, wake=not claimed):
        message._state.adding = False
        # What this call wrote, for an answer that needs no query (the API's).
        message.queued_event = event  # type: ignore[attr-defined]
        return message
    if idempotency_key and created_by is not None:
        # This user's key was used before (or just now, by a parallel request).
        existing = Message.objects.filter(created_by=created_by, idempotency_key=idempotency_key)
        if first := existing.first():
            return first
    raise ValidationError({"to": [opted_out(message.to)]})


def messages_create(
    *, messages: Sequence[NewMessage], created_by: Any = None, idempotency_key: str = ""
) -> list[Message]:
    """Queue several messages at once, all or none, in the order given.

    Raises InvalidMessages with the errors of each invalid message by its position
    (nothing is queued then). With an idempotency key, the messages carry it with their
    position appended (`key[0]`, `key[1]` …); when this user used the key before, the
    messages of that first request are returned instead.
    """
    keys = [f"{idempotency_key}[{i}]" if idempotency_key else "" for i in range(len(messages))]
    if idempotency_key and created_by is not None:
        earlier = _messages_by_key(created_by, keys)
        if earlier is not None:
            return earlier
    errors = messages_errors(messages)
    if errors:
        raise InvalidMessages(errors)
    lane_ids = {
        provider_id: lanes.transactional_lane_id(provider_id=provider_id)
        for provider_id in {new.provider.pk for new in messages}
    }
    created = [_message(new, lane_ids[new.provider.pk], created_by=created_by) for new in messages]
    now = timezone.now()
    for position, (message, key) in enumerate(zip(created, keys, strict=True)):
        message.idempotency_key = key
        # One microsecond apart, so that they are listed (and sent) in the order given.
        message.created_at = message.next_attempt_at = now + timedelta(microseconds=position)
        message.updated_at = now
        message._state.adding = False
    try:
        with transaction.atomic():
            instances_insert(created)
            events_insert(
                rows=[
                    (message.id, Status.QUEUED, "", "Queued", None, None, {}) for message in created
                ],
                shared={"source": MessageEvent.Source.API},
            )
            for provider_id in {message.provider_id for message in created}:
                wakeups.wake(provider_id=provider_id)
    except IntegrityError:
        if idempotency_key and created_by is not None:
            earlier = _messages_by_key(created_by, keys)
            if earlier is not None:
                return earlier
        raise
    return created


def _messages_by_key(created_by: Any, keys: list[str]) -> list[Message] | None:
    """The messages a list request with these keys created before, in order (None when
    that key has not been used). Only the first key is looked up: a list is queued whole."""
    first = Message.objects.filter(created_by=created_by, idempotency_key=keys[0]).first()
    if first is None:
        return None
    found = {
        message.idempotency_key: message
        for message in Message.objects.filter(created_by=created_by, idempotency_key__in=keys)
    }
    return [found[key] for key in keys if key in found]


def _message(
    new: NewMessage,
    lane_id: int,
    *,
    campaign_ref: str = "",
    is_test: bool = False,
    created_by: Any = None,
) -> Message:
    return Message(
        provider=new.provider,
        lane_id=lane_id,
        to=phones.normalize(new.to),
        body=new.body,
        template_id=new.template_id,
        variables={str(k): v for k, v in new.variables.items()},
        campaign_ref=campaign_ref,
        is_test=is_test,
        created_by=created_by,
        next_attempt_at=timezone.now(),
    )


def messages_errors(
    messages: Sequence[NewMessage], *, opt_outs: bool = True, dlt: bool = True
) -> dict[int, dict[str, list[str]]]:
    """Field errors that stop messages from being queued, by position (none: all may go).

    Opt-outs are looked up in one query for all of them (with `opt_outs`). A message naming
    a template of the DLT registry gets its $$Alert from the template's category and, with
    `dlt`, must pass its scrub check.
    """
    errors: dict[int, dict[str, list[str]]] = {}
    numbers: dict[int, str] = {}
    for position, new in enumerate(messages):
        found: dict[str, list[str]] = {}
        try:
            numbers[position] = phones.normalize(new.to)
        except phones.InvalidNumber as exc:
            found["to"] = [str(exc)]
        if not new.body and not new.template_id:
            found["body"] = ["Enter a message body or a template id."]
        missing = [
            name
            for name in new.provider.custom_placeholders
            if not str(new.variables.get(name, ""))
        ]
        if missing:
            found["variables"] = [
                "A value is required for " + ", ".join("$$" + name for name in missing) + "."
            ]
        if not found:
            # Scrubbed even when a rejection is not refused (a test SMS): the template's
            # category still sets the message's $$Alert.
            rejected = dlt_scrub.scrub(
                body=new.body, template_id=new.template_id, variables=new.variables
            )
            if dlt:
                found.update(rejected)
        if found:
            errors[position] = found
    stopped: set[str] = set()
    if opt_outs and numbers:
        listed = OptOut.objects.filter(phone__in=set(numbers.values()))
        stopped = set(listed.values_list("phone", flat=True))
    for position, number in numbers.items():
        if number in stopped:
            errors.setdefault(position, {}).setdefault("to", []).append(opted_out(number))
    return dict(sorted(errors.items()))


def opted_out(number: str) -> str:
    return f"{number} has opted out of SMS (replied STOP)."
