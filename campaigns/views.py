"""Dashboard pages for campaigns: Engage > Campaigns.

Views stay thin: forms parse input, `services` write, `selectors` read, templates
show. The small JSON views feed the page scripts (composer preview, upload and
import progress, live campaign progress).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from providers.models import Provider
from providers.sending.sms_length import sms_length, sms_length_rules

from . import dlt_check, selectors, services
from .api.downloads import csv_response, upload_errors_response
from .csv_reader import CsvError
from .forms import CampaignForm, UploadForm
from .models import Campaign, Recipient, Upload, UploadError
from .personalisation import MissingField, personalise

CAMPAIGNS_PER_PAGE = 50
PREVIEW_ROWS = 5
# Rejected rows shown on the page; the CSV download has them all.
ERRORS_SHOWN = 10
# Replies shown on a campaign's page; the Inbox lists them all.
RECENT_REPLIES = 10
# Polled while true: the campaign may still change by itself.
LIVE_STATUSES = (Campaign.Status.SCHEDULED, Campaign.Status.RUNNING, Campaign.Status.PAUSED)
# The counts of a campaign that is over with nothing in flight are kept this long; those
# of the others a few seconds (selectors.COUNTS_SECONDS).
FINISHED_PROGRESS_SECONDS = 60
SEGMENTS = (
    ("delivered", "Delivered"),
    ("failed", "Failed"),
    ("submitted", "Submitted"),
    ("waiting", "Queued / sending"),
)


# ---------------------------------------------------------------- list


@login_required
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    campaigns = Campaign.objects.select_related("provider").order_by("-created_at", "-id")
    page = Paginator(campaigns, CAMPAIGNS_PER_PAGE).get_page(request.GET.get("page"))
    rows: list[Campaign] = list(page.object_list)
    counts = selectors.campaign_list_figures(rows)
    return render(
        request,
        "campaigns/campaign_list.html",
        {
            "page": page,
            "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2),
            "rows": [_list_row(campaign, counts.get(campaign.pk, {})) for campaign in rows],
            "has_providers": bool(rows) or Provider.objects.exists(),
        },
    )


def _list_row(campaign: Campaign, counts: dict[str, Any]) -> dict[str, Any]:
    delivered = counts.get("delivered", 0)
    failed = counts.get("failed", 0)
    finished = delivered + failed
    return {
        "campaign": campaign,
        "recipients": counts.get("recipients", 0),
        "delivered": delivered,
        "failed": failed,
        # Delivered in percent of delivered plus failed, as selectors.campaign_stats.
        "delivery_rate": round(100.0 * delivered / finished, 1) if finished else None,
    }


# ---------------------------------------------------------------- create and edit


@login_required
@require_http_methods(["GET", "POST"])
def campaign_create(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        campaign = form.save(user=request.user)
        messages.success(request, f"Campaign “{campaign.name}” saved. Upload its recipients next.")
        return redirect(campaign)
    return _render_form(request, form, campaign=None)


@login_required
@require_http_methods(["GET", "POST"])
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("provider"), pk=pk)
    if campaign.status != Campaign.Status.DRAFT:
        messages.error(request, services.not_a_draft(campaign, "edited"))
        return redirect(campaign)
    form = CampaignForm(request.POST if request.method == "POST" else None, instance=campaign)
    if request.method == "POST" and form.is_valid():
        try:
            saved = form.save()
        except services.TransitionNotAllowed as exc:
            messages.error(request, str(exc))
            return redirect(campaign)
        messages.success(request, f"Campaign “{saved.name}” saved.")
        return redirect(saved)
    return _render_form(request, form, campaign=campaign)


def _render_form(
    request: HttpRequest, form: CampaignForm, *, campaign: Campaign | None
) -> HttpResponse:
    preview_url = ""
    if campaign is not None and campaign.recipients.exists():
        preview_url = reverse("campaign_preview", args=[campaign.pk])
    return render(
        request,
        "campaigns/campaign_form.html",
        {
            "form": form,
            "campaign": campaign,
            "preview_url": preview_url,
            "sms_length_rules": sms_length_rules(),
        },
        status=400 if form.is_bound and form.errors else 200,
    )


# ---------------------------------------------------------------- the campaign page


@login_required
@require_GET
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("provider"), pk=pk)
    return _render_detail(request, campaign)


def _render_detail(
    request: HttpRequest,
    campaign: Campaign,
    *,
    upload_form: UploadForm | None = None,
    launch_errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    is_draft = campaign.status == Campaign.Status.DRAFT
    uploads = _uploads(campaign)
    progress = None if is_draft else _progress(campaign)
    return render(
        request,
        "campaigns/campaign_detail.html",
        {
            "campaign": campaign,
            "is_draft": is_draft,
            "uploads": uploads,
            "latest_upload": uploads[-1] if uploads else None,
            # Counted once: the progress already has it.
            "recipients": progress["stats"]["total"] if progress else campaign.recipients.count(),
            "upload_form": upload_form or UploadForm(campaign=campaign),
            "preview": _preview_rows(campaign) if is_draft else [],
            "length": sms_length(campaign.message),
            "provider_values": _provider_values(campaign),
            "launch_errors": launch_errors or [],
            "progress": progress,
            "replies": [] if is_draft else _recent_replies(campaign),
        },
        status=status,
    )


def _recent_replies(campaign: Campaign) -> list[Any]:
    return list(selectors.campaign_replies(campaign=campaign)[:RECENT_REPLIES])


def _provider_values(campaign: Campaign) -> list[tuple[str, str]]:
    """(name, value) of each custom placeholder of the provider, as the campaign fills it."""
    values = services.campaign_variables(campaign)
    return [(name, values.get(name, "")) for name in campaign.provider.custom_placeholders]


def _uploads(campaign: Campaign) -> list[Upload]:
    """The campaign's uploads, oldest first, each with its first rejected rows (two queries)."""
    first_errors = Prefetch(
        "errors",
        queryset=UploadError.objects.order_by("row", "id")[:ERRORS_SHOWN],
        to_attr="first_errors",
    )
    uploads: QuerySet[Upload] = (
        Upload.objects.filter(campaign=campaign)
        .order_by("created_at", "id")
        .prefetch_related(first_errors)
    )
    return list(uploads)


# ---------------------------------------------------------------- uploads


@login_required
@require_POST
def campaign_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """Read a recipient CSV into a draft. Answers JSON to the page script, HTML otherwise."""
    campaign = get_object_or_404(Campaign.objects.select_related("provider"), pk=pk)
    form = UploadForm(request.POST, request.FILES, campaign=campaign)
    if campaign.status != Campaign.Status.DRAFT:
        return _upload_refused(
            request,
            campaign,
            form,
            {"__all__": [services.not_a_draft(campaign, "given recipients")]},
            status=409,
        )
    if not form.is_valid():
        return _upload_refused(request, campaign, form, _form_errors(form), status=400)
    data = form.cleaned_data
    try:
        upload = services.upload_create(
            campaign=campaign,
            file=data["file"],
            phone_column=data["phone_column"].strip(),
            default_country=data["default_country"],
        )
    except CsvError as exc:
        form.add_error("file", str(exc))
        return _upload_refused(request, campaign, form, _form_errors(form), status=400)
    except services.TransitionNotAllowed as exc:
        return _upload_refused(request, campaign, form, {"__all__": [str(exc)]}, status=409)
    if upload.status == Upload.Status.FAILED:
        form.add_error("file", upload.error)
        return _upload_refused(request, campaign, form, _form_errors(form), status=400)
    if _wants_json(request):
        done = upload.status == Upload.Status.DONE
        return JsonResponse(_upload_json(campaign, upload), status=201 if done else 202)
    if upload.status == Upload.Status.DONE:
        messages.success(
            request,
            f"{upload.original_name}: {upload.rows_accepted} of {upload.rows_total} rows imported.",
        )
    else:
        messages.info(request, f"{upload.original_name} is being imported in the background.")
    return redirect(reverse("campaign_detail", args=[campaign.pk]) + "#recipients")


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _form_errors(form: UploadForm) -> dict[str, list[str]]:
    return {name: [str(e) for e in errors] for name, errors in form.errors.items()}


def _upload_refused(
    request: HttpRequest,
    campaign: Campaign,
    form: UploadForm,
    errors: dict[str, list[str]],
    *,
    status: int,
) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"ok": False, "errors": errors}, status=status)
    if campaign.status != Campaign.Status.DRAFT:
        # The page no longer has an upload form to show the reason beside.
        messages.error(request, " ".join(errors.get("__all__", [])))
        return redirect(campaign)
    for error in errors.get("__all__", []):
        form.add_error(None, error)
    return _render_detail(request, campaign, upload_form=form, status=status)


@login_required
@require_GET
def campaign_upload_status(request: HttpRequest, pk: int, upload_pk: int) -> JsonResponse:
    """An upload's import progress and counts, polled while it imports in the background."""
    upload = get_object_or_404(Upload.objects.select_related("campaign"), pk=upload_pk, campaign=pk)
    return JsonResponse(_upload_json(upload.campaign, upload))


def _upload_json(campaign: Campaign, upload: Upload) -> dict[str, Any]:
    finished = upload.status in (Upload.Status.DONE, Upload.Status.FAILED)
    errors = upload.errors.order_by("row", "id")[:ERRORS_SHOWN] if finished else []
    return {
        "ok": upload.status != Upload.Status.FAILED,
        "id": upload.pk,
        "name": upload.original_name,
        "status": upload.status,
        "status_display": upload.get_status_display(),
        "finished": finished,
        "size": upload.size_bytes,
        "bytes_read": upload.bytes_read,
        "progress": upload.progress,
        "rows_total": upload.rows_total,
        "rows_accepted": upload.rows_accepted,
        "rows_rejected": upload.rows_rejected,
        "error": upload.error,
        "errors": [{"row": e.row, "phone": e.phone, "error": e.error} for e in errors],
        "status_url": reverse("campaign_upload_status", args=[campaign.pk, upload.pk]),
        "errors_csv": reverse("campaign_upload_errors", args=[campaign.pk, upload.pk]),
    }


@login_required
@require_GET
def campaign_upload_errors(request: HttpRequest, pk: int, upload_pk: int) -> StreamingHttpResponse:
    upload = get_object_or_404(Upload, pk=upload_pk, campaign=pk)
    return upload_errors_response(upload)


# ---------------------------------------------------------------- preview


@login_required
@require_POST
def campaign_preview(request: HttpRequest, pk: int) -> JsonResponse:
    """The message as the first recipients will get it, for the text being typed."""
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return JsonResponse({"ok": False, "error": "Send a JSON object."}, status=400)
    # The DLT fields being typed, checked as the campaign would be saved with them.
    draft = copy.copy(campaign)
    draft.message = str(data.get("message", campaign.message)).replace("\r\n", "\n")
    for name in ("dlt_template", "template_id", "sender_id"):
        if name in data:
            setattr(draft, name, str(data[name]).replace("\r\n", "\n").strip())
    dlt_check.registry_fill(draft)
    return JsonResponse({"ok": True, "rows": _preview_rows(draft)})


def _preview_rows(campaign: Campaign) -> list[dict[str, Any]]:
    """The first recipients' personalised text, or why it cannot go out as written."""
    message = campaign.message
    checker = dlt_check.text_checker(campaign)
    recipients = (
        Recipient.objects.filter(campaign=campaign)
        .only("row", "phone", "fields")
        # Rows are stored in file order, uploads one after another.
        .order_by("id")[:PREVIEW_ROWS]
    )
    rows = []
    for recipient in recipients:
        row: dict[str, Any] = {"row": recipient.row, "phone": recipient.phone, "text": ""}
        try:
            row["text"] = personalise(message, recipient.fields)
        except MissingField as exc:
            row["error"] = f"No value for {{{{{exc.name}}}}} and no default."
        else:
            result = checker(row["text"]) if checker is not None else None
            row["error"] = result.summary if result is not None else ""
            row["variables"] = [asdict(v) for v in result.variables] if result else []
            length = sms_length(row["text"])
            row["encoding"] = length.encoding
            row["characters"] = length.characters
            row["parts"] = length.parts
        rows.append(row)
    return rows


# ---------------------------------------------------------------- lifecycle


@login_required
@require_POST
def campaign_launch(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("provider"), pk=pk)
    try:
        campaign = services.campaign_launch(campaign=campaign)
    except services.LaunchRefused as exc:
        return _render_detail(request, campaign, launch_errors=exc.reasons, status=400)
    except services.TransitionNotAllowed as exc:
        messages.error(request, str(exc))
        return redirect(campaign)
    if campaign.status == Campaign.Status.SCHEDULED and campaign.scheduled_at:
        when = timezone.localtime(campaign.scheduled_at)
        messages.success(request, f"Campaign scheduled: sending starts {when:%d %b %Y, %H:%M}.")
    else:
        messages.success(request, "Campaign launched: messages are going out.")
    return redirect(campaign)


@login_required
@require_POST
def campaign_pause(request: HttpRequest, pk: int) -> HttpResponse:
    return _change(request, pk, services.campaign_pause, "Campaign paused: nothing more is sent.")


@login_required
@require_POST
def campaign_resume(request: HttpRequest, pk: int) -> HttpResponse:
    return _change(request, pk, services.campaign_resume, "Campaign resumed.")


@login_required
@require_POST
def campaign_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _change(
        request,
        pk,
        services.campaign_cancel,
        "Campaign cancelled: messages not yet sent will not go out.",
    )


def _change(
    request: HttpRequest, pk: int, change: Callable[..., Campaign], done: str
) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        campaign = change(campaign=campaign)
    except services.TransitionNotAllowed as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect(campaign)


# ---------------------------------------------------------------- progress and export


@login_required
@require_GET
def campaign_progress(request: HttpRequest, pk: int) -> JsonResponse:
    """Live progress of a campaign, polled by its page."""
    campaign = get_object_or_404(Campaign, pk=pk)
    return JsonResponse(_progress(campaign))


def _progress(campaign: Campaign) -> dict[str, Any]:
    """The progress figures: counts kept a few seconds, send rate and chart read afresh.

    Counting a campaign of a million messages takes a quarter of a second, so its counts
    are kept for COUNTS_SECONDS between polls (and the page says they are updated every
    few seconds), while the send rate and the chart, which read only the last minutes,
    move on every poll. A campaign that is over with no message left in flight shows
    the same counts on every view: they are kept a minute.
    """
    key = f"campaign-progress:{campaign.pk}:{campaign.created_at.timestamp()}:{campaign.status}"
    counts = cache.get(key)
    if counts is None:
        counts = _count_progress(campaign)
        stats = counts["stats"]
        settled = counts["terminal"] and not (
            stats["queued"] + stats["sending"] + stats["submitted"]
        )
        seconds = FINISHED_PROGRESS_SECONDS if settled else selectors.COUNTS_SECONDS
        cache.set(key, counts, seconds)
    return {
        **counts,
        "send_rate": selectors.campaign_send_rate(campaign=campaign),
        "timeline": selectors.chart_rows(selectors.campaign_timeline(campaign=campaign)),
    }


def _count_progress(campaign: Campaign) -> dict[str, Any]:
    stats = selectors.campaign_stats(campaign=campaign)
    terminal = campaign.status in (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED)
    return {
        "status": campaign.status,
        "status_display": campaign.get_status_display(),
        "terminal": terminal,
        # Reports may still come for submitted messages after the last one was sent.
        "live": campaign.status in LIVE_STATUSES or (terminal and stats["submitted"] > 0),
        "stats": stats,
        "segments": _segments(stats),
        "failures": selectors.campaign_failures_by_code(campaign=campaign),
    }


def _segments(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """The progress bar: each outcome's share of the recipients, left to right."""
    counts = {
        "delivered": stats["delivered"],
        "failed": stats["failed"],
        "submitted": stats["submitted"],
        "waiting": stats["queued"] + stats["sending"],
    }
    whole = max(stats["total"], stats["created"], 1)
    segments, x = [], 0.0
    for key, label in SEGMENTS:
        width = round(100.0 * counts[key] / whole, 2)
        segments.append({"key": key, "label": label, "count": counts[key], "x": x, "width": width})
        x = round(x + width, 2)
    return segments


@login_required
@require_GET
def campaign_export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    return csv_response(
        selectors.campaign_export_rows(campaign=campaign),
        filename=f"campaign-{campaign.pk}-results.csv",
    )
