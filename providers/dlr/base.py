"""What every DLR parser shares: its result type, safe JSON loading, tolerant times.

Anything a provider sends ends up in JSON and text columns, so strings are cleaned
here once (no NUL, no lone surrogates, no NaN) rather than failing later as a 500.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from providers.dlr.apply import Report

# Deeper than any real report; stops absurd nesting before it reaches the encoder.
MAX_DEPTH = 32
_NUMBER_RE = re.compile(r"-?\d+(\.\d+)?")
# Past this an epoch value must be milliseconds (1e11 seconds is the year 5138).
_MILLISECONDS_FROM = 1e11


class MalformedBody(Exception):
    """The body as a whole cannot be read: answered with HTTP 400."""


class NotConfigured(Exception):
    """The provider's DLR settings cannot read any report: answered with HTTP 503,
    which senders retry, so no report is lost while an operator fixes them."""


@dataclass
class RecordError:
    """One record that could not become a report, echoed back to the sender."""

    error: str
    record: Any
    code: int = 400


@dataclass
class Parsed:
    reports: list[Report] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)

    def reject(self, record: Any, error: str) -> None:
        self.errors.append(RecordError(error=error, record=record))


def text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def load_json(body: bytes) -> Any:
    try:
        return _clean(json.loads(body, parse_constant=_reject, parse_float=_finite))
    except RecursionError:
        raise MalformedBody("JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError included
        raise MalformedBody(f"not valid JSON: {exc}") from None


def load_records(body: bytes) -> list[dict[str, Any]]:
    """A JSON object or an array of objects, as a list of objects."""
    data = load_json(body)
    records = data if isinstance(data, list) else [data]
    if not all(isinstance(record, dict) for record in records):
        raise MalformedBody("expected a JSON object or an array of objects")
    return records


def parse_time(value: Any) -> datetime | None:
    """Epoch seconds (or milliseconds) or ISO 8601; None for anything else.

    A time without an offset is taken in the site's time zone.
    """
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        if isinstance(value, int | float) or _NUMBER_RE.fullmatch(str(value).strip()):
            seconds = float(value)
            if abs(seconds) >= _MILLISECONDS_FROM:
                seconds /= 1000
            moment = datetime.fromtimestamp(seconds, tz=UTC)
        else:
            moment = datetime.fromisoformat(str(value).strip())
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
        # Converting here surfaces out-of-range values now, not when the row is saved.
        return moment.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _reject(constant: str) -> Any:
    raise ValueError(f"{constant} is not a number")


def _finite(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise ValueError(f"{literal} is out of range")
    return number


def _clean(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise MalformedBody("JSON nested too deeply")
    if isinstance(value, str):
        # PostgreSQL refuses NUL in text and jsonb; no database stores a lone surrogate.
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_clean(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {_clean(key, depth + 1): _clean(item, depth + 1) for key, item in value.items()}
    return value


def clean_params(params: dict[str, str]) -> dict[str, str]:
    """Query or form parameters, cleaned like JSON strings."""
    return _clean(params)
