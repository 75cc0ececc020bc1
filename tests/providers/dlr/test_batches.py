"""Callbacks that carry many reports: applied as one set, with the same result as
applying them one by one (each stored once, each status changed at most once, in order)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from providers.dlr.apply import Report, reports_apply
from providers.models import DeliveryReport, Message, MessageEvent, OptOut

from .conftest import post_json, reload

Status = Message.Status
Outcome = DeliveryReport.Outcome


def record(message: Message | str, **fields) -> dict:
    meta = message if isinstance(message, str) else str(message.id)
    return {"meta": meta, "ts": 1654512921, **fields}


def outcomes() -> list[str]:
    return list(DeliveryReport.objects.order_by("id").values_list("outcome", flat=True))


def dlr_changes() -> list[str]:
    events = MessageEvent.objects.filter(source=MessageEvent.Source.DLR).order_by("id")
    return list(events.values_list("status", flat=True))


def test_a_callback_of_500_reports_applies_each_exactly_once(client, generic_provider):
    messages = Message.objects.bulk_create(
        Message(provider=generic_provider, to=f"+9198{i:08d}", status=Status.SUBMITTED)
        for i in range(500)
    )
    delivered, dnd, absent = messages[:300], messages[300:450], messages[450:]
    payload = [
        {"event": "delivered", "data": [record(m) for m in delivered]},
        {"event": "failed", "data": [record(m, code="901") for m in dnd]},
        {"event": "failed", "data": [record(m, code="914") for m in absent]},
    ]

    answer = post_json(client, generic_provider, payload).json()

    assert answer == {"status": "success", "processed": 500, "unprocessed": []}
    statuses = dict(Message.objects.values_list("id", "status"))
    assert {statuses[m.id] for m in delivered} == {Status.DELIVERED}
    failed = Message.objects.filter(status=Status.FAILED)
    assert set(failed.filter(error_code="901").values_list("id", flat=True)) == {m.id for m in dnd}
    assert set(failed.filter(error_code="914").values_list("id", flat=True)) == {
        m.id for m in absent
    }
    assert not Message.objects.filter(status=Status.SUBMITTED).exists()
    assert not Message.objects.filter(completed_at=None).exists()
    assert outcomes() == [Outcome.APPLIED] * 500
    assert DeliveryReport.objects.values("message").distinct().count() == 500
    assert MessageEvent.objects.filter(source=MessageEvent.Source.DLR).exclude(
        status=""
    ).count() == (500)


@pytest.mark.parametrize(
    ("events", "expected_outcomes", "final"),
    [
        (["delivered", "delivered"], [Outcome.APPLIED, Outcome.DUPLICATE], Status.DELIVERED),
        (["delivered", "failed"], [Outcome.APPLIED, Outcome.IGNORED], Status.DELIVERED),
        (
            ["failed", "delivered", "failed"],
            [Outcome.APPLIED, Outcome.IGNORED, Outcome.DUPLICATE],
            Status.FAILED,
        ),
    ],
    ids=["the same report twice", "a failure after delivery", "failed, delivered, failed"],
)
def test_reports_for_one_message_in_one_callback_apply_in_order(
    client, message, events, expected_outcomes, final
):
    payload = [{"event": event, "data": [record(message, code="901")]} for event in events]

    answer = post_json(client, message.provider, payload).json()

    assert answer["status"] == "success"
    assert reload(message).status == final
    assert outcomes() == expected_outcomes
    assert dlr_changes() == [final] + [""] * (len(events) - 1)


def test_submitted_then_delivered_in_one_set_both_apply(make_message):
    message = make_message(Status.SENDING)
    ref = str(message.id)

    result = reports_apply(
        provider=message.provider,
        reports=[
            Report(message_ref=ref, event="submitted", status=Status.SUBMITTED),
            Report(message_ref=ref, event="delivered", status=Status.DELIVERED),
        ],
    )

    assert result == [Outcome.APPLIED, Outcome.APPLIED]
    message = reload(message)
    assert message.status == Status.DELIVERED
    assert message.submitted_at is not None and message.completed_at is not None
    assert dlr_changes() == [Status.SUBMITTED, Status.DELIVERED]


def test_known_and_unknown_ids_in_one_callback_are_answered_each(client, message):
    stranger = "4f1c2a7e-0000-4000-8000-000000000000"
    payload = [{"event": "delivered", "data": [record(stranger), record(message), record("x")]}]

    answer = post_json(client, message.provider, payload).json()

    assert answer["status"] == "partial"
    assert answer["processed"] == 1
    assert [item["record"]["meta"] for item in answer["unprocessed"]] == [stranger, "x"]
    assert reload(message).status == Status.DELIVERED
    audit = DeliveryReport.objects.order_by("id")
    assert list(audit.values_list("message_ref", "outcome", "message")) == [
        (stranger, Outcome.UNKNOWN_MESSAGE, None),
        (str(message.id), Outcome.APPLIED, message.id),
        ("x", Outcome.UNKNOWN_MESSAGE, None),
    ]


def test_stop_replies_in_one_callback_opt_out_each_number_once(client, make_message):
    first, second = make_message(), make_message()
    OptOut.objects.create(phone=second.to, source="earlier", text="STOP")
    payload = [
        {
            "event": "replied",
            "data": [
                record(first, incomingText="STOP"),
                record(first, incomingText="stop"),
                record(second, incomingText="UNSUBSCRIBE"),
            ],
        }
    ]

    answer = post_json(client, first.provider, payload).json()

    assert answer["processed"] == 3
    assert dict(OptOut.objects.values_list("phone", "source")) == {
        first.to: f"reply via {first.provider.nickname}",
        second.to: "earlier",
    }
    assert outcomes() == [Outcome.RECORDED] * 3


def test_a_failure_code_longer_than_the_column_is_cut_not_a_server_error(client, message):
    code = "9" * 40

    response = post_json(
        client, message.provider, [{"event": "failed", "data": [record(message, code=code)]}]
    )

    assert response.status_code == 200
    message = reload(message)
    assert (message.status, message.error_code) == (Status.FAILED, code[:32])


def test_a_reports_time_and_raw_record_are_kept(client, message):
    before = timezone.now()

    post_json(client, message.provider, [{"event": "delivered", "data": [record(message, x=1)]}])

    audit = DeliveryReport.objects.get()
    assert audit.occurred_at is not None and audit.occurred_at.timestamp() == 1654512921
    assert audit.received_at >= before
    raw = {"event": "delivered", **record(message, x=1)}
    assert audit.raw == raw
    assert MessageEvent.objects.get(source=MessageEvent.Source.DLR).data == raw


def test_a_mixed_set_gives_each_report_the_outcome_it_would_have_alone(
    make_message, sinch_provider
):
    fresh, to_fail, final = (make_message(Status.SUBMITTED) for _ in range(3))
    Message.objects.filter(id=final.id).update(status=Status.DELIVERED)
    twice = make_message(Status.SUBMITTED)
    foreign = make_message(Status.SUBMITTED)
    Message.objects.filter(id=foreign.id).update(provider=sinch_provider)

    def report(message: Message, status: str, code: str = "") -> Report:
        event = "delivered" if status == Status.DELIVERED else "failed"
        return Report(message_ref=str(message.id), event=event, status=status, code=code)

    result = reports_apply(
        provider=fresh.provider,
        reports=[
            report(fresh, Status.DELIVERED),
            report(to_fail, Status.FAILED, code="901"),
            report(final, Status.FAILED, code="902"),
            report(twice, Status.DELIVERED),
            report(twice, Status.DELIVERED),
            report(foreign, Status.DELIVERED),
        ],
    )

    assert result == [
        Outcome.APPLIED,
        Outcome.APPLIED,
        Outcome.IGNORED,
        Outcome.APPLIED,
        Outcome.DUPLICATE,
        Outcome.UNKNOWN_MESSAGE,
    ]
    assert reload(fresh).status == Status.DELIVERED
    assert (reload(to_fail).status, reload(to_fail).error_code) == (Status.FAILED, "901")
    assert reload(final).status == Status.DELIVERED
    assert reload(twice).status == Status.DELIVERED
    assert reload(foreign).status == Status.SUBMITTED
    assert outcomes() == result
    assert sorted(dlr_changes()) == sorted(
        [Status.DELIVERED, Status.FAILED, Status.DELIVERED, "", ""]
    )
