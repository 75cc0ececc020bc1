"""India's DLT registry: what a sender registered on an operator's DLT portal.

The operators scrub every commercial SMS to an Indian number against it: the principal
entity (PE), its headers (sender ids), its content templates and its whitelisted links
and callback numbers. The registry knows nothing of providers or campaigns; they ask
`dlt.check` whether a text would pass.
"""

from __future__ import annotations

from django.db import models
from django.urls import reverse


class Category(models.TextChoices):
    PROMOTIONAL = "promotional", "Promotional"
    TRANSACTIONAL = "transactional", "Transactional"
    SERVICE_IMPLICIT = "service_implicit", "Service implicit"
    SERVICE_EXPLICIT = "service_explicit", "Service explicit"
    GOVERNMENT = "government", "Government"


class Entity(models.Model):
    """The principal entity (PE): the business that registered headers and templates."""

    name = models.CharField(max_length=200)
    entity_id = models.CharField("PE id", max_length=64, unique=True)
    # Since 11 December 2024 the telemarketer chain must be declared; aggregators ask for it.
    tm_chain_id = models.CharField("telemarketer chain id", max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "entity"
        verbose_name_plural = "entities"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.entity_id})" if self.name != self.entity_id else self.name

    def get_absolute_url(self) -> str:
        return reverse("dlt_entity_edit", args=[self.pk])


class Header(models.Model):
    """A sender id registered for an entity, of one category."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"

    # Stored in capitals: operators list headers so and compare them without case.
    sender_id = models.CharField("sender id", max_length=11, unique=True)
    category = models.CharField(max_length=16, choices=Category.choices)
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="headers")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    # When a campaign launched or an API message was queued with this header.
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sender_id"]

    def __str__(self) -> str:
        return self.sender_id

    def get_absolute_url(self) -> str:
        return reverse("dlt_header_edit", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Template(models.Model):
    """A content template: fixed text with tagged variables, for some of the entity's
    headers."""

    class ContentType(models.TextChoices):
        TEXT = "text", "Text"
        UNICODE = "unicode", "Unicode"

    class Status(models.TextChoices):
        APPROVED = "approved", "Approved"
        INACTIVE = "inactive", "Inactive"

    template_id = models.CharField("template id", max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True, default="")
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="templates")
    headers = models.ManyToManyField(Header, blank=True, related_name="templates")
    category = models.CharField(max_length=16, choices=Category.choices)
    content_type = models.CharField(
        max_length=7, choices=ContentType.choices, default=ContentType.TEXT
    )
    text = models.TextField(help_text="As registered, with {#var#} or a tag such as {#numeric#}.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.APPROVED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "template_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.template_id})" if self.name else self.template_id

    def get_absolute_url(self) -> str:
        return reverse("dlt_template_edit", args=[self.pk])

    @property
    def is_approved(self) -> bool:
        return self.status == self.Status.APPROVED


class WhitelistEntry(models.Model):
    """A link or callback number the entity whitelisted, for all its headers or some."""

    class Kind(models.TextChoices):
        URL = "url", "URL"
        URLOTT = "urlott", "OTT / APK link"
        CBN = "cbn", "Callback number"

    kind = models.CharField(max_length=6, choices=Kind.choices)
    value = models.CharField(max_length=2000)
    # A dynamic URL is registered as a prefix that each message completes; a static one
    # must be sent exactly as registered.
    dynamic = models.BooleanField(
        default=False, help_text="A registered prefix (dynamic URL), not the exact link."
    )
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="whitelist")
    headers = models.ManyToManyField(
        Header,
        blank=True,
        related_name="whitelist",
        help_text="Only for these headers; none means every header of the entity.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "whitelist entry"
        verbose_name_plural = "whitelist"
        ordering = ["kind", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "kind", "value"], name="whitelist_entry_once_per_entity"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"

    def get_absolute_url(self) -> str:
        return reverse("dlt_whitelist_edit", args=[self.pk])
