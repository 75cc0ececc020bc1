"""What tests build, shared by every test module: providers, campaigns, recipient files,
a signed-in marketer's client, a run of the task worker.

Fixtures that use these are in the conftest files; test modules import from here.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign
from providers.http.transport import SendResult
from providers.models import Message, Provider
from providers.sending import claims
from providers.sending.create import message_create
from providers.sending.dispatcher import Dispatcher
from providers.sending.rendering import MASK
from providers.sending.send_now import message_send_now

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


@contextmanager
def dispatcher_running(sending: Dispatcher | None = None) -> Iterator[Dispatcher]:
    """A dispatcher sending in a thread of its own, as a worker's does, until the block ends."""
    sending = sending or Dispatcher()
    stop = threading.Event()

    def run() -> None:
        try:
            sending.run(stop)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield sending
    finally:
        stop.set()
        thread.join(30)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


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


# ---------------------------------------------------------------- provider forms


def provider_form_data(**changes: Any) -> dict[str, Any]:
    """What the dashboard's add-provider page posts for a valid provider, with `changes`;
    a change of None leaves the field out."""
    data: dict[str, Any] = {
        "nickname": "Acme SMS",
        "kind": "generic",
        "request_type": "POST",
        "endpoint": "https://api.acme-sms.example/v1/send",
        "content_type": "json",
        "auth_type": "none",
        "username": "",
        "password": "",
        "header_key": [""],
        "header_name": ["X-Api-Key"],
        "header_value": ["key-123"],
        "payload": json.dumps({"to": "$$To", "text": "$$Body", "ref": "$$MessageID"}),
        "number_format": "digits",
        "batch_key": "",
        "batch_size": "100",
        "dlr_format": "clevertap",
        "dlr_id_field": "",
        "dlr_status_field": "",
        "dlr_code_field": "",
        "dlr_time_field": "",
        "dlr_description_field": "",
        "dlr_status_map_field": "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def provider_edit_data(provider: Provider, **changes: Any) -> dict[str, Any]:
    """What the edit page posts back untouched: stored header values still masked."""
    names = list(provider.headers)
    untouched = {
        "nickname": provider.nickname,
        "endpoint": provider.endpoint,
        "payload": json.dumps(provider.payload),
        "auth_type": provider.auth_type,
        "header_key": names,
        "header_name": names,
        "header_value": ["********"] * len(names),
        "response": json.dumps(provider.response) if provider.response else "",
    }
    return provider_form_data(**{**untouched, **changes})


def admin_url(model: type, view: str, *args: Any) -> str:
    return reverse(f"admin:providers_{model._meta.model_name}_{view}", args=args)


def admin_provider_data(provider: Provider, **changes: Any) -> dict[str, Any]:
    """The change form as the admin renders it for `provider`, with `changes` applied."""
    data: dict[str, Any] = {
        "nickname": provider.nickname,
        "kind": provider.kind,
        "request_type": provider.request_type,
        "endpoint": provider.endpoint,
        "content_type": provider.content_type,
        "auth_type": provider.auth_type,
        "new_username": "",
        "new_password": "",
        "header_lines": "\n".join(f"{name}: {MASK}" for name in provider.headers),
        "payload": json.dumps(provider.payload),
        "number_format": provider.number_format,
        "batch_key": provider.batch_key,
        "batch_size": provider.batch_size,
        "dlr_format": provider.dlr_format,
        "dlr_mapping": json.dumps(provider.dlr_mapping),
        "_save": "Save",
    }
    data.update(changes)
    return data


class _FieldText(HTMLParser):
    """Collects the text inside the element marked data-field="<name>"."""

    VOID = {"input", "br", "img", "meta", "link", "hr", "col", "source", "wbr"}

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        if self.depth:
            self.depth += 1
        elif ("data-field", self.name) in attrs:
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in self.VOID:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def field_text(response: Any, name: str) -> str:
    """The text shown in one form field's box: its label, help and error messages."""
    parser = _FieldText(name)
    parser.feed(response.content.decode())
    return " ".join(" ".join(parser.parts).split())


# ---------------------------------------------------------------- messages


def queued(provider, **fields) -> Message:
    """A message queued through the product's own service."""
    defaults = {"to": "+919876543210", "body": "Your OTP is 1234"}
    return message_create(provider=provider, **{**defaults, **fields})


def send_due(message: Message) -> SendResult | None:
    """Claim the message if it is due, as a dispatcher would, and send it inline."""
    claimed = claims.messages_claim_due(
        lane_id=message.lane_id,
        limit=10,
        token=uuid.uuid4(),
        now=timezone.now(),
    )
    if not claimed:
        return None
    return message_send_now(message=reload(message)).result


def reload(message: Message) -> Message:
    return Message.objects.get(id=message.id)
