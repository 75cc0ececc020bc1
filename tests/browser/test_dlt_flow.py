"""End to end in a real browser: a marketer fills the DLT registry from a portal export,
whitelists a link through the form and checks a message against the registry."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from dlt.models import Template, WhitelistEntry

pytestmark = pytest.mark.browser

# As a DLT portal exports it: the second row's tag is no DLT tag.
TEMPLATES_CSV = (
    "Template ID,Template Name,Template Content,Template Category,Header,Entity ID,Entity Name\n"
    '1207160000000000301,Offer,"Hi {#alphanumeric#}, shop now: {#url#} - Acme",'
    "Transactional,ACMALT,1201160000000000001,Acme Retail\n"
    "1207160000000000302,Code,Your code is {#code#},Transactional,ACMALT,"
    "1201160000000000001,Acme Retail\n"
)
MESSAGE = "Hi Asha, shop now: https://acme.example/offer/diwali - Acme"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def check_message(page: Page) -> None:
    box = page.locator("#check")
    box.get_by_label("Message").fill(MESSAGE)
    box.get_by_label("Header").select_option("ACMALT")
    box.get_by_role("button", name="Check", exact=True).click()


def test_a_marketer_imports_templates_whitelists_a_link_and_checks_a_message(logged_in: Page):
    page = logged_in
    page.get_by_role("navigation", name="Main").get_by_role("link", name="DLT").click()
    expect(page.get_by_role("heading", name="DLT", exact=True)).to_be_visible()
    expect(
        page.get_by_text("With an empty registry the DLT fields of a campaign are free text")
    ).to_be_visible()

    # Import the portal's export: one row goes in, the other is rejected with its reason.
    page.locator(".empty-state").get_by_role("link", name="Import").click()
    expect(page.get_by_role("heading", name="Import", exact=True)).to_be_visible()
    page.get_by_label("CSV or XLSX file").set_input_files(
        files=[{"name": "templates.csv", "mimeType": "text/csv", "buffer": TEMPLATES_CSV.encode()}]
    )
    page.get_by_role("button", name="Import").click()
    result = page.locator("[data-import-result]")
    expect(result).to_contain_text("templates.csv imported")
    expect(result.locator("[data-rows=total]")).to_have_text("2")
    expect(result.locator("[data-rows=accepted]")).to_have_text("1")
    expect(result.locator("[data-rows=rejected]")).to_have_text("1")
    rejected = result.locator("[data-import-errors] tbody tr")
    expect(rejected).to_have_count(1)
    expect(rejected.locator("td").first).to_have_text("3")
    expect(rejected).to_contain_text("Write each variable as {#var#} or a tag")
    assert list(Template.objects.values_list("template_id", flat=True)) == ["1207160000000000301"]

    # The registry now lists the template, with its tags marked, and the header it named.
    result.get_by_role("link", name="Open the registry").click()
    templates = page.locator("#templates")
    expect(templates.locator("tbody tr")).to_have_count(1)
    expect(templates.locator("mark.dlt-tag")).to_have_text(["{#alphanumeric#}", "{#url#}"])
    expect(page.locator("#headers tbody tr")).to_contain_text("ACMALT")
    expect(page.locator("#headers tbody tr")).to_contain_text("never")

    # Whitelist the offer page, exactly (a static URL).
    page.locator("#whitelist").get_by_role("link", name="Add to whitelist").click()
    expect(page.get_by_role("heading", name="Add whitelist entry")).to_be_visible()
    page.get_by_label("Value").fill("https://acme.example/offer")
    page.get_by_label("Entity").select_option(label="Acme Retail (1201160000000000001)")
    page.get_by_role("button", name="Save whitelist entry").click()
    expect(
        page.get_by_text("Whitelist entry URL: https://acme.example/offer saved.")
    ).to_be_visible()
    expect(page.locator("#whitelist tbody tr")).to_contain_text("Static")

    # A link below the whitelisted one is not whitelisted: its variable says so.
    check_message(page)
    answer = page.locator("[data-check-result]")
    expect(answer.locator("[data-check-title]")).to_have_text(
        "Not OK: the operators would block it"
    )
    url_row = answer.locator("[data-check-variables] tbody tr").nth(1)
    expect(url_row).to_contain_text("{#url#}")
    expect(url_row).to_contain_text("https://acme.example/offer/diwali")
    expect(url_row).to_contain_text("is not whitelisted for ACMALT")
    expect(answer.locator("[data-check-variables] tbody tr").first).to_contain_text("OK")

    # Made a dynamic URL (a prefix), the entry whitelists the link and the message passes.
    page.locator("#whitelist").get_by_role("link", name="URL").click()
    page.get_by_label("Dynamic URL").check()
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#whitelist tbody tr")).to_contain_text("Dynamic")
    assert WhitelistEntry.objects.get().dynamic
    check_message(page)
    expect(answer.locator("[data-check-title]")).to_have_text(
        "OK: the operators would let it through"
    )
    expect(answer.locator("[data-check-detail]")).to_contain_text(
        "Template 1207160000000000301 · Transactional"
    )
    expect(answer.locator("[data-check-variables] tbody tr").nth(1)).to_contain_text("OK")
    expect(answer.locator("[data-check-errors]")).to_have_count(0)
