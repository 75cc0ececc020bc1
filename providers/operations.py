"""Operators' housekeeping: key rotation, callback tokens, configuration export and
import, and pruning old message history. The management commands of the same names
are thin wrappers around these functions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import models, transaction
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Cast, Lower
from django.utils import timezone

from . import crypto, services
from .config.secrets import CLEAR, header_edits
from .config.secrets import SECRET_FIELDS as CREDENTIAL_FIELDS
from .config.services import ProviderInvalid, provider_create, provider_update, provider_values
from .models import DeliveryReport, Message, MessageEvent, Provider
from .rendering import MASK
from .validation import PROVIDER_CONFIG_FIELDS

# Columns stored encrypted by providers.crypto.
SECRET_FIELDS = ("headers", *CREDENTIAL_FIELDS)
# Everything an export holds and an import accepts, in the order the file shows it.
EXPORT_FIELDS = PROVIDER_CONFIG_FIELDS
CONFIG_FIELDS = tuple(name for name in EXPORT_FIELDS if name not in CREDENTIAL_FIELDS)


# ---------------------------------------------------------------- encryption keys


@dataclass
class KeyRotation:
    """What `provider_secrets_rotate` did: rows re-encrypted, and rows it could not read."""

    rotated: int = 0
    # Provider id -> why its secrets were left as they were.
    failures: dict[int, str] = field(default_factory=dict)


def provider_secrets_rotate() -> KeyRotation:
    """Re-encrypt every provider's stored secrets with the first configured key.

    Works on the stored ciphertext, never on plaintext: each value is decrypted by
    whichever configured key can and encrypted again with the first one, in a
    transaction per provider. A provider whose secrets no configured key decrypts is
    left unchanged and reported; the others are still rotated.
    """
    result = KeyRotation()
    for provider_id in list(Provider.objects.order_by("id").values_list("id", flat=True)):
        try:
            with transaction.atomic():
                _provider_secrets_rotate(provider_id)
        except crypto.DecryptionError as exc:
            result.failures[provider_id] = str(exc)
        else:
            result.rotated += 1
    return result


def _provider_secrets_rotate(provider_id: int) -> None:
    # Cast to a plain text column so the encrypted fields' converters (which decrypt)
    # stay out of the way, and write back through Value() so they do not encrypt again.
    raw = {f"raw_{name}": Cast(name, output_field=models.TextField()) for name in SECRET_FIELDS}
    stored = (
        Provider.objects.select_for_update()
        .filter(id=provider_id)
        .annotate(**raw)
        .values(*raw)
        .first()
    )
    if stored is None:
        return  # deleted since the list was read
    changes = {
        name: Value(crypto.rotate(value), output_field=models.TextField())
        for name in SECRET_FIELDS
        if (value := stored[f"raw_{name}"])
    }
    if changes:
        Provider.objects.filter(id=provider_id).update(**changes)


# ---------------------------------------------------------------- callback tokens


class UnknownProviders(LookupError):
    """Some of the provider ids asked for do not exist."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = sorted(ids)
        super().__init__("No provider with id " + ", ".join(str(i) for i in self.ids) + ".")


def providers_rotate_callback_tokens(
    *, provider_ids: Sequence[int] | None = None
) -> list[Provider]:
    """Give each provider (all of them when `provider_ids` is None) a new callback token.

    The old callback URLs stop working at once. All or nothing: an unknown id raises
    `UnknownProviders` before any token changes.
    """
    with transaction.atomic():
        providers = Provider.objects.select_for_update().order_by("id")
        if provider_ids is not None:
            providers = providers.filter(id__in=provider_ids)
        found = list(providers)
        missing = set(provider_ids or ()) - {provider.id for provider in found}
        if missing:
            raise UnknownProviders(list(missing))
        for provider in found:
            services.provider_rotate_token(provider=provider)
    return found


# ---------------------------------------------------------------- export and import


def providers_export(*, include_secrets: bool = False) -> list[dict[str, Any]]:
    """Every provider's configuration as JSON-ready dicts, ordered by nickname.

    Without `include_secrets`, username and password are left out and each header
    value is the mask; callback tokens are never exported. With them, a secret that is
    not set is null, so that importing the file clears it rather than keeping another.
    """
    records = []
    for provider in Provider.objects.order_by("nickname"):
        record = {name: getattr(provider, name) for name in EXPORT_FIELDS}
        for name in CREDENTIAL_FIELDS:
            record[name] = record[name] or CLEAR
        if not include_secrets:
            for name in CREDENTIAL_FIELDS:
                del record[name]
            record["headers"] = {name: MASK for name in provider.headers or {}}
        records.append(record)
    return records


class ProviderImportError(Exception):
    """The import was rejected and nothing was changed; `errors` says why, per provider."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__(
            "; ".join(f"{label}: {' '.join(texts)}" for label, texts in errors.items())
        )


@dataclass
class ProviderChange:
    """What an import does (or, in a dry run, would do) to one provider."""

    nickname: str
    action: str  # "create", "update" or "unchanged"
    # Names of the fields an update changes (secrets by name only).
    fields: list[str] = field(default_factory=list)


def providers_import(*, records: Any, dry_run: bool = False) -> list[ProviderChange]:
    """Create or update providers (matched by nickname) from exported records.

    All or nothing: every record is checked first (by the write service, as a dashboard
    edit would be), and if any is invalid `ProviderImportError` is raised with the
    errors per nickname and nothing is saved. Secrets follow `providers.config.secrets`:
    left out, blank or the mask keeps what is stored, null clears it. Callback tokens
    are never imported: a new provider gets a new one, an existing one keeps its own.
    With `dry_run`, reports the changes without saving them.
    """
    if not isinstance(records, list):
        raise ProviderImportError({"file": ["Expected a JSON list of provider objects."]})
    errors: dict[str, list[str]] = {}
    changes: list[ProviderChange] = []
    to_save: list[tuple[Provider | None, dict[str, Any]]] = []
    with transaction.atomic():
        nicknames = [r.get("nickname") for r in records if isinstance(r, dict)]
        # Matched as nicknames are unique: without regard to case.
        existing: dict[str, Provider] = {
            provider.nickname.lower(): provider
            for provider in Provider.objects.select_for_update()
            .annotate(key=Lower("nickname"))
            .filter(key__in=[n.strip().lower() for n in nicknames if isinstance(n, str)])
        }
        seen: set[str] = set()
        for position, record in enumerate(records, start=1):
            label, problems, edit = _imported_edit(record, position, seen)
            if problems:
                errors.setdefault(label, []).extend(problems)
                continue
            stored = existing.get(label.strip().lower())
            try:
                after = provider_values(data=edit, provider=stored)
            except ProviderInvalid as exc:
                errors.setdefault(label, []).extend(_error_lines(exc.errors))
                continue
            if stored is None:
                changes.append(ProviderChange(label, "create"))
                to_save.append((None, edit))
                continue
            before = _snapshot(stored)
            changed = [name for name in EXPORT_FIELDS if before[name] != json.dumps(after[name])]
            changes.append(ProviderChange(label, "update" if changed else "unchanged", changed))
            if changed:
                to_save.append((stored, edit))
        if errors:
            raise ProviderImportError(errors)
        if not dry_run:
            for stored, edit in to_save:
                if stored is None:
                    provider_create(data=edit)
                else:
                    provider_update(provider=stored, data=edit)
    return changes


def _imported_edit(
    record: Any, position: int, seen: set[str]
) -> tuple[str, list[str], dict[str, Any]]:
    """The record as an edit for the write service: its label, its problems, the edit."""
    label = f"record {position}"
    if not isinstance(record, dict):
        return label, ["Expected a JSON object."], {}
    nickname = record.get("nickname")
    if not isinstance(nickname, str) or not nickname.strip():
        return label, ["nickname: Enter a nickname."], {}
    label = nickname
    if nickname.strip().lower() in seen:
        return label, ["This nickname appears more than once in the file."], {}
    seen.add(nickname.strip().lower())
    unknown = sorted(set(record) - set(EXPORT_FIELDS))
    if unknown:
        return label, [f"Unknown field(s): {', '.join(unknown)}."], {}
    edit: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in record.items():
        if name in CREDENTIAL_FIELDS:
            if value is not CLEAR and not isinstance(value, str):
                problems.append(f"{name}: must be text or null.")
            edit[name] = value
        elif value is None:
            problems.append(f"{name}: may not be null.")
        elif name == "headers":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                problems.append("headers: must be a JSON object of header names and text values.")
            else:
                edit[name] = header_edits(value)
        elif name == "dlr_mapping" and not isinstance(value, dict):
            problems.append("dlr_mapping: must be a JSON object.")
        else:
            edit[name] = value
    return label, problems, edit


def _snapshot(provider: Provider) -> dict[str, str]:
    # Serialised, so a re-ordered payload (whose key order is kept) counts as a change.
    return {name: json.dumps(getattr(provider, name)) for name in EXPORT_FIELDS}


def _error_lines(errors: dict[str, list[str]]) -> list[str]:
    return [
        _with_export_hint(f"{name}: {text}" if name != "__all__" else text)
        for name, texts in errors.items()
        for text in texts
    ]


def _with_export_hint(line: str) -> str:
    # A file exported without secrets carries masks; importing it where nothing is
    # stored can only work from a file exported with them.
    if "stored to keep" in line:
        return f"{line} (export with --include-secrets to carry secrets to a new install)"
    return line


# ---------------------------------------------------------------- pruning history


@dataclass
class PruneResult:
    """How many rows `message_history_prune` deleted (or, in a dry run, would delete)."""

    events: int
    reports: int


def message_history_prune(
    *, older_than: timedelta, dry_run: bool = False, batch_size: int = 1000
) -> PruneResult:
    """Delete old events and delivery reports of messages that are final.

    A row goes when it is older than `older_than` and its message has been delivered
    or failed for at least that long, so a message's history is removed whole rather
    than cut in the middle. Messages themselves, the history of unfinished messages and
    reports that matched no message are kept. Deletes in batches of `batch_size`, each
    its own transaction, so a large prune never holds long locks.
    """
    cutoff = timezone.now() - older_than
    finished = Q(message__status__in=Message.TERMINAL) & (
        Q(message__completed_at__lt=cutoff)
        | Q(message__completed_at__isnull=True, message__updated_at__lt=cutoff)
    )
    events = MessageEvent.objects.filter(finished, created_at__lt=cutoff)
    reports = DeliveryReport.objects.filter(finished, received_at__lt=cutoff)
    if dry_run:
        return PruneResult(events=events.count(), reports=reports.count())
    return PruneResult(
        events=_delete_in_batches(events, batch_size),
        reports=_delete_in_batches(reports, batch_size),
    )


def _delete_in_batches(rows: QuerySet[Any], batch_size: int) -> int:
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(rows.values_list("id", flat=True)[:batch_size])
            if not ids:
                return deleted
            # The conditions again: a message retried since the ids were read keeps its history.
            count, _ = rows.filter(id__in=ids).delete()
        deleted += count
