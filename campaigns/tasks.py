"""Background tasks of the bulk layer: thin wrappers that take ids and call services."""

from __future__ import annotations

from providers.tasks import database_task

from . import dispatch, services


@database_task
def import_upload(upload_id: int) -> None:
    services.upload_import(upload_id=upload_id)


@database_task
def prepare_campaign(campaign_id: int) -> None:
    dispatch.campaign_prepare(campaign_id=campaign_id)


@database_task
def start_campaign(campaign_id: int) -> None:
    dispatch.campaign_start(campaign_id=campaign_id)


@database_task
def campaign_drained(lane_id: int) -> None:
    dispatch.campaign_drained(lane_id=lane_id)
