"""Campaigns written against the DLT registry: its template fills the campaign, every
recipient's text is scrubbed before launch, and the Sinch payload carries the right flags."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from campaigns import dispatch, services
from campaigns.models import Campaign
from dlt import services as dlt_services
from dlt.models import Category, WhitelistEntry
from providers.models import Message
from providers.sending.rendering import render_request
from tests.factories import csv_file, make_campaign

pytestmark = pytest.mark.django_db

TRACK_TEXT = "Hi {#alphanumeric#}, track order {#numeric#} at {#url#}"
RECIPIENTS = (
    "phone,name,order,link\n"
    "9876500001,Asha,1001,https://acme.in/t/1001\n"
    "9876500002,Ravi,1002,https://bit.ly/x\n"
    "9876500003,Meera,10-03,https://acme.in/t/1003\n"
)


@pytest.fixture
def track_template(entity, alert_header):
    dlt_services.whitelist_save(
        kind=WhitelistEntry.Kind.URL, value="https://acme.in/t/", dynamic=True, entity=entity
    )
    return dlt_services.template_save(
        template_id="1207160000000000808",
        name="Tracking",
        entity=entity,
        headers=[alert_header],
        category=Category.TRANSACTIONAL,
        text=TRACK_TEXT,
    )


def tracking_campaign(provider, **fields):
    campaign = make_campaign(
        provider,
        message="Hi {{name}}, track order {{order}} at {{link}}",
        sender_id="ACLALT",
        template_id="1207160000000000808",
        **fields,
    )
    services.upload_create(campaign=campaign, file=csv_file(RECIPIENTS))
    return campaign


def test_launch_names_every_row_the_operator_would_reject(generic_provider, track_template):
    campaign = tracking_campaign(generic_provider)
    with pytest.raises(services.LaunchRefused) as refused:
        services.campaign_launch(campaign=campaign)
    assert refused.value.reasons == [
        "Row 3 (+919876500002): variable 3 {#url#} 'https://bit.ly/x' is not whitelisted "
        "for ACLALT",
        "Row 4 (+919876500003): variable 2 {#numeric#} '10-03' is not digits only",
    ]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_a_compliant_campaign_launches_and_marks_its_header_used(
    generic_provider, track_template, alert_header
):
    campaign = make_campaign(
        generic_provider,
        message="Hi {{name}}, track order {{order}} at {{link}}",
        sender_id="ACLALT",
        template_id=track_template.template_id,
    )
    services.upload_create(
        campaign=campaign,
        file=csv_file("phone,name,order,link\n9876500001,Asha,1001,https://acme.in/t/1001\n"),
    )
    services.campaign_launch(campaign=campaign)
    alert_header.refresh_from_db()
    assert alert_header.last_used_at is not None


def test_a_header_the_template_is_not_registered_for_is_a_campaign_error(
    generic_provider, track_template, promo_header
):
    campaign = make_campaign(
        generic_provider,
        sender_id="567890",
        template_id=track_template.template_id,
        kind=Campaign.Kind.PROMOTIONAL,
    )
    assert services.campaign_errors(campaign)["template_id"] == [
        "Template 1207160000000000808 is not registered for header 567890.",
        "A transactional template needs a transactional or service header; 567890 is promotional.",
    ]


def test_the_preview_shows_which_variable_fails_and_why(
    client, user, generic_provider, track_template
):
    campaign = tracking_campaign(generic_provider)
    client.force_login(user)
    answer = client.post(
        reverse("campaign_preview", args=[campaign.pk]),
        json.dumps(
            {
                "message": campaign.message,
                "template_id": track_template.template_id,
                "sender_id": "ACLALT",
            }
        ),
        content_type="application/json",
    )
    rows = answer.json()["rows"]
    assert [row["error"] for row in rows] == [
        "",
        "variable 3 {#url#} 'https://bit.ly/x' is not whitelisted for ACLALT",
        "variable 2 {#numeric#} '10-03' is not digits only",
    ]
    assert [v["ok"] for v in rows[1]["variables"]] == [True, True, False]


def test_the_registry_template_fills_text_entity_and_kind_through_the_api(
    generic_provider, offer_template, user
):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(user)
    answer = api.post(
        "/api/v1/campaigns/",
        {
            "name": "Sale",
            "provider": generic_provider.pk,
            "message": "Hi {{name}}, 20% off today: https://acme.in - Acme",
            "sender_id": "567890",
            "template_id": offer_template.template_id,
        },
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    campaign = Campaign.objects.get()
    assert campaign.kind == Campaign.Kind.PROMOTIONAL
    assert campaign.dlt_template == offer_template.text
    assert campaign.entity_id == "1201160000000000001"


def test_a_template_id_not_in_the_registry_keeps_the_typed_fields(generic_provider, entity):
    campaign = make_campaign(
        generic_provider,
        template_id="999",
        dlt_template="Hi {#var#}",
        entity_id="42",
        message="Hi {{first_name}}",
    )
    from campaigns.dlt_check import registry_fill

    registry_fill(campaign)
    assert (campaign.dlt_template, campaign.entity_id) == ("Hi {#var#}", "42")


@pytest.mark.parametrize(
    "kind, alert", [(Campaign.Kind.PROMOTIONAL, "0"), (Campaign.Kind.TRANSACTIONAL, "1")]
)
def test_the_sinch_payload_carries_the_campaigns_alert_and_intflag(sinch_provider, kind, alert):
    campaign = make_campaign(
        sinch_provider,
        kind=kind,
        sender_id="567890" if kind == Campaign.Kind.PROMOTIONAL else "ACLALT",
        variables={"AppID": "acme"},
        entity_id="1201160000000000001",
        message="Hi {{first_name|there}}, 20% off today",
    )
    services.upload_create(
        campaign=campaign, file=csv_file("phone,first_name\n9876500001,Asha\n+14155550123,Bo\n")
    )
    services.campaign_launch(campaign=campaign)
    dispatch.campaign_prepare(campaign_id=campaign.id)
    sent = {
        m.to: json.loads(render_request(sinch_provider, [m]).body)
        for m in Message.objects.filter(campaign_ref=str(campaign.id))
    }
    assert sent["+919876500001"]["alert"] == alert
    assert sent["+919876500001"]["intflag"] == "false"
    assert sent["+14155550123"]["intflag"] == "true"
