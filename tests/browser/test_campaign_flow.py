"""End to end in a real browser: write a campaign, watch the composer count, upload a
list, launch it to the built-in sandbox and watch it complete, with a real db_worker."""

from __future__ import annotations

import csv
import io
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.management.commands import db_worker
from playwright.sync_api import Page, expect

from campaigns.models import Campaign
from providers.config.presets import SINCH_INDIA_PAYLOAD
from providers.http import transport
from providers.models import Message, Provider
from providers.sending.sms_length import sms_length

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "campaign.png"
# Sending and delivery reports: the page polls every 2 s, the sandbox reports after
# SMSGATEWAY_SANDBOX_DLR_DELAY.
COMPLETION_TIMEOUT_MS = 30_000
RECIPIENTS_CSV = (
    "phone,first_name\n"
    "98765 00001,Asha\n"
    "9876500002,Bo\n"
    "not-a-number,Chandra\n"
    "+919876500001,Asha again\n"
)


@pytest.fixture
def sandbox(settings, live_server) -> Iterator[str]:
    """Turn the built-in Sinch India sandbox on; yields its endpoint URL."""
    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = True
    settings.SMSGATEWAY_SANDBOX_ENABLED = True
    settings.SMSGATEWAY_SANDBOX_DLR_DELAY = 0.5
    settings.SMSGATEWAY_BASE_URL = live_server.url
    yield live_server.url + reverse("sandbox_send")
    transport.close_sessions()


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def sandbox_provider(sandbox: str, settings) -> Provider:
    return Provider.objects.create(
        nickname="Sandbox",
        kind=Provider.Kind.SINCH_INDIA,
        endpoint=sandbox,
        payload=SINCH_INDIA_PAYLOAD,
        username=settings.SMSGATEWAY_SANDBOX_USERNAME,
        password=settings.SMSGATEWAY_SANDBOX_PASSWORD,
    )


@pytest.fixture
def worker(monkeypatch) -> Iterator[Callable[[Callable[[], bool]], None]]:
    """Start the real db_worker in a background thread, in batches, until `done()`.

    Signal handlers can only be installed in the main thread; this worker stops when
    its loop ends, not by a signal.
    """
    monkeypatch.setattr(db_worker.Worker, "configure_signals", lambda self: None)
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(done: Callable[[], bool]) -> None:
        def run() -> None:
            try:
                while not stop.is_set():
                    if done():
                        break
                    call_command(
                        "db_worker",
                        "--batch",
                        "--no-startup-delay",
                        "--no-reload",
                        "--interval",
                        "0",
                    )
                    stop.wait(0.05)  # between batches: tasks may be due a moment later
            finally:
                connections.close_all()

        thread = threading.Thread(target=run, name="db_worker", daemon=True)
        threads.append(thread)
        thread.start()

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=30)


def campaign_done() -> bool:
    return Campaign.objects.filter(
        status__in=[Campaign.Status.COMPLETED, Campaign.Status.CANCELLED]
    ).exists()


def downloaded_csv(page: Page, link) -> list[dict[str, str]]:
    with page.expect_download() as download:
        link.click()
    return list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))


def test_a_marketer_creates_uploads_launches_and_watches_a_campaign_complete(
    logged_in: Page, sandbox_provider: Provider, worker, tmp_path
):
    page = logged_in
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    expect(page.get_by_role("heading", name="Campaigns", exact=True)).to_be_visible()
    expect(page.get_by_text("No campaign yet")).to_be_visible()
    page.locator(".empty-state").get_by_role("link", name="New campaign").click()
    expect(page.get_by_role("heading", name="New campaign")).to_be_visible()

    # The only provider is chosen; its custom $$AppID is asked for, $$SenderID is not.
    expect(page.get_by_label("Provider")).to_have_value(str(sandbox_provider.pk))
    expect(page.get_by_label("$$AppID")).to_be_visible()
    expect(page.get_by_label("$$SenderID")).to_have_count(0)
    page.get_by_label("Name").fill("Diwali offer")
    page.get_by_label("Sender ID").fill("SBXDEM")
    page.get_by_label("Principal entity ID").fill("1701158123540939524")
    page.get_by_label("DLT template ID").fill("1107161234567890123")
    page.get_by_label("$$AppID").fill("smsgateway-demo")

    # The composer counts as you type: GSM-7 until an emoji makes it UCS-2.
    count = page.locator("[data-sms-count]")
    message = page.get_by_label("Message", exact=True)
    message.fill("Hi {{first_name|there}}, your order has shipped.")
    expect(count.locator("[data-sms-characters]")).to_have_text("53")
    expect(count.locator("[data-sms-encoding]")).to_have_text("GSM-7")
    expect(count.locator("[data-sms-parts]")).to_have_text("1")
    message.press("End")
    message.press_sequentially(" 🎉")
    expect(count.locator("[data-sms-encoding]")).to_have_text("UCS-2")
    expect(count.locator("[data-sms-characters]")).to_have_text("51")
    expect(count).to_contain_text("1 SMS part")
    message.press("Backspace")
    expect(count.locator("[data-sms-encoding]")).to_have_text("GSM-7")
    expect(count.locator("[data-sms-characters]")).to_have_text("54")

    # Throttles that make no sense are refused beside their field; nothing is saved.
    page.get_by_label("Per second").fill("0")
    page.get_by_role("button", name="Save campaign").click()
    expect(page.get_by_text("Nothing was saved.")).to_be_visible()
    expect(page.locator("[data-field=throttle_per_second] .field__error")).to_have_text(
        "Must be at least 1, or empty for no limit."
    )
    assert not Campaign.objects.exists()
    expect(page.get_by_label("Message", exact=True)).to_have_value(
        "Hi {{first_name|there}}, your order has shipped. "
    )
    page.get_by_label("Per second").fill("")
    page.get_by_role("button", name="Save campaign").click()

    campaign = Campaign.objects.get()
    expect(page).to_have_url(page.url.split("/engage/")[0] + campaign.get_absolute_url())
    expect(page.get_by_text("Campaign “Diwali offer” saved.")).to_be_visible()
    expect(page.locator("[data-live=badge]")).to_have_text("Draft")

    # A file that is not UTF-8 or Excel's CSV is refused with the reason.
    upload_form = page.locator("[data-upload-form]")
    upload_form.get_by_label("CSV file").set_input_files(
        files=[
            {"name": "list.csv", "mimeType": "text/csv", "buffer": "phone\n1\n".encode("utf-16")}
        ]
    )
    upload_form.get_by_role("button", name="Upload").click()
    expect(upload_form.locator("[data-field=file] .field__error")).to_have_text(
        "The file is UTF-16; save it as CSV UTF-8 and upload it again."
    )

    # The list: two good rows, one invalid number and one duplicate.
    upload_form.get_by_label("CSV file").set_input_files(
        files=[{"name": "customers.csv", "mimeType": "text/csv", "buffer": RECIPIENTS_CSV.encode()}]
    )
    upload_form.get_by_role("button", name="Upload").click()
    result = page.locator("[data-upload-result]")
    expect(result).to_contain_text("customers.csv imported")
    expect(result.locator("[data-rows=total]")).to_have_text("4")
    expect(result.locator("[data-rows=accepted]")).to_have_text("2")
    expect(result.locator("[data-rows=rejected]")).to_have_text("2")
    errors = result.locator("[data-upload-errors] tbody tr")
    expect(errors).to_have_text(
        [
            "4not-a-number'not-a-number' is not a phone number.",
            "5+919876500001Duplicate of row 2.",
        ]
    )
    expect(upload_form.locator(".field__error")).to_have_count(0)
    rejected = downloaded_csv(page, result.get_by_role("link", name="Download rejected rows (CSV)"))
    assert [row["row"] for row in rejected] == ["4", "5"]
    expect(page.locator("[data-uploads] tbody tr")).to_have_count(1)
    # The preview shows the first recipients' own text.
    expect(page.locator("[data-live=preview] .preview-item__text").first).to_have_text(
        "Hi Asha, your order has shipped."
    )

    # Back in the composer, the preview follows the text as it is typed.
    page.locator(".page-actions").get_by_role("link", name="Edit").click()
    preview = page.locator("[data-preview] [data-preview-row]")
    expect(preview).to_have_count(2)
    expect(preview.first).to_contain_text("+919876500001")
    expect(preview.first).to_contain_text("Hi Asha, your order has shipped.")
    page.get_by_label("Message", exact=True).fill("Hi {{first_name}}, your order ships today.")
    expect(preview.nth(1)).to_contain_text("Hi Bo, your order ships today.")
    page.get_by_label("Registered template text").fill("Hi {#var#}, your order has shipped.")
    expect(preview.first.locator(".preview-item__error")).to_have_text(
        "The message does not match the registered template: the template's text "
        "', your order has shipped.' is not in the message."
    )
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("[data-live=badge]")).to_have_text("Draft")

    # Launch; the worker sends to the sandbox, whose reports come back to the callback URL.
    worker(campaign_done)
    page.get_by_role("button", name="Launch").click()
    expect(page.get_by_text("Campaign launched: messages are going out.")).to_be_visible()
    status = page.locator("[data-progress-status]")
    expect(status).to_have_text("Completed", timeout=COMPLETION_TIMEOUT_MS)
    expect(page.locator("[data-live=badge]")).to_have_text("Completed")
    expect(page.locator("[data-stat=delivered]")).to_have_text("2", timeout=COMPLETION_TIMEOUT_MS)
    expect(page.locator("[data-stat=failed]")).to_have_text("0")
    expect(page.locator("[data-stat=created]")).to_have_text("2")
    expect(page.locator("[data-segment=delivered]")).to_have_attribute("width", "100%")
    expect(page.locator("[data-delivery-rate]")).to_have_text("100.0%")
    expect(page.locator("[data-chart] .chart__bar--delivered")).to_have_count(1)
    # The bar is labelled in the dashboard's time zone (IST), as the page's other times are.
    completed = Message.objects.filter(campaign_ref=str(campaign.id)).order_by("completed_at")
    minute = timezone.localtime(completed.first().completed_at).strftime("%H:%M")
    expect(page.locator("[data-chart] [data-chart-time]")).to_have_text(minute)
    expect(page.get_by_text("No failures.")).to_be_visible()
    expect(page.get_by_text("Updating live")).to_be_hidden()
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)

    results = downloaded_csv(page, page.get_by_role("link", name="Export results (CSV)"))
    assert sorted((row["phone"], row["status"]) for row in results) == [
        ("+919876500001", "delivered"),
        ("+919876500002", "delivered"),
    ]

    shot = tmp_path / "campaign.png"
    page.screenshot(path=shot, full_page=True)
    # The README's screenshot is refreshed on request, not on every run.
    if os.environ.get("SMSGATEWAY_UPDATE_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    row = page.locator(f"[data-campaign-row='{campaign.pk}']")
    expect(row).to_contain_text("Completed")
    expect(row).to_contain_text("100.0%")


def test_the_composer_counts_like_the_server(logged_in: Page, sandbox_provider: Provider):
    page = logged_in
    page.goto(reverse("campaign_create"))
    texts = [
        "",
        "hello",
        "a" * 160,
        "a" * 161,
        "a" * 306,
        "a" * 307,
        "€" * 80,
        "€" * 81,
        "[brackets] {braces} ~tilde~ |pipe| ^caret^ \\back\\",
        "\x0cform feed and \x1bescape",
        "Ünïcödé? Ä Ö Ñ Ü ä ö ñ ü à ç",
        "Ça va? ¿Qué? ¡Sí! £5 ¥6 §7 ΔΦΓΛΩΠΨΣΘΞ",
        "नमस्ते, आपका ऑर्डर भेज दिया गया है",
        "🎉",
        "a" * 69 + "🎉",
        "a" * 200 + "😀",
        "line one\nline two\r\n",
    ]
    for text in texts:
        in_js = page.evaluate("text => window.smsgateway.smsLength(text)", text)
        expected = sms_length(text)
        assert in_js == {
            "encoding": expected.encoding,
            "characters": expected.characters,
            "parts": expected.parts,
            "perPart": expected.per_part,
            "remaining": expected.remaining,
        }, text


def test_the_form_follows_the_chosen_provider_and_schedule(
    logged_in: Page, sandbox_provider: Provider, generic_provider: Provider
):
    page = logged_in
    page.goto(reverse("campaign_create"))
    app_id = page.get_by_label("$$AppID")
    expect(page.get_by_label("Provider")).to_have_value("")
    expect(app_id).to_be_hidden()
    page.get_by_label("Provider").select_option(label="Sandbox")
    expect(app_id).to_be_visible()
    page.get_by_label("Provider").select_option(label="Generic")
    expect(app_id).to_be_hidden()

    when = page.get_by_label("Date and time")
    expect(when).to_be_hidden()
    page.get_by_text("Schedule", exact=True).click()
    expect(when).to_be_visible()
    page.get_by_text("Send at launch", exact=True).click()
    expect(when).to_be_hidden()


def test_a_large_list_is_imported_in_the_background(
    logged_in: Page, sandbox_provider: Provider, worker, settings
):
    settings.SMSGATEWAY_INLINE_IMPORT_BYTES = 10
    campaign = Campaign.objects.create(
        name="Big list",
        provider=sandbox_provider,
        message="Hello",
        sender_id="SBXDEM",
        entity_id="1701",
        variables={"AppID": "demo"},
    )
    page = logged_in
    page.goto(campaign.get_absolute_url())
    upload_form = page.locator("[data-upload-form]")
    rows = "".join(f"98765{i:05d},Person {i}\n" for i in range(300))
    upload_form.get_by_label("CSV file").set_input_files(
        files=[
            {"name": "big.csv", "mimeType": "text/csv", "buffer": f"phone,name\n{rows}".encode()}
        ]
    )
    upload_form.get_by_role("button", name="Upload").click()
    # The page shows the import as waiting (or under way) until a worker has done it.
    result = page.locator("[data-upload-result]")
    expect(result).to_contain_text("Importing big.csv")
    expect(result.locator("[data-import-progress] progress")).to_be_visible()

    worker(lambda: campaign.uploads.filter(status="done").exists())
    expect(result).to_contain_text("big.csv imported", timeout=COMPLETION_TIMEOUT_MS)
    expect(result.locator("[data-rows=accepted]")).to_have_text("300")
    expect(page.locator("[data-live=recipients-count]")).to_have_text("300")


def test_pause_resume_and_cancel_from_the_campaign_page(
    logged_in: Page, sandbox_provider: Provider
):
    campaign = Campaign.objects.create(
        name="Held",
        provider=sandbox_provider,
        message="Hello",
        sender_id="SBXDEM",
        entity_id="1701",
        variables={"AppID": "demo"},
        status=Campaign.Status.RUNNING,
    )
    page = logged_in
    page.goto(campaign.get_absolute_url())
    badge = page.locator("[data-live=badge]")
    expect(badge).to_have_text("Running")

    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_text("Campaign paused")).to_be_visible()
    expect(badge).to_have_text("Paused")

    page.get_by_role("button", name="Resume").click()
    expect(badge).to_have_text("Running")

    # Cancelling asks first: dismissed, nothing happens; accepted, it is cancelled.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Cancel campaign").click()
    expect(badge).to_have_text("Running")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel campaign").click()
    expect(badge).to_have_text("Cancelled")
    expect(page.get_by_role("button", name="Cancel campaign")).to_have_count(0)
