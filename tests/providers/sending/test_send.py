"""Sending and recording: statuses, retries and history after each answer; an operator's
retry; the Send Test SMS."""

from __future__ import annotations

import json

import requests
import responses
from django.utils import timezone

from providers.dlr.apply import Report, report_apply
from providers.models import Message, MessageEvent
from providers.sending import send_now
from providers.sending.retry import message_retry, retry_delay
from tests.factories import FAKE_ENDPOINT, queued, reload, send_due

Status = Message.Status


# --- sending


@responses.activate
def test_a_2xx_marks_the_message_submitted_and_keeps_the_answer(generic_provider):
    responses.post(FAKE_ENDPOINT, json={"status": "ok", "ref": "abc"})
    message = queued(generic_provider)
    result = send_due(message)
    assert result.ok
    message = reload(message)
    assert message.status == Status.SUBMITTED and message.attempts == 1
    attempt = message.events.get(source=MessageEvent.Source.SEND)
    assert attempt.http_status == 200
    assert '"ref": "abc"' in attempt.data["response"]
    sent = json.loads(responses.calls[0].request.body)
    assert sent == {
        "to": "919876543210",
        "text": "Your OTP is 1234",
        "id": str(message.id),
        "tid": "",
    }
    assert responses.calls[0].request.headers["X-Api-Key"] == "header-secret-value"


@responses.activate
def test_a_message_is_claimed_once_however_many_look(generic_provider):
    responses.post(FAKE_ENDPOINT, json={})
    message = queued(generic_provider)
    send_due(message)
    assert send_due(message) is None
    assert len(responses.calls) == 1


@responses.activate
def test_a_5xx_goes_back_to_the_queue_with_a_later_attempt(generic_provider):
    responses.post(FAKE_ENDPOINT, status=503, body="busy")
    message = queued(generic_provider)
    send_due(message)
    message = reload(message)
    assert message.status == Status.QUEUED
    assert message.next_attempt_at is not None
    assert message.error_code == "provider_error"
    # Not due yet: a dispatcher that looks early finds nothing.
    assert send_due(message) is None
    assert len(responses.calls) == 1


@responses.activate
def test_transient_failures_fail_the_message_when_retries_run_out(generic_provider, settings):
    settings.SMSGATEWAY_MAX_SEND_ATTEMPTS = 3
    responses.post(FAKE_ENDPOINT, body=requests.ConnectionError("reset by peer"))
    message = queued(generic_provider)
    for _ in range(3):
        Message.objects.filter(id=message.id).update(next_attempt_at=timezone.now())
        send_due(message)
    message = reload(message)
    assert message.status == Status.FAILED
    assert message.attempts == 3
    assert len(responses.calls) == 3
    assert "retries exhausted" in message.events.last().description


@responses.activate
def test_a_401_fails_at_once_with_the_providers_answer(generic_provider):
    responses.post(FAKE_ENDPOINT, status=401, json={"error": "bad credentials"})
    message = queued(generic_provider)
    send_due(message)
    message = reload(message)
    assert message.status == Status.FAILED
    assert message.error_code == "auth_rejected"
    assert "bad credentials" in message.error_description


@responses.activate
def test_the_sinch_password_is_sent_but_never_stored_in_history(sinch_provider):
    responses.post(FAKE_ENDPOINT, status=200, body='{"echo": "sinch-pass-Xy9"}')
    message = queued(
        sinch_provider, variables={"AppID": "a", "SenderID": "ACMEIN", "EntityID": "1701"}
    )
    send_due(message)
    sent = json.loads(responses.calls[0].request.body)
    assert sent["pass"] == "sinch-pass-Xy9" and sent["userId"] == "acme-user"
    stored = json.dumps(list(MessageEvent.objects.values("data", "description")))
    assert "sinch-pass-Xy9" not in stored
    assert "acme-user" not in stored


def test_retry_delay_grows_and_is_capped(settings):
    settings.SMSGATEWAY_RETRY_BASE_SECONDS = 2
    settings.SMSGATEWAY_RETRY_MAX_SECONDS = 60
    assert all(0 <= retry_delay(1) <= 2 for _ in range(50))
    assert all(0 <= retry_delay(10) <= 60 for _ in range(50))
    assert retry_delay(1, retry_after=30) >= 30
    # A provider's Retry-After is obeyed past our own cap, up to an hour.
    assert retry_delay(1, retry_after=600) == 600
    assert retry_delay(1, retry_after=86400) == 3600


def test_a_failed_message_can_be_retried_by_an_operator(generic_provider):
    message = queued(generic_provider)
    report = Report(message_ref=str(message.id), event="failed", status=Status.FAILED, code="904")
    report_apply(provider=generic_provider, report=report)
    assert message_retry(message=message)
    message = reload(message)
    assert message.status == Status.QUEUED and message.error_code == ""
    assert not message_retry(message=message)


# --- test SMS


@responses.activate
def test_a_test_sms_is_sent_inline_and_reported(generic_provider, user):
    responses.post(FAKE_ENDPOINT, json={"accepted": True})
    result = send_now.test_sms_send(
        provider=generic_provider, country_code="+91", mobile="98765 43210", message="Hi", user=user
    )
    assert result.ok and result.http_status == 200
    assert Message.objects.get(id=result.message_id).is_test
    generic_provider.refresh_from_db()
    assert generic_provider.last_test_ok is True


@responses.activate
def test_a_failed_test_sms_says_which_kind_of_failure(generic_provider):
    responses.post(FAKE_ENDPOINT, body=requests.Timeout("read timed out"))
    result = send_now.test_sms_send(
        provider=generic_provider, country_code="91", mobile="9876543210", message="Hi"
    )
    assert not result.ok
    assert result.error_kind == "timeout"
    assert result.error.startswith("Timed out")
    # A test is answered now and not retried behind the user's back.
    message = Message.objects.get(id=result.message_id)
    assert message.status == Status.FAILED
    assert "retry" not in message.events.last().description


def test_a_test_sms_with_a_bad_number_sends_nothing(generic_provider):
    result = send_now.test_sms_send(
        provider=generic_provider, country_code="91", mobile="12", message="Hi"
    )
    assert not result.ok and "mobile" in result.errors
    assert not Message.objects.exists()
