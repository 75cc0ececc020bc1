"""The operators' Django admin: providers, messages, delivery reports and opt-outs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from providers.dlr.apply import Report, report_apply
from providers.models import DeliveryReport, Lane, Message, MessageEvent, OptOut, Provider
from providers.sending.create import message_create
from providers.sending.rendering import MASK
from tests.factories import admin_provider_data, admin_url

# The secrets the conftest providers are created with.
SECRETS = ("acme-user", "sinch-pass-Xy9", "header-secret-value")
# Values for the Sinch India preset's custom placeholders (ignored by other providers).
CUSTOM_VALUES = {"AppID": "acme", "SenderID": "ACMEIN", "EntityID": "1701158123540939524"}


def new_message(provider: Provider, to: str = "+919876543210", **changes: Any) -> Message:
    message = message_create(provider=provider, to=to, body="hello", variables=CUSTOM_VALUES)
    if changes:
        Message.objects.filter(id=message.id).update(**changes)
        message.refresh_from_db()
    return message


def assert_no_secrets(response: Any) -> None:
    content = response.content.decode()
    for secret in SECRETS:
        assert secret not in content


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Admin pages use {% static %}; the manifest storage needs collectstatic first.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def records(generic_provider, sinch_provider):
    """One of everything, so every admin page has something to show."""
    message = new_message(sinch_provider)
    report_apply(
        provider=sinch_provider,
        report=Report(
            message_ref=str(message.id),
            event="delivered",
            status="delivered",
        ),
    )
    optout = OptOut.objects.create(phone="+919811111111", source="reply", text="STOP")
    return {
        "message": message,
        "report": DeliveryReport.objects.get(),
        "optout": optout,
        "provider": sinch_provider,
    }


# --- pages load, secrets never shown


@pytest.mark.parametrize("model", [Provider, Message, DeliveryReport, OptOut, Lane])
def test_every_changelist_loads_without_secrets(admin_client, records, model):
    response = admin_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    assert_no_secrets(response)


def test_the_lanes_are_listed_for_operators_to_see_and_not_to_change(admin_client, records):
    lane = Lane.objects.get(provider=records["provider"], transactional=True)
    response = admin_client.get(admin_url(Lane, "changelist"))
    assert "API messages" in response.content.decode()
    # Read-only: a campaign's lane changes with its campaign.
    assert admin_client.get(admin_url(Lane, "change", lane.pk)).status_code == 200
    assert (
        admin_client.post(admin_url(Lane, "change", lane.pk), {"state": "held"}).status_code == 403
    )


@pytest.mark.parametrize(
    ("model", "key"),
    [
        (Provider, "provider"),
        (Message, "message"),
        (DeliveryReport, "report"),
        (OptOut, "optout"),
    ],
)
def test_every_change_page_and_history_loads_without_secrets(admin_client, records, model, key):
    pk = records[key].pk
    for view in ("change", "history"):
        response = admin_client.get(admin_url(model, view, pk))
        assert response.status_code == 200
        assert_no_secrets(response)


def test_the_provider_change_form_shows_header_names_masked_and_the_callback_url(
    admin_client, generic_provider
):
    response = admin_client.get(admin_url(Provider, "change", generic_provider.pk))
    content = response.content.decode()
    assert f"X-Api-Key: {MASK}" in content
    assert generic_provider.callback_url in content
    assert "header-secret-value" not in content


def test_a_view_only_operator_sees_that_secrets_are_stored_but_not_what_they_are(
    client, sinch_provider
):
    viewer = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_provider"))
    client.force_login(viewer)
    response = client.get(admin_url(Provider, "change", sinch_provider.pk))
    assert response.status_code == 200
    assert "Stored (hidden)" in response.content.decode()
    assert_no_secrets(response)


def test_the_add_pages_of_editable_models_load(admin_client, db):
    assert admin_client.get(admin_url(Provider, "add")).status_code == 200
    assert admin_client.get(admin_url(OptOut, "add")).status_code == 200


# --- editing a provider: secrets are write-only


def test_saving_with_blank_secrets_keeps_the_stored_ones(admin_client, sinch_provider):
    sinch_provider.headers = {"X-Api-Key": "header-secret-value"}
    sinch_provider.save()
    data = admin_provider_data(sinch_provider, nickname="Sinch renamed")
    response = admin_client.post(admin_url(Provider, "change", sinch_provider.pk), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    provider = Provider.objects.get(pk=sinch_provider.pk)
    assert provider.nickname == "Sinch renamed"
    assert (provider.username, provider.password) == ("acme-user", "sinch-pass-Xy9")
    assert provider.headers == {"X-Api-Key": "header-secret-value"}


def test_new_secrets_replace_the_stored_ones(admin_client, sinch_provider):
    data = admin_provider_data(
        sinch_provider,
        new_username="new-user",
        new_password="new-pass",
        header_lines="X-Token: tok-123",
    )
    response = admin_client.post(admin_url(Provider, "change", sinch_provider.pk), data)

    assert response.status_code == 302
    provider = Provider.objects.get(pk=sinch_provider.pk)
    assert (provider.username, provider.password) == ("new-user", "new-pass")
    assert provider.headers == {"X-Token": "tok-123"}


def test_removing_a_header_line_removes_the_header(admin_client, generic_provider):
    data = admin_provider_data(generic_provider, header_lines="")
    admin_client.post(admin_url(Provider, "change", generic_provider.pk), data)
    assert Provider.objects.get(pk=generic_provider.pk).headers == {}


def test_a_stored_password_can_be_removed(admin_client, generic_provider):
    generic_provider.password = "old-pass"
    generic_provider.save()
    data = admin_provider_data(generic_provider, clear_password="on")
    admin_client.post(admin_url(Provider, "change", generic_provider.pk), data)
    assert Provider.objects.get(pk=generic_provider.pk).password == ""


def test_a_masked_header_with_nothing_stored_is_an_error(admin_client, generic_provider):
    data = admin_provider_data(generic_provider, header_lines=f"X-New: {MASK}")
    response = admin_client.post(admin_url(Provider, "change", generic_provider.pk), data)
    assert response.status_code == 200
    assert (
        "Enter a value for the X-New header: none is stored to keep." in response.content.decode()
    )


def test_an_emptied_dlr_mapping_is_saved_as_no_mapping(admin_client, generic_provider):
    data = admin_provider_data(generic_provider, dlr_mapping="")
    response = admin_client.post(admin_url(Provider, "change", generic_provider.pk), data)
    assert response.status_code == 302
    assert Provider.objects.get(pk=generic_provider.pk).dlr_mapping == {}


def test_a_form_with_errors_does_not_echo_typed_secrets(admin_client, generic_provider):
    data = admin_provider_data(
        generic_provider,
        new_password="typed-pass",
        header_lines="X-Api-Key: typed-header-value",
        payload=json.dumps({"text": "$$Body"}),
    )
    response = admin_client.post(admin_url(Provider, "change", generic_provider.pk), data)

    content = response.content.decode()
    assert response.status_code == 200
    assert "The payload must use $$To" in content  # the dashboard's own rules apply
    assert "typed-pass" not in content
    assert "typed-header-value" not in content
    assert Provider.objects.get(pk=generic_provider.pk).password == ""


def test_a_provider_added_in_the_admin_stores_its_secrets(admin_client, sinch_provider):
    data = admin_provider_data(
        sinch_provider,
        nickname="Another",
        new_username="u1",
        new_password="p1",
        header_lines="X-Key: k1",
    )
    response = admin_client.post(admin_url(Provider, "add"), data)

    assert response.status_code == 302
    added = Provider.objects.get(nickname="Another")
    assert (added.username, added.password, added.headers) == ("u1", "p1", {"X-Key": "k1"})


def test_rotating_the_callback_token_changes_the_callback_and_inbound_urls(
    admin_client, generic_provider
):
    old_url, old_inbound = generic_provider.callback_url, generic_provider.inbound_url
    response = admin_client.post(
        admin_url(Provider, "changelist"),
        {
            "action": "rotate_callback_token",
            "_selected_action": [generic_provider.pk],
        },
        follow=True,
    )

    generic_provider.refresh_from_db()
    assert generic_provider.callback_url != old_url
    assert generic_provider.inbound_url != old_inbound
    assert "Rotated the callback and inbound tokens of 1 provider" in response.content.decode()


# --- messages: read-only, searchable, retried by action


def test_messages_cannot_be_added_edited_or_deleted(admin_client, generic_provider):
    message = new_message(generic_provider, status="failed")
    assert admin_client.get(admin_url(Message, "add")).status_code == 403
    response = admin_client.post(admin_url(Message, "change", message.pk), {"status": "delivered"})
    assert response.status_code == 403
    assert admin_client.post(admin_url(Message, "delete", message.pk)).status_code == 403
    assert Message.objects.get(pk=message.pk).status == "failed"


def test_a_message_page_shows_its_history(admin_client, generic_provider):
    message = new_message(generic_provider)
    MessageEvent.objects.create(
        message=message, source="dlr", status="failed", code="901", description="DND failure"
    )
    content = admin_client.get(admin_url(Message, "change", message.pk)).content.decode()
    assert "DND failure" in content
    assert "History" in content


def test_retrying_requeues_failed_messages_only(admin_client, generic_provider):
    failed = new_message(generic_provider, status="failed", error_code="901")
    delivered = new_message(generic_provider, to="+919876543211", status="delivered")
    response = admin_client.post(
        admin_url(Message, "changelist"),
        {
            "action": "retry_failed",
            "_selected_action": [failed.pk, delivered.pk],
        },
        follow=True,
    )

    content = response.content.decode()
    assert "Requeued 1 failed message(s)" in content
    assert "Skipped 1" in content
    failed.refresh_from_db()
    assert (failed.status, failed.error_code) == ("queued", "")
    assert failed.events.last().description == "Retried by operator"
    assert Message.objects.get(pk=delivered.pk).status == "delivered"


@pytest.mark.parametrize("term", ["{id}", " {id} ", "98765 43210", "+919876543210"])
def test_messages_are_found_by_id_or_by_number(admin_client, generic_provider, term):
    wanted = new_message(generic_provider, to="+919876543210")
    other = new_message(generic_provider, to="+919811111111")
    response = admin_client.get(admin_url(Message, "changelist"), {"q": term.format(id=wanted.id)})
    shown = {m.pk for m in response.context["cl"].result_list}
    assert wanted.pk in shown
    assert other.pk not in shown


def test_messages_are_filtered_by_status_provider_and_test_flag(
    admin_client, generic_provider, sinch_provider
):
    failed = new_message(generic_provider, status="failed")
    new_message(generic_provider, to="+919811111111")
    new_message(sinch_provider, to="+919822222222", is_test=True)
    response = admin_client.get(
        admin_url(Message, "changelist"),
        {
            "status__exact": "failed",
            "provider__id__exact": generic_provider.pk,
            "is_test__exact": "0",
        },
    )
    assert [m.pk for m in response.context["cl"].result_list] == [failed.pk]


@pytest.mark.parametrize("model", [Message, DeliveryReport])
def test_list_pages_do_not_query_per_row(admin_client, generic_provider, model):
    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(admin_url(model, "changelist")).status_code == 200
        return len(captured)

    def add_rows(count: int) -> None:
        for i in range(count):
            message = new_message(generic_provider, to=f"+91981111{i:04d}")
            report_apply(
                provider=generic_provider,
                report=Report(message_ref=str(message.id), event="delivered", status="delivered"),
            )

    add_rows(1)
    few = queries_for_list()
    add_rows(10)
    assert queries_for_list() == few


# --- delivery reports: an audit trail, viewable only


def test_delivery_reports_are_viewable_but_not_editable(admin_client, records):
    report = records["report"]
    assert admin_client.get(admin_url(DeliveryReport, "change", report.pk)).status_code == 200
    assert admin_client.get(admin_url(DeliveryReport, "add")).status_code == 403
    response = admin_client.post(
        admin_url(DeliveryReport, "change", report.pk), {"event": "failed", "outcome": "applied"}
    )
    assert response.status_code == 403
    assert admin_client.post(admin_url(DeliveryReport, "delete", report.pk)).status_code == 403
    assert DeliveryReport.objects.get(pk=report.pk).event == "delivered"


def test_delivery_reports_are_searched_by_message_ref_and_filtered(admin_client, records):
    ref = records["report"].message_ref
    found = admin_client.get(admin_url(DeliveryReport, "changelist"), {"q": ref[:8]})
    assert len(found.context["cl"].result_list) == 1
    none = admin_client.get(
        admin_url(DeliveryReport, "changelist"), {"q": ref[:8], "outcome": "ignored"}
    )
    assert len(none.context["cl"].result_list) == 0


# --- opt-outs


def test_an_opt_out_added_by_an_operator_is_stored_in_e164(admin_client, db):
    response = admin_client.post(
        admin_url(OptOut, "add"), {"phone": "+91 98765 43210", "source": "phone call", "text": ""}
    )
    assert response.status_code == 302
    assert OptOut.objects.get().phone == "+919876543210"


def test_an_invalid_opt_out_number_is_refused(admin_client, db):
    response = admin_client.post(admin_url(OptOut, "add"), {"phone": "12", "source": ""})
    assert response.status_code == 200
    assert not OptOut.objects.exists()


def test_opt_outs_are_searched_and_deleted(admin_client, records):
    optout = records["optout"]
    found = admin_client.get(admin_url(OptOut, "changelist"), {"q": "9811111111"})
    assert [o.pk for o in found.context["cl"].result_list] == [optout.pk]
    admin_client.post(admin_url(OptOut, "delete", optout.pk), {"post": "yes"})
    assert not OptOut.objects.exists()
