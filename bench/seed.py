"""Data the benchmarks start from, written fast and outside any timing.

Small things (the user, providers, campaigns) go through the ORM. Large tables are
written by `rows_insert` with the product's own bulk writer (COPY on PostgreSQL,
executemany elsewhere), every column filled, so the rows are what the product itself
would have written.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from campaigns.dispatch import link_recipients
from campaigns.models import Campaign, Recipient, Upload
from providers.models import Message, MessageEvent, Provider
from smsgateway import sql

USERNAME = "bench"
INSERT_CHUNK = 20_000
CAMPAIGN_TEXT = "Hi {{name}}, your order {{order}} is on its way."
Status = Message.Status


def bench_user() -> tuple[Any, str]:
    """The staff user the benchmarks act as, and its API token."""
    User = get_user_model()
    user, _ = User._default_manager.get_or_create(
        username=USERNAME, defaults={"is_staff": True, "is_superuser": True}
    )
    token, _ = Token.objects.get_or_create(user=user)
    return user, token.key


def provider_create(*, nickname: str, endpoint: str, batch_size: int = 0) -> Provider:
    """A generic JSON provider whose payload carries each message's id (the fake counts it)."""
    record = {"to": "$$To", "id": "$$MessageID", "text": "$$Body"}
    if batch_size:
        return Provider.objects.create(
            nickname=nickname,
            endpoint=endpoint + "/batch",
            batch_enabled=True,
            batch_key="msgs",
            batch_size=batch_size,
            payload={"sender": "BENCH", "msgs": [record]},
        )
    return Provider.objects.create(nickname=nickname, endpoint=endpoint + "/send", payload=record)


def phone(n: int) -> str:
    """A distinct, valid Indian mobile number for each n below 10**8."""
    return f"+9198{n:08d}"


def campaign_with_recipients(*, provider: Provider, user: Any, count: int, name: str) -> Campaign:
    """A draft campaign with `count` recipients, as an upload of that many rows leaves it."""
    campaign = Campaign.objects.create(
        name=name, provider=provider, message=CAMPAIGN_TEXT, created_by=user
    )
    upload = Upload.objects.create(
        campaign=campaign,
        file="uploads/bench.csv",
        original_name="bench.csv",
        status=Upload.Status.DONE,
        rows_total=count,
        rows_accepted=count,
        finished_at=timezone.now(),
    )
    rows = (
        {
            "campaign_id": campaign.id,
            "upload_id": upload.id,
            "row": n + 2,
            "phone": phone(n),
            "fields": {"name": f"Customer {n}", "order": f"A{n:07d}"},
            "message_id": None,
        }
        for n in range(count)
    )
    rows_insert(Recipient, rows)
    return campaign


def submitted_messages(*, provider: Provider, count: int) -> list[str]:
    """`count` messages the provider accepted and has not yet reported on; their ids."""
    ids = [uuid.uuid4() for _ in range(count)]
    now = timezone.now()
    rows_insert(
        Message,
        (
            {
                "id": message_id,
                "provider_id": provider.id,
                "to": phone(n),
                "body": "Your code is 1234",
                "status": Status.SUBMITTED,
                "attempts": 1,
                "created_at": now,
                "updated_at": now,
                "submitted_at": now,
            }
            for n, message_id in enumerate(ids)
        ),
    )
    return [str(message_id) for message_id in ids]


# ---------------------------------------------------------------- the dashboard's million


@dataclass
class Dashboard:
    providers: list[int]
    campaign: int
    busiest_provider: int


# Shares of the seeded messages by status, roughly a live system's mix.
STATUS_MIX = [
    (Status.DELIVERED, 0.70),
    (Status.FAILED, 0.10),
    (Status.SUBMITTED, 0.15),
    (Status.QUEUED, 0.05),
]


def dashboard_seed(*, total: int, user: Any) -> Dashboard:
    """Bring the database to `total` messages across five providers, 40 % of them in one
    campaign (with its recipients), each with the send and DLR events it would have."""
    missing = max(0, total - Message.objects.count())
    providers = [
        Provider.objects.create(nickname=f"Dashboard {n}", endpoint="https://sms.example.com/send")
        for n in range(5)
    ]
    in_campaign = int(missing * 0.4)
    campaign = campaign_with_recipients(
        provider=providers[0], user=user, count=in_campaign, name="Dashboard campaign"
    )
    Campaign.objects.filter(id=campaign.id).update(
        status=Campaign.Status.COMPLETED, launched_at=timezone.now()
    )
    rng = random.Random(5)
    now = timezone.now()
    statuses = [status for status, share in STATUS_MIX for _ in range(round(share * 100))]

    def messages() -> Iterator[dict[str, Any]]:
        for n in range(missing):
            campaign_message = n < in_campaign
            status = statuses[n % len(statuses)]
            created = now - timedelta(seconds=rng.random() * 30 * 86400)
            done = status in Message.TERMINAL
            yield {
                "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                "provider_id": providers[0 if campaign_message else 1 + n % 4].id,
                "to": phone(n),
                "body": f"Hi Customer {n}, your order A{n:07d} is on its way.",
                "campaign_ref": str(campaign.id) if campaign_message else "",
                "status": status,
                "error_code": "901" if status == Status.FAILED else "",
                "error_description": "DND Failure" if status == Status.FAILED else "",
                "attempts": 0 if status == Status.QUEUED else 1,
                "created_at": created,
                "updated_at": created,
                "submitted_at": None if status == Status.QUEUED else created,
                "completed_at": created + timedelta(seconds=5) if done else None,
                "created_by_id": user.id,
            }

    # Messages, their events and the campaign's recipients' links, written in one pass.
    message_ids: list[tuple[uuid.UUID, str, datetime]] = []

    def remember(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for row in rows:
            message_ids.append((row["id"], row["status"], row["created_at"]))
            yield row

    rows_insert(Message, remember(messages()))
    rows_insert(MessageEvent, _events(message_ids))
    _link_recipients(campaign, [m[0] for m in message_ids[:in_campaign]])
    busiest = max(providers[1:], key=lambda p: p.messages.count())
    return Dashboard([p.id for p in providers], campaign.id, busiest.id)


def _events(messages: Sequence[tuple[uuid.UUID, str, datetime]]) -> Iterator[dict[str, Any]]:
    for message_id, status, created in messages:
        if status == Status.QUEUED:
            continue
        yield {
            "message_id": message_id,
            "created_at": created,
            "source": MessageEvent.Source.SEND,
            "status": Status.SUBMITTED,
            "code": "",
            "description": "Accepted by the provider (HTTP 200)",
            "http_status": 200,
            "duration_ms": 40,
            "data": {"response": '{"status": "success"}'},
        }
        if status in Message.TERMINAL:
            yield {
                "message_id": message_id,
                "created_at": created + timedelta(seconds=5),
                "source": MessageEvent.Source.DLR,
                "status": status,
                "code": "901" if status == Status.FAILED else "",
                "description": "DND Failure" if status == Status.FAILED else "Delivered",
                "http_status": None,
                "duration_ms": None,
                "data": {"event": status, "meta": str(message_id)},
            }


def _link_recipients(campaign: Campaign, message_ids: list[uuid.UUID]) -> None:
    """Point the campaign's recipients at their messages (in row order)."""
    recipient_ids = list(
        Recipient.objects.filter(campaign=campaign).order_by("id").values_list("id", flat=True)
    )
    for start in range(0, len(recipient_ids), INSERT_CHUNK):
        with transaction.atomic():
            link_recipients(
                recipient_ids[start : start + INSERT_CHUNK],
                message_ids[start : start + INSERT_CHUNK],
            )


# ---------------------------------------------------------------- fast inserts


def rows_insert(model: type[models.Model], rows: Iterable[dict[str, Any]]) -> int:
    """Insert rows given as {field: value}, every row with the same fields; the others
    get their defaults. The product's own bulk writer, a transaction per chunk: SQLite has
    one writer at a time, and the db_workers (which poll for tasks in write transactions)
    must not wait out their timeout."""
    count = 0
    it = iter(rows)
    while chunk := list(islice(it, INSERT_CHUNK)):
        names = list(chunk[0])
        with transaction.atomic():
            sql.rows_insert(
                model, varying=names, rows=[[row[n] for n in names] for row in chunk], shared={}
            )
        count += len(chunk)
    return count
