"""A providers' configuration exported to JSON and imported again (export_providers,
import_providers): an import is checked whole and changes nothing unless every
record is valid, and saves through the providers' write service."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models.functions import Lower

from providers.config.secrets import CLEAR, header_edits
from providers.config.secrets import SECRET_FIELDS as CREDENTIAL_FIELDS
from providers.config.services import (
    ProviderInvalid,
    provider_create,
    provider_update,
    provider_values,
)
from providers.config.validation import PROVIDER_CONFIG_FIELDS
from providers.models import Provider
from providers.sending.rendering import MASK

# Everything an export holds and an import accepts, in the order the file shows it.
EXPORT_FIELDS = PROVIDER_CONFIG_FIELDS
# What an export without secrets holds.
CONFIG_FIELDS = tuple(name for name in EXPORT_FIELDS if name not in CREDENTIAL_FIELDS)


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
                errors.setdefault(label, []).extend(_error_lines(exc.errors, masked=_masked(edit)))
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
        elif name in ("dlr_mapping", "response") and not isinstance(value, dict):
            problems.append(f"{name}: must be a JSON object.")
        else:
            edit[name] = value
    return label, problems, edit


def _snapshot(provider: Provider) -> dict[str, str]:
    # Serialised, so a re-ordered payload (whose key order is kept) counts as a change.
    return {name: json.dumps(getattr(provider, name)) for name in EXPORT_FIELDS}


def _error_lines(errors: dict[str, list[str]], *, masked: set[str]) -> list[str]:
    # A secret given as the mask comes from a file exported without secrets; where
    # nothing is stored, only a file exported with them can carry the value over.
    hint = " (export with --include-secrets to carry secrets to a new install)"
    return [
        (f"{name}: {text}" if name != "__all__" else text) + (hint if name in masked else "")
        for name, texts in errors.items()
        for text in texts
    ]


def _masked(edit: dict[str, Any]) -> set[str]:
    """The secrets the record gives as the mask."""
    masked = {name for name in CREDENTIAL_FIELDS if edit.get(name) == MASK}
    if any(header.value == MASK for header in edit.get("headers", [])):
        masked.add("headers")
    return masked
