"""`manage.py rotate_callback_tokens`: new secret DLR callback and inbound URLs for
providers."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers.ops.keys import UnknownProviders, providers_rotate_callback_tokens


class Command(BaseCommand):
    help = (
        "Give providers a new DLR callback token and print their new callback URLs. The old "
        "URLs stop working at once: enter the new one in each provider's account."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "--provider",
            type=int,
            action="append",
            dest="provider_ids",
            metavar="ID",
            help="The provider's id (repeat for several).",
        )
        which.add_argument(
            "--all", action="store_true", dest="all_providers", help="Every provider."
        )

    def handle(
        self, *args: Any, provider_ids: list[int] | None, all_providers: bool, **options: Any
    ) -> None:
        try:
            providers = providers_rotate_callback_tokens(
                provider_ids=None if all_providers else provider_ids
            )
        except UnknownProviders as exc:
            raise CommandError(f"{exc} No token was changed.") from exc
        # The URL holds the secret: it goes to the operator's terminal only, never a log.
        for provider in providers:
            self.stdout.write(f"{provider.nickname} (id {provider.pk}): {provider.callback_url}")
            self.stdout.write(f"  inbound: {provider.inbound_url}")
        self.stdout.write(
            f"Rotated {len(providers)} provider(s)' callback and inbound tokens;"
            " the old URLs now answer 404."
        )
