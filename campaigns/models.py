"""Campaigns: a message sent to uploaded lists of recipients through one provider."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from providers.models import Lane, Message, Provider


class Campaign(models.Model):
    class Kind(models.TextChoices):
        TRANSACTIONAL = "transactional", "Transactional / service"
        PROMOTIONAL = "promotional", "Promotional"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    name = models.CharField(max_length=200)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="campaigns")
    kind = models.CharField(max_length=13, choices=Kind.choices, default=Kind.TRANSACTIONAL)
    sender_id = models.CharField(max_length=11, blank=True, default="")
    message = models.TextField(help_text="Personalise with {{column}} or {{column|default}}.")
    template_id = models.CharField("DLT template id", max_length=64, blank=True, default="")
    entity_id = models.CharField("DLT principal entity id", max_length=64, blank=True, default="")
    dlt_template = models.TextField("registered template text", blank=True, default="")
    # Values for the provider's custom $$Name placeholders.
    variables = models.JSONField(default=dict, blank=True)
    default_country = models.CharField(max_length=2, default="IN")
    scheduled_at = models.DateTimeField(null=True, blank=True)
    throttle_per_second = models.PositiveIntegerField(null=True, blank=True)
    throttle_per_5min = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # What the dispatcher sends the campaign's messages through (made at launch): it
    # carries the campaign's state, throttle and quiet hours to the sending layer.
    lane = models.OneToOneField(
        Lane, null=True, blank=True, on_delete=models.PROTECT, related_name="campaign"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("campaign_detail", args=[self.pk])

    @property
    def is_promotional(self) -> bool:
        return self.kind == self.Kind.PROMOTIONAL


class Upload(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        PROCESSING = "processing", "Importing"
        DONE = "done", "Imported"
        FAILED = "failed", "Refused"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="uploads")
    file = models.FileField(upload_to="uploads/%Y/%m/")
    original_name = models.CharField(max_length=255)
    phone_column = models.CharField(max_length=100, blank=True, default="")
    default_country = models.CharField(max_length=2, default="IN")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    size_bytes = models.PositiveBigIntegerField(default=0)
    bytes_read = models.PositiveBigIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0)
    rows_accepted = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    # Why the whole file was refused (bad encoding, no phone column, ...).
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.original_name

    @property
    def progress(self) -> int:
        if self.status in (self.Status.DONE, self.Status.FAILED):
            return 100
        return int(100 * self.bytes_read / self.size_bytes) if self.size_bytes else 0


class UploadError(models.Model):
    """A rejected row of an upload, with the reason (downloadable as CSV)."""

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="errors")
    row = models.PositiveIntegerField()
    phone = models.CharField(max_length=100, blank=True, default="")
    error = models.CharField(max_length=300)

    class Meta:
        ordering = ["upload", "row"]

    def __str__(self) -> str:
        return f"row {self.row}: {self.error}"


class Recipient(models.Model):
    # No index of its own: the unique (campaign, phone) index starts with it.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="recipients", db_index=False
    )
    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="recipients")
    row = models.PositiveIntegerField()
    phone = models.CharField(max_length=32, help_text="E.164")
    fields = models.JSONField(default=dict)
    message = models.OneToOneField(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="recipient"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "phone"], name="recipient_once_per_campaign"
            ),
        ]
        indexes = [
            models.Index(
                fields=["campaign", "message"],
                condition=Q(message__isnull=True),
                name="recipient_unsent_idx",
            )
        ]

    def __str__(self) -> str:
        return self.phone
