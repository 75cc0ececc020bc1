"""Sending a campaign: its messages created in bulk in its lane, which the dispatchers send.

At launch a campaign gets a lane (`providers.sending.lanes`) that carries its state, throttle and
quiet hours to the sending layer. Preparing creates one queued message per recipient in
that lane, a chunk at a time (each chunk wakes the dispatchers when it commits, so sending
overlaps creation), then seals the lane. Pause, resume and cancel change the lane; once
its last message has been sent, the lane's drained task completes the campaign.
"""

from __future__ import annotations

import logging
import uuid

from django.db import connection, transaction
from django.utils import timezone

from providers.inbound.services import opted_out_messages_fail
from providers.models import Message
from providers.sending import lanes, wakeups
from providers.sending.bulk import messages_insert
from providers.sending.placeholders import find_placeholders
from smsgateway import sql

from .models import Campaign, Recipient
from .personalisation import personalise
from .services import campaign_variables

logger = logging.getLogger(__name__)

CampaignStatus = Campaign.Status
CREATE_CHUNK = 5000


def campaign_prepare(*, campaign_id: int) -> None:
    """Create one queued Message per recipient (ids fixed before any send), a chunk at a
    time, in the campaign's lane, then seal the lane.

    Each chunk is sendable as soon as it commits, so a dispatcher sends the first chunk
    while this creates the next; a prepare that dies midway, run again, creates the rest.
    """
    campaign = Campaign.objects.select_related("provider").get(id=campaign_id)
    if campaign.status == CampaignStatus.CANCELLED or campaign.lane_id is None:
        return
    variables = campaign_variables(campaign)
    used = set(campaign.provider.custom_placeholders)
    if "Alert" in find_placeholders(campaign.provider.payload, campaign.provider.endpoint):
        # Filled by the gateway, but from the campaign's kind: each message carries it.
        used.add("Alert")
    shared = {
        "provider_id": campaign.provider_id,
        "lane_id": campaign.lane_id,
        "template_id": campaign.template_id,
        "variables": {name: value for name, value in variables.items() if name in used},
        "campaign_ref": str(campaign.id),
        "created_by_id": campaign.created_by_id,
    }
    pending = Recipient.objects.filter(campaign=campaign, message__isnull=True).order_by("id")
    last = 0
    while True:
        recipients = list(
            pending.filter(id__gt=last).values_list("id", "phone", "fields")[:CREATE_CHUNK]
        )
        if not recipients:
            break
        last = recipients[-1][0]
        rows = [
            (uuid.uuid4(), phone, personalise(campaign.message, fields))
            for _, phone, fields in recipients
        ]
        with transaction.atomic():
            # The campaign row is locked first, so a cancel either comes before this chunk
            # (and nothing more is created) or after it (and fails its messages with the
            # rest). A pause holds the lane, so the chunk waits for the resume.
            status = Campaign.objects.select_for_update().values_list("status", flat=True)
            if status.get(id=campaign.id) == CampaignStatus.CANCELLED:
                return
            messages_insert(rows=rows, shared=shared)
            link_recipients([r[0] for r in recipients], [row[0] for row in rows])
            # A number that replied STOP since its upload was checked gets nothing.
            opted_out_messages_fail(numbers=[phone for _, phone, _ in recipients])
            wakeups.wake(provider_id=campaign.provider_id)
    lanes.lane_seal(lane_id=campaign.lane_id)


def link_recipients(recipient_ids: list[int], message_ids: list[uuid.UUID]) -> None:
    """Point each recipient at its message: one statement, not one UPDATE per row.

    The recipients' id range is stated as well as their ids: a campaign's recipients were
    stored together, so the range finds them by the primary key, where the planner,
    misled by statistics that lag an upload, would hash the whole table.
    """
    if not recipient_ids:
        return
    table = sql.table(Recipient)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} AS r SET message_id = v.m"
                " FROM unnest(%s::bigint[], %s::uuid[]) AS v(i, m)"
                " WHERE r.id = v.i AND r.id BETWEEN %s AND %s",
                [recipient_ids, message_ids, min(recipient_ids), max(recipient_ids)],
            )
        else:
            pk = Message._meta.pk
            cursor.executemany(
                f"UPDATE {table} SET message_id = %s WHERE id = %s",
                [
                    (pk.get_db_prep_value(m, connection), i)
                    for i, m in zip(recipient_ids, message_ids, strict=True)
                ],
            )


def campaign_start(*, campaign_id: int) -> bool:
    """A scheduled campaign's time has come: it shows as running (its lane opened then)."""
    now = timezone.now()
    return bool(
        Campaign.objects.filter(
            id=campaign_id, status=CampaignStatus.SCHEDULED, scheduled_at__lte=now
        ).update(status=CampaignStatus.RUNNING, updated_at=now)
    )


def campaign_drained(*, lane_id: int) -> bool:
    """The campaign's last message has been sent (its lane is drained): it is completed."""
    now = timezone.now()
    return bool(
        Campaign.objects.filter(
            lane_id=lane_id, status__in=[CampaignStatus.RUNNING, CampaignStatus.SCHEDULED]
        ).update(status=CampaignStatus.COMPLETED, completed_at=now, updated_at=now)
    )
