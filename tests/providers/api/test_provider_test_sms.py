"""POST /api/v1/providers/{id}/test-sms/: sends at once and reports the provider's answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from providers.models import Message, Provider
from tests.factories import FAKE_ENDPOINT


def url_for(provider: Provider) -> str:
    return f"/api/v1/providers/{provider.pk}/test-sms/"


def sms_input(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"country_code": "91", "mobile": "98765 43210", "message": "Hello"}
    data.update(overrides)
    return data


def test_it_sends_a_test_sms_and_returns_the_provider_answer(
    api, generic_provider, fake_provider_endpoint
):
    fake_provider_endpoint.post(FAKE_ENDPOINT, json={"status": "accepted"}, status=200)

    response = api.post(url_for(generic_provider), sms_input(), format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["ok"] is True
    assert body["http_status"] == 200
    assert json.loads(body["response"]) == {"status": "accepted"}
    assert body["error"] == "" and body["error_kind"] == ""
    message = Message.objects.get(id=body["message_id"])
    assert message.is_test and message.to == "+919876543210"
    sent = json.loads(fake_provider_endpoint.calls[0].request.body)
    assert sent["to"] == "919876543210"
    assert sent["id"] == body["message_id"]
    generic_provider.refresh_from_db()
    assert generic_provider.last_test_ok is True


def test_it_reports_rejected_credentials(api, generic_provider, fake_provider_endpoint):
    fake_provider_endpoint.post(FAKE_ENDPOINT, json={"error": "bad key"}, status=401)

    response = api.post(url_for(generic_provider), sms_input(), format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False
    assert body["error_kind"] == "auth_rejected"
    assert body["http_status"] == 401
    assert "bad key" in body["response"]
    generic_provider.refresh_from_db()
    assert generic_provider.last_test_ok is False


@pytest.mark.parametrize(
    ("failure", "error_kind"),
    [
        (requests.exceptions.ReadTimeout("read timed out"), "timeout"),
        (requests.exceptions.ConnectionError("connection reset by peer"), "connection_error"),
    ],
    ids=["timeout", "connection-error"],
)
def test_it_reports_a_failure_to_reach_the_provider(
    api, generic_provider, fake_provider_endpoint, failure, error_kind
):
    fake_provider_endpoint.post(FAKE_ENDPOINT, body=failure)

    response = api.post(url_for(generic_provider), sms_input(), format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False
    assert body["error_kind"] == error_kind
    assert body["http_status"] is None
    assert body["error"]
    # A test is answered now: it is not left queued for a silent retry.
    assert Message.objects.get(id=body["message_id"]).status == Message.Status.FAILED


def test_it_answers_400_for_a_bad_mobile_and_sends_nothing(
    api, generic_provider, fake_provider_endpoint
):
    response = api.post(url_for(generic_provider), sms_input(mobile="12"), format="json")

    assert response.status_code == 400
    assert "mobile" in response.json()
    assert len(fake_provider_endpoint.calls) == 0
    assert not Message.objects.exists()


def test_it_answers_400_for_variables_a_database_cannot_store_and_sends_nothing(
    api, generic_provider, fake_provider_endpoint
):
    body = json.dumps(sms_input(variables={"AppID": "app\u0000"}))

    response = api.post(url_for(generic_provider), body, content_type="application/json")

    assert response.status_code == 400
    assert "variables" in response.json()
    assert len(fake_provider_endpoint.calls) == 0
    assert not Message.objects.exists()


def test_it_answers_400_without_a_message_or_template(api, generic_provider):
    response = api.post(url_for(generic_provider), sms_input(message=""), format="json")

    assert response.status_code == 400
    assert "message" in response.json()


def test_it_answers_400_for_missing_fields(api, generic_provider):
    response = api.post(url_for(generic_provider), {}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"country_code", "mobile", "message"}


def test_it_needs_the_custom_placeholder_values(api, sinch_provider):
    response = api.post(url_for(sinch_provider), sms_input(), format="json")

    assert response.status_code == 400
    assert "$$AppID" in response.json()["variables"][0]


def test_a_credential_echoed_by_the_provider_is_masked(api, sinch_provider, fake_provider_endpoint):
    fake_provider_endpoint.post(
        FAKE_ENDPOINT, body="invalid user acme-user with pass sinch-pass-Xy9", status=403
    )
    variables = {"AppID": "app-1", "SenderID": "ACMEIN", "EntityID": "1101"}

    response = api.post(url_for(sinch_provider), sms_input(variables=variables), format="json")

    assert response.status_code == 200
    assert response.json()["error_kind"] == "auth_rejected"
    assert b"sinch-pass-Xy9" not in response.content
    assert b"acme-user" not in response.content


def test_it_answers_404_for_an_unknown_provider(api, db):
    response = api.post("/api/v1/providers/999999/test-sms/", sms_input(), format="json")

    assert response.status_code == 404
