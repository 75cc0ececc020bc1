"""The operators' admin for the DLT registry: it saves through the services, with their
reasons beside the fields."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dlt.models import Entity, Header, Template, WhitelistEntry

pytestmark = pytest.mark.django_db


def add_url(model: type) -> str:
    return reverse(f"admin:dlt_{model._meta.model_name}_add")


@pytest.mark.parametrize("model", [Entity, Header, Template, WhitelistEntry])
def test_every_changelist_and_add_page_loads(admin_client, otp_template, model):
    changelist = reverse(f"admin:dlt_{model._meta.model_name}_changelist")
    assert admin_client.get(changelist).status_code == 200
    assert admin_client.get(add_url(model)).status_code == 200


def test_a_promotional_header_of_letters_shows_the_reason_and_saves_nothing(admin_client, entity):
    response = admin_client.post(
        add_url(Header),
        {"sender_id": "ACLALT", "category": "promotional", "entity": entity.pk, "status": "active"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "sender_id": ["A promotional sender id is 6 digits."]
    }
    assert "A promotional sender id is 6 digits." in response.content.decode()
    assert not Header.objects.exists()


def test_a_good_header_is_saved_in_capitals(admin_client, entity):
    response = admin_client.post(
        add_url(Header),
        {
            "sender_id": "acmotp",
            "category": "transactional",
            "entity": entity.pk,
            "status": "active",
        },
    )
    assert response.status_code == 302
    header = Header.objects.get()
    assert (header.sender_id, header.entity) == ("ACMOTP", entity)


def test_a_template_is_saved_with_its_headers_through_the_service(
    admin_client, entity, alert_header, promo_header
):
    form = {
        "template_id": " 1207160000000000707 ",
        "name": "OTP",
        "entity": entity.pk,
        "headers": [promo_header.pk],
        "category": "transactional",
        "content_type": "text",
        "text": "Your OTP is {#numeric#}\r\n- Acme",
        "status": "approved",
    }
    refused = admin_client.post(add_url(Template), form)
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors == {
        "headers": ["567890 is a promotional header."]
    }
    assert not Template.objects.exists()

    saved = admin_client.post(add_url(Template), {**form, "headers": [alert_header.pk]})
    assert saved.status_code == 302
    template = Template.objects.get()
    assert template.template_id == "1207160000000000707"
    assert template.text == "Your OTP is {#numeric#}\n- Acme"
    assert list(template.headers.all()) == [alert_header]


def test_a_whitelist_entry_of_another_entity_s_header_is_refused(
    admin_client, entity, other_entity, alert_header
):
    response = admin_client.post(
        add_url(WhitelistEntry),
        {
            "kind": "url",
            "value": "https://other.example/",
            "entity": other_entity.pk,
            "headers": [alert_header.pk],
        },
    )
    assert response.status_code == 200
    [reason] = response.context["adminform"].form.errors["headers"]
    assert reason.startswith("ACLALT") and "another entity" in reason
    assert not WhitelistEntry.objects.exists()


def test_an_entity_in_use_is_not_deleted_from_the_admin(admin_client, entity, alert_header):
    url = reverse("admin:dlt_entity_delete", args=[entity.pk])
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 200
    assert "would require deleting the following protected related objects" in (
        response.content.decode()
    )
    assert Entity.objects.filter(pk=entity.pk).exists()
