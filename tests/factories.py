"""What tests build, shared by every test module: providers, campaigns, recipient files,
a signed-in marketer's client, a run of the task worker.

Fixtures that use these are in the conftest files; test modules import from here.
"""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from campaigns.models import Campaign
from providers.models import Provider

FAKE_ENDPOINT = "https://sms.example.com/send"


def signed_in(user) -> Client:
    """A dashboard client signed in as `user`."""
    client = Client()
    client.force_login(user)
    return client


def csv_file(text: str, name: str = "list.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def numbers_csv(count: int, start: int = 0) -> str:
    rows = "".join(f"98{start + i:08d},Person {start + i}\n" for i in range(count))
    return "phone,first_name\n" + rows


def run_worker() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0")


def make_provider(url: str, *, batch_size: int | None = None) -> Provider:
    """A provider sending to `url` (a FakeProvider's): one message per request, or in
    batches of `batch_size`."""
    if batch_size:
        return Provider.objects.create(
            nickname="Batch",
            endpoint=url + "/batch",
            batch_enabled=True,
            batch_key="msgs",
            batch_size=batch_size,
            payload={
                "sender": "$$SenderID",
                "msgs": [{"to": "$$To", "id": "$$MessageID", "text": "$$Body"}],
            },
        )
    return Provider.objects.create(
        nickname="Single",
        endpoint=url + "/send",
        payload={"to": "$$To", "id": "$$MessageID", "text": "$$Body"},
    )


def make_campaign(provider: Provider, **fields) -> Campaign:
    defaults = {
        "name": "Diwali offer",
        "message": "Hi {{first_name|there}}, 20% off today",
        "sender_id": "ACMEIN",
    }
    return Campaign.objects.create(provider=provider, **{**defaults, **fields})
