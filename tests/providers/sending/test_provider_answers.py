"""Real providers' answers, over real HTTP to a fake provider: errors inside HTTP 200,
ids of their own (kept, shown, searchable, and named by later delivery reports), and
batch answers record by record."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator

import pytest
from django.urls import reverse

from providers.models import DeliveryReport, Message, MessageEvent, Provider
from providers.sending.create import message_create
from tests.factories import make_provider, reload, run_worker
from tests.fake_provider import Answer, FakeProvider, Received

pytestmark = [pytest.mark.django_db(transaction=True)]
Status = Message.Status

RULES = {
    "success": {"path": "status", "equals": ["success"]},
    "message_id": {"path": "msgid"},
    "error_code": {"path": "code"},
    "error_description": {"path": "description"},
}


@pytest.fixture(autouse=True)
def _loopback(settings):
    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = True


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


def answering(fake: FakeProvider, answer: Callable[[Received], Answer]) -> None:
    fake.responder = answer


def provider_with(fake: FakeProvider, rules: dict, **fields) -> Provider:
    provider = make_provider(fake.url)
    Provider.objects.filter(id=provider.id).update(response=rules, **fields)
    return Provider.objects.get(id=provider.id)


def queue(provider: Provider, count: int = 1) -> list[Message]:
    variables = {"SenderID": "ACMEIN"} if provider.batch_enabled else {}
    return [
        message_create(
            provider=provider, to=f"+91987650{n:04d}", body="Your OTP is 1234", variables=variables
        )
        for n in range(count)
    ]


def test_a_200_with_an_error_in_its_body_fails_the_message_with_the_providers_code(
    fake, client, admin_user
):
    answering(
        fake,
        lambda request: Answer(
            200, '{"status": "error", "code": "4001", "description": "Invalid template"}'
        ),
    )
    provider = provider_with(fake, RULES)
    [message] = queue(provider)

    run_worker()

    message = reload(message)
    assert message.status == Status.FAILED
    assert message.error_code == "provider_rejected"
    assert message.error_description == "4001 Invalid template"
    # Permanent: sent once.
    assert len(fake.received) == 1
    event = message.events.get(source=MessageEvent.Source.SEND)
    assert event.description == "Provider rejected: 4001 Invalid template"
    assert event.data["provider_code"] == "4001"
    client.force_login(admin_user)
    page = client.get(reverse("message_detail", args=[message.id])).content.decode()
    assert "Provider rejected: 4001 Invalid template" in page


def test_the_providers_id_is_kept_shown_returned_by_the_api_and_searchable(
    fake, client, admin_user
):
    answering(
        fake,
        lambda request: Answer(
            200, json.dumps({"status": "success", "msgid": "SX-" + request.json()["id"][:8]})
        ),
    )
    provider = provider_with(fake, RULES)
    first, second = queue(provider, 2)

    run_worker()

    first, second = reload(first), reload(second)
    assert first.status == Status.SUBMITTED
    assert first.provider_message_id == "SX-" + str(first.id)[:8]
    assert second.provider_message_id == "SX-" + str(second.id)[:8]
    event = first.events.get(source=MessageEvent.Source.SEND)
    assert event.description.endswith(f"its id {first.provider_message_id}")

    client.force_login(admin_user)
    detail = client.get(f"/api/v1/messages/{first.id}/").json()
    assert detail["provider_message_id"] == first.provider_message_id
    listed = client.get(
        "/api/v1/messages/", {"provider_message_id": second.provider_message_id}
    ).json()
    assert [row["id"] for row in listed["results"]] == [str(second.id)]
    log = client.get(
        reverse("provider_messages", args=[provider.id]), {"q": first.provider_message_id}
    ).content.decode()
    assert str(first.id) in log and str(second.id) not in log
    assert reverse("message_detail", args=[first.id]) in log


def test_a_text_answer_is_read_by_regex(fake):
    answering(
        fake, lambda request: Answer(200, "OK: queued id=Q7781", {"Content-Type": "text/plain"})
    )
    provider = provider_with(
        fake, {"success": {"regex": "^OK"}, "message_id": {"regex": r"id=(\w+)"}}
    )
    [message] = queue(provider)

    run_worker()

    message = reload(message)
    assert (message.status, message.provider_message_id) == (Status.SUBMITTED, "Q7781")


def test_a_text_error_answer_fails_with_what_the_regex_read(fake):
    answering(
        fake, lambda request: Answer(200, "ERR 17 bad sender", {"Content-Type": "text/plain"})
    )
    provider = provider_with(
        fake,
        {
            "success": {"regex": "^OK"},
            "error_code": {"regex": r"ERR (\d+)"},
            "error_description": {"regex": r"ERR \d+ (.*)"},
        },
    )
    [message] = queue(provider)

    run_worker()

    message = reload(message)
    assert (message.status, message.error_description) == (Status.FAILED, "17 bad sender")


def batch_provider(fake: FakeProvider, batch_results: dict) -> Provider:
    provider = make_provider(fake.url, batch_size=10)
    rules = {
        "success": {"path": "status", "equals": ["ok"]},
        "message_id": {"path": "msgid"},
        "error_code": {"path": "code"},
        "batch_results": batch_results,
    }
    Provider.objects.filter(id=provider.id).update(response=rules)
    return Provider.objects.get(id=provider.id)


def test_a_batch_answer_gives_each_message_its_own_outcome_by_position(fake):
    def answer(request: Received) -> Answer:
        records = request.json()["msgs"]
        results = [
            {"status": "ok", "msgid": f"B{n}"} if n != 1 else {"status": "no", "code": "DND"}
            for n in range(len(records) - 1)  # the last one is not mentioned
        ]
        return Answer(200, json.dumps({"results": results}))

    answering(fake, answer)
    provider = batch_provider(fake, {"path": "results", "match": "position"})
    messages = queue(provider, 4)

    run_worker()

    assert len(fake.received) == 1
    first, second, third, fourth = (reload(m) for m in messages)
    assert (first.status, first.provider_message_id) == (Status.SUBMITTED, "B0")
    assert (second.status, second.error_code) == (Status.FAILED, "provider_rejected")
    assert second.error_description == "DND"
    assert (third.status, third.provider_message_id) == (Status.SUBMITTED, "B2")
    # Not in the answer: the request's outcome, accepted, without an id.
    assert (fourth.status, fourth.provider_message_id) == (Status.SUBMITTED, "")


def test_a_batch_answer_is_matched_by_the_id_each_record_echoes(fake):
    def answer(request: Received) -> Answer:
        records = list(reversed(request.json()["msgs"]))
        results = [{"ref": r["id"], "status": "ok", "msgid": "E-" + r["id"][:6]} for r in records]
        return Answer(200, json.dumps({"data": {"items": results}}))

    answering(fake, answer)
    provider = batch_provider(fake, {"path": "data.items", "match": {"path": "ref"}})
    messages = queue(provider, 3)

    run_worker()

    for message in messages:
        assert reload(message).provider_message_id == "E-" + str(message.id)[:6]


# ---------------------------------------------------------------- reports by the provider's id


def sinch_rest_report(batch_id: str, recipient: str, status: str = "Delivered") -> dict:
    return {
        "type": "recipient_delivery_report_sms",
        "batch_id": batch_id,
        "recipient": recipient,
        "code": 0,
        "status": status,
        "at": "2026-12-04T10:00:00Z",
    }


def sinch_rest_provider(fake: FakeProvider) -> Provider:
    """Sinch REST sends a batch and answers with one id for it: {"id": ..., "to": [...]}."""
    provider = make_provider(fake.url, batch_size=10)
    Provider.objects.filter(id=provider.id).update(
        response={"message_id": {"path": "id"}}, dlr_format=Provider.DlrFormat.SINCH_REST
    )
    answering(fake, lambda request: Answer(201, json.dumps({"id": "01BATCH", "to": []})))
    return Provider.objects.get(id=provider.id)


def callback(client, provider: Provider, body) -> int:
    response = client.post(
        reverse("dlr_callback", args=[provider.callback_token]),
        data=json.dumps(body),
        content_type="application/json",
    )
    return response.status_code


def test_a_report_naming_the_batch_and_the_recipient_finds_its_message(fake, client):
    provider = sinch_rest_provider(fake)
    first, second = queue(provider, 2)
    run_worker()
    assert reload(first).provider_message_id == reload(second).provider_message_id == "01BATCH"

    status = callback(client, provider, [sinch_rest_report("01BATCH", second.to.lstrip("+"))])

    assert status == 200
    assert reload(second).status == Status.DELIVERED
    assert reload(first).status == Status.SUBMITTED


def test_a_report_that_comes_before_the_answer_is_kept_and_applied_when_it_is_recorded(
    fake, client
):
    provider = sinch_rest_provider(fake)
    first, second = queue(provider, 2)

    # The provider reports on its batch before its answer to the send is recorded.
    early = [
        sinch_rest_report("01BATCH", first.to.lstrip("+"), "Delivered"),
        sinch_rest_report("01BATCH", second.to.lstrip("+"), "Failed"),
    ]
    assert callback(client, provider, early) == 200
    waiting = DeliveryReport.objects.filter(outcome=DeliveryReport.Outcome.AWAITING)
    assert waiting.count() == 2
    assert reload(first).status == Status.QUEUED

    run_worker()

    assert reload(first).status == Status.DELIVERED
    assert reload(second).status == Status.FAILED
    assert not waiting.exists()
    outcomes = DeliveryReport.objects.values_list("message_id", "outcome")
    assert set(outcomes) == {
        (first.id, DeliveryReport.Outcome.APPLIED),
        (second.id, DeliveryReport.Outcome.APPLIED),
    }
    history = [e.source for e in reload(first).events.order_by("created_at", "id")]
    assert history[-2:] == [MessageEvent.Source.SEND, MessageEvent.Source.DLR]


def test_a_report_naming_an_id_no_provider_answer_gave_stays_unknown_without_rules(fake, client):
    provider = make_provider(fake.url)
    Provider.objects.filter(id=provider.id).update(dlr_format=Provider.DlrFormat.SINCH_REST)
    provider.refresh_from_db()

    assert callback(client, provider, [sinch_rest_report("NOPE", "919876500000")]) == 200

    assert DeliveryReport.objects.get().outcome == DeliveryReport.Outcome.UNKNOWN_MESSAGE


def test_jasmins_own_id_finds_the_message_its_answer_named(fake, client):
    # Jasmin answers `Success "<its uuid>"` and reports with id=<its uuid>.
    jasmin_id = str(uuid.uuid4())
    answering(fake, lambda request: Answer(200, f'Success "{jasmin_id}"'))
    provider = provider_with(
        fake,
        {"success": {"regex": "^Success"}, "message_id": {"regex": r'"([0-9a-f-]{36})"'}},
        dlr_format=Provider.DlrFormat.PARAMS,
    )
    [message] = queue(provider)
    run_worker()
    assert reload(message).provider_message_id == jasmin_id

    response = client.get(
        reverse("dlr_callback", args=[provider.callback_token]),
        {"id": jasmin_id, "message_status": "DELIVRD", "donedate": "2612041000"},
    )

    assert response.content == b"ACK/Jasmin"
    assert reload(message).status == Status.DELIVERED


def test_a_custom_report_names_the_message_by_the_field_declared_as_the_providers_id(fake, client):
    answering(fake, lambda request: Answer(200, '{"status": "success", "msgid": "C-77"}'))
    provider = provider_with(
        fake,
        RULES,
        dlr_format=Provider.DlrFormat.CUSTOM,
        dlr_mapping={"provider_id": "msg_id", "status": "sms_delv_status"},
    )
    [message] = queue(provider)
    run_worker()

    assert callback(client, provider, [{"msg_id": "C-77", "sms_delv_status": "UNDELIV"}]) == 200

    assert reload(message).status == Status.FAILED


# ---------------------------------------------------------------- the test SMS


def sent_test_sms(client, user, provider: Provider) -> dict:
    """Send Test SMS from the provider page, as the page's script posts it."""
    client.force_login(user)
    answer = client.post(
        reverse("provider_test_sms", args=[provider.id]),
        {"country_code": "91", "mobile": "9876543210", "message": "Hello", "send_anyway": True},
        content_type="application/json",
    ).json()
    assert "message_id" in answer, answer
    return answer


def test_the_test_sms_shows_what_each_rule_read(fake, client, admin_user):
    answering(fake, lambda request: Answer(200, '{"status": "success", "msgid": "T-1"}'))
    provider = provider_with(fake, RULES)

    answer = sent_test_sms(client, admin_user, provider)

    assert answer["ok"] is True
    assert answer["provider_message_id"] == "T-1"
    assert "success (path status): 'success' → accepted" in answer["response_rules"]
    assert "message_id (path msgid): T-1" in answer["response_rules"]


def test_the_test_sms_says_why_the_rules_rejected_the_answer(fake, client, admin_user):
    answering(fake, lambda request: Answer(200, '{"state": "queued"}'))
    provider = provider_with(fake, RULES)

    answer = sent_test_sms(client, admin_user, provider)

    assert answer["ok"] is False
    assert answer["error"] == "Answer not understood: the answer has no status"
    assert any(re.search("could not read the answer", line) for line in answer["response_rules"])
