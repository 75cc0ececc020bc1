"""Writes to the DLT registry. The dashboard's forms, the API, the admin and the import
parse their input and call these; each raises ValidationError with the field's reason."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, ProtectedError, QuerySet
from django.utils import timezone

from . import rules
from .check import categories_fit
from .models import Category, Entity, Header, Template, WhitelistEntry

M = TypeVar("M", bound=Model)


def _others(queryset: QuerySet[M], record: M | None) -> QuerySet[M]:
    """The rows of `queryset` other than the one being edited."""
    return queryset.exclude(pk=record.pk) if record is not None and record.pk else queryset


def _raise(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


# ---------------------------------------------------------------- entity


def entity_errors(*, entity: Entity | None, entity_id: str) -> dict[str, list[str]]:
    entity_id = entity_id.strip()
    errors: dict[str, list[str]] = {}
    if not entity_id:
        errors["entity_id"] = ["Enter the PE id from the DLT portal."]
    elif _others(Entity.objects.filter(entity_id=entity_id), entity).exists():
        errors["entity_id"] = [f"Entity {entity_id} is already registered."]
    return errors


def entity_save(
    *, entity: Entity | None = None, entity_id: str, name: str = "", tm_chain_id: str = ""
) -> Entity:
    entity_id = entity_id.strip()
    _raise(entity_errors(entity=entity, entity_id=entity_id))
    entity = entity or Entity()
    entity.name = name.strip() or entity_id
    entity.entity_id = entity_id
    entity.tm_chain_id = tm_chain_id.strip()
    entity.save()
    return entity


# ---------------------------------------------------------------- header


def header_errors(
    *, header: Header | None, sender_id: str, category: str, entity: Entity | None
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    sender_id = sender_id.strip().upper()
    if category not in Category.values:
        errors["category"] = ["Choose the header's category."]
    elif problem := rules.sender_id_error(sender_id, promotional=category == Category.PROMOTIONAL):
        errors["sender_id"] = [problem]
    elif _others(Header.objects.filter(sender_id=sender_id), header).exists():
        errors["sender_id"] = [f"Header {sender_id} is already registered."]
    if entity is None:
        errors["entity"] = ["Choose the entity the header is registered for."]
    return errors


def header_save(
    *,
    header: Header | None = None,
    sender_id: str,
    category: str,
    entity: Entity | None,
    status: str = Header.Status.ACTIVE,
) -> Header:
    sender_id = sender_id.strip().upper()
    _raise(header_errors(header=header, sender_id=sender_id, category=category, entity=entity))
    header = header or Header()
    header.sender_id, header.category, header.entity = sender_id, category, entity  # type: ignore[assignment]
    header.status = status if status in Header.Status.values else Header.Status.ACTIVE
    header.save()
    return header


def headers_used(*, sender_ids: Iterable[str], when: datetime | None = None) -> None:
    """Note that messages went out with these headers (shown as "last used")."""
    wanted = {s.upper() for s in sender_ids if s}
    if wanted:
        Header.objects.filter(sender_id__in=wanted).update(last_used_at=when or timezone.now())


# ---------------------------------------------------------------- template


def template_errors(
    *,
    template: Template | None,
    template_id: str,
    entity: Entity | None,
    headers: list[Header],
    category: str,
    text: str,
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    template_id = template_id.strip()
    if not template_id:
        errors["template_id"] = ["Enter the template id from the DLT portal."]
    elif _others(Template.objects.filter(template_id=template_id), template).exists():
        errors["template_id"] = [f"Template {template_id} is already registered."]
    if entity is None:
        errors["entity"] = ["Choose the entity the template is registered for."]
    if category not in Category.values:
        errors["category"] = ["Choose the template's category."]
    if not text.strip():
        errors["text"] = ["Enter the template's text as registered."]
    elif "{#" in text and len(rules.TAG_RE.findall(text)) != text.count("{#"):
        errors["text"] = [
            "Write each variable as {#var#} or a tag: "
            + ", ".join(rules.tag_label(t) for t in rules.TAGS)
            + "."
        ]
    problems = []
    for header in headers:
        if entity is not None and header.entity_id != entity.pk:
            problems.append(f"{header.sender_id} belongs to another entity.")
        elif category in Category.values and not categories_fit(header.category, category):
            problems.append(
                f"{header.sender_id} is a {header.get_category_display().lower()} header."
            )
    if problems:
        errors["headers"] = problems
    return errors


def template_save(
    *,
    template: Template | None = None,
    template_id: str,
    entity: Entity | None,
    text: str,
    category: str,
    headers: Iterable[Header] = (),
    name: str = "",
    content_type: str = Template.ContentType.TEXT,
    status: str = Template.Status.APPROVED,
) -> Template:
    template_id = template_id.strip()
    headers = list(headers)
    text = text.replace("\r\n", "\n").strip()
    _raise(
        template_errors(
            template=template,
            template_id=template_id,
            entity=entity,
            headers=headers,
            category=category,
            text=text,
        )
    )
    template = template or Template()
    template.template_id, template.entity, template.text = template_id, entity, text  # type: ignore[assignment]
    template.name, template.category = name.strip(), category
    if content_type not in Template.ContentType.values:
        content_type = Template.ContentType.TEXT
    template.content_type = content_type
    template.status = status if status in Template.Status.values else Template.Status.APPROVED
    with transaction.atomic():
        template.save()
        template.headers.set(headers)
    return template


# ---------------------------------------------------------------- whitelist


def whitelist_errors(
    *,
    entry: WhitelistEntry | None,
    kind: str,
    value: str,
    entity: Entity | None,
    headers: list[Header],
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    value = value.strip()
    if kind not in WhitelistEntry.Kind.values:
        errors["kind"] = ["Choose a URL, an OTT/APK link or a callback number."]
    elif kind == WhitelistEntry.Kind.CBN and not rules.looks_like_number(value):
        errors["value"] = [f"{value!r} is not a phone number."]
    elif kind != WhitelistEntry.Kind.CBN and not rules.looks_like_url(value):
        errors["value"] = [f"{value!r} is not a link such as https://example.com/offer."]
    if entity is None:
        errors["entity"] = ["Choose the entity that whitelisted it."]
    elif _others(
        WhitelistEntry.objects.filter(entity=entity, kind=kind, value=value), entry
    ).exists():
        errors["value"] = [f"{value} is already whitelisted for {entity.name}."]
    others = [h.sender_id for h in headers if entity is not None and h.entity_id != entity.pk]
    if others:
        verb = "belongs" if len(others) == 1 else "belong"
        errors["headers"] = [f"{', '.join(others)} {verb} to another entity."]
    return errors


def whitelist_save(
    *,
    entry: WhitelistEntry | None = None,
    kind: str,
    value: str,
    entity: Entity | None,
    dynamic: bool = False,
    headers: Iterable[Header] = (),
) -> WhitelistEntry:
    value = value.strip()
    headers = list(headers)
    _raise(whitelist_errors(entry=entry, kind=kind, value=value, entity=entity, headers=headers))
    entry = entry or WhitelistEntry()
    entry.kind, entry.value, entry.entity = kind, value, entity  # type: ignore[assignment]
    entry.dynamic = dynamic and kind != WhitelistEntry.Kind.CBN
    with transaction.atomic():
        entry.save()
        entry.headers.set(headers)
    return entry


# ---------------------------------------------------------------- any record


@dataclass(frozen=True)
class _Write:
    """How one kind of record is checked and saved: the argument its instance goes in,
    and the fields the save (and the check) take."""

    errors: Callable[..., dict[str, list[str]]]
    save: Callable[..., Any]
    record: str
    fields: tuple[str, ...]
    checked: tuple[str, ...]


_WRITES: dict[type[Model], _Write] = {
    Entity: _Write(
        entity_errors, entity_save, "entity", ("name", "entity_id", "tm_chain_id"), ("entity_id",)
    ),
    Header: _Write(
        header_errors,
        header_save,
        "header",
        ("sender_id", "category", "entity", "status"),
        ("sender_id", "category", "entity"),
    ),
    Template: _Write(
        template_errors,
        template_save,
        "template",
        ("template_id", "name", "entity", "headers", "category", "content_type", "text", "status"),
        ("template_id", "entity", "headers", "category", "text"),
    ),
    WhitelistEntry: _Write(
        whitelist_errors,
        whitelist_save,
        "entry",
        ("kind", "value", "dynamic", "entity", "headers"),
        ("kind", "value", "entity", "headers"),
    ),
}
# What a field is when the input leaves it out (the save functions' own defaults aside).
_BLANK: dict[str, Any] = {"entity": None, "headers": [], "dynamic": False}


def _values(names: tuple[str, ...], values: Mapping[str, Any]) -> dict[str, Any]:
    found = {name: values.get(name, _BLANK.get(name, "")) for name in names}
    if "headers" in found:
        found["headers"] = list(found["headers"] or [])
    return found


def record_fields(model: type[Model]) -> tuple[str, ...]:
    """The fields a user writes of a record of `model` (forms, admin and API edit these)."""
    return _WRITES[model].fields


def record_errors(
    *, model: type[Model], record: Model | None, values: Mapping[str, Any]
) -> dict[str, list[str]]:
    """Why a record of `model` with these field values would be refused (the dashboard's
    form and the admin show each reason beside its field before saving)."""
    write = _WRITES[model]
    return write.errors(**{write.record: record}, **_values(write.checked, values))


def record_save(*, model: type[Model], record: Model | None, values: Mapping[str, Any]) -> Any:
    """Create (`record` None or unsaved) or update a record of `model` through its service;
    raises ValidationError with the field's reason."""
    write = _WRITES[model]
    given = {name: values[name] for name in write.fields if name in values}
    return write.save(**{write.record: record}, **_values(tuple(given), given))


# ---------------------------------------------------------------- delete


def record_delete(*, record: Model) -> None:
    """Delete an entity, header, template or whitelist entry. An entity that still has
    headers, templates or whitelist entries is kept (ValidationError)."""
    try:
        record.delete()
    except ProtectedError:
        raise ValidationError(
            f"{record} still has headers, templates or whitelist entries: delete those first."
        ) from None
