"""What a provider's response rules cost on the record path, in messages recorded a second.

Records 1,000 accepted single-message sends (best of five) for a provider without rules
and for one with the Sinch India preset's rules (success read, the provider's id stored
on each message), and times reading one answer with those rules. It migrates and fills
the database DATABASE_URL names: give it a scratch one.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scratch PYTHONPATH=. \
        .venv/bin/python bench/response_rules_cost.py
"""

from __future__ import annotations

import json
import os
import time
import uuid

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsgateway.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from providers.config.presets import SINCH_INDIA_RESPONSE  # noqa: E402
from providers.http.response_rules import answer_read  # noqa: E402
from providers.http.transport import SendResult  # noqa: E402
from providers.models import Message, Provider  # noqa: E402
from providers.sending.claims import messages_claim_due  # noqa: E402
from providers.sending.create import NewMessage, messages_create  # noqa: E402
from providers.sending.record import answer_outcome, messages_record  # noqa: E402

SIZE = 1000
ROUNDS = 5


def answer(message_id: uuid.UUID) -> SendResult:
    body = {"status": "success", "code": "200", "msgid": str(message_id), "description": "ok"}
    return SendResult(ok=True, http_status=200, response=json.dumps(body))


def recorded_per_second(rules: dict) -> float:
    provider = Provider.objects.create(
        nickname=f"Rules {uuid.uuid4().hex[:8]}",
        endpoint="https://sms.example.com/send",
        payload={"to": "$$To", "text": "$$Body", "id": "$$MessageID"},
        response=rules,
    )
    best = float("inf")
    for _ in range(ROUNDS):
        messages_create(
            messages=[
                NewMessage(provider=provider, to=f"+9198{n:08d}", body="hi") for n in range(SIZE)
            ]
        )
        lane = Message.objects.filter(provider=provider).values_list("lane_id", flat=True)[0]
        claimed = messages_claim_due(
            lane_id=lane, limit=SIZE, token=uuid.uuid4(), now=timezone.now()
        )
        started = time.perf_counter()
        outcomes = [answer_outcome(provider, [c], answer(c.id), {}) for c in claimed]
        messages_record(outcomes=outcomes)
        best = min(best, time.perf_counter() - started)
    return SIZE / best


def main() -> None:
    call_command("migrate", verbosity=0)
    print(f"database: {connection.vendor}")
    print(f"no rules:           {recorded_per_second({}):,.0f} messages recorded/s")
    print(
        f"Sinch India rules:  {recorded_per_second(SINCH_INDIA_RESPONSE):,.0f} messages recorded/s"
    )
    result = answer(uuid.uuid4())
    count = 20_000
    started = time.perf_counter()
    for _ in range(count):
        answer_read(SINCH_INDIA_RESPONSE, result, message_ids=["m"], batch=False)
    print(f"reading one answer: {(time.perf_counter() - started) / count * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
