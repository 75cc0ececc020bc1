"""Applying delivery reports to messages: status changes, late and repeated reports,
unknown ids, STOP replies."""

from __future__ import annotations

import responses

from providers.dlr.apply import Report, report_apply
from providers.models import DeliveryReport, Message
from tests.factories import FAKE_ENDPOINT, queued, reload, send_due

Status = Message.Status


# --- delivery reports


def report(message: Message, event: str, status: str, **fields) -> str:
    return report_apply(
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
    outcome = report_apply(
        provider=generic_provider,
        report=Report(message_ref="no-such-id", event="delivered", status=Status.DELIVERED),
    )
    assert outcome == DeliveryReport.Outcome.UNKNOWN_MESSAGE
    assert DeliveryReport.objects.get().message_ref == "no-such-id"


def test_a_report_for_another_providers_message_is_unknown(generic_provider, batch_provider):
    message = queued(generic_provider)
    outcome = report_apply(
        provider=batch_provider,
        report=Report(message_ref=str(message.id), event="delivered", status=Status.DELIVERED),
    )
    assert outcome == DeliveryReport.Outcome.UNKNOWN_MESSAGE
    assert reload(message).status == Status.QUEUED
