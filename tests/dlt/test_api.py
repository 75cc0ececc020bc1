"""The DLT registry API: /api/v1/dlt/ records, the scrub check and imports."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from dlt.models import Header, Template, WhitelistEntry

pytestmark = pytest.mark.django_db

BASE = "/api/v1/dlt/"


@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_registry_needs_a_signed_in_caller(db):
    assert APIClient().get(BASE + "templates/").status_code in (401, 403)
    assert APIClient().post(BASE + "check/", {"text": "x"}, format="json").status_code in (
        401,
        403,
    )


def test_an_entity_header_template_and_whitelist_entry_are_created_by_id(api):
    entity = api.post(
        BASE + "entities/", {"name": "Acme", "entity_id": "1201160000000000001"}, format="json"
    )
    assert entity.status_code == 201, entity.json()
    entity_pk = entity.json()["id"]
    header = api.post(
        BASE + "headers/",
        {"sender_id": "aclalt", "category": "transactional", "entity": entity_pk},
        format="json",
    )
    assert header.status_code == 201, header.json()
    assert header.json()["sender_id"] == "ACLALT"
    assert header.json()["status"] == "active"
    assert header.json()["last_used_at"] is None
    template = api.post(
        BASE + "templates/",
        {
            "template_id": "1207160000000000101",
            "name": "OTP",
            "entity": entity_pk,
            "headers": [header.json()["id"]],
            "category": "transactional",
            "text": "Your OTP is {#numeric#}",
        },
        format="json",
    )
    assert template.status_code == 201, template.json()
    assert template.json()["headers"] == [header.json()["id"]]
    assert template.json()["status"] == "approved"
    assert template.json()["content_type"] == "text"
    entry = api.post(
        BASE + "whitelist/",
        {"kind": "url", "value": "https://acme.in/o/", "dynamic": True, "entity": entity_pk},
        format="json",
    )
    assert entry.status_code == 201, entry.json()
    assert entry.json()["headers"] == []
    listed = api.get(BASE + "templates/").json()
    assert [t["template_id"] for t in listed["results"]] == ["1207160000000000101"]


def test_the_rules_answer_400_beside_the_field(api, entity, alert_header):
    promo = api.post(
        BASE + "headers/",
        {"sender_id": "ACLPRO", "category": "promotional", "entity": entity.pk},
        format="json",
    )
    assert promo.status_code == 400
    assert promo.json() == {"sender_id": ["A promotional sender id is 6 digits."]}
    taken = api.post(
        BASE + "headers/",
        {"sender_id": "aclalt", "category": "transactional", "entity": entity.pk},
        format="json",
    )
    assert taken.json() == {"sender_id": ["Header ACLALT is already registered."]}
    untagged = api.post(
        BASE + "templates/",
        {
            "template_id": "1",
            "entity": entity.pk,
            "category": "promotional",
            "headers": [alert_header.pk],
            "text": "Hi {#name#}",
        },
        format="json",
    )
    assert untagged.status_code == 400
    assert "Write each variable as {#var#} or a tag" in untagged.json()["text"][0]
    assert untagged.json()["headers"] == ["ACLALT is a transactional header."]
    link = api.post(
        BASE + "whitelist/",
        {"kind": "url", "value": "not a link", "entity": entity.pk},
        format="json",
    )
    assert link.json()["value"] == ["'not a link' is not a link such as https://example.com/offer."]
    assert Template.objects.count() == 0 and WhitelistEntry.objects.count() == 0


def test_a_patch_keeps_the_fields_it_does_not_send(api, otp_template, alert_header):
    answer = api.patch(
        BASE + f"templates/{otp_template.pk}/", {"status": "inactive"}, format="json"
    )
    assert answer.status_code == 200, answer.json()
    otp_template.refresh_from_db()
    assert otp_template.status == "inactive"
    assert list(otp_template.headers.all()) == [alert_header]
    assert otp_template.text.startswith("Your OTP is {#numeric#}")


def test_an_entity_in_use_is_not_deleted(api, entity, alert_header):
    answer = api.delete(BASE + f"entities/{entity.pk}/")
    assert answer.status_code == 400
    assert "delete those first" in answer.json()["detail"][0]
    assert api.delete(BASE + f"headers/{alert_header.pk}/").status_code == 204
    assert api.delete(BASE + f"entities/{entity.pk}/").status_code == 204


# ---------------------------------------------------------------- check


def test_the_check_explains_a_failing_variable(api, offer_template):
    answer = api.post(
        BASE + "check/",
        {
            "text": "Hi Ravi, 20% off today: https://bit.ly/x - Acme",
            "sender_id": "567890",
            "template_id": offer_template.template_id,
        },
        format="json",
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "ok": False,
        "template_id": "1207160000000000202",
        "category": "promotional",
        "variables": [
            {"tag": "alphanumeric", "value": "Ravi", "ok": True, "error": ""},
            {"tag": "var", "value": "20%", "ok": True, "error": ""},
            {
                "tag": "url",
                "value": "https://bit.ly/x",
                "ok": False,
                "error": "is not whitelisted for 567890",
            },
        ],
        "errors": ["variable 3 {#url#} 'https://bit.ly/x' is not whitelisted for 567890"],
        "matches": [],
    }


def test_the_check_finds_the_template_an_otp_fits(api, otp_template):
    answer = api.post(
        BASE + "check/",
        {"text": "Your OTP is 482913. Do not share it. - Acme", "sender_id": "ACLALT"},
        format="json",
    )
    assert answer.json()["ok"] is True
    assert answer.json()["template_id"] == otp_template.template_id
    assert answer.json()["matches"] == [otp_template.template_id]


def test_the_check_needs_a_text(api):
    answer = api.post(BASE + "check/", {"sender_id": "ACLALT"}, format="json")
    assert answer.status_code == 400
    assert "text" in answer.json()


# ---------------------------------------------------------------- imports


def test_an_import_reports_accepted_and_rejected_rows(api, entity):
    rows = (
        "Template Id,Template Name,Template Content,Template Type,Header,Entity ID\n"
        "1207160000000000901,OTP,Your OTP is {#numeric#},Transactional,ACLOTP,"
        "1201160000000000001\n"
        "1207160000000000902,Offer,Sale {#url#},Unknown kind,123456,1201160000000000001\n"
    )
    answer = api.post(
        BASE + "imports/",
        {"kind": "templates", "file": SimpleUploadedFile("jio.csv", rows.encode())},
        format="multipart",
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert (body["rows_total"], body["rows_accepted"], body["rows_rejected"]) == (2, 1, 1)
    assert body["errors"][0]["row"] == 3
    assert Template.objects.get(template_id="1207160000000000901").headers.get().sender_id == (
        "ACLOTP"
    )
    assert Header.objects.filter(sender_id="ACLOTP").exists()


def test_an_import_without_a_needed_column_names_the_columns_to_map(api):
    rows = "Id,Body,Kind\n1207160000000000901,Your OTP is {#numeric#},Transactional\n"
    answer = api.post(
        BASE + "imports/",
        {"kind": "templates", "file": SimpleUploadedFile("vi.csv", rows.encode())},
        format="multipart",
    )
    assert answer.status_code == 400
    assert answer.json()["columns"] == ["Id", "Body", "Kind"]
    assert answer.json()["missing"]
    mapped = api.post(
        BASE + "imports/",
        {
            "kind": "templates",
            "file": SimpleUploadedFile("vi.csv", rows.encode()),
            "columns": '{"template_id": "Id", "text": "Body", "category": "Kind"}',
            "entity": "",
        },
        format="multipart",
    )
    # No entity column and no entity chosen: the row is rejected, saying so.
    assert mapped.status_code == 201, mapped.json()
    assert mapped.json()["rows_rejected"] == 1
