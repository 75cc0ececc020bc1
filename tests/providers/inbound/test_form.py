"""The reply settings on the dashboard's provider form."""

from __future__ import annotations

from django.urls import reverse

from tests.factories import field_text, provider_edit_data


def test_the_form_sets_a_custom_reply_format_and_shows_it_again(marketer, generic_provider):
    url = reverse("provider_edit", args=[generic_provider.pk])

    response = marketer.post(
        url,
        provider_edit_data(
            generic_provider,
            inbound_format="custom",
            inbound_from_field="msisdn",
            inbound_to_field="",
            inbound_text_field="message",
            inbound_time_field="received",
        ),
    )

    assert response.status_code == 302
    generic_provider.refresh_from_db()
    assert generic_provider.inbound_format == "custom"
    assert generic_provider.inbound_mapping == {
        "from": "msisdn",
        "text": "message",
        "time": "received",
    }
    page = marketer.get(url).content.decode()
    assert 'name="inbound_from_field" value="msisdn"' in page
    assert generic_provider.inbound_url in page


def test_a_custom_format_without_the_text_field_is_refused_beside_the_mapping(
    marketer, generic_provider
):
    response = marketer.post(
        reverse("provider_edit", args=[generic_provider.pk]),
        provider_edit_data(
            generic_provider,
            inbound_format="custom",
            inbound_from_field="msisdn",
            inbound_to_field="",
            inbound_text_field="",
            inbound_time_field="",
        ),
    )

    assert response.status_code == 400
    assert "needs at least the from and text field names" in field_text(response, "inbound_mapping")
    generic_provider.refresh_from_db()
    assert generic_provider.inbound_format == "clevertap"


def test_a_form_posted_without_the_reply_fields_keeps_them(marketer, generic_provider):
    generic_provider.inbound_format = "params"
    generic_provider.save()

    response = marketer.post(
        reverse("provider_edit", args=[generic_provider.pk]), provider_edit_data(generic_provider)
    )

    assert response.status_code == 302
    generic_provider.refresh_from_db()
    assert generic_provider.inbound_format == "params"
