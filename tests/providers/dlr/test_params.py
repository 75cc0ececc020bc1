"""Kannel- and Jasmin-style DLRs (query or form parameters) through the callback."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest

from providers.dlr import params
from providers.dlr.base import MalformedBody
from providers.models import DeliveryReport, Message, Provider

from .conftest import dlr_url, fixture_text, reload

Status = Message.Status


@pytest.fixture
def provider(generic_provider):
    generic_provider.dlr_format = Provider.DlrFormat.PARAMS
    generic_provider.save()
    return generic_provider


def test_jasmin_gets_its_ack_and_the_message_is_delivered(client, provider, message):
    query = fixture_text("jasmin_delivered.txt", MessageID=message.id)

    response = client.get(f"{dlr_url(provider)}?{query}")

    assert response.status_code == 200
    assert response.content == b"ACK/Jasmin"
    assert reload(message).status == Status.DELIVERED
    report = DeliveryReport.objects.get()
    # donedate is YYMMDDhhmm, read in the site's zone (Asia/Kolkata).
    assert report.occurred_at == datetime(2023, 6, 18, 8, 0, tzinfo=UTC)
    assert report.raw["connector"] == "smpp_01"


def test_jasmin_may_post_a_form(client, provider, message):
    response = client.post(
        dlr_url(provider), {"id": str(message.id), "message_status": "UNDELIV", "err": "001"}
    )

    assert response.content == b"ACK/Jasmin"
    message = reload(message)
    assert (message.status, message.error_code, message.error_description) == (
        Status.FAILED,
        "001",
        "UNDELIV",
    )


def test_kannel_gets_ok_and_the_message_is_delivered(client, provider, message):
    query = fixture_text("kannel_delivered.txt", MessageID=message.id)

    response = client.get(f"{dlr_url(provider)}?{query}")

    assert (response.status_code, response.content) == (200, b"OK")
    assert reload(message).status == Status.DELIVERED
    report = DeliveryReport.objects.get()
    assert report.description.startswith("id:2567 sub:001")
    assert report.occurred_at == datetime(2022, 6, 6, 10, 55, 21, tzinfo=UTC)


def test_form_fields_join_the_dlr_urls_own_query(client, provider, message):
    response = client.post(f"{dlr_url(provider)}?meta={message.id}", {"type": "16"})

    assert response.content == b"OK"
    assert reload(message).status == Status.FAILED


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("DELIVRD", Status.DELIVERED),
        ("EXPIRED", Status.FAILED),
        ("DELETED", Status.FAILED),
        ("UNDELIV", Status.FAILED),
        ("REJECTD", Status.FAILED),
        ("UNKNOWN", Status.FAILED),
        ("ACCEPTD", Status.SUBMITTED),
        ("ESME_ROK", Status.SUBMITTED),
        ("ESME_RINVDSTADR", Status.FAILED),
    ],
)
def test_each_jasmin_status_maps_to_ours(value, status):
    report = params.parse({"id": "m1", "message_status": value})

    assert (report.status, report.description) == (status, value)


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("1", Status.DELIVERED),
        ("2", Status.FAILED),
        ("4", Status.SUBMITTED),
        ("8", Status.SUBMITTED),
        ("16", Status.FAILED),
    ],
)
def test_each_kannel_dlr_type_maps_to_ours(value, status):
    report = params.parse({"msgid": "m1", "type": value, "reply": "stat:X"})

    assert (report.status, report.description) == (status, "stat:X")


def test_our_own_id_wins_over_the_gateways_id():
    query = dict(parse_qsl(fixture_text("jasmin_delivered.txt", MessageID="ours")))

    assert params.parse(query).message_ref == "ours"


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("type=1", "missing message id (id, msgid or meta)"),
        ("id=m1&type=3", "unknown status '3'"),
        ("id=m1", "unknown status ''"),
        ("id=m1&message_status=LOST", "unknown status 'LOST'"),
    ],
)
def test_a_report_it_cannot_read_is_answered_with_400(client, provider, message, query, error):
    response = client.get(f"{dlr_url(provider)}?{query}")

    assert response.status_code == 400
    assert response.content.decode() == error
    assert not DeliveryReport.objects.exists()


def test_an_unknown_id_is_kept_and_still_acknowledged_to_jasmin(client, provider):
    response = client.get(dlr_url(provider), {"id": "jasmin-id", "message_status": "DELIVRD"})

    assert (response.status_code, response.content) == (200, b"ACK/Jasmin")
    assert DeliveryReport.objects.get().outcome == DeliveryReport.Outcome.UNKNOWN_MESSAGE


def test_an_unknown_id_is_named_in_kannels_answer(client, provider):
    response = client.get(dlr_url(provider), {"id": "nope", "type": "1"})

    assert (response.status_code, response.content) == (200, b"unknown message id")


def test_a_nul_in_a_parameter_is_dropped_not_a_500(client, provider, message):
    response = client.get(f"{dlr_url(provider)}?id={message.id}&type=2&reply=a%00b")

    assert response.status_code == 200
    assert DeliveryReport.objects.get().description == "ab"


def test_a_bad_donedate_is_no_time_rather_than_an_error():
    report = params.parse({"id": "m1", "message_status": "DELIVRD", "donedate": "2399999999"})

    assert report.occurred_at is None


def test_the_parser_refuses_a_report_without_an_id():
    with pytest.raises(MalformedBody):
        params.parse({"message_status": "DELIVRD"})
