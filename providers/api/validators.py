"""Validators for free-form JSON input of the REST API (payloads, variables, mappings).

DRF's CharField refuses NUL characters and lone surrogates; a JSON value can carry
them in any key or string, where the database (PostgreSQL refuses both in jsonb) or
the UTF-8 response would fail on them. These validators give the same 400 instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from rest_framework.validators import ProhibitSurrogateCharactersValidator

_TEXT_VALIDATORS = (ProhibitNullCharactersValidator(), ProhibitSurrogateCharactersValidator())


def _texts(value: Any) -> Iterator[str]:
    """Every key and string inside a parsed JSON value, however deeply nested."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def validate_json_text(value: Any) -> None:
    """Refuse NUL characters and lone surrogates anywhere in a JSON value."""
    for text in _texts(value):
        for validator in _TEXT_VALIDATORS:
            validator(text)
