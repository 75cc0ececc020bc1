"""Background tasks of the delivery layer: thin wrappers that take ids and call services."""

from __future__ import annotations

from django_tasks import task

from . import services


@task()
def send_message(message_id: str) -> None:
    services.message_send(message_id=message_id)
