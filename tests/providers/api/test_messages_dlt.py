"""API messages naming a template of the DLT registry are scrubbed before they are queued."""

from __future__ import annotations

import pytest

from dlt.models import Header
from providers.models import Message

pytestmark = pytest.mark.django_db
LIST_URL = "/api/v1/messages/"


def otp(provider, body, **variables):
    return {
        "provider": provider.pk,
        "to": "+919876543210",
        "body": body,
        "template_id": "1207160000000000101",
        "variables": {"AppID": "app", "EntityID": "1201160000000000001", **variables},
    }


def test_a_text_the_operator_would_reject_answers_422_and_queues_nothing(
    api, sinch_provider, otp_template
):
    answer = api.post(
        LIST_URL,
        otp(sinch_provider, "Your OTP is 48 29. Do not share it. - Acme", SenderID="ACLALT"),
        format="json",
    )
    assert answer.status_code == 422
    assert answer.json() == {"dlt": ["variable 1 {#numeric#} '48 29' is not digits only"]}
    assert not Message.objects.exists()


def test_a_compliant_otp_is_queued_with_its_alert_and_marks_the_header_used(
    api, sinch_provider, otp_template
):
    answer = api.post(
        LIST_URL,
        otp(sinch_provider, "Your OTP is 482913. Do not share it. - Acme", SenderID="ACLALT"),
        format="json",
    )
    assert answer.status_code == 202, answer.json()
    assert Message.objects.get().variables["Alert"] == "1"
    assert Header.objects.get(sender_id="ACLALT").last_used_at is not None


def test_a_header_the_template_is_not_registered_for_is_refused(
    api, sinch_provider, otp_template, promo_header
):
    answer = api.post(
        LIST_URL,
        otp(sinch_provider, "Your OTP is 482913. Do not share it. - Acme", SenderID="567890"),
        format="json",
    )
    assert answer.status_code == 422
    assert (
        "Template 1207160000000000101 is not registered for header 567890."
        in (answer.json()["dlt"])
    )


def test_a_list_names_each_rejected_message_by_position(api, sinch_provider, otp_template):
    good = otp(sinch_provider, "Your OTP is 1. Do not share it. - Acme", SenderID="ACLALT")
    bad = otp(sinch_provider, "Your OTP is one. Do not share it. - Acme", SenderID="ACLALT")
    answer = api.post(LIST_URL, [good, bad], format="json")
    assert answer.status_code == 422
    assert answer.json() == {"1": {"dlt": ["variable 1 {#numeric#} 'one' is not digits only"]}}
    assert not Message.objects.exists()


def test_a_template_the_registry_does_not_hold_is_sent_as_written(api, sinch_provider, entity):
    data = otp(sinch_provider, "Anything at all", SenderID="ACLALT")
    data["template_id"] = "T-42"
    assert api.post(LIST_URL, data, format="json").status_code == 202
