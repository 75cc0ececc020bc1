"""A provider's nickname is unique without regard to case, with one message, on every
path: the dashboard, the API, the admin, the import, and the database itself."""

from __future__ import annotations

import json

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from providers.models import Provider
from providers.ops.transfer import ProviderImportError, providers_export, providers_import
from tests.factories import admin_provider_data, admin_url, provider_form_data

pytestmark = pytest.mark.django_db
TAKEN = "A provider called “GENERIC” already exists."


def through_the_dashboard(user, provider):
    client = Client()
    client.force_login(user)
    page = client.post(reverse("provider_create"), provider_form_data(nickname="GENERIC"))
    return page.content.decode().replace("&#x27;", "'")


def through_the_api(user, provider):
    api = APIClient()
    api.force_authenticate(user)
    body = {
        "nickname": "GENERIC",
        "endpoint": "https://sms.example.com/other",
        "payload": {"to": "$$To", "text": "$$Body"},
    }
    return json.dumps(
        api.post("/api/v1/providers/", body, format="json").json(), ensure_ascii=False
    )


def through_the_admin(admin_user, provider):
    other = Provider.objects.create(
        nickname="Other", endpoint="https://sms.example.com/o", payload={"to": "$$To"}
    )
    client = Client()
    client.force_login(admin_user)
    page = client.post(
        admin_url(Provider, "change", other.pk), admin_provider_data(other, nickname="GENERIC")
    )
    return page.content.decode()


@pytest.mark.parametrize("path", [through_the_dashboard, through_the_api, through_the_admin])
def test_a_nickname_in_another_case_is_refused_with_the_same_message(
    path, user, admin_user, generic_provider
):
    who = admin_user if path is through_the_admin else user
    assert TAKEN in path(who, generic_provider)
    assert Provider.objects.filter(nickname__iexact="generic").count() == 1


def test_the_database_refuses_it_too(generic_provider):
    with pytest.raises(IntegrityError), transaction.atomic():
        Provider.objects.create(nickname="GENERIC", endpoint="https://x.example/s", payload={})


def test_an_import_updates_the_provider_its_nickname_names_in_any_case(generic_provider):
    [record] = [r for r in providers_export() if r["nickname"] == "Generic"]
    record = {**record, "nickname": "GENERIC", "endpoint": "https://sms.example.com/v2"}
    changes = providers_import(records=[record])
    assert [(c.nickname, c.action) for c in changes] == [("GENERIC", "update")]
    assert Provider.objects.get().endpoint == "https://sms.example.com/v2"


def test_an_import_naming_one_provider_twice_in_two_cases_is_refused(generic_provider):
    [record] = providers_export()
    with pytest.raises(ProviderImportError):
        providers_import(records=[record, {**record, "nickname": "GENERIC"}])
