"""One rule for write-only secrets, the same on every path that saves a provider.

Each case is an edit described once and run through the API, the dashboard form, the
admin and the configuration import; each path must save the same thing or refuse
with the same message (see providers/config/secrets.py for the rule).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from providers.models import Provider
from providers.ops.transfer import ProviderImportError, providers_export, providers_import
from providers.sending.rendering import MASK
from tests.factories import admin_provider_data, admin_url, provider_edit_data

pytestmark = pytest.mark.django_db

# What an edit gives a secret, said once for every path.
OMIT = "<left out>"  # the field is not sent (a form, which always sends it, sends it blank)
BLANK = "<blank>"
CLEAR = "<clear>"  # API and import: JSON null; dashboard and admin: the "Remove" box

STORED_HEADERS = {"X-Api-Key": "old-key"}


@pytest.fixture
def provider(db):
    return Provider.objects.create(
        nickname="Acme",
        endpoint="https://sms.example.com/send",
        payload={"to": "$$To", "text": "$$Body"},
        username="old-user",
        headers=STORED_HEADERS,
        oauth_client_secret="old-client-secret",
    )


def _json_value(given: Any) -> Any:
    if isinstance(given, dict):
        return given
    return {BLANK: "", CLEAR: None}.get(given, given)


def through_the_api(admin_user, provider: Provider, edit: dict[str, Any]) -> str:
    api = APIClient()
    api.force_authenticate(admin_user)
    body = {name: _json_value(given) for name, given in edit.items() if given != OMIT}
    response = api.patch(f"/api/v1/providers/{provider.pk}/", body, format="json")
    return "" if response.status_code == 200 else response.content.decode()


def _form_secrets(edit: dict[str, Any], *, box: str) -> dict[str, Any]:
    """Username, password and client secret as a form posts them: typed into `box` (a field name
    pattern) or, to clear one, its "Remove" box ticked; a form always sends the box."""
    changes: dict[str, Any] = {}
    for name in ("username", "password", "oauth_client_secret"):
        given = edit.get(name, OMIT)
        if given == CLEAR:
            changes[f"clear_{name}"] = "on"
        else:
            changes[box.format(name)] = "" if given in (OMIT, BLANK) else given
    return changes


def through_the_dashboard(admin_user, provider: Provider, edit: dict[str, Any]) -> str:
    changes = _form_secrets(edit, box="{}")
    if "headers" in edit:
        # Rows typed afresh: no stored name to start from, so matching is by name.
        changes["header_key"] = [""] * len(edit["headers"])
        changes["header_name"] = list(edit["headers"])
        changes["header_value"] = list(edit["headers"].values())
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        reverse("provider_edit", args=[provider.pk]), provider_edit_data(provider, **changes)
    )
    return "" if response.status_code == 302 else response.content.decode()


def through_the_admin(admin_user, provider: Provider, edit: dict[str, Any]) -> str:
    changes = _form_secrets(edit, box="new_{}")
    if "headers" in edit:
        changes["header_lines"] = "\n".join(f"{k}: {v}" for k, v in edit["headers"].items())
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        admin_url(Provider, "change", provider.pk), admin_provider_data(provider, **changes)
    )
    return "" if response.status_code == 302 else response.content.decode()


def through_the_import(admin_user, provider: Provider, edit: dict[str, Any]) -> str:
    [record] = providers_export(include_secrets=True)
    record["username"] = MASK  # as a file exported from another install would carry it
    for name, given in edit.items():
        if given == OMIT:
            del record[name]
        else:
            record[name] = _json_value(given)
    try:
        providers_import(records=[record])
    except ProviderImportError as exc:
        return str(exc)
    return ""


PATHS = [through_the_api, through_the_dashboard, through_the_admin, through_the_import]

# (what the edit gives, what is stored afterwards or the error it is refused with)
CASES = {
    "left out keeps": ({"username": OMIT}, {"username": "old-user"}),
    "blank keeps": ({"username": BLANK}, {"username": "old-user"}),
    "the mask keeps": ({"username": MASK}, {"username": "old-user"}),
    "clear removes": ({"username": CLEAR}, {"username": ""}),
    "text replaces": ({"username": "new-user"}, {"username": "new-user"}),
    "the mask with nothing stored is refused": (
        {"password": MASK},
        "No password is stored to keep: enter it.",
    ),
    "a masked header keeps its value": (
        {"headers": {"X-Api-Key": MASK}},
        {"headers": STORED_HEADERS},
    ),
    "a masked header matches without regard to case": (
        {"headers": {"x-api-key": MASK}},
        {"headers": {"x-api-key": "old-key"}},
    ),
    "a header with a new value replaces it": (
        {"headers": {"X-Api-Key": "new-key", "X-Other": "other"}},
        {"headers": {"X-Api-Key": "new-key", "X-Other": "other"}},
    ),
    "a header left out is removed": ({"headers": {}}, {"headers": {}}),
    "a blank client secret keeps": (
        {"oauth_client_secret": BLANK},
        {"oauth_client_secret": "old-client-secret"},
    ),
    "the mask keeps the client secret": (
        {"oauth_client_secret": MASK},
        {"oauth_client_secret": "old-client-secret"},
    ),
    "clear removes the client secret": (
        {"oauth_client_secret": CLEAR},
        {"oauth_client_secret": ""},
    ),
    "text replaces the client secret": (
        {"oauth_client_secret": "new-client-secret"},
        {"oauth_client_secret": "new-client-secret"},
    ),
    "a masked header with nothing stored is refused": (
        {"headers": {"X-Api-Key": MASK, "X-New": MASK}},
        "Enter a value for the X-New header: none is stored to keep.",
    ),
}


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.__name__)
@pytest.mark.parametrize("edit, expected", CASES.values(), ids=CASES.keys())
def test_every_path_applies_one_rule_to_secrets(admin_user, provider, path, edit, expected):
    refused = path(admin_user, provider, edit)
    provider.refresh_from_db()

    if isinstance(expected, str):
        assert expected in refused.replace("&#x27;", "'")
        assert (provider.username, provider.headers) == ("old-user", STORED_HEADERS)
    else:
        assert refused == ""
        for name, value in expected.items():
            assert getattr(provider, name) == value
        assert provider.password == ""  # what no case touched stays as it was


def test_the_dashboard_keeps_a_masked_header_whose_name_was_edited(admin_user, provider):
    client = Client()
    client.force_login(admin_user)
    data = provider_edit_data(
        provider, header_key=["X-Api-Key"], header_name=["X-Key"], header_value=[MASK]
    )
    response = client.post(reverse("provider_edit", args=[provider.pk]), data)

    assert response.status_code == 302
    provider.refresh_from_db()
    assert provider.headers == {"X-Key": "old-key"}


def test_the_client_secret_with_nothing_stored_is_refused_on_every_path(admin_user, provider):
    Provider.objects.filter(pk=provider.pk).update(oauth_client_secret="")
    provider.refresh_from_db()
    for path in PATHS:
        refused = path(admin_user, provider, {"oauth_client_secret": MASK})
        assert "No client secret is stored to keep: enter it." in refused, path.__name__


def test_the_client_secret_is_never_shown_or_exported_without_secrets(admin_user, provider):
    api = APIClient()
    api.force_authenticate(admin_user)
    client = Client()
    client.force_login(admin_user)
    shown = [
        api.get(f"/api/v1/providers/{provider.pk}/").content.decode(),
        client.get(reverse("provider_edit", args=[provider.pk])).content.decode(),
        client.get(admin_url(Provider, "change", provider.pk)).content.decode(),
        str(providers_export()),
    ]
    for text in shown:
        assert "old-client-secret" not in text
    [record] = providers_export()
    assert "oauth_client_secret" not in record
    [with_secrets] = providers_export(include_secrets=True)
    assert with_secrets["oauth_client_secret"] == "old-client-secret"
