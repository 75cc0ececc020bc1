"""The callback view: finding the provider, methods, CSRF, size limit, and how reports
combine over time (duplicates, late and out-of-order reports)."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from providers.config.services import provider_rotate_token
from providers.models import DeliveryReport, Message, MessageEvent, Provider

from .conftest import dlr_url, fixture_text, post_json, reload

Status = Message.Status
Outcome = DeliveryReport.Outcome


def clevertap_event(message: Message, event: str, **fields) -> list[dict]:
    return [{"event": event, "data": [{"meta": str(message.id), "ts": 1654512921, **fields}]}]


def test_an_unknown_token_is_404_and_changes_nothing(client, message):
    events_before = MessageEvent.objects.count()

    response = client.post(
        "/dlr/not-a-real-token/",
        data=fixture_text("clevertap_delivered.json", MessageID=message.id),
        content_type="application/json",
    )

    assert response.status_code == 404
    assert reload(message).status == Status.SUBMITTED
    assert not DeliveryReport.objects.exists()
    assert MessageEvent.objects.count() == events_before


@pytest.mark.parametrize("token", ["%00abc", "a" * 65, "with%20space"])
def test_a_token_that_cannot_exist_is_404(client, token):
    response = client.post(f"/dlr/{token}/", data="[]", content_type="application/json")

    assert response.status_code == 404


def test_a_rotated_token_stops_working(client, message):
    old_url = dlr_url(message.provider)
    provider_rotate_token(provider=message.provider)

    response = post_json(client, message.provider, clevertap_event(message, "delivered"))
    stale = client.post(old_url, data="[]", content_type="application/json")

    assert response.status_code == 200
    assert stale.status_code == 404


def test_the_token_never_reaches_the_logs(client, message, caplog):
    caplog.set_level(logging.INFO)
    token = message.provider.callback_token

    post_json(client, message.provider, "not json")
    client.get(dlr_url(message.provider))
    client.post(f"/dlr/{token}x/", data="[]", content_type="application/json")

    assert caplog.records
    assert token not in caplog.text


def test_no_csrf_token_is_needed(message):
    strict = Client(enforce_csrf_checks=True)

    response = post_json(strict, message.provider, clevertap_event(message, "delivered"))

    assert response.status_code == 200
    assert reload(message).status == Status.DELIVERED


def test_no_csrf_token_is_needed_for_a_form_post(message):
    Provider.objects.filter(id=message.provider_id).update(dlr_format=Provider.DlrFormat.PARAMS)
    strict = Client(enforce_csrf_checks=True)

    response = strict.post(dlr_url(message.provider), {"id": str(message.id), "type": "1"})

    assert response.status_code == 200
    assert reload(message).status == Status.DELIVERED


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_json_formats_accept_only_post(client, generic_provider, method):
    response = getattr(client, method)(dlr_url(generic_provider))

    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_the_params_format_accepts_get_and_post_only(client, generic_provider):
    generic_provider.dlr_format = Provider.DlrFormat.PARAMS
    generic_provider.save()

    response = client.put(dlr_url(generic_provider))

    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"


def test_a_body_over_1_mb_is_refused_with_413(client, message):
    payload = clevertap_event(message, "delivered", description="x" * (1024 * 1024))

    response = post_json(client, message.provider, payload)

    assert response.status_code == 413
    assert response.json()["status"] == "fail"
    assert reload(message).status == Status.SUBMITTED


def test_a_form_over_1_mb_is_refused_with_413(client, message):
    Provider.objects.filter(id=message.provider_id).update(dlr_format=Provider.DlrFormat.PARAMS)

    response = client.post(
        dlr_url(message.provider), {"id": str(message.id), "type": "1", "pad": "x" * (1024 * 1024)}
    )

    assert response.status_code == 413
    assert reload(message).status == Status.SUBMITTED


def test_a_duplicate_report_changes_the_status_once(client, message):
    first = post_json(client, message.provider, clevertap_event(message, "delivered"))
    second = post_json(client, message.provider, clevertap_event(message, "delivered"))

    # Both are answered as processed: the sender must not retry a duplicate.
    assert first.json()["status"] == second.json()["status"] == "success"
    assert list(DeliveryReport.objects.order_by("id").values_list("outcome", flat=True)) == [
        Outcome.APPLIED,
        Outcome.DUPLICATE,
    ]
    assert message.events.filter(status=Status.DELIVERED).count() == 1


def test_it_keeps_delivered_when_a_late_failure_arrives(client, message):
    post_json(client, message.provider, clevertap_event(message, "delivered"))
    answer = post_json(
        client, message.provider, clevertap_event(message, "failed", code="914")
    ).json()

    assert answer["status"] == "success"
    message = reload(message)
    assert (message.status, message.error_code) == (Status.DELIVERED, "")
    assert DeliveryReport.objects.latest("id").outcome == Outcome.IGNORED


def test_it_keeps_failed_when_a_late_delivery_arrives(client, message):
    post_json(client, message.provider, clevertap_event(message, "failed", code="916"))
    post_json(client, message.provider, clevertap_event(message, "delivered"))

    message = reload(message)
    assert (message.status, message.error_code) == (Status.FAILED, "916")


def test_a_late_submitted_report_does_not_undo_delivered(client, message):
    Provider.objects.filter(id=message.provider_id).update(dlr_format=Provider.DlrFormat.PARAMS)
    client.get(dlr_url(message.provider), {"id": str(message.id), "type": "1"})
    client.get(dlr_url(message.provider), {"id": str(message.id), "type": "8"})

    assert reload(message).status == Status.DELIVERED


def test_a_report_arriving_while_the_message_is_still_sending_applies(client, make_message):
    message = make_message(Status.SENDING)

    post_json(client, message.provider, clevertap_event(message, "delivered"))

    assert reload(message).status == Status.DELIVERED


@pytest.mark.parametrize("dlr_format", [f.value for f in Provider.DlrFormat])
@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"{}",
        b"[]",
        b"[null]",
        b"\xff\xfe\x00",
        b'[{"event": null, "data": [null, 1, "x"]}]',
        b'[{"event": ["delivered"], "data": [{"meta": {"a": 1}, "ts": [1]}]}]',
        b'{"msg_id": [1], "sms_delv_status": {"x": 1}, "type": 5, "client_reference": 7}',
        b'[{"event": "delivered", "data": [{"meta": "x", "ts": 99999999999999999999}]}]',
        b'[{"event": "delivered", "data": [{"meta": "x", "ts": "0001-01-01T00:00:00+05:00"}]}]',
    ],
)
def test_bad_input_is_never_a_server_error(client, generic_provider, dlr_format, body):
    generic_provider.dlr_format = dlr_format
    generic_provider.dlr_mapping = {"id": "msg_id", "status": "sms_delv_status", "time": "ts"}
    generic_provider.save()

    response = client.post(dlr_url(generic_provider), data=body, content_type="application/json")

    assert response.status_code < 500
