from __future__ import annotations

import json
import uuid

import pytest
import requests
import responses
from django.core.exceptions import ValidationError
from django.utils import timezone

from providers import claims, reports, services
from providers.models import DeliveryReport, Message, MessageEvent, OptOut
from providers.reports import Report
from providers.transport import SendResult
from tests.factories import FAKE_ENDPOINT

Status = Message.Status


def queued(provider, **fields) -> Message:
    defaults = {"to": "+919876543210", "body": "Your OTP is 1234"}
    return services.message_create(provider=provider, **{**defaults, **fields})


def send_due(message: Message) -> SendResult | None:
    """Claim the message if it is due, as a dispatcher would, and send it inline."""
    claimed = claims.messages_claim_due(
        lane_id=message.lane_id,
        limit=10,
        token=uuid.uuid4(),
        now=timezone.now(),
    )
    if not claimed:
        return None
    return services.message_send_now(message=reload(message))


def reload(message: Message) -> Message:
    return Message.objects.get(id=message.id)


# --- creating messages


def test_a_new_message_is_queued_with_e164_number(generic_provider):
    message = queued(generic_provider, to="919876543210")
    assert message.status == Status.QUEUED
    assert message.to == "+919876543210"
    assert message.events.get().status == Status.QUEUED


def test_it_is_due_at_once_and_needs_no_task_of_its_own(generic_provider):
    from django_tasks_db.models import DBTaskResult

    message = queued(generic_provider)
    assert message.next_attempt_at <= timezone.now()
    assert not DBTaskResult.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"to": "12"}, "to"), ({"to": "not a number"}, "to"), ({"body": ""}, "body")],
)
def test_invalid_messages_are_refused_with_the_field_named(generic_provider, fields, field):
    with pytest.raises(ValidationError) as error:
        queued(generic_provider, **fields)
    assert field in error.value.message_dict
    assert not Message.objects.exists()


def test_a_custom_placeholder_needs_a_value(sinch_provider):
    with pytest.raises(ValidationError) as error:
        queued(sinch_provider)
    assert "$$AppID" in str(error.value.message_dict["variables"])


def test_an_opted_out_number_is_refused(generic_provider):
    OptOut.objects.create(phone="+919876543210")
    with pytest.raises(ValidationError, match="opted out"):
        queued(generic_provider)


def test_the_same_idempotency_key_returns_the_first_message(generic_provider, user):
    first = queued(generic_provider, created_by=user, idempotency_key="k-1")
    again = queued(generic_provider, created_by=user, idempotency_key="k-1", body="other")
    assert again.id == first.id
    assert Message.objects.count() == 1


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
    assert all(0 <= services.retry_delay(1) <= 2 for _ in range(50))
    assert all(0 <= services.retry_delay(10) <= 60 for _ in range(50))
    assert services.retry_delay(1, retry_after=30) >= 30
    # A provider's Retry-After is obeyed past our own cap, up to an hour.
    assert services.retry_delay(1, retry_after=600) == 600
    assert services.retry_delay(1, retry_after=86400) == 3600


# --- delivery reports


def report(message: Message, event: str, status: str, **fields) -> str:
    return reports.report_apply(
        provider=message.provider,
        report=Report(message_ref=str(message.id), event=event, status=status, **fields),
    )


def test_a_delivered_report_marks_the_message_delivered(generic_provider):
    message = queued(generic_provider)
    assert report(message, "delivered", Status.DELIVERED) == DeliveryReport.Outcome.APPLIED
    assert reload(message).status == Status.DELIVERED


def test_it_keeps_delivered_when_a_late_failure_arrives(generic_provider):
    message = queued(generic_provider)
    report(message, "delivered", Status.DELIVERED)
    outcome = report(message, "failed", Status.FAILED, code="901")
    assert outcome == DeliveryReport.Outcome.IGNORED
    assert reload(message).status == Status.DELIVERED


def test_the_same_report_twice_changes_the_status_once(generic_provider):
    message = queued(generic_provider)
    report(message, "delivered", Status.DELIVERED)
    assert report(message, "delivered", Status.DELIVERED) == DeliveryReport.Outcome.DUPLICATE
    assert message.events.filter(status=Status.DELIVERED).count() == 1


def test_a_failure_keeps_the_code_and_its_clevertap_meaning(generic_provider):
    message = queued(generic_provider)
    report(message, "failed", Status.FAILED, code="901")
    message = reload(message)
    assert (message.status, message.error_code) == (Status.FAILED, "901")
    assert message.error_description == "DND failure"


@responses.activate
def test_a_report_that_beats_the_send_response_still_applies(generic_provider):
    message = queued(generic_provider)

    def provider_answers(request):
        # The provider's DLR arrives while our request is still in flight.
        report(message, "delivered", Status.DELIVERED)
        return (200, {}, "{}")

    responses.add_callback(responses.POST, FAKE_ENDPOINT, callback=provider_answers)
    send_due(message)
    assert reload(message).status == Status.DELIVERED


def test_an_unknown_message_id_is_kept_for_audit(generic_provider):
    outcome = reports.report_apply(
        provider=generic_provider,
        report=Report(message_ref="no-such-id", event="delivered", status=Status.DELIVERED),
    )
    assert outcome == DeliveryReport.Outcome.UNKNOWN_MESSAGE
    assert DeliveryReport.objects.get().message_ref == "no-such-id"


def test_a_report_for_another_providers_message_is_unknown(generic_provider, batch_provider):
    message = queued(generic_provider)
    outcome = reports.report_apply(
        provider=batch_provider,
        report=Report(message_ref=str(message.id), event="delivered", status=Status.DELIVERED),
    )
    assert outcome == DeliveryReport.Outcome.UNKNOWN_MESSAGE
    assert reload(message).status == Status.QUEUED


def test_a_stop_reply_puts_the_number_on_the_opt_out_list(generic_provider):
    message = queued(generic_provider)
    report(message, "replied", "", reply_text=" stop ")
    assert OptOut.objects.filter(phone="+919876543210").exists()
    assert reload(message).status == Status.QUEUED


def test_a_failed_message_can_be_retried_by_an_operator(generic_provider):
    message = queued(generic_provider)
    report(message, "failed", Status.FAILED, code="904")
    assert services.message_retry(message=message)
    message = reload(message)
    assert message.status == Status.QUEUED and message.error_code == ""
    assert not services.message_retry(message=message)


# --- test SMS


@responses.activate
def test_a_test_sms_is_sent_inline_and_reported(generic_provider, user):
    responses.post(FAKE_ENDPOINT, json={"accepted": True})
    result = services.test_sms_send(
        provider=generic_provider, country_code="+91", mobile="98765 43210", message="Hi", user=user
    )
    assert result.ok and result.http_status == 200
    assert Message.objects.get(id=result.message_id).is_test
    generic_provider.refresh_from_db()
    assert generic_provider.last_test_ok is True


@responses.activate
def test_a_failed_test_sms_says_which_kind_of_failure(generic_provider):
    responses.post(FAKE_ENDPOINT, body=requests.Timeout("read timed out"))
    result = services.test_sms_send(
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
    result = services.test_sms_send(
        provider=generic_provider, country_code="91", mobile="12", message="Hi"
    )
    assert not result.ok and "mobile" in result.errors
    assert not Message.objects.exists()
