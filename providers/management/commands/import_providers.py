"""`manage.py import_providers FILE`: create or update providers from an export."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers.ops.crypto import DecryptionError
from providers.ops.transfer import ProviderImportError, providers_import


class Command(BaseCommand):
    help = (
        "Create or update providers (matched by nickname) from an export_providers file. "
        'A masked ("********") or missing username, password or header value keeps the '
        "stored one. Callback tokens are never imported. All or nothing: if any provider "
        "is invalid, nothing changes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE", help="The JSON file, or - for stdin.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would change; save nothing."
        )

    def handle(self, *args: Any, file: str, dry_run: bool, **options: Any) -> None:
        records = self._read(file)
        try:
            changes = providers_import(records=records, dry_run=dry_run)
        except ProviderImportError as exc:
            lines = [f"  {label}: {text}" for label, texts in exc.errors.items() for text in texts]
            raise CommandError("Import rejected, nothing changed:\n" + "\n".join(lines)) from exc
        except DecryptionError as exc:
            raise CommandError(f"Cannot read the stored secrets: {exc}.") from exc
        verbs = {
            "create": "Would create" if dry_run else "Created",
            "update": "Would update" if dry_run else "Updated",
            "unchanged": "Unchanged",
        }
        for change in changes:
            fields = f" ({', '.join(change.fields)})" if change.fields else ""
            self.stdout.write(f"{verbs[change.action]}: {change.nickname}{fields}")
        counts = {action: sum(c.action == action for c in changes) for action in verbs}
        summary = (
            f"{counts['create']} to create, {counts['update']} to update, "
            f"{counts['unchanged']} unchanged"
        )
        self.stdout.write(f"Dry run, nothing saved: {summary}." if dry_run else f"{summary}.")

    def _read(self, file: str) -> Any:
        name = "stdin" if file == "-" else file
        try:
            if file == "-":
                text = sys.stdin.read()
            else:
                with open(file, encoding="utf-8") as handle:
                    text = handle.read()
        except OSError as exc:
            raise CommandError(f"Cannot read {name}: {exc.strerror}.") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{name} is not UTF-8 text.") from exc
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(
                f"{name} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from exc
