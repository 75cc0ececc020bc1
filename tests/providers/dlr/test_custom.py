"""A provider's own JSON DLR format read through its field mapping (Sinch India's push)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from providers.dlr import custom
from providers.dlr.base import NotConfigured
from providers.models import DeliveryReport, Message, Provider

from .conftest import fixture_text, post_json, reload

Status = Message.Status
SINCH_INDIA_MAPPING = {
    "id": "msg_id",
    "status": "sms_delv_status",
    "time": "sms_delv_dttime",
    "description": "remarks",
}


@pytest.fixture
def provider(generic_provider):
    generic_provider.dlr_format = Provider.DlrFormat.CUSTOM
    generic_provider.dlr_mapping = SINCH_INDIA_MAPPING
    generic_provider.save()
    return generic_provider


def test_a_sinch_india_list_is_applied_report_by_report(client, provider, make_message):
    delivered, failed, accepted = make_message(), make_message(), make_message(Status.SENDING)
    body = fixture_text(
        "custom_sinch_india.json",
        MessageID=delivered.id,
        OtherMessageID=failed.id,
        ThirdMessageID=accepted.id,
    )

    answer = post_json(client, provider, body).json()

    assert answer == {"status": "success", "processed": 3, "unprocessed": []}
    assert reload(delivered).status == Status.DELIVERED
    failed = reload(failed)
    assert (failed.status, failed.error_description) == (Status.FAILED, "Absent subscriber")
    assert reload(accepted).status == Status.SUBMITTED
    # No offset in the payload: the time is read in the site's zone (Asia/Kolkata).
    report = DeliveryReport.objects.get(message=delivered)
    assert report.occurred_at == datetime(2023, 6, 18, 8, 0, 45, tzinfo=UTC)


def test_a_single_object_is_accepted(client, provider, message):
    record = {"msg_id": str(message.id), "sms_delv_status": "DELIVRD"}

    answer = post_json(client, provider, record).json()

    assert answer["processed"] == 1
    assert reload(message).status == Status.DELIVERED


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("DELIVRD", Status.DELIVERED),
        ("delivered", Status.DELIVERED),
        ("UNDELIV", Status.FAILED),
        ("EXPIRED", Status.FAILED),
        ("REJECTD", Status.FAILED),
        ("FAILED", Status.FAILED),
        ("ACCEPTD", Status.SUBMITTED),
    ],
)
def test_common_status_values_map_without_a_status_map(value, status):
    body = json.dumps({"msg_id": "m1", "sms_delv_status": value}).encode()

    [report] = custom.parse(body, SINCH_INDIA_MAPPING).reports

    assert report.status == status


def test_the_providers_status_map_wins_over_the_defaults():
    mapping = {
        **SINCH_INDIA_MAPPING,
        "code": "err",
        "status_map": {"0": "Delivered", "DELIVRD": "submitted", "9": "failed"},
    }
    body = json.dumps(
        [
            {"msg_id": "m1", "sms_delv_status": 0},
            {"msg_id": "m2", "sms_delv_status": "DELIVRD"},
            {"msg_id": "m3", "sms_delv_status": 9, "err": 915},
        ]
    ).encode()

    reports = custom.parse(body, mapping).reports

    assert [r.status for r in reports] == [Status.DELIVERED, Status.SUBMITTED, Status.FAILED]
    assert reports[2].code == "915"


def test_a_failure_without_description_gets_the_clevertap_meaning(client, provider, message):
    provider.dlr_mapping = {"id": "ref", "status": "state", "code": "reason"}
    provider.save()

    post_json(client, provider, {"ref": str(message.id), "state": "UNDELIV", "reason": "901"})

    message = reload(message)
    assert (message.error_code, message.error_description) == ("901", "DND failure")


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ({"sms_delv_status": "DELIVRD"}, "missing msg_id"),
        ({"msg_id": "m1"}, "missing sms_delv_status"),
        ({"msg_id": "m1", "sms_delv_status": "LOST"}, "unknown status 'LOST'"),
    ],
)
def test_a_record_it_cannot_use_is_unprocessed(client, provider, message, record, error):
    good = {"msg_id": str(message.id), "sms_delv_status": "DELIVRD"}

    answer = post_json(client, provider, [good, record]).json()

    assert answer["status"] == "partial"
    assert answer["unprocessed"] == [
        {"status": "fail", "code": 400, "error": error, "record": record}
    ]


def test_without_id_and_status_fields_it_answers_503_so_the_sender_retries(
    client, provider, message
):
    provider.dlr_mapping = {"status": "sms_delv_status"}
    provider.save()

    response = post_json(client, provider, {"msg_id": str(message.id)})

    assert response.status_code == 503
    assert response.json()["status"] == "fail"
    assert reload(message).status == Status.SUBMITTED
    assert not DeliveryReport.objects.exists()


def test_a_mapping_that_is_not_an_object_is_not_configured():
    with pytest.raises(NotConfigured):
        custom.parse(b"{}", ["msg_id"])
