"""End to end in a real browser: add a provider, fix what the form rejects, send a
test SMS to the built-in sandbox and watch it turn Delivered."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from providers.config.presets import SINCH_INDIA_PAYLOAD, SINCH_INDIA_RESPONSE
from providers.dlr.apply import Report, report_apply
from providers.http import transport
from providers.models import Message, Provider
from providers.sending.create import message_create
from providers.sending.sms_length import sms_length

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"
# Waiting for a DLR: the sandbox posts it SMSGATEWAY_SANDBOX_DLR_DELAY seconds after
# accepting, and the page polls every second.
DELIVERY_TIMEOUT_MS = 20_000


@pytest.fixture
def sandbox(settings, live_server) -> Iterator[str]:
    """Turn the built-in Sinch India sandbox on; yields its endpoint URL."""
    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = True
    settings.SMSGATEWAY_SANDBOX_ENABLED = True
    settings.SMSGATEWAY_SANDBOX_DLR_DELAY = 0.5
    settings.SMSGATEWAY_BASE_URL = live_server.url
    yield live_server.url + reverse("sandbox_send")
    # The transport keeps a pooled keep-alive connection to the live server, whose
    # thread would hold its database connection open past the test database's
    # teardown (PostgreSQL refuses to drop a database in use).
    transport.close_sessions()


def payload_text(**changes: str | None) -> str:
    payload = {**SINCH_INDIA_PAYLOAD, **changes}
    return json.dumps({key: value for key, value in payload.items() if value is not None}, indent=2)


def save(page: Page) -> None:
    page.locator("[data-provider-form]").get_by_role("button", name="Save provider").click()


def test_a_marketer_adds_a_provider_and_sees_a_test_sms_delivered(
    logged_in: Page, sandbox: str, settings, tmp_path
):
    page = logged_in
    expect(page.get_by_text("No SMS provider yet")).to_be_visible()
    page.locator(".empty-state").get_by_text("Add Provider").click()
    page.get_by_role("menuitem", name="Other (Generic)").click()
    expect(page.get_by_role("heading", name="Add SMS provider")).to_be_visible()

    page.get_by_label("Nickname").fill("Sandbox")
    page.get_by_label("HTTP endpoint").fill(sandbox)
    editor = page.get_by_label("Payload template")

    # Invalid JSON: the server names the line and column.
    editor.fill('{"to": "$$To"\n "text": "$$Body"}')
    save(page)
    payload_field = page.locator("[data-field=payload]")
    expect(payload_field.locator(".field__error")).to_have_text(
        "The payload is not valid JSON: Expecting ',' delimiter at line 2, column 2."
    )
    expect(page.get_by_text("Nothing was saved.")).to_be_visible()
    expect(page.get_by_label("Nickname")).to_have_value("Sandbox")

    # Valid JSON without $$To.
    editor.fill(payload_text(to=None))
    save(page)
    expect(payload_field.locator(".field__error")).to_have_text(
        "The payload must use $$To for the recipient's number."
    )
    assert Provider.objects.count() == 0

    # Fixed: the Sinch India shape, with the sandbox's credentials.
    editor.fill(payload_text())
    page.get_by_label("Username", exact=True).fill(settings.SMSGATEWAY_SANDBOX_USERNAME)
    page.get_by_label("Password", exact=True).fill(settings.SMSGATEWAY_SANDBOX_PASSWORD)
    save(page)

    provider = Provider.objects.get()
    expect(page).to_have_url(f"{sandbox.split('/sandbox')[0]}{provider.get_absolute_url()}")
    expect(page.get_by_text("Provider “Sandbox” saved.")).to_be_visible()
    expect(page.get_by_role("heading", name="Send test SMS")).to_be_visible()
    expect(page.get_by_text("Sandbox test numbers")).to_be_visible()
    expect(page.locator("#callback-url")).to_have_value(provider.callback_url)

    form = page.locator("[data-test-sms-form]")
    expect(form.get_by_label("Country code")).to_have_value("91")
    form.get_by_label("Mobile number").fill("98765 43210")
    form.get_by_label("Message").fill("Your OTP is 482913. Valid for 10 minutes.")
    form.get_by_label("$$AppID").fill("smsgateway-demo")
    form.get_by_label("$$SenderID").fill("SBXDEM")
    form.get_by_label("$$EntityID").fill("1701158123540939524")
    form.get_by_role("button", name="Send test SMS").click()

    result = page.locator("[data-test-result]")
    expect(result.locator("[data-result-title]")).to_have_text(
        "Sent: the provider accepted the test SMS"
    )
    expect(result.locator("[data-result-detail]")).to_contain_text("HTTP 200")
    expect(result.locator("[data-result-response]")).to_contain_text('"status": "success"')
    status = result.locator("[data-delivery-status]")
    expect(status).to_have_text("Delivered", timeout=DELIVERY_TIMEOUT_MS)
    expect(status).to_have_attribute("data-delivery-status", "delivered")
    assert Message.objects.get().status == Message.Status.DELIVERED
    # Statistics and recent messages follow without a reload.
    expect(page.locator("[data-stat=delivered]")).to_have_text("1")
    expect(page.locator("[data-stat=delivery-rate]")).to_have_text("100.0%")
    expect(page.locator("[data-live=recent] tbody tr")).to_have_count(1)

    shot = tmp_path / "provider-detail.png"
    page.screenshot(path=shot, full_page=True)
    # The README's screenshot is refreshed on request, not on every run.
    if os.environ.get("SMSGATEWAY_UPDATE_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)

    # The message page tells the same story.
    result.get_by_role("link", name="Open the message and its history").click()
    expect(page.locator("[data-live=badge]")).to_have_text("Delivered")
    expect(page.get_by_text("Delivered to handset").first).to_be_visible()


def test_the_test_sms_counter_counts_like_the_server(logged_in: Page, generic_provider):
    page = logged_in
    page.goto(generic_provider.get_absolute_url())
    form = page.locator("[data-test-sms-form]")
    message = form.get_by_label("Message")
    counter = form.locator("[data-sms-count]")
    expect(counter).to_have_text("")

    message.fill("Your OTP is 482913.")
    expect(counter).to_have_text("19 characters · 1 SMS")
    # The extension table counts twice: 81 euro signs are 162 septets, two parts.
    message.fill("€" * 81)
    expect(counter).to_have_text("162 characters · 2 SMS")
    # Hindi or an emoji makes it UCS-2, counted in UTF-16 code units (an emoji is two).
    message.fill("नमस्ते 🎉")
    expect(counter).to_have_text("9 characters · 1 SMS (Unicode)")
    for text in ["a" * 69 + "🎉", "नमस्ते" * 12]:
        message.fill(text)
        length = sms_length(text)
        assert length.encoding == "UCS-2"
        expect(counter).to_have_text(
            f"{length.characters} characters · {length.parts} SMS (Unicode)"
        )
    message.fill("")
    expect(counter).to_have_text("")


def sandbox_provider(sandbox: str, settings, **fields) -> Provider:
    """A Sinch India provider sending to the built-in sandbox, with its credentials."""
    return Provider.objects.create(
        nickname="Sandbox",
        kind=Provider.Kind.SINCH_INDIA,
        endpoint=sandbox,
        payload=SINCH_INDIA_PAYLOAD,
        username=settings.SMSGATEWAY_SANDBOX_USERNAME,
        password=settings.SMSGATEWAY_SANDBOX_PASSWORD,
        **fields,
    )


def test_a_rejected_test_sms_says_why(logged_in: Page, sandbox: str, settings):
    provider = sandbox_provider(sandbox, settings)
    page = logged_in
    page.goto(provider.get_absolute_url())
    form = page.locator("[data-test-sms-form]")

    # Field errors come back beside their fields; nothing is sent.
    form.get_by_label("Mobile number").fill("12")
    form.get_by_label("Message").fill("hello")
    form.get_by_role("button", name="Send test SMS").click()
    expect(form.locator("[data-field=var_AppID] .field__error")).to_have_text(
        "Enter a value for $$AppID."
    )
    assert Message.objects.count() == 0

    # The sandbox answers 401 for this number.
    page.get_by_role("button", name="9999900004").click()
    expect(form.get_by_label("Mobile number")).to_have_value("9999900004")
    form.get_by_label("$$AppID").fill("demo")
    form.get_by_label("$$SenderID").fill("SBXDEM")
    form.get_by_label("$$EntityID").fill("1")
    form.get_by_role("button", name="Send test SMS").click()
    result = page.locator("[data-test-result]")
    expect(result.locator("[data-result-title]")).to_have_text("Authentication rejected")
    expect(result.locator("[data-result-detail]")).to_contain_text("HTTP 401")
    expect(result.locator("[data-result-response]")).to_contain_text("Authentication rejected")
    expect(result.locator("[data-delivery-status]")).to_have_text("Failed")
    expect(result.locator("[data-delivery-text]")).to_contain_text("did not accept")
    expect(form.locator(".field__error")).to_have_count(0)

    # This number is accepted, then fails by DLR: the CleverTap code and meaning show.
    page.get_by_role("button", name="9999900001").click()
    form.get_by_role("button", name="Send test SMS").click()
    expect(result.locator("[data-result-title]")).to_have_text(
        "Sent: the provider accepted the test SMS"
    )
    expect(result.locator("[data-delivery-status]")).to_have_text(
        "Failed", timeout=DELIVERY_TIMEOUT_MS
    )
    expect(result.locator("[data-delivery-text]")).to_have_text("Code 901: DND failure.")


def test_the_test_sms_shows_what_the_response_rules_read(logged_in: Page, sandbox: str, settings):
    provider = sandbox_provider(sandbox, settings, response=SINCH_INDIA_RESPONSE)
    page = logged_in
    page.goto(provider.get_absolute_url())
    form = page.locator("[data-test-sms-form]")
    form.get_by_label("Message").fill("hello")
    form.get_by_label("$$AppID").fill("demo")
    form.get_by_label("$$SenderID").fill("SBXDEM")
    form.get_by_label("$$EntityID").fill("1")
    result = page.locator("[data-test-result]")
    rules = result.locator("[data-result-rules]")

    # HTTP 200 with {"status": "error", "code": "4001"}: rejected, and the rules say why.
    page.get_by_role("button", name="9999900006").click()
    form.get_by_role("button", name="Send test SMS").click()
    expect(result.locator("[data-result-title]")).to_have_text("Provider rejected")
    expect(result.locator("[data-result-detail]")).to_contain_text("4001 Invalid template")
    expect(rules).to_contain_text("success (path status): 'error' → rejected")
    expect(rules).to_contain_text("error_code (path code): 4001")
    expect(result.locator("[data-delivery-status]")).to_have_text("Failed")

    # Accepted: the provider's id is read and shown.
    form.get_by_label("Mobile number").fill("9876543210")
    form.get_by_role("button", name="Send test SMS").click()
    expect(result.locator("[data-result-title]")).to_have_text(
        "Sent: the provider accepted the test SMS"
    )
    message = Message.objects.get(status__in=["submitted", "delivered"])
    expect(rules).to_contain_text(f"message_id (path msgid): {message.id}")
    expect(result.locator("[data-result-detail]")).to_contain_text("the provider's id")


def test_the_message_page_follows_the_status_live(logged_in: Page, generic_provider):
    message = message_create(provider=generic_provider, to="+919876543210", body="hello")
    Message.objects.filter(id=message.id).update(status=Message.Status.SUBMITTED)
    page = logged_in
    page.goto(reverse("message_detail", args=[message.id]))
    expect(page.locator("[data-live=badge]")).to_have_text("Submitted")
    expect(page.get_by_text("Updating live")).to_be_visible()

    report_apply(
        provider=generic_provider,
        report=Report(
            message_ref=str(message.id),
            event="failed",
            status=Message.Status.FAILED,
            code="901",
        ),
    )
    expect(page.locator("[data-live=badge]")).to_have_text("Failed")
    expect(page.locator("[data-live=details]")).to_contain_text("901 DND failure")
    expect(page.locator("[data-live=history]")).to_contain_text("Delivery report")
    expect(page.get_by_text("Updating live")).to_be_hidden()


def test_a_test_sms_the_operator_would_reject_warns_and_may_be_sent_anyway(
    logged_in: Page, sandbox: str, settings, otp_template
):
    provider = sandbox_provider(sandbox, settings)
    page = logged_in
    page.goto(provider.get_absolute_url())
    form = page.locator("[data-test-sms-form]")
    form.get_by_label("Mobile number").fill("9876543210")
    form.get_by_label("Message").fill("Your OTP is 48 29. Do not share it. - Acme")
    form.get_by_label("Template ID").fill(otp_template.template_id)
    form.get_by_label("$$AppID").fill("demo")
    form.get_by_label("$$SenderID").fill("ACLALT")
    form.get_by_label("$$EntityID").fill("1201160000000000001")
    form.get_by_role("button", name="Send test SMS").click()

    # Nothing is sent until the user chooses to send past the warning.
    result = page.locator("[data-test-result]")
    expect(result.locator("[data-result-title]")).to_have_text(
        "Operators would reject this under India's DLT rules"
    )
    expect(result.locator("[data-dlt-warnings] li")).to_have_text(
        ["variable 1 {#numeric#} '48 29' is not digits only"]
    )
    assert Message.objects.count() == 0
    result.get_by_role("button", name="Send anyway").click()
    expect(result.locator("[data-result-title]")).to_have_text(
        "Sent: the provider accepted the test SMS"
    )
    assert Message.objects.get().is_test
