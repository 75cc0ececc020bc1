"""The provider pages and India's DLT: the test SMS warning, the Sinch India flags, the
link from a DLT failure to the registry."""

from __future__ import annotations

import json

import pytest
import responses
from django.urls import reverse

from providers.config.presets import PRESETS
from providers.models import Message, Provider
from tests.factories import FAKE_ENDPOINT, provider_form_data

pytestmark = pytest.mark.django_db


def send_test(marketer, provider, **fields):
    data = {
        "country_code": "91",
        "mobile": "98765 43210",
        "message": "Your OTP is 48 29. Do not share it. - Acme",
        "template_id": "1207160000000000101",
        "var_AppID": "app",
        "var_SenderID": "ACLALT",
        "var_EntityID": "1201160000000000001",
        **fields,
    }
    return marketer.post(
        reverse("provider_test_sms", args=[provider.pk]),
        json.dumps(data),
        content_type="application/json",
    )


def test_the_test_sms_warns_of_a_dlt_rejection_and_sends_nothing(
    marketer, sinch_provider, otp_template
):
    answer = send_test(marketer, sinch_provider)
    assert answer.status_code == 200
    assert answer.json() == {
        "ok": False,
        "dlt_warnings": ["variable 1 {#numeric#} '48 29' is not digits only"],
    }
    assert not Message.objects.exists()


def test_the_user_can_send_the_test_sms_past_the_warning(marketer, sinch_provider, otp_template):
    with responses.RequestsMock() as provider_api:
        provider_api.post(FAKE_ENDPOINT, json={"status": "success"})
        answer = send_test(marketer, sinch_provider, send_anyway="1")
    assert answer.json()["ok"] is True
    assert Message.objects.get().is_test


def test_without_a_registry_the_test_sms_goes_out_as_today(marketer, sinch_provider):
    with responses.RequestsMock() as provider_api:
        provider_api.post(FAKE_ENDPOINT, json={"status": "success"})
        assert send_test(marketer, sinch_provider).json()["ok"] is True


def test_an_old_sinch_payload_shows_a_warning_with_a_one_click_fix(marketer, sinch_provider):
    payload = {**sinch_provider.payload, "alert": "1", "intflag": "false"}
    Provider.objects.filter(pk=sinch_provider.pk).update(payload=payload)
    page = marketer.get(sinch_provider.get_absolute_url()).content.decode()
    assert "This payload sends the same DLT flags with every message." in page
    marketer.post(reverse("provider_sinch_flags_fix", args=[sinch_provider.pk]))
    sinch_provider.refresh_from_db()
    assert sinch_provider.payload["alert"] == "$$Alert"
    assert sinch_provider.payload["intflag"] == "$$International"
    assert list(sinch_provider.payload) == list(payload)  # the keys keep their order
    page = marketer.get(sinch_provider.get_absolute_url()).content.decode()
    assert "same DLT flags" not in page


def test_the_sinch_preset_sends_each_messages_flags():
    assert PRESETS["sinch_india"]["payload"]["alert"] == "$$Alert"
    assert PRESETS["sinch_india"]["payload"]["intflag"] == "$$International"


def test_sinch_link_shortening_is_an_option_of_the_form(marketer):
    payload = dict(PRESETS["sinch_india"]["payload"])
    credentials = {"username": "acme", "password": "secret-1"}
    form = provider_form_data(
        kind="sinch_india",
        nickname="Sinch",
        payload=json.dumps(payload),
        shorten_urls="on",
        **credentials,
    )
    answer = marketer.post(reverse("provider_create") + "?preset=sinch_india", form)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    provider = Provider.objects.get(nickname="Sinch")
    assert provider.payload["s"] == "1"
    form = provider_form_data(
        nickname="Sinch", payload=json.dumps(provider.payload), header_value=[""], header_name=[""]
    )
    answer = marketer.post(reverse("provider_edit", args=[provider.pk]), form)
    assert answer.status_code == 302
    provider.refresh_from_db()
    assert "s" not in provider.payload


@pytest.mark.parametrize(
    "code, label",
    [
        ("906", "Header ACLALT"),
        ("907", "Entity Acme Retail"),
        ("908", "Template OTP"),
        ("920", "Whitelist of Acme Retail"),
    ],
)
def test_a_dlt_failure_links_to_what_its_code_names(
    marketer, generic_provider, otp_template, code, label
):
    message = Message.objects.create(
        provider=generic_provider,
        to="+919876543210",
        template_id=otp_template.template_id,
        variables={"SenderID": "ACLALT", "EntityID": "1201160000000000001"},
        status=Message.Status.FAILED,
        error_code=code,
    )
    page = marketer.get(reverse("message_detail", args=[message.pk])).content.decode()
    assert "In the DLT registry:" in page
    assert label in page


def test_the_api_test_sms_is_sent_with_its_dlt_warnings(user, sinch_provider, otp_template):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(user)
    with responses.RequestsMock() as provider_api:
        provider_api.post(FAKE_ENDPOINT, json={"status": "success"})
        answer = api.post(
            f"/api/v1/providers/{sinch_provider.pk}/test-sms/",
            {
                "country_code": "91",
                "mobile": "9876543210",
                "message": "Your OTP is 48 29. Do not share it. - Acme",
                "template_id": otp_template.template_id,
                "variables": {"AppID": "a", "SenderID": "ACLALT", "EntityID": "1"},
            },
            format="json",
        )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["ok"] is True
    assert answer.json()["dlt_warnings"] == ["variable 1 {#numeric#} '48 29' is not digits only"]


def test_a_test_sms_on_a_promotional_template_is_flagged_promotional(
    marketer, sinch_provider, offer_template
):
    with responses.RequestsMock() as provider_api:
        provider_api.post(FAKE_ENDPOINT, json={"status": "success"})
        answer = send_test(
            marketer,
            sinch_provider,
            message="Hi Ravi, 20% off today: https://bit.ly/x - Acme",
            template_id=offer_template.template_id,
            var_SenderID="567890",
            send_anyway="1",
        )
        sent = json.loads(provider_api.calls[0].request.body)
    assert answer.json()["ok"] is True
    assert sent["alert"] == "0"
