"""`manage.py demo_setup`: admin login, API token and the sandbox provider, idempotently."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
import responses
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token

from providers.models import Provider
from providers.sending.create import message_create
from providers.sending.rendering import render_request

SANDBOX = "Sandbox (Sinch India)"


@pytest.fixture(autouse=True)
def _sandbox_on(settings):
    settings.SMSGATEWAY_SANDBOX_ENABLED = True
    settings.SMSGATEWAY_SANDBOX_DLR_DELAY = 0


def demo_setup(*args: str) -> str:
    out = StringIO()
    call_command("demo_setup", *args, stdout=out)
    return out.getvalue()


def printed_password(output: str) -> str:
    match = re.search(
        r"Dashboard: https://gateway\.example\.com  user: admin  password: (\S+)", output
    )
    assert match, output
    return match.group(1)


def test_a_first_run_creates_the_admin_with_a_printed_password_and_a_token(db):
    output = demo_setup()

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password(printed_password(output))
    assert f"API token for admin: {Token.objects.get(user=admin).key}" in output


def test_a_first_run_creates_the_sandbox_provider_ready_to_use(db):
    demo_setup()

    provider = Provider.objects.get(nickname=SANDBOX)
    assert provider.kind == "sinch_india"
    assert provider.endpoint == "https://gateway.example.com/sandbox/sinch-india/messages.json"
    assert (provider.username, provider.password) == ("sandbox-user", "sandbox-pass")
    assert provider.payload["appid"] == "sandbox"
    assert provider.payload["from"] == "SBXDEM"
    assert provider.payload["dpi"] == "1701158123540939524"
    # A test SMS needs only a number and a message.
    assert provider.custom_placeholders == []


def test_a_second_run_changes_nothing_and_prints_no_password(db):
    demo_setup()
    admin = get_user_model().objects.get(username="admin")
    provider = Provider.objects.get(nickname=SANDBOX)
    token = Token.objects.get(user=admin).key

    output = demo_setup()

    assert "password:" not in output
    assert "already exists" in output
    assert get_user_model().objects.count() == 1
    assert get_user_model().objects.get(username="admin").password == admin.password
    assert Provider.objects.get().callback_token == provider.callback_token
    assert Token.objects.get().key == token


def test_a_second_run_restores_the_sandbox_configuration(db):
    demo_setup()
    Provider.objects.filter(nickname=SANDBOX).update(endpoint="https://elsewhere.example.com/")
    demo_setup()
    assert Provider.objects.get().endpoint.endswith("/sandbox/sinch-india/messages.json")


def test_reset_password_sets_and_prints_a_new_one(db):
    first = printed_password(demo_setup())
    second = printed_password(demo_setup("--reset-password"))

    admin = get_user_model().objects.get(username="admin")
    assert second != first
    assert admin.check_password(second)


def test_no_admin_is_added_to_an_installation_that_has_users(user):
    output = demo_setup()
    assert not get_user_model().objects.filter(username="admin").exists()
    assert "password:" not in output
    assert not Token.objects.exists()


def test_without_the_sandbox_no_provider_is_created(db, settings):
    settings.SMSGATEWAY_SANDBOX_ENABLED = False
    output = demo_setup()
    assert not Provider.objects.exists()
    assert "SMSGATEWAY_SANDBOX_ENABLED" in output
    assert get_user_model().objects.filter(username="admin").exists()


def test_the_sandbox_credentials_follow_the_settings(db, settings):
    settings.SMSGATEWAY_SANDBOX_USERNAME = "demo-user"
    settings.SMSGATEWAY_SANDBOX_PASSWORD = "demo-pass"
    demo_setup()
    provider = Provider.objects.get()
    assert (provider.username, provider.password) == ("demo-user", "demo-pass")


def test_it_says_when_the_gateway_may_not_call_the_sandbox(db, settings):
    settings.SMSGATEWAY_BASE_URL = "http://127.0.0.1:8000"
    output = demo_setup()
    assert "SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS=true" in output


def test_it_lists_the_sandbox_test_numbers(db):
    output = demo_setup()
    assert "9999900001" in output
    assert "9999900005" in output


def test_a_message_rendered_for_the_sandbox_provider_is_accepted_by_the_sandbox(db, client):
    demo_setup()
    provider = Provider.objects.get()
    message = message_create(provider=provider, to="+919876543210", body="Hello")
    request = render_request(provider, [message])

    with responses.RequestsMock() as callbacks:
        callbacks.post(provider.callback_url, json={"status": "success"})
        response = client.post(
            reverse("sandbox_send"), data=request.body, content_type="application/json"
        )
        [dlr_call] = callbacks.calls

    assert response.status_code == 200, response.content
    assert json.loads(dlr_call.request.body)[0]["data"][0]["meta"] == str(message.id)
