"""Read an uploaded recipient list as a stream of rows, never the whole file at once.

Accepts UTF-8 (with or without a BOM) and, failing that, Excel's Windows-1252/Latin-1;
the separator (`,` `;` or tab) is taken from the header row. A file that is not text,
has no header, or has no phone column is refused with a reason before any row is read.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from .personalisation import normalise_name

PHONE_COLUMNS = ("phone", "mobile", "to", "msisdn", "phone_number", "mobile_number", "number")
SNIFF_BYTES = 64 * 1024
MAX_FIELD_CHARS = 10_000
# What surrogateescape leaves for a byte that is not text in the file's encoding.
_BAD_BYTES = re.compile("[\udc80-\udcff]")


class CsvError(ValueError):
    """The file as a whole cannot be read (a clear message for the user)."""


@dataclass(slots=True)
class Row:
    number: int  # 1-based line of the data row in the file (the header is row 1)
    phone: str
    fields: dict[str, str]
    error: str = ""


@dataclass
class CsvLayout:
    encoding: str
    delimiter: str
    columns: list[str]  # normalised names
    phone_column: str


def _detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CsvError("The file is UTF-16; save it as CSV UTF-8 and upload it again.")
    if b"\x00" in head:
        raise CsvError("This is not a CSV text file.")
    try:
        # The head may end inside a multi-byte character: ignore only that tail.
        # A head cut at SNIFF_BYTES may end inside a character; a whole file may not.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < SNIFF_BYTES)
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252"


def _detect_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def open_rows(stream: IO[bytes], *, phone_column: str = "") -> tuple[CsvLayout, Iterator[Row]]:
    """Check the file's layout and return it with an iterator over its data rows."""
    head = stream.read(SNIFF_BYTES)
    encoding = _detect_encoding(head)
    raw = io.BufferedReader(_Prefixed(head, stream))
    # surrogateescape: a stray undecodable byte marks its row, not the whole file.
    text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")
    header_line = text.readline()
    if not header_line.strip():
        raise CsvError("The file is empty: the first row must name the columns (e.g. phone).")
    delimiter = _detect_delimiter(header_line)
    try:
        header = next(csv.reader([header_line], delimiter=delimiter))
    except csv.Error as exc:
        raise CsvError(f"The header row cannot be read: {exc}.") from exc
    columns = [normalise_name(name) for name in header]
    if any(not name for name in columns):
        raise CsvError("Every column in the header row needs a name.")
    duplicates = sorted({name for name in columns if columns.count(name) > 1})
    if duplicates:
        raise CsvError("The header names a column twice: " + ", ".join(duplicates) + ".")
    wanted = normalise_name(phone_column) if phone_column else ""
    if wanted:
        if wanted not in columns:
            raise CsvError(
                f"There is no column {phone_column!r}; the columns are: " + ", ".join(columns) + "."
            )
        phone = wanted
    else:
        found = [name for name in PHONE_COLUMNS if name in columns]
        if not found:
            raise CsvError(
                "No phone column: name one phone, mobile, to or msisdn, or choose it. "
                "The columns are: " + ", ".join(columns) + "."
            )
        phone = found[0]
    layout = CsvLayout(encoding=encoding, delimiter=delimiter, columns=columns, phone_column=phone)
    return layout, _rows(text, layout)


class _Prefixed(io.RawIOBase):
    """The bytes already read for detection, then the rest of the stream."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _rows(text: io.TextIOWrapper, layout: CsvLayout) -> Iterator[Row]:
    csv.field_size_limit(MAX_FIELD_CHARS + 1)
    reader = csv.reader(text, delimiter=layout.delimiter, strict=True)
    while True:
        # The record starts on the line after those read so far (+1 for the header).
        number = reader.line_num + 2
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The file itself is broken: after an open quote, or inside a field of
            # megabytes, no later row can be trusted. Refuse it with the place to fix.
            message = str(exc)
            if "field larger than field limit" in message:
                message = f"a field is longer than {MAX_FIELD_CHARS:,} characters"
            elif "end of data" in message or "EOF" in message or "quote" in message:
                message = "a quote opens here and is never closed"
            raise CsvError(f"Row {number}: {message}. Fix the file and upload it again.") from exc
        joined = "".join(values)
        if not joined.strip():
            continue  # blank lines are not rows
        if len(values) != len(layout.columns):
            yield Row(
                number=number,
                phone="",
                fields={},
                error=f"Has {len(values)} columns; the header has {len(layout.columns)}.",
            )
            continue
        if _BAD_BYTES.search(joined):
            yield Row(
                number=number,
                phone="",
                fields={},
                error="Contains characters that are not valid text in this file's encoding.",
            )
            continue
        fields = dict(zip(layout.columns, values, strict=True))
        yield Row(number=number, phone=fields[layout.phone_column].strip(), fields=fields)
