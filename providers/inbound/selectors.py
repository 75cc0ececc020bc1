"""Reads of replies: the Inbox page, a campaign's page and the API."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from providers.config.secrets import ENCRYPTED_FIELDS
from providers.models import Reply
from providers.selectors import full_number


def replies_list(
    *,
    search: str = "",
    provider_id: int | None = None,
    campaign_ref: str = "",
    phone: str = "",
    since: datetime | None = None,
) -> QuerySet[Reply]:
    """Replies newest first, narrowed by what is given.

    `search` is a number or words: a whole number (+91 98765 43210, 9876543210) finds
    that number's replies exactly; anything else is looked for in the text and among
    the numbers' digits. `phone` is a number in E.164.
    """
    # Showing a reply's provider by its nickname need not decrypt its secrets.
    replies = Reply.objects.select_related("provider").defer(
        *(f"provider__{name}" for name in ENCRYPTED_FIELDS)
    )
    if provider_id is not None:
        replies = replies.filter(provider_id=provider_id)
    if campaign_ref:
        replies = replies.filter(campaign_ref=campaign_ref)
    if phone:
        replies = replies.filter(phone=phone)
    if since is not None:
        replies = replies.filter(received_at__gte=since)
    search = search.strip()
    if search:
        number = full_number(search)
        if number:
            replies = replies.filter(phone=number)
        else:
            digits = "".join(ch for ch in search if ch.isdigit())
            found = Q(text__icontains=search)
            if digits and len(digits) == len(search.replace(" ", "").lstrip("+")):
                found |= Q(phone__contains=digits)
            replies = replies.filter(found)
    return replies.order_by("-received_at", "-id")
