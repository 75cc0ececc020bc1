"""Writes in the bulk layer: campaigns, uploads, launch and the campaign lifecycle."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import phonenumbers
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from dlt.check import alert_flag
from dlt.rules import sender_id_error
from dlt.services import headers_used
from providers.models import Message, MessageEvent
from providers.phones import normalize
from providers.sending import lanes
from providers.sending.claims import throttle_rate
from providers.sending.placeholders import find_placeholders
from smsgateway import sql

from . import dlt_check
from .csv_reader import CsvError, Row, open_rows
from .models import Campaign, Recipient, Upload, UploadError
from .personalisation import FIELD_RE, MissingField, personalise
from .read_ahead import read_ahead
from .recipient_rows import (
    NewRecipient,
    opted_out,
    recipients_existing,
    recipients_insert,
)

logger = logging.getLogger(__name__)

CampaignStatus = Campaign.Status
# Rows per transaction: large enough that per-chunk queries and the progress write cost
# little per row, small enough to keep memory flat and the progress bar moving.
IMPORT_CHUNK = 5000
MAX_STORED_ERRORS = 100_000
# What a campaign's lane enqueues, with the lane's id, once its last message is sent.
DRAINED_TASK = "campaigns.tasks.campaign_drained"


class TransitionNotAllowed(Exception):
    """A lifecycle action that the campaign's status does not allow (HTTP 409)."""


# ---------------------------------------------------------------- campaign fields


def campaign_variables(campaign: Campaign) -> dict[str, str]:
    """Values for the provider's custom placeholders: the campaign's own fields fill the
    Sinch-style ones ($$SenderID, $$EntityID) unless the user gave a value, and its kind
    the $$Alert flag."""
    values = {
        "SenderID": campaign.sender_id,
        "EntityID": campaign.entity_id,
        "Alert": alert_flag(campaign.kind),
    }
    values.update({str(k): str(v) for k, v in (campaign.variables or {}).items()})
    return values


def campaign_errors(campaign: Campaign) -> dict[str, list[str]]:
    """Field errors in a campaign's own settings (not its recipients)."""
    errors: dict[str, list[str]] = {}
    if not campaign.message.strip():
        errors["message"] = ["Write the message."]
    missing = [
        name
        for name in campaign.provider.custom_placeholders
        if not campaign_variables(campaign).get(name, "").strip()
    ]
    if missing:
        errors["variables"] = [
            "The provider needs a value for " + ", ".join("$$" + n for n in missing) + "."
        ]
    if campaign.sender_id:
        problem = sender_id_error(campaign.sender_id, promotional=campaign.is_promotional)
        if problem and campaign.default_country == "IN":
            errors["sender_id"] = [problem]
    if problems := dlt_check.fit_errors(campaign):
        errors["template_id"] = problems
    elif dlt_check.fixed_text(campaign):
        checker = dlt_check.text_checker(campaign)
        if checker is not None and (result := checker(campaign.message)).errors:
            errors["dlt_template"] = result.errors
    for name in ("throttle_per_second", "throttle_per_5min"):
        value = getattr(campaign, name)
        if value is not None and value < 1:
            errors[name] = ["Must be at least 1, or empty for no limit."]
    uses_template = "TemplateID" in find_placeholders(campaign.provider.payload)
    if uses_template and not campaign.template_id and not campaign.message:
        errors["template_id"] = ["The provider sends a template id: enter it."]
    return errors


# ---------------------------------------------------------------- edit and delete


def not_a_draft(campaign: Campaign, doing: str) -> str:
    return (
        f"Only a draft campaign can be {doing}; this one is "
        f"{campaign.get_status_display().lower()}."
    )


def campaign_require_draft(campaign: Campaign, doing: str) -> None:
    """Raise TransitionNotAllowed unless the campaign (as read) is a draft."""
    if campaign.status != CampaignStatus.DRAFT:
        raise TransitionNotAllowed(not_a_draft(campaign, doing))


def _draft_locked(campaign_id: int, doing: str) -> Campaign:
    # Under the row lock: a launch in another request cannot slip in between.
    campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
    campaign_require_draft(campaign, doing)
    return campaign


def campaign_update(*, campaign: Campaign, fields: dict[str, object]) -> Campaign:
    """Write these fields of a draft (only these: a whole-row save could put back a
    status that a launch changed meanwhile). Raises TransitionNotAllowed otherwise."""
    with transaction.atomic():
        _draft_locked(campaign.pk, "edited")
        for name, value in fields.items():
            setattr(campaign, name, value)
        campaign.save(update_fields=[*fields, "updated_at"])
    return campaign


def campaign_delete(*, campaign: Campaign) -> None:
    """Delete a draft with its uploads and recipients (it has no messages yet); a
    launched campaign keeps its record (TransitionNotAllowed)."""
    with transaction.atomic():
        _draft_locked(campaign.pk, "deleted").delete()


# ---------------------------------------------------------------- uploads


def upload_create(
    *, campaign: Campaign, file: UploadedFile, phone_column: str = "", default_country: str = ""
) -> Upload:
    """Store an uploaded file; small files are imported at once, large ones in the background.

    Raises CsvError for a file refused as a whole (too large, not a CSV, no phone column).
    """
    # Messages are created at launch: rows added later would never be sent.
    campaign_require_draft(campaign, "given recipients")
    limit = settings.SMSGATEWAY_MAX_UPLOAD_BYTES
    if file.size and file.size > limit:
        raise CsvError(f"The file is {file.size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB.")
    country = (default_country or campaign.default_country or "IN").upper()
    if country not in phonenumbers.SUPPORTED_REGIONS:
        raise CsvError(f"{default_country!r} is not a country code such as IN or US.")
    # Check the layout (encoding, header, phone column) now so a bad file is refused at once.
    file.seek(0)
    open_rows(file, phone_column=phone_column)
    file.seek(0)
    upload = Upload.objects.create(
        campaign=campaign,
        file=file,
        original_name=(file.name or "upload.csv")[:255],
        phone_column=phone_column,
        default_country=country,
        size_bytes=file.size or 0,
    )
    # A launch that checked the recipients before this upload must not go ahead.
    Campaign.objects.filter(id=campaign.id).update(updated_at=timezone.now())
    if upload.size_bytes <= settings.SMSGATEWAY_INLINE_IMPORT_BYTES:
        upload_import(upload_id=upload.id)
        upload.refresh_from_db()
        if upload.status == Upload.Status.FAILED:
            # Refused while the user waits: answer like any other bad file, keep nothing.
            upload.file.delete(save=False)
            upload.delete()
            raise CsvError(upload.error)
    else:
        from .tasks import import_upload

        transaction.on_commit(lambda: import_upload.enqueue(upload.id))
    return upload


def upload_import(*, upload_id: int) -> None:
    """Read an upload row by row, validate numbers and keep the good rows as recipients."""
    upload = Upload.objects.select_related("campaign").get(id=upload_id)
    if upload.status not in (Upload.Status.PENDING, Upload.Status.PROCESSING):
        return
    Upload.objects.filter(id=upload.id).update(status=Upload.Status.PROCESSING)
    try:
        with upload.file.open("rb") as stream:
            _import_rows(upload, stream)
    except CsvError as exc:
        # Refused as a whole: the rows read before the fault are not kept either.
        with transaction.atomic():
            Recipient.objects.filter(upload=upload).delete()
            UploadError.objects.filter(upload=upload).delete()
            Upload.objects.filter(id=upload.id).update(
                status=Upload.Status.FAILED,
                error=str(exc),
                finished_at=timezone.now(),
                rows_total=0,
                rows_accepted=0,
                rows_rejected=0,
            )
        return
    Upload.objects.filter(id=upload.id).update(
        status=Upload.Status.DONE, finished_at=timezone.now(), bytes_read=upload.size_bytes
    )


def _import_rows(upload: Upload, stream: IO[bytes]) -> None:
    _, rows = open_rows(stream, phone_column=upload.phone_column)
    counts = {"rows_total": 0, "rows_accepted": 0, "rows_rejected": 0}
    stored_errors = 0
    # The next chunk is read and its numbers checked while this one is stored; closing
    # stops that reading before the caller closes the file, even when a write fails.
    chunks = read_ahead(_checked_chunks(rows, stream, upload.default_country))
    with contextlib.closing(chunks):
        for chunk, position in chunks:
            accepted, rejected = _validate_chunk(upload, chunk)
            with transaction.atomic():
                sql.commit_without_waiting()
                recipients_insert(accepted)
                room = MAX_STORED_ERRORS - stored_errors
                UploadError.objects.bulk_create(rejected[:room])
                stored_errors += min(room, len(rejected))
                counts["rows_total"] += len(chunk)
                counts["rows_accepted"] += len(accepted)
                counts["rows_rejected"] += len(rejected)
                Upload.objects.filter(id=upload.id).update(**counts, bytes_read=position)


def _tell(stream: IO[bytes]) -> int:
    try:
        return stream.tell()
    except (OSError, ValueError):
        return 0


def _chunks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _checked_chunks(
    rows: Iterator[Row], stream: IO[bytes], country: str
) -> Iterator[tuple[list[tuple[Row, str]], int]]:
    """Chunks of rows, each with its number in E.164 (or the reason in `row.error`),
    and how far into the file the chunk ends. Uses no database: it runs in a thread."""
    for chunk in _chunks(rows, IMPORT_CHUNK):
        checked: list[tuple[Row, str]] = []
        for row in chunk:
            phone = ""
            if not row.error:
                try:
                    phone = normalize(row.phone, default_region=country)
                except ValueError as exc:
                    row.error = str(exc)
            checked.append((row, phone))
        yield checked, _tell(stream)


def _validate_chunk(
    upload: Upload, chunk: list[tuple[Row, str]]
) -> tuple[list[NewRecipient], list[UploadError]]:
    rejected: list[UploadError] = []

    def reject(row: Row, error: str) -> None:
        rejected.append(
            UploadError(upload=upload, row=row.number, phone=row.phone[:100], error=error[:300])
        )

    candidates: dict[str, Row] = {}
    for row, phone in chunk:
        if row.error:
            reject(row, row.error)
            continue
        if phone in candidates:
            reject(row, f"Duplicate of row {candidates[phone].number}.")
            continue
        candidates[phone] = row
    phones = list(candidates)
    # Earlier chunks of this upload are in the table too: their rows are duplicates.
    taken = recipients_existing(campaign_id=upload.campaign_id, phones=phones)
    names = dict(
        Upload.objects.filter(id__in={t.upload_id for t in taken.values()}).values_list(
            "id", "original_name"
        )
    )
    stopped = opted_out(phones)
    accepted: list[NewRecipient] = []
    for phone, row in candidates.items():
        if phone in taken:
            earlier = taken[phone]
            if earlier.upload_id == upload.id:
                reject(row, f"Duplicate of row {earlier.row}.")
            else:
                name = names.get(earlier.upload_id, "another list")
                reject(row, f"Already in this campaign (from {name}).")
        elif phone in stopped:
            reject(row, "Opted out (replied STOP).")
        else:
            # The reader refuses unnamed columns, so the fields are the row as read.
            accepted.append(
                NewRecipient(upload.campaign_id, upload.id, row.number, phone, row.fields)
            )
    rejected.sort(key=lambda error: error.row)
    return accepted, rejected


# ---------------------------------------------------------------- launch checks


@dataclass
class RecipientProblem:
    row: int
    phone: str
    error: str


def launch_problems(campaign: Campaign, *, limit: int = 100) -> list[RecipientProblem]:
    """Recipients whose message cannot go out as written (first `limit`), in row order."""
    checker = dlt_check.text_checker(campaign)
    if checker is None and not _can_miss_a_field(campaign.message):
        # Every recipient's text is fine: no need to read a million of them.
        return []
    problems: list[RecipientProblem] = []
    recipients = (
        Recipient.objects.filter(campaign=campaign)
        .order_by("upload_id", "row")
        .values_list("row", "phone", "fields")
    )
    for row, phone, fields in recipients.iterator(chunk_size=5000):
        try:
            text = personalise(campaign.message, fields)
        except MissingField as exc:
            problems.append(
                RecipientProblem(row, phone, f"No value for {{{{{exc.name}}}}} and no default.")
            )
        else:
            result = checker(text) if checker is not None else None
            if result is not None and result.errors:
                problems.append(RecipientProblem(row, phone, result.summary))
        if len(problems) >= limit:
            break
    return problems


def _can_miss_a_field(message: str) -> bool:
    """Whether some recipient's fields could leave a `{{field}}` without any value."""
    return any(match.group(2) is None for match in FIELD_RE.finditer(message))


def campaign_launch(*, campaign: Campaign) -> Campaign:
    """Check a draft and start it (now, or at its scheduled time).

    Raises TransitionNotAllowed when it is not a draft, and ValueError with the reasons
    when its settings or a recipient's text would fail.
    """
    campaign = Campaign.objects.select_related("provider").get(id=campaign.id)
    checked_version = campaign.updated_at
    if campaign.status != CampaignStatus.DRAFT:
        raise TransitionNotAllowed(
            f"A {campaign.get_status_display().lower()} campaign cannot be launched."
        )
    errors = campaign_errors(campaign)
    if errors:
        raise LaunchRefused([f"{field}: {' '.join(texts)}" for field, texts in errors.items()])
    if not campaign.recipients.exists():
        raise LaunchRefused(["Upload at least one list of recipients first."])
    problems = launch_problems(campaign, limit=20)
    if problems:
        raise LaunchRefused([f"Row {p.row} ({p.phone}): {p.error}" for p in problems])
    now = timezone.now()
    scheduled = campaign.scheduled_at is not None and campaign.scheduled_at > now
    with transaction.atomic():
        # Only the version that was checked is launched: an edit or upload in between
        # changed updated_at, and the user is asked to launch again.
        changed = Campaign.objects.filter(
            id=campaign.id, status=CampaignStatus.DRAFT, updated_at=checked_version
        ).update(
            status=CampaignStatus.SCHEDULED if scheduled else CampaignStatus.RUNNING,
            launched_at=now,
            updated_at=now,
        )
        if not changed:
            raise TransitionNotAllowed(
                "The campaign was launched or changed meanwhile; check it and launch again."
            )
        lane = lanes.lane_create(
            provider=campaign.provider,
            name=f"Campaign {campaign.id}: {campaign.name}",
            starts_at=campaign.scheduled_at if scheduled else None,
            rate=throttle_rate(
                per_second=campaign.throttle_per_second, per_5min=campaign.throttle_per_5min
            ),
            quiet_hours=campaign.is_promotional,
            drained_task=DRAINED_TASK,
        )
        Campaign.objects.filter(id=campaign.id).update(lane=lane)
        headers_used(sender_ids=[campaign.sender_id], when=now)
        from .tasks import prepare_campaign, start_campaign

        transaction.on_commit(lambda: prepare_campaign.enqueue(campaign.id))
        if scheduled:
            start = start_campaign.using(run_after=campaign.scheduled_at)
            transaction.on_commit(lambda: start.enqueue(campaign.id))
    campaign.refresh_from_db()
    return campaign


class LaunchRefused(ValueError):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


# ---------------------------------------------------------------- pause, resume, cancel


def campaign_pause(*, campaign: Campaign) -> Campaign:
    """Hold a running or scheduled campaign: nothing more is claimed for sending (what is
    in flight completes)."""
    with transaction.atomic():
        campaign = _transition(
            campaign, {CampaignStatus.RUNNING, CampaignStatus.SCHEDULED}, CampaignStatus.PAUSED
        )
        if campaign.lane_id:
            lanes.lane_hold(lane_id=campaign.lane_id)
    return campaign


def campaign_resume(*, campaign: Campaign) -> Campaign:
    """Send a paused campaign's remaining messages, now (a schedule no longer holds it)."""
    with transaction.atomic():
        campaign = _transition(campaign, {CampaignStatus.PAUSED}, CampaignStatus.RUNNING)
        if campaign.lane_id:
            lanes.lane_open(lane_id=campaign.lane_id, now=True)
    return campaign


def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Stop a campaign: messages not yet sent fail as cancelled; sent ones keep their records."""
    active = {
        CampaignStatus.DRAFT,
        CampaignStatus.SCHEDULED,
        CampaignStatus.RUNNING,
        CampaignStatus.PAUSED,
    }
    with transaction.atomic():
        campaign = _transition(campaign, active, CampaignStatus.CANCELLED)
        if campaign.lane_id:
            lanes.lane_close(lane_id=campaign.lane_id)
        now = timezone.now()
        pending = Message.objects.filter(
            campaign_ref=str(campaign.id), status=Message.Status.QUEUED
        )
        ids = list(pending.values_list("id", flat=True))
        for start in range(0, len(ids), 5000):
            batch = ids[start : start + 5000]
            Message.objects.filter(id__in=batch, status=Message.Status.QUEUED).update(
                status=Message.Status.FAILED,
                error_code="cancelled",
                error_description="Campaign cancelled before this message was sent.",
                completed_at=now,
                updated_at=now,
            )
            MessageEvent.objects.bulk_create(
                MessageEvent(
                    message_id=mid,
                    source=MessageEvent.Source.SYSTEM,
                    status=Message.Status.FAILED,
                    code="cancelled",
                    description="Campaign cancelled",
                )
                for mid in batch
            )
        Campaign.objects.filter(id=campaign.id).update(completed_at=now)
    campaign.refresh_from_db()
    return campaign


def _transition(campaign: Campaign, allowed: set[CampaignStatus], target: str) -> Campaign:
    changed = Campaign.objects.filter(id=campaign.id, status__in=allowed).update(
        status=target, updated_at=timezone.now()
    )
    if not changed:
        campaign.refresh_from_db()
        verb = "resumed" if target == CampaignStatus.RUNNING else str(target)
        raise TransitionNotAllowed(
            f"A {campaign.get_status_display().lower()} campaign cannot be {verb}."
        )
    campaign.refresh_from_db()
    return campaign
