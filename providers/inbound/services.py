"""Writes for replies and the opt-out list: the inbound URL, the DLR callback, the API and
the admin all call these.

- `reply_receive` stores a reply (the sender in E.164, the campaign it answers) and
  applies its keyword: SMSGATEWAY_OPT_OUT_KEYWORDS opt the number out,
  SMSGATEWAY_OPT_IN_KEYWORDS opt it back in (the first word, in any case).
- `opt_out_add` puts a number on the list and fails its campaign messages still queued,
  so none of them is sent; `opt_out_remove` takes it off again.
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from providers import phones
from providers.inbound.base import Incoming
from providers.models import Message, MessageEvent, OptOut, Provider, Reply
from providers.sending import lanes

Action = Reply.Action
Status = Message.Status
# A reply answers the campaign that messaged its number in this time before it.
ANSWER_WINDOW = timedelta(days=7)
OPTED_OUT = "opted_out"
# Numbers without a country code are read as Indian ones, as the dashboard's search does.
DEFAULT_REGION = "IN"


class ReplyInvalid(ValueError):
    """A reply that cannot be stored: its sender is not a phone number, or the message it
    names is not one of the provider's."""


def reply_receive(
    *,
    provider: Provider,
    phone: str,
    text: str,
    to: str = "",
    sent_at: datetime | None = None,
    message_ref: str = "",
    raw: dict[str, Any] | None = None,
) -> Reply:
    """Store a reply and apply its keyword; ReplyInvalid when it cannot be stored.

    `message_ref` is our id of the message replied to, when the provider names it: its
    number is then the sender unless `phone` says otherwise, and its campaign the one
    answered.
    """
    message = _message(provider, message_ref) if message_ref else None
    if phone:
        number = sender_number(phone)
    elif message is not None:
        number = message.to
    else:
        raise ReplyInvalid("unknown message id")
    if message is not None and message.to == number:
        campaign_ref = message.campaign_ref
    else:
        campaign_ref = answered_campaign(phone=number)
    keyword = reply_keyword(text)
    with transaction.atomic():
        action = ""
        if keyword == Action.OPTED_OUT:
            opt_out_add(phone=number, source=f"reply via {provider.nickname}", text=text)
            action = Action.OPTED_OUT
        elif keyword == Action.OPTED_IN and opt_out_remove(phone=number):
            action = Action.OPTED_IN
        return Reply.objects.create(
            provider=provider,
            phone=number,
            to=to[:32],
            text=text,
            sent_at=sent_at,
            campaign_ref=campaign_ref,
            action=action,
            raw=raw or {},
        )


def replies_receive(
    *, provider: Provider, replies: Sequence[Incoming]
) -> list[tuple[Incoming, str]]:
    """Store each reply of a callback on its own, so that one bad record loses none of
    the others; each reply with why it was refused ("" when stored)."""
    outcomes = []
    for incoming in replies:
        try:
            reply_receive(
                provider=provider,
                phone=incoming.phone,
                text=incoming.text,
                to=incoming.to,
                sent_at=incoming.sent_at,
                message_ref=incoming.message_ref,
                raw=incoming.raw,
            )
        except ReplyInvalid as exc:
            outcomes.append((incoming, str(exc)))
        else:
            outcomes.append((incoming, ""))
    return outcomes


def reply_keyword(text: str) -> str:
    """Action.OPTED_OUT or Action.OPTED_IN when the text's first word is a keyword, else ""."""
    words = text.split(maxsplit=1)
    first = words[0].strip(string.punctuation).upper() if words else ""
    if not first:
        return ""
    if first in {word.strip().upper() for word in settings.SMSGATEWAY_OPT_OUT_KEYWORDS}:
        return Action.OPTED_OUT
    if first in {word.strip().upper() for word in settings.SMSGATEWAY_OPT_IN_KEYWORDS}:
        return Action.OPTED_IN
    return ""


def sender_number(phone: str) -> str:
    """A sender as providers write it (+919876543210, 919876543210, 09876543210,
    9876543210) in E.164; ReplyInvalid with the reason when it is no phone number."""
    try:
        return phones.normalize(phone, default_region=DEFAULT_REGION)
    except phones.InvalidNumber:
        pass
    try:
        # Digits with another country's code, without the "+".
        return phones.normalize(phone)
    except phones.InvalidNumber as exc:
        raise ReplyInvalid(f"from: {exc}") from None


def answered_campaign(*, phone: str) -> str:
    """The campaign of the number's newest campaign message in ANSWER_WINDOW ("" if none)."""
    since = timezone.now() - ANSWER_WINDOW
    newest = (
        Message.objects.filter(to=phone, created_at__gte=since)
        .exclude(campaign_ref="")
        .order_by("-created_at")
        .values_list("campaign_ref", flat=True)
    )
    return newest.first() or ""


def _message(provider: Provider, ref: str) -> Message | None:
    try:
        message_id = uuid.UUID(ref.strip())
    except ValueError:
        return None
    found = Message.objects.filter(provider=provider, id=message_id)
    return found.only("id", "to", "campaign_ref").first()


# ---------------------------------------------------------------- the opt-out list


@dataclass(frozen=True)
class OptOutAdded:
    opt_out: OptOut
    created: bool
    # Campaign messages that were still queued and failed instead of being sent.
    messages_failed: int


def opt_out_add(*, phone: str, source: str = "", text: str = "") -> OptOutAdded:
    """Put a number on the opt-out list (kept as it was if already there) and fail its
    campaign messages still queued; InvalidNumber for a number that is none."""
    number = phones.normalize(phone)
    with transaction.atomic():
        opt_out, created = OptOut.objects.get_or_create(
            phone=number, defaults={"source": source[:100], "text": text[:512]}
        )
        failed = _queued_campaign_messages_fail([number])
    return OptOutAdded(opt_out=opt_out, created=created, messages_failed=failed)


def opt_out_remove(*, phone: str) -> bool:
    """Take a number off the opt-out list; False when it was not on it."""
    deleted, _ = OptOut.objects.filter(phone=phones.normalize(phone)).delete()
    return bool(deleted)


def opted_out_messages_fail(*, numbers: Collection[str]) -> int:
    """Fail the campaign messages still queued to any of these numbers that are on the
    opt-out list: for messages created after their number opted out (a campaign's chunk
    made after the STOP). Returns how many failed."""
    if not numbers:
        return 0
    listed = OptOut.objects.filter(phone__in=set(numbers))
    stopped = list(listed.values_list("phone", flat=True))
    with transaction.atomic():
        return _queued_campaign_messages_fail(stopped) if stopped else 0


def _queued_campaign_messages_fail(numbers: list[str]) -> int:
    """Fail the numbers' messages still queued in campaigns (any lane but a provider's
    transactional one); a message a dispatcher has claimed is no longer queued and is
    left alone. Call inside a transaction."""
    now = timezone.now()
    queued = Message.objects.filter(to__in=numbers, status=Status.QUEUED, lane__transactional=False)
    # Locked, so that no dispatcher claims them meanwhile (claims skip locked rows).
    found = list(queued.select_for_update(of=("self",)).values_list("id", "lane_id"))
    if not found:
        return 0
    ids = [message_id for message_id, _ in found]
    changed = Message.objects.filter(id__in=ids, status=Status.QUEUED).update(
        status=Status.FAILED,
        error_code=OPTED_OUT,
        error_description="The number opted out before this message was sent.",
        completed_at=now,
        updated_at=now,
    )
    MessageEvent.objects.bulk_create(
        MessageEvent(
            message_id=message_id,
            source=MessageEvent.Source.SYSTEM,
            status=Status.FAILED,
            code=OPTED_OUT,
            description="Opted out before sending",
        )
        for message_id in ids
    )
    for lane_id in {lane_id for _, lane_id in found if lane_id is not None}:
        lanes.lane_drain_check(lane_id=lane_id)
    return changed
