"""Sinch REST per-recipient delivery reports through the callback, and their parser."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from providers.dlr import sinch_rest
from providers.models import DeliveryReport, Message, Provider

from .conftest import fixture_text, post_json, reload

Status = Message.Status


@pytest.fixture
def provider(generic_provider):
    generic_provider.dlr_format = Provider.DlrFormat.SINCH_REST
    generic_provider.save()
    return generic_provider


def sinch_report(message_ref: str, status: str, code: int = 0) -> dict:
    return {
        "type": "recipient_delivery_report_sms",
        "batch_id": "01FC66621XXXXX119Z8PMV1QPQ",
        "recipient": "919876543210",
        "code": code,
        "status": status,
        "at": "2022-08-24T14:15:22.000Z",
        "client_reference": message_ref,
    }


def test_it_marks_the_message_delivered(client, provider, message):
    response = post_json(
        client, provider, fixture_text("sinch_rest_delivered.json", MessageID=message.id)
    )

    assert response.status_code == 200
    assert response.json() == {"status": "success", "processed": 1, "unprocessed": []}
    assert reload(message).status == Status.DELIVERED
    report = DeliveryReport.objects.get()
    assert report.occurred_at == datetime(2022, 8, 24, 14, 15, 22, tzinfo=UTC)
    assert report.raw["batch_id"] == "01FC66621XXXXX119Z8PMV1QPQ"


def test_a_failure_keeps_sinchs_status_word_and_code(client, provider, message):
    post_json(client, provider, fixture_text("sinch_rest_failed.json", MessageID=message.id))

    message = reload(message)
    assert message.status == Status.FAILED
    assert (message.error_code, message.error_description) == ("402", "Failed")


def test_an_array_of_reports_is_applied_one_by_one(client, provider, make_message):
    sending, other = make_message(Status.SENDING), make_message()
    body = fixture_text("sinch_rest_batch.json", MessageID=sending.id, OtherMessageID=other.id)

    answer = post_json(client, provider, body).json()

    assert answer == {"status": "success", "processed": 2, "unprocessed": []}
    assert reload(sending).status == Status.SUBMITTED
    assert reload(other).status == Status.DELIVERED


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("Delivered", Status.DELIVERED),
        ("Failed", Status.FAILED),
        ("Expired", Status.FAILED),
        ("Rejected", Status.FAILED),
        ("Aborted", Status.FAILED),
        ("Cancelled", Status.FAILED),
        ("Deleted", Status.FAILED),
        ("Unknown", Status.FAILED),
        ("Queued", Status.SUBMITTED),
        ("Dispatched", Status.SUBMITTED),
    ],
)
def test_each_sinch_status_maps_to_ours(word, status):
    parsed = sinch_rest.parse(json.dumps(sinch_report("m1", word, code=406)).encode())

    [report] = parsed.reports
    assert (report.status, report.description, report.code) == (status, word, "406")


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"client_reference": "", "batch_id": ""}, "missing client_reference and batch_id"),
        ({"status": None}, "missing status"),
        ({"status": "Lost"}, "unknown status 'Lost'"),
        ({"type": "delivery_report_sms"}, "unsupported report type 'delivery_report_sms'"),
    ],
)
def test_a_report_it_cannot_use_is_unprocessed(client, provider, message, change, error):
    record = {**sinch_report(str(message.id), "Delivered"), **change}

    answer = post_json(client, provider, [record]).json()

    assert answer["status"] == "fail"
    assert answer["unprocessed"] == [
        {"status": "fail", "code": 400, "error": error, "record": record}
    ]
    assert reload(message).status == Status.SUBMITTED


def test_an_unknown_client_reference_is_unprocessed_and_kept(client, provider):
    answer = post_json(client, provider, sinch_report("someone-elses-ref", "Delivered")).json()

    assert answer["unprocessed"][0]["code"] == 404
    assert DeliveryReport.objects.get().outcome == DeliveryReport.Outcome.UNKNOWN_MESSAGE


def test_a_body_that_is_not_reports_is_answered_with_400(client, provider):
    response = post_json(client, provider, '["Delivered"]')

    assert response.status_code == 400
    assert response.json()["error"] == "expected a JSON object or an array of objects"


def test_sinch_rest_is_post_only(client, provider):
    response = client.get(f"/dlr/{provider.callback_token}/")

    assert response.status_code == 405
