"""Django admin for operators: campaigns, their uploads and recipients.

Everything here is a read-only record: campaigns are written in the dashboard or the
API, and their status changes only through the lifecycle services, which the pause,
resume and cancel actions call. Lists count recipients and outcomes with subqueries,
so a page costs the same few queries whatever its length.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import CharField, Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Cast, Coalesce
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from providers.admin import PROVIDER_SECRET_FIELDS, ReadOnlyAdmin
from providers.models import Message

from . import services
from .api.downloads import upload_errors_response
from .models import Campaign, Recipient, Upload, UploadError
from .selectors import campaign_stats

# Rejected rows shown on an upload's page; the CSV download has them all.
ERRORS_SHOWN = 100
# Refused campaigns named one by one in an action's message, before "and N more".
REFUSALS_NAMED = 10


def _count(queryset: QuerySet[Any], group_by: str) -> Coalesce:
    """A count per outer row as a subquery (zero when there is nothing to count)."""
    counts = queryset.order_by().values(group_by).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def _messages_with_status(status: str) -> Coalesce:
    # Messages name their campaign in campaign_ref (providers knows nothing of campaigns).
    ref = Cast(OuterRef("pk"), output_field=CharField())
    return _count(Message.objects.filter(campaign_ref=ref, status=status), "campaign_ref")


# ---------------------------------------------------------------- campaigns


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "provider",
        "kind",
        "status",
        "created_at",
        "recipients_count",
        "delivered_count",
        "failed_count",
    )
    list_filter = ("status", "kind", "provider")
    list_select_related = ("provider",)
    search_fields = ("name",)
    actions = ["pause", "resume", "cancel"]
    fieldsets = [
        (None, {"fields": ["name", "provider", "kind", "status", "statistics", "lists"]}),
        (
            "Message",
            {
                "fields": [
                    "sender_id",
                    "message",
                    "template_id",
                    "entity_id",
                    "dlt_template",
                    "variables",
                    "default_country",
                ]
            },
        ),
        (
            "Sending",
            {"fields": ["scheduled_at", "throttle_per_second", "throttle_per_5min"]},
        ),
        (
            "Record",
            {"fields": ["created_by", "created_at", "updated_at", "launched_at", "completed_at"]},
        ),
    ]
    readonly_fields = ("statistics", "lists", "created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Campaign]:
        return (
            super()
            .get_queryset(request)
            .defer(*PROVIDER_SECRET_FIELDS)
            .annotate(
                recipients_count=_count(
                    Recipient.objects.filter(campaign=OuterRef("pk")), "campaign"
                ),
                delivered_count=_messages_with_status(Message.Status.DELIVERED),
                failed_count=_messages_with_status(Message.Status.FAILED),
            )
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The actions need the change permission; a campaign's own page stays read-only.
        return obj is None and admin.ModelAdmin.has_change_permission(self, request)

    @admin.display(description="Recipients", ordering="recipients_count")
    def recipients_count(self, obj: Campaign) -> int:
        return obj.recipients_count  # type: ignore[attr-defined]

    @admin.display(description="Delivered", ordering="delivered_count")
    def delivered_count(self, obj: Campaign) -> int:
        return obj.delivered_count  # type: ignore[attr-defined]

    @admin.display(description="Failed", ordering="failed_count")
    def failed_count(self, obj: Campaign) -> int:
        return obj.failed_count  # type: ignore[attr-defined]

    @admin.display(description="Statistics")
    def statistics(self, obj: Campaign) -> str:
        stats = campaign_stats(campaign=obj)
        rate = stats["delivery_rate"]
        return (
            f"{stats['total']} recipients: {stats['queued']} queued, {stats['sending']} sending, "
            f"{stats['submitted']} submitted, {stats['delivered']} delivered, "
            f"{stats['failed']} failed" + (f" ({rate}% delivered)" if rate is not None else "")
        )

    @admin.display(description="Lists")
    def lists(self, obj: Campaign) -> SafeString:
        uploads = reverse("admin:campaigns_upload_changelist")
        recipients = reverse("admin:campaigns_recipient_changelist")
        return format_html(
            '<a href="{}?campaign__id__exact={}">Uploads</a> · '
            '<a href="{}?campaign__id__exact={}">Recipients</a>',
            uploads,
            obj.pk,
            recipients,
            obj.pk,
        )

    @admin.action(description="Pause selected campaigns", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._change_each(request, queryset, services.campaign_pause, "Paused")

    @admin.action(description="Resume selected campaigns", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._change_each(request, queryset, services.campaign_resume, "Resumed")

    @admin.action(description="Cancel selected campaigns", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._change_each(request, queryset, services.campaign_cancel, "Cancelled")

    def _change_each(
        self,
        request: HttpRequest,
        queryset: QuerySet[Campaign],
        change: Callable[..., Campaign],
        done: str,
    ) -> None:
        changed = 0
        refusals: list[str] = []
        for campaign in queryset.order_by("pk"):
            try:
                change(campaign=campaign)
            except services.TransitionNotAllowed as exc:
                refusals.append(f"{campaign.name}: {exc}")
            else:
                changed += 1
        if changed:
            self.message_user(request, f"{done} {changed} campaign(s).", messages.SUCCESS)
        if refusals:
            named = "; ".join(refusals[:REFUSALS_NAMED])
            more = len(refusals) - REFUSALS_NAMED
            if more > 0:
                named += f"; and {more} more"
            self.message_user(
                request, f"{len(refusals)} campaign(s) left as they were: {named}", messages.WARNING
            )


# ---------------------------------------------------------------- uploads


@admin.register(Upload)
class UploadAdmin(ReadOnlyAdmin):
    list_display = (
        "original_name",
        "campaign",
        "status",
        "rows_total",
        "rows_accepted",
        "rows_rejected",
        "created_at",
    )
    list_filter = ("status",)
    list_select_related = ("campaign",)
    search_fields = ("original_name", "campaign__name")
    fields = (
        "campaign",
        "original_name",
        "status",
        "progress",
        "phone_column",
        "default_country",
        "size_bytes",
        "rows_total",
        "rows_accepted",
        "rows_rejected",
        "error",
        "created_at",
        "finished_at",
        "rejected_rows",
    )
    readonly_fields = ("progress", "rejected_rows")

    def get_urls(self) -> list[URLPattern]:
        errors_csv = path(
            "<path:object_id>/errors.csv",
            self.admin_site.admin_view(self.errors_csv_view),
            name="campaigns_upload_errors_csv",
        )
        return [errors_csv, *super().get_urls()]

    def errors_csv_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        upload = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_permission(request, upload):
            raise PermissionDenied
        return upload_errors_response(upload)

    @admin.display(description="Progress")
    def progress(self, obj: Upload) -> str:
        return f"{obj.progress}%"

    @admin.display(description="Rejected rows")
    def rejected_rows(self, obj: Upload) -> SafeString | str:
        errors = list(
            UploadError.objects.filter(upload=obj)
            .order_by("row", "id")
            .values_list("row", "phone", "error")[:ERRORS_SHOWN]
        )
        if not errors:
            return "None"
        download = reverse("admin:campaigns_upload_errors_csv", args=[obj.pk])
        shown = (
            f"The first {ERRORS_SHOWN} of {obj.rows_rejected}."
            if obj.rows_rejected > len(errors)
            else ""
        )
        return format_html(
            '<p>{} <a href="{}">Download all rejected rows (CSV)</a></p>'
            "<table><thead><tr><th>Row</th><th>Phone</th><th>Error</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            shown,
            download,
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", errors),
        )


# ---------------------------------------------------------------- recipients


@admin.register(Recipient)
class RecipientAdmin(ReadOnlyAdmin):
    list_display = ("phone", "campaign", "upload", "row", "message_status")
    list_filter = ("campaign",)
    list_select_related = ("campaign", "upload", "message")
    search_fields = ("phone",)
    search_help_text = "A phone number or part of one."
    # Counting a large recipient table on every page is the slowest query here.
    show_full_result_count = False
    fields = ("phone", "campaign", "upload", "row", "fields", "message_link")
    readonly_fields = ("message_link",)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Recipient], search_term: str
    ) -> tuple[QuerySet[Recipient], bool]:
        # Numbers are stored in E.164; spaces, dashes and a leading + are not part of it.
        digits = "".join(ch for ch in search_term if ch.isdigit())
        if not search_term.strip():
            return queryset, False
        if not digits:
            return queryset.none(), False
        return queryset.filter(phone__contains=digits), False

    @admin.display(description="Message status", ordering="message__status")
    def message_status(self, obj: Recipient) -> str:
        return obj.message.get_status_display() if obj.message else "Not sent"

    @admin.display(description="Message")
    def message_link(self, obj: Recipient) -> SafeString | str:
        if obj.message_id is None:
            return "Not sent"
        url = reverse("admin:providers_message_change", args=[obj.message_id])
        return format_html('<a href="{}">{}</a>', url, obj.message_id)
