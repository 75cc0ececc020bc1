"""`manage.py demo_setup`: an admin login, an API token and the sandbox provider.

Run by `dev.py run` before the server starts, so it is idempotent: a second run
changes nothing it does not have to, and never changes a password unless asked.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.urls import reverse
from rest_framework.authtoken.models import Token

from providers.config.presets import PRESETS
from providers.http.transport import check_endpoint
from providers.models import Provider
from providers.ops import sandbox

ADMIN_USERNAME = "admin"
SANDBOX_NICKNAME = "Sandbox (Sinch India)"
# Fixed values for the preset's custom placeholders ($$AppID, $$SenderID, $$EntityID),
# so a test SMS through the sandbox needs only a number and a message.
SANDBOX_PAYLOAD_VALUES = {"appid": "sandbox", "from": "SBXDEM", "dpi": "1701158123540939524"}


class Command(BaseCommand):
    help = "Create the demo admin user, its API token and the built-in sandbox provider."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset-password",
            action="store_true",
            help=f"Give the '{ADMIN_USERNAME}' user a new random password and print it.",
        )

    def handle(self, *args: Any, reset_password: bool = False, **options: Any) -> None:
        with transaction.atomic():
            admin = self._admin_user(reset_password=reset_password)
            if admin is not None:
                token, _ = Token.objects.get_or_create(user=admin)
                self.stdout.write(f"API token for {ADMIN_USERNAME}: {token.key}")
            if settings.SMSGATEWAY_SANDBOX_ENABLED:
                self._sandbox_provider()
            else:
                self.stdout.write(
                    "Sandbox provider not set up: set SMSGATEWAY_SANDBOX_ENABLED=true to get "
                    "a fake Sinch India provider for trying the dashboard."
                )

    def _admin_user(self, *, reset_password: bool) -> Any:
        User = get_user_model()
        dashboard = settings.SMSGATEWAY_BASE_URL
        admin = User._default_manager.filter(**{User.USERNAME_FIELD: ADMIN_USERNAME}).first()
        if admin is None:
            if User._default_manager.exists():
                # A real installation: do not add a superuser nobody asked for.
                self.stdout.write(
                    f"Users already exist and none is called '{ADMIN_USERNAME}': no admin "
                    "created (use createsuperuser)."
                )
                return None
            password = secrets.token_urlsafe(12)
            admin = User._default_manager.create_superuser(
                **{User.USERNAME_FIELD: ADMIN_USERNAME}, email="", password=password
            )
            self._print_login(dashboard, password)
            return admin
        if reset_password:
            password = secrets.token_urlsafe(12)
            admin.set_password(password)
            admin.save(update_fields=["password"])
            self._print_login(dashboard, password)
        else:
            self.stdout.write(
                f"User '{ADMIN_USERNAME}' already exists; its password is unchanged "
                "(--reset-password sets a new one)."
            )
        return admin

    def _print_login(self, dashboard: str, password: str) -> None:
        self.stdout.write(
            self.style.SUCCESS(
                f"Dashboard: {dashboard}  user: {ADMIN_USERNAME}  password: {password}"
            )
        )

    def _sandbox_provider(self) -> None:
        endpoint = settings.SMSGATEWAY_BASE_URL + reverse("sandbox_send")
        preset = PRESETS["sinch_india"]
        payload = {**preset["payload"], **SANDBOX_PAYLOAD_VALUES}
        _, created = Provider.objects.update_or_create(
            nickname=SANDBOX_NICKNAME,
            defaults={
                "kind": preset["kind"],
                "request_type": preset["request_type"],
                "endpoint": endpoint,
                "content_type": preset["content_type"],
                "auth_type": preset["auth_type"],
                "payload": payload,
                "number_format": preset["number_format"],
                "dlr_format": preset["dlr_format"],
                "response": preset["response"],
                "batch_enabled": False,
                "username": settings.SMSGATEWAY_SANDBOX_USERNAME,
                "password": settings.SMSGATEWAY_SANDBOX_PASSWORD,
            },
        )
        self.stdout.write(
            f"{'Created' if created else 'Updated'} the provider '{SANDBOX_NICKNAME}' "
            f"(sends to {endpoint})."
        )
        problem = check_endpoint(endpoint)
        if problem:
            self.stdout.write(
                self.style.WARNING(
                    f"Note: {problem} Set SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS=true so the gateway "
                    "may call the sandbox on this machine."
                )
            )
        self.stdout.write("Sandbox test numbers (+91):")
        for number in sandbox.test_numbers():
            self.stdout.write(f"  {number['number']}  {number['outcome']}")
        self.stdout.write("  any other  Accepted, then a delivered DLR")
