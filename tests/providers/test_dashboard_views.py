"""The dashboard pages: Settings > Engage > Channels > SMS, through Django's test marketer."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
import requests
import responses
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from providers import selectors
from providers.config.presets import SINCH_INDIA_ENDPOINT, SINCH_INDIA_PAYLOAD, SINCH_INDIA_RESPONSE
from providers.models import Message, MessageEvent, Provider
from tests.factories import FAKE_ENDPOINT, field_text, provider_edit_data, provider_form_data

Status = Message.Status


# ---------------------------------------------------------------- helpers


@pytest.fixture
def provider_api():
    """Fakes the provider's HTTP endpoint; nothing leaves the machine."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make_message(
    provider: Provider,
    status: str,
    *,
    code: str = "",
    to: str = "+919876543210",
    submitted: bool = True,
    minutes_ago: int = 0,
    body: str = "hello",
) -> Message:
    message = Message.objects.create(
        provider=provider,
        to=to,
        body=body,
        status=status,
        error_code=code,
        submitted_at=timezone.now() if submitted else None,
    )
    Message.objects.filter(id=message.id).update(
        created_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    return message


# ---------------------------------------------------------------- access


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("dashboard", {}),
        ("provider_list", {}),
        ("provider_create", {}),
        ("provider_detail", {"pk": 1}),
        ("provider_edit", {"pk": 1}),
        ("provider_delete", {"pk": 1}),
        ("provider_messages", {"pk": 1}),
        ("message_detail", {"pk": "8c0c2b7e-8a4f-4b7e-9a53-2f0d1d9f6a10"}),
        ("message_status", {"pk": "8c0c2b7e-8a4f-4b7e-9a53-2f0d1d9f6a10"}),
    ],
)
def test_every_page_sends_anonymous_visitors_to_the_login_page(db, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_test_sms_needs_a_login_and_sends_nothing(generic_provider, provider_api):
    response = Client().post(
        reverse("provider_test_sms", args=[generic_provider.pk]), "{}", "application/json"
    )
    assert response.status_code == 302
    assert Message.objects.count() == 0


def test_the_login_page_renders(db):
    response = Client().get(reverse("login"))
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_the_dashboard_opens_the_provider_list(marketer):
    response = marketer.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response["Location"] == reverse("provider_list")


# ---------------------------------------------------------------- provider list


def test_the_list_shows_each_provider_with_its_last_test(
    marketer, generic_provider, sinch_provider
):
    Provider.objects.filter(pk=generic_provider.pk).update(
        last_test_at=timezone.now(),
        last_test_ok=False,
        last_test_summary="Authentication rejected: HTTP 401",
    )
    response = marketer.get(reverse("provider_list"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Generic" in page and "Sinch India" in page
    assert "Other (Generic)" in page
    assert "sms.example.com" in page
    assert "Authentication rejected: HTTP 401" in page
    assert "Not tested yet" in page
    assert generic_provider.get_absolute_url() in page


def test_the_empty_list_explains_what_to_do(marketer):
    page = marketer.get(reverse("provider_list")).content.decode()
    assert "No SMS provider yet" in page
    assert f"{reverse('provider_create')}?preset=sinch_india" in page
    assert f"{reverse('provider_create')}?preset=generic" in page


def test_the_list_counts_messages_in_one_query(
    marketer, generic_provider, sinch_provider, django_assert_max_num_queries
):
    make_message(generic_provider, Status.DELIVERED)
    make_message(sinch_provider, Status.FAILED)
    # Session and user, then the providers with their counts.
    with django_assert_max_num_queries(3):
        marketer.get(reverse("provider_list"))


# ---------------------------------------------------------------- add provider


def test_a_valid_provider_is_saved_and_its_page_opens(marketer):
    response = marketer.post(reverse("provider_create"), provider_form_data())
    provider = Provider.objects.get()
    assert response.status_code == 302
    assert response["Location"] == provider.get_absolute_url()
    assert provider.nickname == "Acme SMS"
    assert provider.kind == Provider.Kind.GENERIC
    assert provider.headers == {"X-Api-Key": "key-123"}
    assert provider.payload == {"to": "$$To", "text": "$$Body", "ref": "$$MessageID"}
    assert provider.batch_size == 100

    page = marketer.get(response["Location"]).content.decode()
    assert "Provider “Acme SMS” saved" in page
    assert "Send test SMS" in page
    assert provider.callback_url in page


@pytest.mark.parametrize(
    "changes, field, message",
    [
        (
            {"endpoint": "http://api.acme-sms.example/v1/send"},
            "endpoint",
            "The endpoint must use https://.",
        ),
        (
            {"payload": '{"text": "$$Body"}'},
            "payload",
            "The payload must use $$To for the recipient's number.",
        ),
        (
            {
                "batch_enabled": "on",
                "batch_key": "msgs",
                "batch_size": "1001",
                "payload": '{"msgs": [{"to": "$$To", "body": "$$Body"}]}',
            },
            "batch_size",
            "Records per request must be between 1 and 1,000.",
        ),
        ({"header_name": ["Bad Header"]}, "headers", "'Bad Header' is not a valid header name."),
        (
            {"payload": '{"to": "$$To"\n "text": "$$Body"}'},
            "payload",
            "The payload is not valid JSON: Expecting ',' delimiter at line 2, column 2.",
        ),
        ({"nickname": ""}, "nickname", "Give the provider a nickname."),
        (
            {"auth_type": "basic", "username": "u"},
            "password",
            "Basic authentication needs a password.",
        ),
        (
            {"dlr_format": "custom", "dlr_id_field": "msg_id"},
            "dlr_mapping",
            "A custom DLR format needs at least the status field name",
        ),
        (
            {
                "dlr_format": "custom",
                "dlr_id_field": "id",
                "dlr_status_field": "st",
                "dlr_status_map_field": '{"DELIVRD": "delivered",}',
            },
            "dlr_mapping",
            "The status map is not valid JSON",
        ),
        (
            {
                "header_name": ["X-Api-Key", "X-Api-Key"],
                "header_key": ["", ""],
                "header_value": ["a", "b"],
            },
            "headers",
            "The header X-Api-Key is given twice.",
        ),
    ],
)
def test_invalid_input_is_explained_beside_its_field_and_nothing_is_saved(
    marketer, changes, field, message
):
    response = marketer.post(reverse("provider_create"), provider_form_data(**changes))
    assert response.status_code == 400
    assert message in field_text(response, field)
    assert "Nothing was saved." in response.content.decode()
    assert Provider.objects.count() == 0


def test_private_endpoints_are_refused_unless_allowed(marketer, settings):
    response = marketer.post(
        reverse("provider_create"), provider_form_data(endpoint="https://127.0.0.1/x")
    )
    assert "private, loopback or reserved" in field_text(response, "endpoint")

    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = True
    response = marketer.post(
        reverse("provider_create"), provider_form_data(endpoint="http://127.0.0.1:9/x")
    )
    assert response.status_code == 302


def test_a_rejected_form_keeps_the_input_but_never_echoes_secrets(marketer):
    response = marketer.post(
        reverse("provider_create"),
        provider_form_data(
            nickname="Keep me",
            endpoint="http://insecure.example/send",
            auth_type="basic",
            username="typed-user-name",
            password="typed-password-1",
            header_value=["typed-header-value"],
        ),
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert 'value="Keep me"' in page
    assert 'value="X-Api-Key"' in page
    assert "$$MessageID" in page
    for secret in ("typed-user-name", "typed-password-1", "typed-header-value"):
        assert secret not in page
    assert "Enter the value again" in page


def test_nicknames_are_unique_whatever_the_case(marketer, generic_provider):
    response = marketer.post(reverse("provider_create"), provider_form_data(nickname="generic"))
    assert "A provider called “generic” already exists." in field_text(response, "nickname")
    assert Provider.objects.count() == 1


def test_the_sinch_india_preset_prefills_endpoint_and_payload(marketer):
    response = marketer.get(reverse("provider_create") + "?preset=sinch_india")
    page = response.content.decode()
    assert response.status_code == 200
    assert f'value="{SINCH_INDIA_ENDPOINT}"' in page
    for key, value in SINCH_INDIA_PAYLOAD.items():
        assert f"&quot;{key}&quot;: &quot;{value}&quot;" in page
    assert 'name="kind" value="sinch_india"' in page


def test_a_provider_added_from_the_sinch_preset_is_of_that_kind(marketer):
    data = provider_form_data(
        kind="sinch_india",
        endpoint=SINCH_INDIA_ENDPOINT,
        username="acme",
        password="pw-1",
        payload=json.dumps(SINCH_INDIA_PAYLOAD),
    )
    response = marketer.post(reverse("provider_create") + "?preset=sinch_india", data)
    assert response.status_code == 302
    provider = Provider.objects.get()
    assert provider.kind == Provider.Kind.SINCH_INDIA
    assert (provider.username, provider.password) == ("acme", "pw-1")
    assert sorted(provider.custom_placeholders) == ["AppID", "EntityID", "SenderID"]


def test_the_sinch_india_preset_prefills_the_rules_for_its_answer(marketer):
    response = marketer.get(reverse("provider_create") + "?preset=sinch_india")
    form = response.context["form"]
    assert json.loads(form["response"].value()) == SINCH_INDIA_RESPONSE


def test_response_rules_are_saved_and_shown_again(marketer):
    rules = {"success": {"regex": "^OK"}, "message_id": {"path": "data.0.id"}}
    response = marketer.post(
        reverse("provider_create"), provider_form_data(response=json.dumps(rules))
    )
    assert response.status_code == 302
    provider = Provider.objects.get()
    assert provider.response == rules
    edit = marketer.get(reverse("provider_edit", args=[provider.pk]))
    assert json.loads(edit.context["form"]["response"].value()) == rules


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"success": {"path": "status"', "The response rules"),
        ('{"message_id": {"regex": "("}}', "message_id: the regex does not compile"),
    ],
)
def test_response_rules_that_cannot_work_are_refused(marketer, text, error):
    response = marketer.post(reverse("provider_create"), provider_form_data(response=text))
    assert response.status_code == 400
    assert error in field_text(response, "response")
    assert not Provider.objects.exists()


def test_an_unknown_preset_falls_back_to_the_generic_form(marketer):
    response = marketer.get(reverse("provider_create") + "?preset=nope")
    assert response.status_code == 200
    assert 'name="kind" value="generic"' in response.content.decode()


def test_a_custom_dlr_mapping_is_saved(marketer):
    response = marketer.post(
        reverse("provider_create"),
        provider_form_data(
            dlr_format="custom",
            dlr_id_field="msg_id",
            dlr_status_field="sms_delv_status",
            dlr_code_field="err",
            dlr_status_map_field='{"DELIVRD": "delivered", "UNDELIV": "failed"}',
        ),
    )
    assert response.status_code == 302
    assert Provider.objects.get().dlr_mapping == {
        "id": "msg_id",
        "status": "sms_delv_status",
        "code": "err",
        "status_map": {"DELIVRD": "delivered", "UNDELIV": "failed"},
    }


# ---------------------------------------------------------------- edit provider


@pytest.fixture
def basic_provider(db) -> Provider:
    return Provider.objects.create(
        nickname="Basic",
        endpoint=FAKE_ENDPOINT,
        auth_type=Provider.AuthType.BASIC,
        username="stored-user-7",
        password="stored-pass-8",
        headers={"X-Api-Key": "stored-header-9", "X-Tenant": "stored-tenant-10"},
        payload={"to": "$$To", "text": "$$Body"},
    )


def test_editing_keeps_the_password_and_username_when_left_blank(marketer, basic_provider):
    response = marketer.post(
        reverse("provider_edit", args=[basic_provider.pk]),
        provider_edit_data(basic_provider, nickname="Basic renamed"),
    )
    assert response.status_code == 302
    basic_provider.refresh_from_db()
    assert basic_provider.nickname == "Basic renamed"
    assert basic_provider.username == "stored-user-7"
    assert basic_provider.password == "stored-pass-8"


def test_editing_replaces_the_password_when_one_is_typed(marketer, basic_provider):
    marketer.post(
        reverse("provider_edit", args=[basic_provider.pk]),
        provider_edit_data(basic_provider, password="new-pass-11"),
    )
    basic_provider.refresh_from_db()
    assert basic_provider.password == "new-pass-11"


def test_editing_keeps_masked_header_values_and_applies_changes(marketer, basic_provider):
    data = provider_edit_data(basic_provider)
    # Keep X-Api-Key as it is, rename X-Tenant while keeping its value, add a header.
    data["header_key"] = ["X-Api-Key", "X-Tenant", ""]
    data["header_name"] = ["X-Api-Key", "X-Account", "X-New"]
    data["header_value"] = ["********", "********", "fresh-value"]
    response = marketer.post(reverse("provider_edit", args=[basic_provider.pk]), data)
    assert response.status_code == 302
    basic_provider.refresh_from_db()
    assert basic_provider.headers == {
        "X-Api-Key": "stored-header-9",
        "X-Account": "stored-tenant-10",
        "X-New": "fresh-value",
    }


def test_removing_a_header_row_removes_the_header(marketer, basic_provider):
    data = provider_edit_data(
        basic_provider, header_key=["X-Tenant"], header_name=["X-Tenant"], header_value=["********"]
    )
    marketer.post(reverse("provider_edit", args=[basic_provider.pk]), data)
    basic_provider.refresh_from_db()
    assert basic_provider.headers == {"X-Tenant": "stored-tenant-10"}


def test_a_mask_without_a_stored_value_is_refused(marketer, basic_provider):
    data = provider_edit_data(
        basic_provider, header_key=[""], header_name=["X-Other"], header_value=["********"]
    )
    response = marketer.post(reverse("provider_edit", args=[basic_provider.pk]), data)
    assert "Enter a value for the X-Other header: none is stored to keep." in field_text(
        response, "headers"
    )


def test_the_edit_page_shows_names_and_masks_but_never_stored_secrets(marketer, basic_provider):
    page = marketer.get(reverse("provider_edit", args=[basic_provider.pk])).content.decode()
    assert 'value="X-Api-Key"' in page and 'value="X-Tenant"' in page
    assert page.count('value="********"') == 2
    assert "Stored: leave blank to keep" in page
    assert basic_provider.callback_url in page
    for secret in ("stored-user-7", "stored-pass-8", "stored-header-9", "stored-tenant-10"):
        assert secret not in page


def test_an_invalid_edit_changes_nothing(marketer, basic_provider):
    response = marketer.post(
        reverse("provider_edit", args=[basic_provider.pk]),
        provider_edit_data(basic_provider, nickname="Changed", payload="{}"),
    )
    assert response.status_code == 400
    basic_provider.refresh_from_db()
    assert basic_provider.nickname == "Basic"


# ---------------------------------------------------------------- secrets


def test_stored_secrets_never_appear_on_any_page(marketer, basic_provider, provider_api):
    # The provider echoes what it got, credentials included: still nothing may leak.
    provider_api.post(
        FAKE_ENDPOINT, status=200, body='{"status": "ok", "echo": "stored-header-9 stored-pass-8"}'
    )
    answer = marketer.post(
        reverse("provider_test_sms", args=[basic_provider.pk]),
        {"country_code": "91", "mobile": "9876543210", "message": "hello"},
        content_type="application/json",
    )
    message_id = answer.json()["message_id"]
    MessageEvent.objects.create(
        message_id=message_id,
        source=MessageEvent.Source.DLR,
        status=Status.DELIVERED,
        description="Delivered to handset",
        data={"event": "delivered", "meta": message_id},
    )
    urls = [
        reverse("provider_list"),
        reverse("provider_detail", args=[basic_provider.pk]),
        reverse("provider_edit", args=[basic_provider.pk]),
        reverse("provider_delete", args=[basic_provider.pk]),
        reverse("provider_messages", args=[basic_provider.pk]),
        reverse("message_detail", args=[message_id]),
        reverse("message_status", args=[message_id]),
    ]
    secrets = ("stored-user-7", "stored-pass-8", "stored-header-9", "stored-tenant-10")
    for url in urls:
        response = marketer.get(url)
        assert response.status_code == 200, url
        for secret in secrets:
            assert secret not in response.content.decode(), (url, secret)
    assert not any(secret in answer.content.decode() for secret in secrets)


# ---------------------------------------------------------------- provider page


def test_the_provider_page_offers_a_test_sms_with_each_custom_field(marketer, sinch_provider):
    page = marketer.get(sinch_provider.get_absolute_url()).content.decode()
    assert 'name="country_code"' in page and 'value="91"' in page
    assert 'name="mobile"' in page
    assert 'name="template_id"' in page  # the Sinch payload uses $$TemplateID
    for name in ("AppID", "SenderID", "EntityID"):
        assert f'name="var_{name}"' in page
    assert sinch_provider.callback_url in page


def test_the_template_id_input_only_shows_when_the_payload_uses_it(marketer, basic_provider):
    page = marketer.get(basic_provider.get_absolute_url()).content.decode()
    assert 'name="template_id"' not in page


def test_sandbox_numbers_show_for_a_provider_on_the_sandbox(marketer, sinch_provider, settings):
    settings.SMSGATEWAY_SANDBOX_ENABLED = True
    sinch_provider.endpoint = "https://gateway.example.com" + reverse("sandbox_send")
    sinch_provider.save()
    page = marketer.get(sinch_provider.get_absolute_url()).content.decode()
    assert "Sandbox test numbers" in page
    assert "9999900004" in page
    assert "HTTP 401: authentication rejected" in page

    settings.SMSGATEWAY_SANDBOX_ENABLED = False
    page = marketer.get(sinch_provider.get_absolute_url()).content.decode()
    assert "Sandbox test numbers" not in page


def test_the_provider_page_reads_in_a_bounded_number_of_queries(
    marketer, generic_provider, django_assert_max_num_queries
):
    for index in range(30):
        make_message(generic_provider, Status.FAILED, code=str(900 + index % 5))
    # Session, user, provider, two for the statistics, one for recent messages.
    with django_assert_max_num_queries(7):
        marketer.get(generic_provider.get_absolute_url())


# ---------------------------------------------------------------- test SMS


def send_test(marketer: Client, provider: Provider, **fields: Any) -> Any:
    data = {"country_code": "91", "mobile": "98765 43210", "message": "Hello there", **fields}
    return marketer.post(
        reverse("provider_test_sms", args=[provider.pk]), data, content_type="application/json"
    )


def test_a_successful_test_sms_answers_with_the_providers_reply(
    marketer, generic_provider, provider_api
):
    provider_api.post(FAKE_ENDPOINT, status=200, json={"status": "accepted", "id": "p-1"})
    response = send_test(marketer, generic_provider)
    data = response.json()
    assert response.status_code == 200
    assert data["ok"] is True
    assert data["http_status"] == 200
    assert json.loads(data["response"]) == {"status": "accepted", "id": "p-1"}
    message = Message.objects.get(id=data["message_id"])
    assert message.status == Status.SUBMITTED
    assert message.to == "+919876543210"
    assert message.is_test
    assert data["status_url"] == reverse("message_status", args=[message.id])
    assert data["message_url"] == reverse("message_detail", args=[message.id])
    sent = json.loads(provider_api.calls[0].request.body)
    assert sent["to"] == "919876543210" and sent["text"] == "Hello there"


def test_a_rejected_login_is_reported_as_authentication_rejected(
    marketer, generic_provider, provider_api
):
    provider_api.post(FAKE_ENDPOINT, status=401, body='{"error": "bad api key"}')
    data = send_test(marketer, generic_provider).json()
    assert data["ok"] is False
    assert data["error_kind"] == "auth_rejected"
    assert data["error_title"] == "Authentication rejected"
    assert data["http_status"] == 401
    assert data["response"] == '{"error": "bad api key"}'
    assert Message.objects.get(id=data["message_id"]).status == Status.FAILED
    generic_provider.refresh_from_db()
    assert generic_provider.last_test_ok is False


def test_a_timeout_is_reported_as_such(marketer, generic_provider, provider_api):
    provider_api.post(FAKE_ENDPOINT, body=requests.exceptions.ReadTimeout("read timed out"))
    data = send_test(marketer, generic_provider).json()
    assert data["ok"] is False
    assert data["error_kind"] == "timeout"
    assert data["error_title"] == "Timed out"
    assert Message.objects.get(id=data["message_id"]).status == Status.FAILED


def test_test_sms_field_errors_name_their_fields_and_send_nothing(
    marketer, sinch_provider, provider_api
):
    response = send_test(marketer, sinch_provider, mobile="12", var_AppID="app")
    errors = response.json()["errors"]
    assert response.status_code == 400
    assert errors["var_SenderID"] == ["Enter a value for $$SenderID."]
    assert "var_AppID" not in errors
    assert not provider_api.calls

    response = send_test(
        marketer, sinch_provider, mobile="12", var_AppID="a", var_SenderID="s", var_EntityID="e"
    )
    assert "mobile" in response.json()["errors"]
    assert Message.objects.count() == 0


def test_test_sms_needs_a_message_when_the_payload_has_no_template_id(marketer, basic_provider):
    response = send_test(marketer, basic_provider, message="")
    assert response.json()["errors"] == {"message": ["Enter the message to send."]}


def test_test_sms_refuses_a_body_that_is_not_a_json_object(marketer, generic_provider):
    response = marketer.post(
        reverse("provider_test_sms", args=[generic_provider.pk]),
        "[1]",
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "__all__" in response.json()["errors"]


# ---------------------------------------------------------------- message status and page


def test_message_status_reports_the_current_status_and_meaning(marketer, generic_provider):
    message = make_message(generic_provider, Status.FAILED, code="901")
    data = marketer.get(reverse("message_status", args=[message.id])).json()
    assert data["status"] == "failed"
    assert data["status_display"] == "Failed"
    assert data["terminal"] is True
    assert data["error_code"] == "901"
    assert data["error_meaning"] == "DND failure"


def test_an_unknown_message_is_not_found(marketer):
    url = reverse("message_status", args=["8c0c2b7e-8a4f-4b7e-9a53-2f0d1d9f6a10"])
    assert marketer.get(url).status_code == 404


def test_the_message_page_shows_its_history_in_order(marketer, generic_provider, provider_api):
    provider_api.post(FAKE_ENDPOINT, status=200, body='{"status": "accepted"}')
    message_id = send_test(marketer, generic_provider).json()["message_id"]
    MessageEvent.objects.create(
        message_id=message_id,
        source=MessageEvent.Source.DLR,
        status=Status.DELIVERED,
        description="Delivered to handset",
        data={"event": "delivered", "meta": message_id},
    )
    page = marketer.get(reverse("message_detail", args=[message_id])).content.decode()
    assert "+919876543210" in page and "Hello there" in page
    queued, attempt, dlr = (
        page.index("Test SMS"),
        page.index("Accepted by the provider"),
        page.index("Delivered to handset"),
    )
    assert queued < attempt < dlr
    assert "POST https://sms.example.com/send" in page
    assert "X-Api-Key: ********" in page
    assert "&quot;status&quot;: &quot;accepted&quot;" in page
    assert reverse("message_status", args=[message_id]) in page


# ---------------------------------------------------------------- message log


def test_the_message_log_filters_by_status_and_number(marketer, generic_provider):
    make_message(generic_provider, Status.DELIVERED, to="+919876543210", body="sms-one")
    make_message(generic_provider, Status.FAILED, code="901", to="+919812345678", body="sms-two")
    make_message(generic_provider, Status.FAILED, code="916", to="+919876500000", body="sms-three")
    url = reverse("provider_messages", args=[generic_provider.pk])

    def shown(**query: str) -> list[str]:
        return re.findall(r"sms-\w+", marketer.get(url, query).content.decode())

    assert shown(status="failed") == ["sms-three", "sms-two"]
    assert "DND failure" in marketer.get(url, {"status": "failed"}).content.decode()
    assert shown(q="98765") == ["sms-three", "sms-one"]
    assert shown(status="failed", q="+91 98765") == ["sms-three"]

    page = marketer.get(url, {"status": "queued"}).content.decode()
    assert "No messages match" in page


def test_the_message_log_pages_fifty_newest_first(marketer, generic_provider):
    for index in range(55):
        make_message(generic_provider, Status.DELIVERED, minutes_ago=index, body=f"msg-{index:02}")
    url = reverse("provider_messages", args=[generic_provider.pk])
    first = marketer.get(url).content.decode()
    assert re.findall(r"msg-\d\d", first)[:3] == ["msg-00", "msg-01", "msg-02"]
    assert len(re.findall(r"msg-\d\d", first)) == 50
    second = marketer.get(url, {"page": 2}).content.decode()
    assert re.findall(r"msg-\d\d", second) == [f"msg-{i}" for i in range(50, 55)]


def test_the_message_log_only_shows_its_providers_messages(
    marketer, generic_provider, sinch_provider
):
    make_message(sinch_provider, Status.DELIVERED, body="elsewhere")
    page = marketer.get(reverse("provider_messages", args=[generic_provider.pk])).content.decode()
    assert "elsewhere" not in page
    assert "No messages yet" in page


# ---------------------------------------------------------------- statistics


def test_statistics_count_a_known_set_of_messages(
    marketer, generic_provider, sinch_provider, django_assert_num_queries
):
    for _ in range(6):
        make_message(generic_provider, Status.DELIVERED)
    make_message(generic_provider, Status.SUBMITTED)
    make_message(generic_provider, Status.QUEUED, submitted=False)
    make_message(generic_provider, Status.FAILED, code="901")
    make_message(generic_provider, Status.FAILED, code="901")
    make_message(generic_provider, Status.FAILED, code="916")
    # Refused at send time: failed, but never accepted by the provider.
    make_message(generic_provider, Status.FAILED, code="auth_rejected", submitted=False)
    make_message(sinch_provider, Status.DELIVERED)  # another provider's

    with django_assert_num_queries(2):
        stats = selectors.provider_stats(provider=generic_provider)
    assert (stats.total, stats.sent, stats.delivered, stats.failed, stats.pending) == (
        12,
        10,
        6,
        4,
        2,
    )
    assert stats.delivery_rate == pytest.approx(60.0)
    assert [(f.code, f.meaning, f.count) for f in stats.failures] == [
        ("901", "DND failure", 2),
        ("916", "Expired", 1),
        ("auth_rejected", "Authentication rejected", 1),
    ]

    page = marketer.get(generic_provider.get_absolute_url()).content.decode()
    assert re.search(r'data-stat="sent">10<', page)
    assert re.search(r'data-stat="delivered">6<', page)
    assert re.search(r'data-stat="failed">4<', page)
    assert re.search(r'data-stat="delivery-rate">60.0%<', page)
    assert "DND failure" in page


def test_a_provider_without_messages_has_no_delivery_rate(generic_provider):
    stats = selectors.provider_stats(provider=generic_provider)
    assert (stats.sent, stats.delivered, stats.failed) == (0, 0, 0)
    assert stats.delivery_rate is None
    assert stats.failures == []


# ---------------------------------------------------------------- delete


def test_a_provider_without_messages_is_deleted_after_confirming(marketer, generic_provider):
    url = reverse("provider_delete", args=[generic_provider.pk])
    assert "Delete provider" in marketer.get(url).content.decode()
    assert Provider.objects.filter(pk=generic_provider.pk).exists()

    response = marketer.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("provider_list")
    assert not Provider.objects.filter(pk=generic_provider.pk).exists()


def test_a_provider_with_messages_cannot_be_deleted(marketer, generic_provider):
    make_message(generic_provider, Status.DELIVERED)
    url = reverse("provider_delete", args=[generic_provider.pk])
    page = marketer.get(url).content.decode()
    assert "This provider cannot be deleted." in page
    assert "Delete provider" not in page

    response = marketer.post(url, follow=True)
    assert Provider.objects.filter(pk=generic_provider.pk).exists()
    assert "has 1 message(s), so it cannot be deleted" in response.content.decode()


# ---------------------------------------------------------------- CSP


INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)


def test_pages_have_no_inline_scripts_or_handlers(marketer, sinch_provider):
    message = make_message(sinch_provider, Status.SUBMITTED)
    urls = [
        reverse("provider_list"),
        reverse("provider_create") + "?preset=sinch_india",
        sinch_provider.get_absolute_url(),
        reverse("provider_edit", args=[sinch_provider.pk]),
        reverse("provider_messages", args=[sinch_provider.pk]),
        reverse("message_detail", args=[message.id]),
    ]
    for url in urls:
        page = marketer.get(url).content.decode()
        assert not INLINE_HANDLER.search(page), url
        assert " style=" not in page, url
        for attributes in SCRIPT_TAG.findall(page):
            # Either a static file, or data for one (json_script), never code.
            assert "src=" in attributes or 'type="application/json"' in attributes, url
