"""Background tasks of the bulk layer: thin wrappers that take ids and call services."""

from __future__ import annotations

from django_tasks import task

from . import dispatch, services


@task()
def import_upload(upload_id: int) -> None:
    services.upload_import(upload_id=upload_id)


@task()
def prepare_campaign(campaign_id: int) -> None:
    dispatch.campaign_prepare(campaign_id=campaign_id)


@task()
def dispatch_chunk(campaign_id: int, message_ids: list[str]) -> None:
    dispatch.dispatch_chunk(campaign_id=campaign_id, message_ids=message_ids)


@task()
def check_campaign_complete(campaign_id: int) -> None:
    dispatch.campaign_check_complete(campaign_id=campaign_id, reschedule=True)
