"""Import the registry from the files the operators' DLT portals export.

Jio, Airtel, Vi, BSNL and SmartPing/Tata let a sender download its templates, headers and
whitelist as CSV or XLSX, each with its own column headings. A file is read as a stream of
rows (never whole), its headings are recognised from `ALIASES` or chosen by the user, and
each row is written through `dlt.services` in its own transaction: a row that cannot be
imported is reported with its spreadsheet row number and reason, and the others go in.
Importing a file again updates the rows it imported before.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import zipfile
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import IO, Any

import openpyxl
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from . import rules, services
from .models import Category, Entity, Header, Template, WhitelistEntry

MAX_ROWS = 50_000
# Rows written per transaction: short enough that the workers never wait long for the
# database, long enough that commits cost little.
COMMIT_ROWS = 200
SNIFF_BYTES = 64 * 1024
# openpyxl holds a workbook's shared strings in memory even when it streams the rows:
# refuse a workbook that would unpack to more than this.
MAX_XLSX_UNPACKED_BYTES = 256 * 1024 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 .xls
# What surrogateescape leaves for a byte that is not text in the file's encoding.
_BAD_BYTES = re.compile("[\udc80-\udcff]")
# How a spreadsheet writes a long number it has rounded to 15 digits: 1.10716E+18.
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d+)?E[+-]?\d+", re.I)
_LIST_SEPARATORS = re.compile(r"[\s,;|/]+")
_VAR = re.compile(r"\{#var#\}", re.I)

# The headings each portal exports, per field. Headings compare without case, spaces,
# underscores or punctuation ("TEMPLATE_ID", "Template Id" and "Template ID (DLT)" are
# all "templateid..."), and only whole: "Template Type" is never read as "Template".
# When a file has several headings of one field the earlier alias wins; each heading
# feeds one field, claimed in the order the fields are listed.
_HEADERS_ALIASES = (
    "Headers",
    "Header",
    "Header Name",
    "Header Names",
    "Linked Headers",
    "Linked Header",
    "Mapped Headers",
    "Sender ID",
    "Sender IDs",
    "Sender",
)
_ENTITY_ID_ALIASES = ("Entity ID", "PE ID", "Principal Entity ID", "DLT Entity ID")
_ENTITY_NAME_ALIASES = (
    "Entity Name",
    "PE Name",
    "Principal Entity Name",
    "Company Name",
    "Organisation Name",
    "Organization Name",
)
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "templates": {
        "template_id": (
            "Template ID",
            "DLT Template ID",
            "Content Template ID",
            "DLT Content Template ID",
            "Template ID (DLT)",
            "CT ID",
        ),
        "name": ("Template Name", "Template Title", "Name", "Title"),
        "text": (
            "Template Content",
            "Template Message",
            "Template Text",
            "Template Body",
            "Message Content",
            "Content",
            "Message",
            "SMS Text",
            "Text",
            "Template",
        ),
        "category": (
            "Template Category",
            "Template Type",
            "Category",
            "Message Type",
            "Type",
            "Consent Type",
        ),
        "content_type": ("Content Type", "Template Content Type", "Message Format"),
        "headers": _HEADERS_ALIASES,
        "entity_id": _ENTITY_ID_ALIASES,
        "entity_name": _ENTITY_NAME_ALIASES,
        "status": ("Template Status", "Approval Status", "Status"),
        # SmartPing/Tata keep {#var#} in the text and tag the variables in a field of
        # their own.
        "variable_types": (
            "Variable Types",
            "Variable Type",
            "Variables Type",
            "Variable Tagging",
            "Variable Tags",
        ),
    },
    "headers": {
        # A numeric "Header ID" is the portal's own id on some portals: the last resort.
        "sender_id": ("Header", "Header Name", "Sender ID", "Sender", "Header ID"),
        "category": ("Header Category", "Header Type", "Category", "Type"),
        "status": ("Header Status", "Approval Status", "Status"),
        "entity_id": _ENTITY_ID_ALIASES,
        "entity_name": _ENTITY_NAME_ALIASES,
    },
    "whitelist": {
        "value": (
            "Whitelisted URL",
            "URL",
            "Url",
            "Link",
            "Whitelisted Link",
            "Callback Number",
            "CTA",
            "Value",
        ),
        # "URL Type" holds URL/OTT/CBN on some portals and Static/Dynamic on others:
        # both are understood as a kind; it is the dynamic flag only beside a "Type".
        "kind": ("Kind", "Whitelist Type", "Type", "Category", "CTA Type", "URL Type"),
        "dynamic": ("Dynamic", "Is Dynamic", "Static/Dynamic", "URL Type"),
        "headers": _HEADERS_ALIASES,
        "entity_id": _ENTITY_ID_ALIASES,
        "entity_name": _ENTITY_NAME_ALIASES,
    },
}
FIELDS: dict[str, list[str]] = {kind: list(aliases) for kind, aliases in ALIASES.items()}
REQUIRED: dict[str, list[str]] = {
    "templates": ["template_id", "text", "category"],
    "headers": ["sender_id", "category"],
    "whitelist": ["value"],
}

NO_ENTITY = "No entity id: add an Entity ID column or choose the entity."


class ImportRefused(Exception):
    """The file as a whole cannot be imported (unreadable, not CSV/XLSX, empty, required
    columns missing). Nothing of it was written."""

    def __init__(
        self, message: str, *, columns: list[str] | None = None, missing: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        # The file's column headings ([] when it could not be read), and our fields that
        # no column provides.
        self.columns = columns or []
        self.missing = missing or []


@dataclass
class ImportResult:
    kind: str  # "templates" | "headers" | "whitelist"
    rows_total: int = 0
    rows_accepted: int = 0  # created or updated
    rows_rejected: int = 0
    created: int = 0
    updated: int = 0
    # [{"row": 2, "error": "..."}]: the spreadsheet's row number (headings are row 1).
    errors: list[dict[str, Any]] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # our field -> the file's heading


def read_columns(file: IO[bytes]) -> list[str]:
    """The column headings of a CSV or XLSX file, for the user to map."""
    _, headings = _Table(file).headings()
    return [heading for heading in headings if heading]


def recognise_columns(*, kind: str, headings: list[str]) -> dict[str, str]:
    """Our field -> the heading that recognition would use, to preselect a mapping form."""
    return {name: headings[i] for name, i in _recognise(kind, headings, {}).items()}


def import_file(
    *,
    file: IO[bytes],
    kind: str,
    columns: Mapping[str, str] | None = None,
    entity: Entity | None = None,
) -> ImportResult:
    """Import a portal's export of `kind`. `columns` (our field -> a heading of the file)
    wins over recognition; `entity` is used for rows that name none."""
    if kind not in ALIASES:
        raise ValueError(f"Unknown import kind {kind!r}: one of {', '.join(ALIASES)}.")
    table = _Table(file)
    heading_row, headings = table.headings()
    chosen = _choose_columns(kind, headings, columns or {})
    # A first pass refuses a file too long or broken before any row of it is written.
    if not sum(1 for _ in table.data_rows(heading_row, limit=MAX_ROWS)):
        raise ImportRefused(
            "The file has column headings but no rows under them.",
            columns=[h for h in headings if h],
        )
    result = ImportResult(kind=kind, columns={f: headings[i] for f, i in chosen.items()})
    import_row = _IMPORTERS[kind]
    rows = table.data_rows(heading_row)
    while chunk := list(itertools.islice(rows, COMMIT_ROWS)):
        # One commit per chunk, not per row (a commit is most of a row's cost on SQLite);
        # each row in a savepoint of its own, so a rejected row leaves nothing behind.
        with transaction.atomic():
            for number, values in chunk:
                result.rows_total += 1
                try:
                    row = _row_fields(
                        kind, values, chosen, headings, strict_width=not table.is_xlsx
                    )
                    with transaction.atomic():
                        created = import_row(row, entity)
                except ValidationError as exc:
                    result.rows_rejected += 1
                    result.errors.append({"row": number, "error": _error_text(exc)})
                    continue
                result.rows_accepted += 1
                if created:
                    result.created += 1
                else:
                    result.updated += 1
    return result


# ---------------------------------------------------------------- reading the file


class _Table:
    """An uploaded CSV or XLSX file as rows of text, read from its start on each pass."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        file.seek(0)
        head = file.read(SNIFF_BYTES)
        name = str(getattr(file, "name", "") or "").lower()
        if not head.strip():
            raise ImportRefused("The file is empty.")
        if head.startswith(_OLE_MAGIC) or name.endswith(".xls"):
            raise ImportRefused(
                "This is an Excel 97-2003 workbook (.xls): save it as .xlsx or CSV and "
                "upload it again."
            )
        self.is_xlsx = head.startswith(_ZIP_MAGIC) or name.endswith(".xlsx")
        if self.is_xlsx:
            self._check_workbook()
        else:
            self.encoding, self.delimiter = _csv_layout(head)

    def headings(self) -> tuple[int, list[str]]:
        """The first non-blank row, as the row number and its headings."""
        rows = self.rows()
        try:
            first = next(rows, None)
        finally:
            rows.close()
        if first is None:
            raise ImportRefused("The file is empty.")
        number, values = first
        return number, [value.strip() for value in values]

    def data_rows(self, heading_row: int, *, limit: int = 0) -> Iterator[tuple[int, list[str]]]:
        """The non-blank rows under the headings; with `limit`, refuse a file of more."""
        count = 0
        for number, values in self.rows():
            if number <= heading_row:
                continue
            count += 1
            if limit and count > limit:
                raise ImportRefused(f"The file has more than {limit:,} rows: split it.")
            yield number, values

    def rows(self) -> Generator[tuple[int, list[str]]]:
        """Every non-blank row with its spreadsheet row number (the first row is 1)."""
        records = self._xlsx_records() if self.is_xlsx else self._csv_records()
        try:
            for number, values in enumerate(records, start=1):
                if any(value.strip() for value in values):
                    yield number, values
        finally:
            records.close()

    def _csv_records(self) -> Generator[list[str]]:
        self.file.seek(0)
        # surrogateescape: a stray undecodable byte marks its row, not the whole file.
        text = io.TextIOWrapper(
            io.BufferedReader(_Unclosed(self.file)),
            encoding=self.encoding,
            errors="surrogateescape",
            newline="",
        )
        reader = csv.reader(text, delimiter=self.delimiter, strict=True)
        number = 0
        while True:
            number += 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                # After a quote that never closes no later row can be trusted.
                message = str(exc)
                if "field larger than field limit" in message:
                    message = "a field is too long"
                elif "quote" in message or "EOF" in message or "end of data" in message:
                    message = "a quote opens here and is never closed"
                raise ImportRefused(
                    f"Row {number}: {message}. Fix the file and upload it again."
                ) from exc
            yield values

    def _check_workbook(self) -> None:
        self.file.seek(0)
        try:
            with zipfile.ZipFile(self.file) as archive:
                unpacked = sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ImportRefused(
                "This is not a CSV file or an Excel workbook (.xlsx) that can be read."
            ) from exc
        if unpacked > MAX_XLSX_UNPACKED_BYTES:
            raise ImportRefused("The workbook is too large: save it as CSV and upload that.")

    def _xlsx_records(self) -> Generator[list[str]]:
        self.file.seek(0)
        # openpyxl raises many kinds of exception for a broken workbook, while it opens
        # it and while it parses the rows.
        try:
            workbook = openpyxl.load_workbook(self.file, read_only=True, data_only=True)
        except Exception as exc:
            raise ImportRefused(
                "This is not a CSV file or an Excel workbook (.xlsx) that can be read."
            ) from exc
        try:
            if not workbook.worksheets:
                raise ImportRefused("The workbook has no sheet.")
            sheet = workbook.worksheets[0]
            # Some exporters write a wrong size into the sheet; read every row it has.
            sheet.reset_dimensions()
            try:
                for values in sheet.iter_rows(values_only=True):
                    yield [_cell_text(value) for value in values]
            except Exception as exc:
                raise ImportRefused(
                    "The workbook's first sheet cannot be read: save it again or as CSV."
                ) from exc
        finally:
            workbook.close()


class _Unclosed(io.RawIOBase):
    """The upload as a raw stream that the text reader may close without closing it."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.file.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _csv_layout(head: bytes) -> tuple[str, str]:
    """The encoding and the separator of a CSV file, from its first bytes."""
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportRefused("The file is UTF-16; save it as CSV UTF-8 and upload it again.")
    elif b"\x00" in head:
        raise ImportRefused("This is not a CSV file or an Excel workbook (.xlsx).")
    else:
        encoding = "utf-8"
        try:
            # A head cut at SNIFF_BYTES may end inside a character; a whole file may not.
            codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < SNIFF_BYTES)
        except UnicodeDecodeError:
            # Excel's "CSV" on Windows; Latin-1 for the few bytes Windows-1252 leaves out.
            try:
                head.decode("cp1252")
                encoding = "cp1252"
            except UnicodeDecodeError:
                encoding = "latin-1"
    text = head.decode(encoding, errors="ignore")
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d])
    return encoding, delimiter if counts[delimiter] else ","


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        # A spreadsheet keeps 15 significant digits: a longer id stored as a number is
        # already rounded. Write it as the spreadsheet shows it, so that it is refused.
        return str(int(value)) if abs(value) < 1e15 else f"{value:.15G}"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


# ---------------------------------------------------------------- columns


def _norm(heading: str) -> str:
    return re.sub(r"[\W_]+", "", heading.casefold())


def _choose_columns(kind: str, headings: list[str], mapping: Mapping[str, str]) -> dict[str, int]:
    """Our field -> the index of the column that provides it."""
    fields = FIELDS[kind]
    listed = [heading for heading in headings if heading]
    unknown = [name for name in mapping if name not in fields]
    if unknown:
        raise ImportRefused(
            f"{', '.join(unknown)}: not a field of a {kind} import; the fields are "
            f"{', '.join(fields)}.",
            columns=listed,
        )
    keys = [_norm(heading) for heading in headings]
    chosen: dict[str, int] = {}
    absent: list[str] = []
    for name, heading in mapping.items():
        if not heading.strip():
            continue  # left for recognition
        if heading in headings:
            chosen[name] = headings.index(heading)
        elif _norm(heading) and _norm(heading) in keys:
            chosen[name] = keys.index(_norm(heading))
        else:
            absent.append(name)
    if absent:
        raise ImportRefused(
            "The file has no column "
            + ", ".join(repr(mapping[name]) for name in absent)
            + "; its columns are: "
            + ", ".join(listed)
            + ".",
            columns=listed,
            missing=absent,
        )
    chosen.update(_recognise(kind, headings, chosen))
    missing = [name for name in REQUIRED[kind] if name not in chosen]
    if missing:
        wanted = ", ".join(f"{name} (e.g. {ALIASES[kind][name][0]!r})" for name in missing)
        raise ImportRefused(
            f"No column for {wanted}; the file's columns are: {', '.join(listed) or 'none'}. "
            "Choose the column that holds each.",
            columns=listed,
            missing=missing,
        )
    return chosen


def _recognise(kind: str, headings: list[str], chosen: dict[str, int]) -> dict[str, int]:
    """The columns recognised for the fields not `chosen`, among the headings not chosen."""
    keys = [_norm(heading) for heading in headings]
    taken = set(chosen.values())
    found: dict[str, int] = {}
    for name in FIELDS[kind]:
        if name in chosen:
            continue
        for alias in ALIASES[kind][name]:
            index = next(
                (i for i, key in enumerate(keys) if key == _norm(alias) and i not in taken), None
            )
            if index is not None:
                found[name] = index
                taken.add(index)
                break
    return found


def _row_fields(
    kind: str,
    values: list[str],
    chosen: dict[str, int],
    headings: list[str],
    *,
    strict_width: bool,
) -> dict[str, str]:
    """A row's cells by our field names, or ValidationError when the row cannot be read."""
    if strict_width and any(value.strip() for value in values[len(headings) :]):
        # An unquoted separator inside a value shifts every cell after it.
        raise ValidationError(f"Has {len(values)} columns; the heading row has {len(headings)}.")
    row = {name: values[i].strip() if i < len(values) else "" for name, i in chosen.items()}
    if any(_BAD_BYTES.search(value) for value in row.values()):
        raise ValidationError("Contains characters that are not valid text in the file's encoding.")
    empty = {
        name: [f"no value in the column {headings[chosen[name]]!r}."]
        for name in REQUIRED[kind]
        if not row[name]
    }
    if empty:
        raise ValidationError(empty)
    return row


def _error_text(exc: ValidationError) -> str:
    if not hasattr(exc, "error_dict"):
        return " ".join(exc.messages)
    return "; ".join(
        message if name == NON_FIELD_ERRORS else f"{name}: {message}"
        for name, messages in exc.message_dict.items()
        for message in messages
    )


# ---------------------------------------------------------------- values


def _identifier(row: dict[str, str], name: str) -> str:
    value = row.get(name, "")
    if _SCIENTIFIC.fullmatch(value):
        raise ValidationError(
            {
                name: [
                    f"{value} is a number the spreadsheet rounded: format the column as text "
                    "and export the file again."
                ]
            }
        )
    return value


_CATEGORY_CODES = {"si": Category.SERVICE_IMPLICIT, "se": Category.SERVICE_EXPLICIT}
# Portals register transactional and service headers alike as "others" (see
# dlt.check.categories_fit): any of those categories carries the same templates.
_OTHER_HEADERS = {"other", "others"}


def _category(value: str, *, header: bool = False) -> str:
    key = _norm(value)
    if "implicit" in key or "inferred" in key:
        return Category.SERVICE_IMPLICIT
    if "explicit" in key:
        return Category.SERVICE_EXPLICIT
    if key.startswith("promo"):
        return Category.PROMOTIONAL
    if key.startswith(("trans", "txn")):
        return Category.TRANSACTIONAL
    if key.startswith("gov"):
        return Category.GOVERNMENT
    if key in _CATEGORY_CODES:
        return _CATEGORY_CODES[key]
    if header and key in _OTHER_HEADERS:
        return Category.TRANSACTIONAL
    raise ValidationError(
        {
            "category": [
                f"{value!r} is not a DLT category: write Promotional, Transactional, "
                "Service implicit, Service explicit or Government."
            ]
        }
    )


_ACTIVE_WORDS = {"approved", "active", "activated"}


def _active(value: str) -> bool | None:
    """Approved or active: True; any other status (rejected, pending, blocked...): False;
    no status: None."""
    key = _norm(value)
    return key in _ACTIVE_WORDS if key else None


_CONTENT_TYPES = {
    "text": Template.ContentType.TEXT,
    "plain": Template.ContentType.TEXT,
    "plaintext": Template.ContentType.TEXT,
    "english": Template.ContentType.TEXT,
    "unicode": Template.ContentType.UNICODE,
    "regional": Template.ContentType.UNICODE,
    "ucs2": Template.ContentType.UNICODE,
}


def _content_type(value: str) -> str:
    try:
        return _CONTENT_TYPES[_norm(value)]
    except KeyError:
        raise ValidationError(
            {"content_type": [f"{value!r} is not a content type: write Text or Unicode."]}
        ) from None


_VARIABLE_TYPES = {
    **{tag: tag for tag in rules.TAGS},
    "number": "numeric",
    "alphanum": "alphanumeric",
    "link": "url",
    "ott": "urlott",
    "otturl": "urlott",
    "callback": "cbn",
    "callbacknumber": "cbn",
    "mail": "email",
}


def _retag(text: str, variable_types: str) -> str:
    """The text with each {#var#} tagged, in order, by the types listed apart."""
    words = [word for word in re.split(r"[,|;]+", variable_types) if word.strip()]
    unknown = [word.strip() for word in words if _norm(word) not in _VARIABLE_TYPES]
    if unknown:
        raise ValidationError(
            {
                "variable_types": [
                    f"{', '.join(map(repr, unknown))}: not a variable type; the types are "
                    + ", ".join(rules.TAGS)
                    + "."
                ]
            }
        )
    tags = iter([_VARIABLE_TYPES[_norm(word)] for word in words])
    slots = len(_VAR.findall(text))
    if len(words) != slots:
        raise ValidationError(
            {
                "variable_types": [
                    f"{len(words)} types listed for {slots} {{#var#}} in the text: "
                    "list one type for each, in order."
                ]
            }
        )
    return _VAR.sub(lambda _: rules.tag_label(next(tags)), text)


_URL_WORDS = "url urls link web website weblink shorturl shortlink"
_OTT_WORDS = "urlott ott otturl ottlink apk apklink app applink"
_CBN_WORDS = "cbn callback callbacknumber phone phonenumber mobile mobilenumber number landline"
_WHITELIST_KINDS = {
    WhitelistEntry.Kind.URL: {*_URL_WORDS.split(), "static", "staticurl", "dynamic", "dynamicurl"},
    WhitelistEntry.Kind.URLOTT: set(_OTT_WORDS.split()),
    WhitelistEntry.Kind.CBN: {*_CBN_WORDS.split(), "tollfree"},
}
_DYNAMIC = {"dynamic", "dynamicurl", "yes", "y", "true", "1"}
_STATIC = {"static", "staticurl", "no", "n", "false", "0"}


def _whitelist_kind(word: str, value: str) -> tuple[str, bool | None]:
    """The kind of a whitelist row, and whether it is dynamic when the kind says so."""
    key = _norm(word)
    if not key:
        if rules.looks_like_number(value):
            return WhitelistEntry.Kind.CBN, None
        return WhitelistEntry.Kind.URL, None
    for kind, words in _WHITELIST_KINDS.items():
        if key in words:
            if kind == WhitelistEntry.Kind.URL and key in _DYNAMIC | _STATIC:
                return kind, key in _DYNAMIC
            return kind, None
    raise ValidationError(
        {
            "kind": [
                f"{word!r} is not a whitelist type: write URL, OTT (an app or APK link) "
                "or Callback number."
            ]
        }
    )


def _dynamic(value: str) -> bool:
    key = _norm(value)
    if key in _DYNAMIC:
        return True
    if key in _STATIC:
        return False
    raise ValidationError({"dynamic": [f"{value!r}: write Static or Dynamic (or yes/no)."]})


def _sender_ids(value: str) -> list[str]:
    sender_ids = list(dict.fromkeys(s.upper() for s in _LIST_SEPARATORS.split(value) if s))
    for sender_id in sender_ids:
        _check_sender_id("headers", sender_id)
    return sender_ids


def _check_sender_id(name: str, sender_id: str) -> None:
    # Sender ids are 6 digits at most: a longer number is a portal's own header id.
    if sender_id.isdigit() and len(sender_id) > 6:
        raise ValidationError(
            {
                name: [
                    f"{sender_id} is the portal's number for a header, not its sender id: "
                    "choose the column with the header's name."
                ]
            }
        )


# ---------------------------------------------------------------- rows


def _row_entity(
    row: dict[str, str], chosen: Entity | None, current: Entity | None = None
) -> Entity:
    """The entity a row names (created, or renamed as the file names it), else the one the
    user chose, else the one the record already belongs to."""
    entity_id = _identifier(row, "entity_id")
    if not entity_id:
        entity = chosen or current
        if entity is None:
            raise ValidationError(NO_ENTITY)
        return entity
    name = row.get("entity_name", "")
    entity = Entity.objects.filter(entity_id=entity_id).first()
    if entity is None:
        return services.entity_save(name=name or entity_id, entity_id=entity_id)
    if name and name != entity.name:
        return services.entity_save(
            entity=entity, name=name, entity_id=entity.entity_id, tm_chain_id=entity.tm_chain_id
        )
    return entity


def _template_row(row: dict[str, str], chosen: Entity | None) -> bool:
    template_id = _identifier(row, "template_id")
    existing = Template.objects.filter(template_id=template_id).first()
    entity = _row_entity(row, chosen, existing.entity if existing else None)
    category = _category(row["category"])
    text = row["text"]
    if row.get("variable_types"):
        text = _retag(text, row["variable_types"])
    if row.get("headers"):
        headers = _template_headers(row["headers"], category=category, entity=entity)
    else:
        headers = list(existing.headers.all()) if existing else []
    if row.get("content_type"):
        content_type = _content_type(row["content_type"])
    else:
        content_type = existing.content_type if existing else Template.ContentType.TEXT
    active = _active(row.get("status", ""))
    if active is None:
        status = existing.status if existing else Template.Status.APPROVED
    else:
        status = Template.Status.APPROVED if active else Template.Status.INACTIVE
    services.template_save(
        template=existing,
        template_id=template_id,
        entity=entity,
        text=text,
        category=category,
        headers=headers,
        name=row.get("name") or (existing.name if existing else ""),
        content_type=content_type,
        status=status,
    )
    return existing is None


def _template_headers(value: str, *, category: str, entity: Entity) -> list[Header]:
    """The headers a template row names; those not yet registered are registered, of the
    template's category, for its entity."""
    sender_ids = _sender_ids(value)
    known = {h.sender_id: h for h in Header.objects.filter(sender_id__in=sender_ids)}
    headers, problems = [], []
    for sender_id in sender_ids:
        header = known.get(sender_id)
        if header is None:
            try:
                header = services.header_save(sender_id=sender_id, category=category, entity=entity)
            except ValidationError as exc:
                problems.append(f"{sender_id}: {' '.join(exc.messages)}")
                continue
        headers.append(header)
    if problems:
        raise ValidationError({"headers": problems})
    return headers


def _header_row(row: dict[str, str], chosen: Entity | None) -> bool:
    sender_id = row["sender_id"].upper()
    _check_sender_id("sender_id", sender_id)
    existing = Header.objects.filter(sender_id=sender_id).first()
    entity = _row_entity(row, chosen, existing.entity if existing else None)
    active = _active(row.get("status", ""))
    if active is None:
        status = existing.status if existing else Header.Status.ACTIVE
    else:
        status = Header.Status.ACTIVE if active else Header.Status.INACTIVE
    services.header_save(
        header=existing,
        sender_id=sender_id,
        category=_category(row["category"], header=True),
        entity=entity,
        status=status,
    )
    return existing is None


def _whitelist_row(row: dict[str, str], chosen: Entity | None) -> bool:
    value = row["value"]
    kind, dynamic = _whitelist_kind(row.get("kind", ""), value)
    if row.get("dynamic"):
        dynamic = _dynamic(row["dynamic"])
    entity = _row_entity(row, chosen)
    existing = WhitelistEntry.objects.filter(entity=entity, kind=kind, value=value).first()
    if row.get("headers"):
        sender_ids = _sender_ids(row["headers"])
        known = {h.sender_id: h for h in Header.objects.filter(sender_id__in=sender_ids)}
        unknown = [s for s in sender_ids if s not in known]
        if unknown:
            verb = "is" if len(unknown) == 1 else "are"
            raise ValidationError(
                {
                    "headers": [
                        f"{', '.join(unknown)} {verb} not registered: import the headers first."
                    ]
                }
            )
        headers = [known[s] for s in sender_ids]
    else:
        headers = list(existing.headers.all()) if existing else []
    if dynamic is None:
        dynamic = existing.dynamic if existing else False
    services.whitelist_save(
        entry=existing, kind=kind, value=value, entity=entity, dynamic=dynamic, headers=headers
    )
    return existing is None


_IMPORTERS: dict[str, Callable[[dict[str, str], Entity | None], bool]] = {
    "templates": _template_row,
    "headers": _header_row,
    "whitelist": _whitelist_row,
}
