"""The Add Provider form's live behaviour: the JSON editor and the header rows."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from providers.config.validation import FLAT_PAYLOAD_MESSAGES, PAYLOAD_REQUIRED
from providers.models import Provider

pytestmark = pytest.mark.browser


@pytest.fixture
def add_form(logged_in: Page) -> Page:
    logged_in.goto(reverse("provider_create") + "?preset=generic")
    return logged_in


def test_the_json_editor_shows_parse_errors_and_placeholders_as_you_type(add_form: Page):
    page = add_form
    editor = page.get_by_label("Payload template")
    status = page.locator("[data-json-status]")
    found = page.locator("[data-placeholder-list]")
    expect(status).to_have_text("Valid JSON")

    editor.fill('{\n  "to": "$$To",\n  "text": "$$Body"\n  "shop": "$$ShopName"\n}')
    expect(status).to_have_text(
        "Invalid JSON at line 4, column 3: expected ',' or '}' after the property value."
    )
    expect(page.locator("[data-gutter] .is-error")).to_have_text("4")
    expect(found.locator("[data-placeholder=To]")).to_contain_text("recipient's number")
    expect(found.locator("[data-placeholder=Body]")).to_contain_text("message text")
    expect(found.locator("[data-placeholder=ShopName]")).to_contain_text(
        "custom — asked for when sending"
    )

    editor.fill('{"to": "$$To", "text": "$$Body", "shop": "$$ShopName"}')
    expect(status).to_have_text("Valid JSON")
    expect(page.locator("[data-gutter] .is-error")).to_have_count(0)

    editor.fill('{"text": "$$Body"}')
    expect(found.locator("[data-placeholder]")).to_have_count(1)
    expect(page.locator("[data-json-warnings]")).to_contain_text(
        "The payload must use $$To for the recipient's number."
    )

    editor.fill('{"to": "$$To", "text": "unterminated}')
    expect(status).to_have_text(
        "Invalid JSON at line 1, column 24: this string has no closing quote."
    )

    # An insert button puts a placeholder where the cursor is.
    editor.fill('{"to": "", "text": "$$Body"}')
    editor.evaluate("(area) => area.setSelectionRange(8, 8)")
    page.get_by_role("button", name="$$To", exact=True).click()
    expect(editor).to_have_value('{"to": "$$To", "text": "$$Body"}')
    expect(status).to_have_text("Valid JSON")


def test_the_editor_warns_with_the_servers_payload_rules(add_form: Page):
    page = add_form
    editor = page.get_by_label("Payload template")
    warnings = page.locator("[data-json-warnings] li")

    editor.fill('{"x": 1}')
    expect(warnings).to_have_text([rule["message"] for rule in PAYLOAD_REQUIRED])
    editor.fill('{"to": "$$To", "tid": "$$TemplateID"}')
    expect(warnings).to_have_count(0)

    # GET sends key-value pairs: the server's two messages, each in its case.
    page.get_by_text("GET", exact=True).click()
    editor.fill('{"to": "$$To", "text": "$$Body", "extra": {"nested": 1}}')
    expect(warnings).to_have_text([FLAT_PAYLOAD_MESSAGES["flat"]])
    editor.fill('["$$To", "$$Body"]')
    expect(warnings).to_have_text([FLAT_PAYLOAD_MESSAGES["object"]])


def test_header_rows_can_be_added_and_removed(add_form: Page, settings):
    page = add_form
    rows = page.locator("[data-header-row]")
    expect(rows).to_have_count(0)
    expect(page.get_by_text("No headers.")).to_be_visible()

    add = page.get_by_role("button", name="Add header")
    add.click()
    add.click()
    add.click()
    expect(rows).to_have_count(3)
    for index, (name, value) in enumerate(
        [("X-Drop-Me", "gone"), ("X-Api-Key", "key-1"), ("X-Tenant", "acme")]
    ):
        rows.nth(index).get_by_label("Header name").fill(name)
        rows.nth(index).get_by_label("Header value").fill(value)
    rows.nth(0).get_by_role("button", name="Remove header").click()
    expect(rows).to_have_count(2)
    expect(rows.nth(0).get_by_label("Header name")).to_have_value("X-Api-Key")

    page.get_by_label("Nickname").fill("With headers")
    page.get_by_label("HTTP endpoint").fill("https://sms.example.com/send")
    page.locator("[data-provider-form]").get_by_role("button", name="Save provider").click()
    expect(page.get_by_text("Provider “With headers” saved.")).to_be_visible()
    provider = Provider.objects.get()
    assert provider.headers == {"X-Api-Key": "key-1", "X-Tenant": "acme"}

    # On edit, stored values come back masked; removing every row removes the headers.
    page.get_by_role("link", name="Edit").first.click()
    expect(rows).to_have_count(2)
    expect(rows.nth(0).get_by_label("Header value")).to_have_value("********")
    rows.nth(0).get_by_role("button", name="Remove header").click()
    rows.nth(0).get_by_role("button", name="Remove header").click()
    expect(rows).to_have_count(0)
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Provider “With headers” saved.")).to_be_visible()
    provider.refresh_from_db()
    assert provider.headers == {}


def test_sections_follow_the_choices_made(add_form: Page):
    page = add_form
    credentials = page.locator("[data-section=credentials]")
    expect(credentials).to_be_hidden()
    page.get_by_text("Basic", exact=True).click()
    expect(credentials).to_be_visible()
    page.get_by_text("None", exact=True).click()
    expect(credentials).to_be_hidden()
    # Credentials are also needed when the payload itself carries them.
    page.get_by_label("Payload template").fill(
        '{"to": "$$To", "text": "$$Body", "p": "$$Password"}'
    )
    expect(credentials).to_be_visible()

    expect(page.locator("[data-section=content_type]")).to_be_visible()
    page.get_by_text("GET", exact=True).click()
    expect(page.locator("[data-section=content_type]")).to_be_hidden()

    expect(page.locator("[data-section=batch]")).to_be_hidden()
    page.get_by_label("Send in batches").check()
    expect(page.get_by_label("Array key")).to_be_visible()

    expect(page.locator("[data-section=dlr_mapping]")).to_be_hidden()
    page.get_by_label("DLR format").select_option("custom")
    expect(page.locator("[data-section=dlr_mapping]")).to_be_visible()

    expect(page.get_by_label("Callback password")).to_be_hidden()
    page.get_by_label("Require basic auth on the callback URL").check()
    expect(page.get_by_label("Callback username")).to_be_visible()
    expect(page.get_by_label("Callback password")).to_be_visible()


def test_choosing_oauth_shows_its_fields_and_hides_the_basic_credentials(add_form: Page):
    page = add_form
    token_url = page.get_by_label("Token URL")
    username = page.get_by_label("Username", exact=True)
    expect(token_url).to_be_hidden()

    page.get_by_role("radio", name="Basic").check(force=True)
    expect(username).to_be_visible()
    expect(token_url).to_be_hidden()

    page.get_by_role("radio", name="OAuth 2.0 (client credentials)").check(force=True)
    expect(token_url).to_be_visible()
    expect(page.get_by_label("Client ID")).to_be_visible()
    expect(page.get_by_label("Client secret", exact=True)).to_be_visible()
    expect(username).to_be_hidden()

    page.get_by_role("radio", name="None").check(force=True)
    expect(token_url).to_be_hidden()
