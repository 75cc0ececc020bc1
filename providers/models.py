"""Provider configuration, messages and the events that change them."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from providers.ops.crypto import EncryptedJSONField, EncryptedTextField
from providers.sending.placeholders import STANDARD_PLACEHOLDERS, find_placeholders


class TemplateJSONField(models.JSONField):
    """JSON kept exactly as written, key order included.

    On PostgreSQL a plain JSONField is jsonb, which re-orders keys: a marketer's payload
    template would come back shuffled, and so would the requests built from it.
    """

    def db_type(self, connection: Any) -> str | None:
        return "json" if connection.vendor == "postgresql" else super().db_type(connection)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if connection.vendor == "postgresql" and value is not None:
            # Not through the jsonb adapter: send the text as it is.
            return json.dumps(value, cls=self.encoder)
        return super().get_db_prep_value(value, connection, prepared)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is not None and not isinstance(value, str):
            return value  # psycopg already parsed a json column
        return super().from_db_value(value, expression, connection)


def new_callback_token() -> str:
    # 32 random bytes: 256 bits, well above the 128 the callback needs.
    return secrets.token_urlsafe(32)


def callback_token_digest(token: str) -> str:
    """What the DLR callback looks a provider up by, so the secret token itself is never
    compared by the database; the view then compares the token in constant time."""
    return hashlib.sha256(token.encode()).hexdigest()


class Provider(models.Model):
    class Kind(models.TextChoices):
        GENERIC = "generic", "Other (Generic)"
        SINCH_INDIA = "sinch_india", "Sinch India"

    class RequestType(models.TextChoices):
        POST = "POST", "POST"
        GET = "GET", "GET"

    class ContentType(models.TextChoices):
        JSON = "json", "JSON"
        FORM = "form", "Form key-value"

    class AuthType(models.TextChoices):
        NONE = "none", "None"
        BASIC = "basic", "Basic"
        OAUTH2 = "oauth2", "OAuth 2.0 (client credentials)"

    class NumberFormat(models.TextChoices):
        DIGITS = "digits", "Digits with country code (919876543210)"
        E164 = "e164", "E.164 with + (+919876543210)"
        NATIONAL = "national", "National (9876543210)"

    class DlrFormat(models.TextChoices):
        CLEVERTAP = "clevertap", "CleverTap generic (JSON array)"
        SINCH_REST = "sinch_rest", "Sinch REST per-recipient reports"
        PARAMS = "params", "Kannel / Jasmin parameters (GET or POST)"
        CUSTOM = "custom", "Custom field mapping"

    class InboundFormat(models.TextChoices):
        CLEVERTAP = "clevertap", "CleverTap generic (replied event)"
        PARAMS = "params", "Kannel / Jasmin parameters (GET or POST)"
        SINCH_REST = "sinch_rest", "Sinch REST mo_text"
        CUSTOM = "custom", "Custom field mapping"

    # Unique without regard to case (provider_nickname_unique): "Sinch" and "sinch" would
    # be one provider to a marketer picking by name.
    nickname = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.GENERIC)
    request_type = models.CharField(
        max_length=4, choices=RequestType.choices, default=RequestType.POST
    )
    endpoint = models.URLField(max_length=2000)
    content_type = models.CharField(
        max_length=4, choices=ContentType.choices, default=ContentType.JSON
    )
    auth_type = models.CharField(max_length=6, choices=AuthType.choices, default=AuthType.NONE)
    username = EncryptedTextField(blank=True, default="")
    password = EncryptedTextField(blank=True, default="")
    # auth_type=oauth2: the client credentials grant, as CleverTap's generic provider.
    oauth_token_url = models.URLField(max_length=2000, blank=True, default="")
    oauth_client_id = models.CharField(max_length=255, blank=True, default="")
    oauth_client_secret = EncryptedTextField(blank=True, default="")
    oauth_scope = models.CharField(max_length=500, blank=True, default="")
    # More key-value pairs for the token request (audience, resource, ...).
    oauth_extra = models.JSONField(default=dict, blank=True)
    headers = EncryptedJSONField(blank=True, default=dict)
    payload = TemplateJSONField(default=dict)
    number_format = models.CharField(
        max_length=8, choices=NumberFormat.choices, default=NumberFormat.DIGITS
    )
    batch_enabled = models.BooleanField(default=False)
    batch_key = models.CharField(max_length=100, blank=True, default="")
    batch_size = models.PositiveIntegerField(default=100)
    dlr_format = models.CharField(
        max_length=10, choices=DlrFormat.choices, default=DlrFormat.CLEVERTAP
    )
    # For dlr_format=custom: {"id": ..., "status": ..., "code": ..., "time": ...,
    # "description": ..., "status_map": {"DELIVRD": "delivered", ...}}
    dlr_mapping = models.JSONField(default=dict, blank=True)
    # How to read the provider's answer to a send: success, its message id, its error
    # code (providers.http.response_rules). Empty: any 2xx is accepted.
    response = models.JSONField(default=dict, blank=True)
    # Replies (MO) pushed to inbound_url, in this format; custom: {"from", "to", "text",
    # "time": <field names>}.
    inbound_format = models.CharField(
        max_length=10, choices=InboundFormat.choices, default=InboundFormat.CLEVERTAP
    )
    inbound_mapping = models.JSONField(default=dict, blank=True)
    inbound_token = models.CharField(max_length=64, unique=True, default=new_callback_token)
    inbound_token_digest = models.CharField(max_length=64, unique=True, editable=False)
    callback_token = models.CharField(max_length=64, unique=True, default=new_callback_token)
    callback_token_digest = models.CharField(max_length=64, unique=True, editable=False)
    # Optional HTTP basic auth the provider must send with each delivery report.
    callback_username = EncryptedTextField(blank=True, default="")
    callback_password = EncryptedTextField(blank=True, default="")
    last_test_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_summary = models.CharField(max_length=300, blank=True, default="")
    # Why the dispatcher holds the provider's messages (an OAuth token it cannot get),
    # written with update() so that it does not count as a change of configuration.
    dispatch_error = models.TextField(blank=True, default="")
    dispatch_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["nickname"]
        constraints = [
            models.CheckConstraint(
                condition=Q(batch_size__gte=1) & Q(batch_size__lte=1000),
                name="provider_batch_size_1_to_1000",
            ),
            models.UniqueConstraint(
                Lower("nickname"),
                name="provider_nickname_unique",
                violation_error_message="A provider with this nickname already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.nickname

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.callback_token_digest = callback_token_digest(self.callback_token)
        self.inbound_token_digest = callback_token_digest(self.inbound_token)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            extra = {
                f"{name}_digest"
                for name in ("callback_token", "inbound_token")
                if name in update_fields
            }
            kwargs["update_fields"] = {*update_fields, *extra}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("provider_detail", args=[self.pk])

    @property
    def callback_requires_auth(self) -> bool:
        return bool(self.callback_username or self.callback_password)

    @property
    def callback_url(self) -> str:
        return settings.SMSGATEWAY_BASE_URL + reverse("dlr_callback", args=[self.callback_token])

    @property
    def inbound_url(self) -> str:
        return settings.SMSGATEWAY_BASE_URL + reverse("inbound_callback", args=[self.inbound_token])

    @property
    def custom_placeholders(self) -> list[str]:
        """Names of `$$Name` placeholders that need a value wherever the provider is used."""
        return [
            name for name in find_placeholders(self.payload) if name not in STANDARD_PLACEHOLDERS
        ]


class Lane(models.Model):
    """Messages sent together under one set of rules: a campaign's, or the messages a
    provider is given through the API (its transactional lane, made on first use).

    The dispatcher claims a lane's messages only while it is open (and past `starts_at`),
    at most `rate` a second across every worker, and, with `quiet_hours`, sends Indian
    numbers only inside SMSGATEWAY_PROMOTIONAL_WINDOW. A provider's transactional lane is
    claimed before its other lanes: see `providers.sending.dispatcher`.
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        HELD = "held", "Held"
        CLOSED = "closed", "Closed"

    # A provider with messages cannot be deleted; its empty lanes go with it.
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="lanes")
    name = models.CharField(max_length=200)
    transactional = models.BooleanField(default=False)
    state = models.CharField(max_length=6, choices=State.choices, default=State.OPEN)
    starts_at = models.DateTimeField(null=True, blank=True)
    rate = models.FloatField(null=True, blank=True, help_text="Messages per second at most.")
    # The earliest time the next message may go out under `rate`; advanced under a row
    # lock by whichever worker claims, so the rate holds across workers.
    throttle_cursor = models.DateTimeField(null=True, blank=True)
    quiet_hours = models.BooleanField(default=False)
    # Every message of the lane exists: once none is queued or being sent, it is drained.
    sealed = models.BooleanField(default=False)
    # A task (dotted path) enqueued with the lane's id when it is drained, so the layer that
    # owns the lane (a campaign) learns it at once.
    drained_task = models.CharField(max_length=200, blank=True, default="")
    drained_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["provider"],
                condition=Q(state="open", drained_at__isnull=True),
                name="lane_open_idx",
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider"],
                condition=Q(transactional=True),
                name="lane_one_transactional_per_provider",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SUBMITTED = "submitted", "Submitted"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    TERMINAL = (Status.DELIVERED, Status.FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: every index below that starts with the provider serves it, and
    # each index is one more write on every status change of a million-message campaign.
    provider = models.ForeignKey(
        Provider, on_delete=models.PROTECT, related_name="messages", db_index=False
    )
    to = models.CharField(max_length=32, help_text="E.164, e.g. +919876543210")
    body = models.TextField(blank=True, default="")
    template_id = models.CharField(max_length=64, blank=True, default="")
    variables = models.JSONField(default=dict, blank=True)
    campaign_ref = models.CharField(max_length=64, blank=True, default="")
    # Set for every message queued since lanes exist. No database constraint or index of
    # its own: a lane goes only with a provider that has no messages, and the due index
    # below starts with it.
    lane = models.ForeignKey(
        Lane,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        db_constraint=False,
        db_index=False,
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error_code = models.CharField(max_length=32, blank=True, default="")
    error_description = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    # When a queued message is due: set when it is queued (now) and when a retry is put off.
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    provider_message_id = models.CharField(max_length=100, blank=True, default="")
    # Set by the UPDATE that claims messages for sending: the claiming worker's token
    # (WorkerHeartbeat.token), so that only a dead worker's messages are ever requeued.
    claim = models.UUIDField(null=True, blank=True, editable=False)
    is_test = models.BooleanField(default=False)
    # No index of its own: it is looked up only with an idempotency key (the unique
    # constraint below serves that) and when a user is deleted.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
    )
    idempotency_key = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # The dashboard reads a million messages through these without touching the
        # rows: counts by status, the log filtered by status newest first, failures by
        # code, and a campaign's recent submissions and completions (send rate, chart).
        # None is on updated_at: every status change rewrites it, and an index on it
        # would cost a write on every send and delivery report. Every status change
        # writes every index a row belongs to, so the ones that serve only some rows
        # (unfinished messages, submitted or completed ones) hold only those.
        indexes = [
            models.Index(
                fields=["provider", "status", "created_at"], name="message_provider_status_idx"
            ),
            models.Index(fields=["provider", "-created_at"]),
            # The dispatcher's claims: a lane's due messages, oldest first. Only queued
            # messages are in it.
            models.Index(
                fields=["lane", "next_attempt_at"],
                condition=Q(status="queued"),
                name="message_due_idx",
            ),
            # Messages in flight: whether a lane is drained, which were abandoned.
            models.Index(
                fields=["lane", "updated_at"],
                condition=Q(status="sending"),
                name="message_sending_idx",
            ),
            models.Index(fields=["to"]),
            # Delivery reports that name the provider's id, and the operator's search.
            models.Index(
                fields=["provider", "provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="message_provider_ref_idx",
            ),
            models.Index(
                fields=["campaign_ref", "status", "error_code"], name="message_campaign_status_idx"
            ),
            models.Index(
                fields=["campaign_ref", "submitted_at"],
                condition=Q(submitted_at__isnull=False),
                name="message_campaign_sent_idx",
            ),
            models.Index(
                fields=["campaign_ref", "completed_at"],
                condition=Q(completed_at__isnull=False),
                name="message_campaign_done_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="message_idempotency_key_per_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} to {self.to} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL


class MessageEvent(models.Model):
    """One entry in a message's history: a send attempt, a DLR or an operator action."""

    class Source(models.TextChoices):
        API = "api", "API"
        SEND = "send", "Send attempt"
        DLR = "dlr", "Delivery report"
        ADMIN = "admin", "Operator"
        SYSTEM = "system", "System"

    # No foreign key in the database (Django still cascades): messages are never deleted,
    # and every event is written with the id of a message its statement has just claimed
    # or changed, so the check at commit repeated what the write already ensures, for
    # every send and report (measured on PostgreSQL with the report's one below: sets of
    # 500 reports went from about 9,000 to 10,700 a second).
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="events", db_constraint=False
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    status = models.CharField(max_length=10, choices=Message.Status.choices, blank=True)
    code = models.CharField(max_length=32, blank=True, default="")
    description = models.TextField(blank=True, default="")
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # Send attempts: {"request": {...masked...}, "response": "..."}; DLRs: the raw record.
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.status} {self.code}".strip()


class DeliveryReport(models.Model):
    """Every record received on a DLR callback, applied or not, kept for audit."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", "Applied"
        DUPLICATE = "duplicate", "Duplicate (no change)"
        IGNORED = "ignored", "Ignored (message already final)"
        RECORDED = "recorded", "Recorded (no status change)"
        UNKNOWN_MESSAGE = "unknown_message", "Unknown message id"
        # Names a provider id no message has yet: applied once the send's answer that
        # carries the id is recorded (it can come after the report).
        AWAITING = "awaiting", "Waiting for the send's answer"

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="reports")
    # No foreign key in the database, as for MessageEvent.message.
    message = models.ForeignKey(
        Message,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reports",
        db_constraint=False,
    )
    message_ref = models.CharField(max_length=100)
    # For a report that names the provider's id: the number it is about (one id may
    # cover a whole batch, as Sinch REST's batch_id does).
    recipient = models.CharField(max_length=32, blank=True, default="")
    event = models.CharField(max_length=32)
    code = models.CharField(max_length=32, blank=True, default="")
    description = models.TextField(blank=True, default="")
    occurred_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        # One index serves an operator's search by a reference or its beginning (on
        # PostgreSQL a pattern index answers both = and LIKE 'x%'); db_index made two
        # there, and every report received writes to each.
        indexes = [
            models.Index(
                fields=["message_ref"],
                name="report_message_ref_idx",
                opclasses=["varchar_pattern_ops"],
            ),
            models.Index(
                fields=["provider", "message_ref"],
                condition=Q(outcome="awaiting"),
                name="report_awaiting_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} for {self.message_ref} ({self.outcome})"


class OptOut(models.Model):
    """A number that asked not to be messaged (a STOP reply)."""

    phone = models.CharField(max_length=32, unique=True, help_text="E.164")
    source = models.CharField(max_length=100, blank=True, default="")
    text = models.CharField(max_length=512, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "opt-out"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.phone


class Reply(models.Model):
    """A message a number sent us (MO): a reply to a campaign, a STOP, anything."""

    class Action(models.TextChoices):
        NONE = "", "None"
        OPTED_OUT = "opted_out", "Opted out"
        OPTED_IN = "opted_in", "Opted back in"

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="replies")
    phone = models.CharField(max_length=32, help_text="The sender, E.164")
    to = models.CharField(max_length=32, blank=True, default="", help_text="Our number or code")
    text = models.TextField(blank=True, default="")
    # When the provider says it was sent; received_at when it says nothing.
    sent_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The campaign (Message.campaign_ref) that messaged the number in the days before.
    campaign_ref = models.CharField(max_length=64, blank=True, default="")
    action = models.CharField(max_length=10, choices=Action.choices, blank=True, default="")
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "replies"
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["phone", "-received_at"]),
            models.Index(
                fields=["campaign_ref", "-received_at"],
                condition=~Q(campaign_ref=""),
                name="reply_campaign_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.phone}: {self.text[:40]}"


class AccessToken(models.Model):
    """A provider's OAuth 2.0 access token, shared by every process (one fetch, not one
    per process) and kept encrypted until shortly before it expires."""

    provider = models.OneToOneField(
        Provider, on_delete=models.CASCADE, related_name="access_token", primary_key=True
    )
    token = EncryptedTextField(blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    fetched_at = models.DateTimeField(null=True, blank=True)
    # A process fetching a token holds this lease, so the others wait for its token
    # instead of fetching their own.
    lease_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token of {self.provider_id}"


class WorkerHeartbeat(models.Model):
    """A `db_worker` process, as last seen by its own housekeeping thread.

    Written once when the worker starts and then every housekeeping round, so a worker
    that died stops being seen; /healthz and /metrics count the ones seen recently.
    """

    # django-tasks-db's --worker-id: at most 64 characters, unique across the pool.
    worker_id = models.CharField(max_length=64, unique=True)
    # What this worker process claims messages with (Message.claim): new at each start.
    token = models.UUIDField(null=True, blank=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"{self.worker_id} on {self.hostname} (pid {self.pid})"
