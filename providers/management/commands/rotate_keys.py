"""`manage.py rotate_keys`: re-encrypt every stored provider secret with the newest key."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from providers.ops.keys import provider_secrets_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every provider's stored secrets (username, password, header values) "
        "with the first key of SMSGATEWAY_ENCRYPTION_KEYS. To change keys: 1) generate a new "
        "key (python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())'); 2) put it first in "
        "SMSGATEWAY_ENCRYPTION_KEYS and keep the old key after it, then restart every web "
        "and db_worker process; 3) run rotate_keys; 4) remove the old key and restart again. "
        "A provider no configured key can decrypt is named and left unchanged, and the "
        "command exits non-zero; the others are still re-encrypted."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.SMSGATEWAY_ENCRYPTION_KEYS:
            self.stderr.write(
                self.style.WARNING(
                    "SMSGATEWAY_ENCRYPTION_KEYS is empty: secrets are encrypted with a key "
                    "derived from SECRET_KEY."
                )
            )
        result = provider_secrets_rotate()
        self.stdout.write(f"Re-encrypted the secrets of {result.rotated} provider(s).")
        for provider_id, reason in result.failures.items():
            self.stderr.write(f"Provider id {provider_id}: {reason}; left unchanged.")
        if result.failures:
            ids = ", ".join(str(provider_id) for provider_id in result.failures)
            raise CommandError(
                f"{len(result.failures)} provider(s) could not be re-encrypted (id {ids}): "
                "add the key that encrypted them to SMSGATEWAY_ENCRYPTION_KEYS and run again."
            )
