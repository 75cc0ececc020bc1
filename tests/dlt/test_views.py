"""The DLT pages (Settings › Engage › Channels › SMS › DLT), through Django's test marketer."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dlt import services
from dlt.models import Entity, Header, Template, WhitelistEntry
from dlt.views import IMPORT_DIR

OTP_TEXT = "Your OTP is 482913. Do not share it. - Acme"


# ---------------------------------------------------------------- helpers


class _Text(HTMLParser):
    """The visible text inside the first element that has attribute `name`="`value`"
    (the whole page when no attribute is given)."""

    VOID = {"input", "br", "img", "meta", "link", "hr", "col", "source", "wbr"}

    def __init__(self, attribute: tuple[str, str] | None) -> None:
        super().__init__()
        self.attribute = attribute
        self.depth = 0 if attribute else 1
        self.done = False
        self.skip = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        if tag in self.VOID or self.done:
            return
        if self.depth:
            self.depth += 1
        elif self.attribute in [(name, value or "") for name, value in attrs]:
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip -= 1
        if self.depth and tag not in self.VOID and not self.done:
            self.depth -= 1
            self.done = self.depth == 0 and self.attribute is not None

    def handle_data(self, data: str) -> None:
        if self.depth and not self.skip and not self.done:
            self.parts.append(data)


def text_of(response: Any, attribute: tuple[str, str] | None = None) -> str:
    parser = _Text(attribute)
    parser.feed(response.content.decode())
    return " ".join(" ".join(parser.parts).split())


def field_text(response: Any, name: str) -> str:
    """The text of one form field's box: its label, help and error messages."""
    return text_of(response, ("data-field", name))


def section_text(response: Any, section: str) -> str:
    return text_of(response, ("id", section))


def hidden_inputs(page: str) -> dict[str, str]:
    """The hidden fields of a page's forms, the CSRF token aside."""
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    fields.pop("csrfmiddlewaretoken", None)
    return fields


def csv_upload(text: str, name: str = "export.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def check(marketer: Client, **body: Any) -> Any:
    return marketer.post(reverse("dlt_check"), json.dumps(body), content_type="application/json")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def offer_link(entity):
    return services.whitelist_save(
        kind=WhitelistEntry.Kind.URL, value="https://acme.example/offer", entity=entity
    )


# ---------------------------------------------------------------- access


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("dlt_overview", {}),
        ("dlt_import", {}),
        ("dlt_entity_new", {}),
        ("dlt_entity_edit", {"pk": 1}),
        ("dlt_header_new", {}),
        ("dlt_header_edit", {"pk": 1}),
        ("dlt_template_new", {}),
        ("dlt_template_edit", {"pk": 1}),
        ("dlt_whitelist_new", {}),
        ("dlt_whitelist_edit", {"pk": 1}),
    ],
)
def test_every_dlt_page_sends_anonymous_visitors_to_the_login_page(db, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_the_dlt_page_sits_under_sms_in_the_nav_and_the_breadcrumb(marketer):
    response = marketer.get(reverse("dlt_overview"))
    assert response.status_code == 200
    page = response.content.decode()
    assert reverse("dlt_overview") == "/settings/engage/channels/sms/dlt/"
    current = re.findall(r'<a class="nav__link is-active" aria-current="page" href="([^"]+)"', page)
    assert current == [reverse("dlt_overview")]
    assert text_of(response, ("aria-label", "Breadcrumb")) == "Settings Engage Channels SMS DLT"


def test_the_provider_pages_still_mark_sms_as_current(marketer):
    page = marketer.get(reverse("provider_list")).content.decode()
    current = re.findall(r'<a class="nav__link is-active" aria-current="page" href="([^"]+)"', page)
    assert current == [reverse("provider_list")]
    assert f'<a class="nav__link" href="{reverse("dlt_overview")}">DLT</a>' in page


# ---------------------------------------------------------------- the DLT page


def test_an_empty_registry_says_campaign_fields_are_free_text_and_offers_import_and_add(marketer):
    response = marketer.get(reverse("dlt_overview"))
    empty = text_of(response, ("data-dlt-empty", ""))
    assert "No DLT registry yet" in empty
    assert "With an empty registry the DLT fields of a campaign are free text" in empty
    page = response.content.decode()
    assert f'href="{reverse("dlt_import")}"' in page
    assert f'href="{reverse("dlt_entity_new")}"' in page
    assert 'id="templates"' not in page


def test_the_page_lists_each_kind_with_its_counts_and_links(
    marketer, entity, alert_header, promo_header, otp_template, offer_template, offer_link
):
    Header.objects.filter(pk=promo_header.pk).update(last_used_at=timezone.now())
    response = marketer.get(reverse("dlt_overview"))
    page = response.content.decode()

    templates = section_text(response, "templates")
    assert templates.startswith("Templates 2 Add template")
    assert "1207160000000000101 OTP Transactional ACLALT Approved Your OTP is {#numeric#}" in (
        templates
    )
    assert "1207160000000000202 Offer Promotional 567890 Approved" in templates
    # The tags stand out from the fixed text.
    assert '<mark class="dlt-tag">{#numeric#}</mark>' in page
    assert '<mark class="dlt-tag">{#url#}</mark>' in page

    headers = section_text(response, "headers")
    assert headers.startswith("Headers 2 Add header")
    assert "ACLALT Transactional Acme Retail Active never" in headers
    assert "567890 Promotional Acme Retail Active 0 minutes ago" in headers

    entities = section_text(response, "entities")
    assert "Entities 1 Add entity" in entities
    assert "Acme Retail 1201160000000000001 — 2 2" in entities

    whitelist = section_text(response, "whitelist")
    assert "Whitelist 1 Add to whitelist" in whitelist
    assert "URL https://acme.example/offer Static Acme Retail All headers" in whitelist

    for record in (entity, alert_header, otp_template, offer_link):
        assert f'href="{record.get_absolute_url()}"' in page
    for name in ("dlt_template_new", "dlt_header_new", "dlt_entity_new", "dlt_whitelist_new"):
        assert f'href="{reverse(name)}"' in page


def test_the_templates_are_filtered_by_header_and_searched(marketer, otp_template, offer_template):
    by_header = section_text(
        marketer.get(reverse("dlt_overview"), {"header": "aclalt"}), "templates"
    )
    assert "Templates 1 of 2" in by_header
    assert "1207160000000000101" in by_header
    assert "1207160000000000202" not in by_header

    searched = section_text(marketer.get(reverse("dlt_overview"), {"q": "off today"}), "templates")
    assert "1207160000000000202" in searched
    assert "1207160000000000101" not in searched

    nothing = section_text(
        marketer.get(reverse("dlt_overview"), {"q": "no such words"}), "templates"
    )
    assert "No template matches." in nothing


# ---------------------------------------------------------------- entities


def test_an_entity_is_added_and_edited_through_its_form(marketer):
    response = marketer.post(
        reverse("dlt_entity_new"),
        {"name": "Acme Retail", "entity_id": " 1201160000000000001 ", "tm_chain_id": ""},
        follow=True,
    )
    entity = Entity.objects.get()
    assert entity.entity_id == "1201160000000000001"
    assert "Entity Acme Retail (1201160000000000001) saved." in text_of(response)

    response = marketer.post(
        entity.get_absolute_url(),
        {"name": "Acme Retail Ltd", "entity_id": entity.entity_id, "tm_chain_id": "TM-1,TM-2"},
    )
    assert response.status_code == 302
    entity.refresh_from_db()
    assert (entity.name, entity.tm_chain_id) == ("Acme Retail Ltd", "TM-1,TM-2")


def test_a_pe_id_already_registered_is_refused_beside_its_field(marketer, entity):
    response = marketer.post(
        reverse("dlt_entity_new"), {"name": "Copy", "entity_id": entity.entity_id}
    )
    assert response.status_code == 400
    assert f"Entity {entity.entity_id} is already registered." in field_text(response, "entity_id")
    assert Entity.objects.count() == 1


# ---------------------------------------------------------------- headers


def test_a_promotional_header_of_letters_is_refused_beside_the_sender_id(marketer, entity):
    response = marketer.post(
        reverse("dlt_header_new"),
        {"sender_id": "ACLALT", "category": "promotional", "entity": entity.pk, "status": "active"},
    )
    assert response.status_code == 400
    assert "A promotional sender id is 6 digits." in field_text(response, "sender_id")
    assert "Nothing was saved." in text_of(response)
    assert not Header.objects.exists()


def test_every_reason_a_header_is_refused_shows_at_once(marketer):
    response = marketer.post(
        reverse("dlt_header_new"), {"sender_id": "12", "category": "", "status": "active"}
    )
    assert response.status_code == 400
    assert "Choose the header's category." in field_text(response, "category")
    assert "Choose the entity the header is registered for." in field_text(response, "entity")


def test_a_header_is_added_in_capitals_and_edited(marketer, entity):
    response = marketer.post(
        reverse("dlt_header_new"),
        {
            "sender_id": "acmotp",
            "category": "transactional",
            "entity": entity.pk,
            "status": "active",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("dlt_overview") + "#headers"
    header = Header.objects.get()
    assert header.sender_id == "ACMOTP"

    page = marketer.get(header.get_absolute_url())
    assert 'value="ACMOTP"' in page.content.decode()
    response = marketer.post(
        header.get_absolute_url(),
        {
            "sender_id": "ACMOTP",
            "category": "service_implicit",
            "entity": entity.pk,
            "status": "inactive",
        },
    )
    assert response.status_code == 302
    header.refresh_from_db()
    assert (header.category, header.status) == ("service_implicit", "inactive")


# ---------------------------------------------------------------- templates


def template_form(entity: Entity, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "template_id": "1207160000000000303",
        "name": "Delivery",
        "entity": entity.pk,
        "category": "transactional",
        "content_type": "text",
        "text": "Order {#alphanumeric#} arrives today. - Acme",
        "status": "approved",
    }
    data.update(changes)
    return data


def test_the_template_form_lists_the_tags(marketer, entity):
    help_text = field_text(marketer.get(reverse("dlt_template_new")), "text")
    for tag in (
        "{#var#}",
        "{#numeric#}",
        "{#alphanumeric#}",
        "{#url#}",
        "{#urlott#}",
        "{#cbn#}",
        "{#email#}",
    ):
        assert tag in help_text


def test_a_template_is_added_with_its_headers(marketer, entity, alert_header):
    response = marketer.post(
        reverse("dlt_template_new"), template_form(entity, headers=[alert_header.pk])
    )
    assert response.status_code == 302
    template = Template.objects.get()
    assert list(template.headers.all()) == [alert_header]
    assert template.text == "Order {#alphanumeric#} arrives today. - Acme"


def test_a_template_with_an_unknown_tag_or_a_header_of_another_kind_is_refused(
    marketer, entity, promo_header
):
    response = marketer.post(
        reverse("dlt_template_new"),
        template_form(entity, text="Order {#orderid#} arrives", headers=[promo_header.pk]),
    )
    assert response.status_code == 400
    assert "Write each variable as {#var#} or a tag" in field_text(response, "text")
    assert "567890 is a promotional header." in field_text(response, "headers")
    assert not Template.objects.exists()


def test_a_template_is_edited_with_its_headers_ticked(marketer, entity, otp_template, alert_header):
    page = marketer.get(otp_template.get_absolute_url()).content.decode()
    assert re.search(rf'<input[^>]+value="{alert_header.pk}"[^>]+checked', page)

    response = marketer.post(
        otp_template.get_absolute_url(),
        template_form(
            entity, template_id=otp_template.template_id, name="OTP", text="OTP {#numeric#}"
        ),
    )
    assert response.status_code == 302
    otp_template.refresh_from_db()
    assert otp_template.text == "OTP {#numeric#}"
    assert list(otp_template.headers.all()) == []


# ---------------------------------------------------------------- whitelist


def test_a_link_is_whitelisted_and_made_dynamic(marketer, entity, alert_header):
    response = marketer.post(
        reverse("dlt_whitelist_new"),
        {
            "kind": "url",
            "value": "https://acme.example/offer",
            "entity": entity.pk,
            "headers": [alert_header.pk],
        },
    )
    assert response.status_code == 302
    entry = WhitelistEntry.objects.get()
    assert (entry.value, entry.dynamic) == ("https://acme.example/offer", False)
    assert list(entry.headers.all()) == [alert_header]

    response = marketer.post(
        entry.get_absolute_url(),
        {"kind": "url", "value": entry.value, "entity": entity.pk, "dynamic": "on"},
    )
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.dynamic
    assert list(entry.headers.all()) == []


def test_a_whitelist_value_that_is_no_link_is_refused_beside_it(marketer, entity):
    response = marketer.post(
        reverse("dlt_whitelist_new"), {"kind": "url", "value": "not a link", "entity": entity.pk}
    )
    assert response.status_code == 400
    assert "'not a link' is not a link such as https://example.com/offer." in field_text(
        response, "value"
    )
    assert not WhitelistEntry.objects.exists()


# ---------------------------------------------------------------- delete


def test_a_header_is_deleted_after_the_confirmation(marketer, alert_header):
    page = marketer.get(alert_header.get_absolute_url())
    assert "Delete ACLALT from the registry?" in text_of(page)
    url = reverse("dlt_delete", args=["headers", alert_header.pk])
    assert f'action="{url}"' in page.content.decode()

    response = marketer.post(url, follow=True)
    assert response.redirect_chain == [(reverse("dlt_overview") + "#headers", 302)]
    assert "Header ACLALT deleted." in text_of(response)
    assert not Header.objects.exists()


def test_deleting_needs_a_post_and_a_known_kind(marketer, alert_header):
    assert marketer.get(reverse("dlt_delete", args=["headers", alert_header.pk])).status_code == 405
    assert (
        marketer.post(reverse("dlt_delete", args=["providers", alert_header.pk])).status_code == 404
    )
    assert Header.objects.exists()


def test_an_entity_still_in_use_is_kept_with_the_reason(marketer, entity, alert_header):
    page = marketer.get(entity.get_absolute_url())
    assert "cannot be deleted yet: it still has 1 header, 0 templates" in text_of(page)

    response = marketer.post(reverse("dlt_delete", args=["entities", entity.pk]), follow=True)
    assert response.redirect_chain == [(entity.get_absolute_url(), 302)]
    assert "still has headers, templates or whitelist entries: delete those first." in text_of(
        response, ("data-flash", "")
    )
    assert Entity.objects.filter(pk=entity.pk).exists()


# ---------------------------------------------------------------- import

PORTAL_TEMPLATES = (
    "Template ID,Template Name,Template Content,Template Category,Header\n"
    "1207160000000000404,Welcome,Welcome to Acme {#alphanumeric#},Transactional,ACLALT\n"
    "1207160000000000405,Broken,Your code is {#code#},Transactional,ACLALT\n"
)


def test_a_portal_export_is_imported_with_its_rejected_rows(marketer, entity, alert_header):
    response = marketer.post(
        reverse("dlt_import"),
        {"kind": "templates", "file": csv_upload(PORTAL_TEMPLATES), "entity": entity.pk},
    )
    assert response.status_code == 200
    result = text_of(response, ("data-import-result", ""))
    assert "export.csv imported" in result
    assert "2 rows read 1 accepted (1 created, 0 updated) 1 rejected" in result
    assert "Row Reason 3 text: Write each variable as {#var#} or a tag" in result
    welcome = Template.objects.get()
    assert (welcome.template_id, welcome.entity, list(welcome.headers.all())) == (
        "1207160000000000404",
        entity,
        [alert_header],
    )
    assert not list(_import_dir().iterdir())


def test_a_file_with_unknown_headings_is_imported_after_its_columns_are_mapped(marketer, entity):
    own_sheet = (
        "DLT No;Wording;Route\n1207160000000000505;Your OTP is {#numeric#}. - Acme;Transactional\n"
    )
    response = marketer.post(
        reverse("dlt_import"),
        {"kind": "templates", "file": csv_upload(own_sheet, "mine.csv"), "entity": entity.pk},
    )
    assert response.status_code == 200
    mapping = text_of(response, ("data-import-mapping", ""))
    assert "Match the columns of mine.csv" in mapping
    assert "No column for template_id" in mapping
    page = response.content.decode()
    select = re.search(r'<select name="column_template_id".*?</select>', page, re.S)
    assert select and re.findall(r"<option value=\"([^\"]*)\"", select.group(0)) == [
        "",
        "DLT No",
        "Wording",
        "Route",
    ]
    assert field_text(response, "column_template_id").startswith("Template id *")
    assert field_text(response, "column_name").startswith("Name Found by its heading")
    assert not Template.objects.exists()
    # The file waits on the server: the mapping form carries only its name.
    kept = hidden_inputs(page)
    assert kept == {
        "kind": "templates",
        "upload": kept["upload"],
        "name": "mine.csv",
        "entity": str(entity.pk),
    }

    response = marketer.post(
        reverse("dlt_import"),
        {
            **kept,
            "column_template_id": "DLT No",
            "column_text": "Wording",
            "column_category": "Route",
        },
    )
    assert response.status_code == 200
    assert "1 row read 1 accepted (1 created, 0 updated) 0 rejected" in text_of(
        response, ("data-import-result", "")
    )
    assert Template.objects.get().text == "Your OTP is {#numeric#}. - Acme"
    assert not list(_import_dir().iterdir())


def test_a_mapping_without_a_required_column_asks_again(marketer, entity):
    response = marketer.post(
        reverse("dlt_import"),
        {"kind": "headers", "file": csv_upload("Name,Kind\nACMOTP,Transactional\n")},
    )
    response = marketer.post(
        reverse("dlt_import"),
        {**hidden_inputs(response.content.decode()), "column_sender_id": "Name"},
    )
    assert response.status_code == 400
    assert "Choose the column that holds it." in field_text(response, "column_category")
    assert not Header.objects.exists()


def test_an_import_without_a_file_or_with_a_lost_upload_says_so(marketer):
    response = marketer.post(reverse("dlt_import"), {"kind": "templates"})
    assert response.status_code == 400
    assert "Choose the CSV or XLSX file to import." in field_text(response, "file")

    response = marketer.post(
        reverse("dlt_import"), {"kind": "templates", "upload": "0" * 32 + ".csv"}
    )
    assert response.status_code == 400
    assert "The uploaded file is no longer here: choose it again." in text_of(response)

    response = marketer.post(
        reverse("dlt_import"), {"kind": "templates", "upload": "../../settings.py"}
    )
    assert response.status_code == 400


def test_a_file_that_cannot_be_read_is_refused_beside_the_file_and_not_kept(marketer):
    old_excel = SimpleUploadedFile("export.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64)
    response = marketer.post(reverse("dlt_import"), {"kind": "templates", "file": old_excel})
    assert response.status_code == 400
    assert "Excel 97-2003 workbook (.xls)" in field_text(response, "file")
    assert not list(_import_dir().iterdir())


def _import_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / IMPORT_DIR


# ---------------------------------------------------------------- check a message


def test_a_message_that_follows_its_template_is_ok(marketer, otp_template):
    response = check(marketer, text=OTP_TEXT, sender_id="ACLALT", template_id="")
    assert response.status_code == 200
    answer = response.json()
    assert answer["ok"] is True
    assert answer["template_id"] == otp_template.template_id
    assert answer["matches"] == [otp_template.template_id]
    assert answer["variables"] == [{"tag": "numeric", "value": "482913", "ok": True, "error": ""}]
    assert answer["errors"] == []


def test_a_link_that_is_not_whitelisted_fails_its_variable(marketer, offer_template, offer_link):
    text = "Hi Asha, 20% off today: https://acme.example/sale - Acme"
    answer = check(marketer, text=text, sender_id="567890").json()
    assert answer["ok"] is False
    assert answer["template_id"] == offer_template.template_id
    url = answer["variables"][2]
    assert url == {
        "tag": "url",
        "value": "https://acme.example/sale",
        "ok": False,
        "error": "is not whitelisted for 567890",
    }
    assert answer["errors"] == [
        "variable 3 {#url#} 'https://acme.example/sale' is not whitelisted for 567890"
    ]


@pytest.mark.parametrize(
    "body", ["{not json", "[1, 2]", json.dumps({"text": 5}), json.dumps({"text": " "})]
)
def test_a_check_that_is_not_a_json_object_with_a_text_is_answered_400(marketer, body):
    response = marketer.post(reverse("dlt_check"), body, content_type="application/json")
    assert response.status_code == 400
    answer = response.json()
    assert answer["ok"] is False
    assert answer["error"]


def test_the_check_needs_a_login(otp_template):
    response = Client().post(
        reverse("dlt_check"), json.dumps({"text": OTP_TEXT}), content_type="application/json"
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_without_script_the_check_form_re_renders_the_page_with_the_answer(marketer, otp_template):
    response = marketer.post(
        reverse("dlt_check"), {"text": "Your OTP is 48 29. Do not share it. - Acme"}
    )
    assert response.status_code == 200
    answer = section_text(response, "check")
    assert "Not OK: the operators would block it" in answer
    assert "{#numeric#} 48 29 is not digits only" in answer
    assert f"Template {otp_template.template_id} · Transactional" in answer
