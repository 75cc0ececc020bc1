"""`manage.py export_providers`: provider configuration as JSON, secrets masked by default."""

from __future__ import annotations

import json
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers.ops.crypto import DecryptionError
from providers.ops.transfer import providers_export


class Command(BaseCommand):
    help = (
        "Write every provider's configuration as JSON (for import_providers). Usernames and "
        "passwords are left out and header values masked unless --include-secrets is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output", metavar="FILE", help="Write to FILE (created readable by its owner only)."
        )
        parser.add_argument(
            "--include-secrets",
            action="store_true",
            help="Write usernames, passwords and header values in clear.",
        )

    def handle(self, *args: Any, output: str | None, include_secrets: bool, **options: Any) -> None:
        try:
            records = providers_export(include_secrets=include_secrets)
        except DecryptionError as exc:
            raise CommandError(f"Cannot read the stored secrets: {exc}.") from exc
        text = json.dumps(records, indent=2, ensure_ascii=False) + "\n"
        if output:
            try:
                fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with open(fd, "w", encoding="utf-8") as file:
                    file.write(text)
            except OSError as exc:
                raise CommandError(f"Cannot write {output}: {exc.strerror}.") from exc
            self.stdout.write(f"Exported {len(records)} provider(s) to {output}.")
        else:
            self.stdout.write(text, ending="")
        if include_secrets:
            self.stderr.write(
                self.style.WARNING(
                    f"{output or 'The output'} holds provider credentials in clear: keep it "
                    "safe and delete it when done."
                )
            )
