"""Operators' view of replies (read-only) and the opt-out list (added and removed through
the services, as the inbound URL and the API do)."""

from __future__ import annotations

from providers.inbound.services import reply_receive
from providers.models import Message, OptOut, Provider, Reply
from tests.factories import admin_provider_data, admin_url


def test_replies_are_listed_and_searched_but_never_edited(admin_client, generic_provider):
    reply = reply_receive(provider=generic_provider, phone="+919876543210", text="Hello there")

    found = admin_client.get(admin_url(Reply, "changelist"), {"q": "hello"})
    page = admin_client.get(admin_url(Reply, "change", reply.pk))

    assert found.status_code == 200 and "+919876543210" in found.content.decode()
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.get(admin_url(Reply, "add")).status_code == 403


def test_an_opt_out_added_by_an_operator_fails_queued_campaign_messages(
    admin_client, campaign_messages
):
    [waiting] = campaign_messages("5", ["+919876543210"])

    response = admin_client.post(
        admin_url(OptOut, "add"), {"phone": "+91 98765 43210", "source": "phone call", "text": ""}
    )

    assert response.status_code == 302
    assert OptOut.objects.get().source == "phone call"
    assert Message.objects.get(id=waiting.id).error_code == "opted_out"
    followed = admin_client.get(response["Location"]).content.decode()
    assert "1 queued campaign message(s) to +919876543210 will not be sent." in followed


def test_an_opt_out_deleted_by_an_operator_lets_the_number_be_messaged(admin_client, db):
    first = OptOut.objects.create(phone="+919876543210")
    OptOut.objects.create(phone="+919876543211")

    admin_client.post(admin_url(OptOut, "delete", first.pk), {"post": "yes"})
    assert list(OptOut.objects.values_list("phone", flat=True)) == ["+919876543211"]
    admin_client.post(
        admin_url(OptOut, "changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [o.pk for o in OptOut.objects.all()],
            "post": "yes",
        },
    )
    assert not OptOut.objects.exists()


def test_the_admin_shows_the_inbound_url_and_sets_the_reply_format(admin_client, generic_provider):
    url = admin_url(Provider, "change", generic_provider.pk)

    page = admin_client.get(url).content.decode()
    response = admin_client.post(
        url,
        admin_provider_data(
            generic_provider,
            inbound_format="custom",
            inbound_mapping='{"from": "msisdn", "text": "message"}',
        ),
    )

    assert generic_provider.inbound_url in page
    assert response.status_code == 302, response.content.decode()[:3000]
    generic_provider.refresh_from_db()
    assert generic_provider.inbound_format == "custom"
    assert generic_provider.inbound_mapping == {"from": "msisdn", "text": "message"}
