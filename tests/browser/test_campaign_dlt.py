"""In a real browser: a campaign written against the DLT registry. The pickers fill the
DLT fields, the preview names the variable that fails, and launch names every row the
operator would reject."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from campaigns.models import Campaign
from dlt import services as dlt_services
from dlt.models import Category, WhitelistEntry

pytestmark = pytest.mark.browser

RECIPIENTS = (
    "phone,name,order,link\n"
    "9876500001,Asha,1001,https://acme.in/t/1001\n"
    "9876500002,Ravi,1002,https://bit.ly/x\n"
)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def tracking_template(entity, alert_header, promo_header):
    dlt_services.whitelist_save(
        kind=WhitelistEntry.Kind.URL, value="https://acme.in/t/", dynamic=True, entity=entity
    )
    dlt_services.template_save(
        template_id="1207160000000000202",
        name="Offer",
        entity=entity,
        headers=[promo_header],
        category=Category.PROMOTIONAL,
        text="Sale {#var#} today",
    )
    return dlt_services.template_save(
        template_id="1207160000000000808",
        name="Tracking",
        entity=entity,
        headers=[alert_header],
        category=Category.TRANSACTIONAL,
        text="Hi {#alphanumeric#}, track order {#numeric#} at {#url#}",
    )


def test_the_registry_fills_the_campaign_and_catches_a_rejection_before_launch(
    logged_in: Page, generic_provider, tracking_template
):
    page = logged_in
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    page.locator(".empty-state").get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill("Order tracking")

    # Choosing a header leaves only its templates; choosing one fills the DLT fields.
    header = page.get_by_label("Header from the registry")
    template = page.get_by_label("Template from the registry")
    header.select_option("ACLALT")
    expect(page.get_by_label("Sender ID")).to_have_value("ACLALT")
    expect(template.locator("option[value='1207160000000000202']")).to_be_hidden()
    page.get_by_label("Kind").get_by_text("Promotional").click()
    template.select_option("1207160000000000808")
    expect(page.get_by_label("DLT template ID")).to_have_value("1207160000000000808")
    expect(page.get_by_label("Principal entity ID")).to_have_value("1201160000000000001")
    expect(page.get_by_label("Registered template text")).to_have_value(tracking_template.text)
    expect(page.get_by_label("Transactional / service")).to_be_checked()
    page.get_by_label("Message", exact=True).fill("Hi {{name}}, track order {{order}} at {{link}}")
    page.get_by_role("button", name="Save campaign").click()
    expect(page.get_by_text("Campaign “Order tracking” saved.")).to_be_visible()
    campaign = Campaign.objects.get()
    assert (campaign.kind, campaign.template_id) == ("transactional", "1207160000000000808")

    upload_form = page.locator("[data-upload-form]")
    upload_form.get_by_label("CSV file").set_input_files(
        files=[{"name": "orders.csv", "mimeType": "text/csv", "buffer": RECIPIENTS.encode()}]
    )
    upload_form.get_by_role("button", name="Upload").click()
    expect(page.locator("[data-upload-result] [data-rows=accepted]")).to_have_text("2")

    # The composer's preview names the failing variable of each row, and why.
    page.locator(".page-actions").get_by_role("link", name="Edit").click()
    preview = page.locator("[data-preview] [data-preview-row]")
    expect(preview).to_have_count(2)
    expect(preview.first).to_contain_text("Hi Asha, track order 1001 at https://acme.in/t/1001")
    expect(preview.nth(1).locator(".preview-item__error")).to_have_text(
        "variable 3 {#url#} 'https://bit.ly/x' is not whitelisted for ACLALT"
    )
    page.get_by_role("link", name="Cancel").click()

    # Launch is refused, naming the row as the operator would reject it.
    page.get_by_role("button", name="Launch").click()
    errors = page.locator("[data-launch-errors]")
    expect(errors).to_contain_text("The campaign was not launched.")
    expect(errors.locator("li")).to_have_text(
        [
            "Row 3 (+919876500002): variable 3 {#url#} 'https://bit.ly/x' is not whitelisted "
            "for ACLALT"
        ]
    )
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
