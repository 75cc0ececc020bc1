"""`manage.py prune_events`: delete old history of delivered and failed messages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers.ops.pruning import message_history_prune


class Command(BaseCommand):
    help = (
        "Delete message events and delivery reports older than --older-than days, for "
        "messages delivered or failed at least that long ago. Messages themselves and the "
        "history of unfinished messages are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=90,
            metavar="DAYS",
            help="Age in days of the rows to delete (default: 90).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=1000,
            help="Rows deleted per transaction (default: 1000).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(
        self, *args: Any, older_than: int, batch_size: int, dry_run: bool, **options: Any
    ) -> None:
        if older_than < 0:
            raise CommandError("--older-than must be 0 or more days.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        result = message_history_prune(
            older_than=timedelta(days=older_than), dry_run=dry_run, batch_size=batch_size
        )
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            f"{verb} {result.events} message event(s) and {result.reports} delivery report(s) "
            f"older than {older_than} day(s)."
        )
