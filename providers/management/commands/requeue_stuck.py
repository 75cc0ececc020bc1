"""Requeue messages abandoned in `sending` (each db_worker also does this every minute)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from providers.sending.retry import messages_requeue_stuck


class Command(BaseCommand):
    help = "Put messages stuck in 'sending' (their worker died) back in the queue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            metavar="SECONDS",
            help="Only messages in 'sending' for longer than this "
            "(default: four times the connect + read timeout, at least 120 s).",
        )

    def handle(self, *args: Any, older_than: float | None, **options: Any) -> None:
        age = timedelta(seconds=older_than) if older_than is not None else None
        count = messages_requeue_stuck(older_than=age)
        self.stdout.write(f"Requeued {count} message(s).")
