"""Campaign message personalisation: `{{first_name}}` and `{{first_name|there}}`."""

from __future__ import annotations

import re
from collections.abc import Mapping

FIELD_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*(?:\|([^}]*))?\}\}")


class MissingField(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no value for {{{{{name}}}}} and no default")
        self.name = name


def field_names(message: str) -> list[str]:
    return list(dict.fromkeys(normalise_name(m.group(1)) for m in FIELD_RE.finditer(message)))


def normalise_name(name: str) -> str:
    """Column headers and field names compare case-insensitively, spaces as underscores."""
    return re.sub(r"\s+", "_", name.strip()).lower()


def personalise(message: str, fields: Mapping[str, str]) -> str:
    """Fill `{{name}}` from the recipient's fields (keys already normalised), in one pass."""

    def replace(match: re.Match[str]) -> str:
        name = normalise_name(match.group(1))
        value = (fields.get(name) or "").strip()
        if value:
            return value
        if match.group(2) is not None:
            return match.group(2)
        raise MissingField(name)

    return FIELD_RE.sub(replace, message)
