"""The `$$Name` placeholders a provider's payload template may use."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

PLACEHOLDER_RE = re.compile(r"\$\$([A-Za-z][A-Za-z0-9_]*)")

# Filled from the message or the provider; anything else is a custom placeholder
# whose value must be supplied wherever the provider is used.
STANDARD_PLACEHOLDERS = (
    "To",
    "Body",
    "MessageID",
    "TemplateID",
    "TemplateVariables",
    "CampaignID",
    "Alert",
    "International",
    "Username",
    "Password",
    "AccessToken",
)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def find_placeholders(*values: Any) -> list[str]:
    """Every distinct placeholder name in the given strings or JSON values, in order."""
    found: dict[str, None] = {}
    for value in values:
        for text in _strings(value):
            for match in PLACEHOLDER_RE.finditer(text):
                found.setdefault(match.group(1), None)
    return list(found)


def split_placeholders(text: str) -> list[str]:
    """The text as literal parts and placeholder names, alternately: `["Hi ", "Body", "!"]`.

    Splitting once lets a template be filled for many messages without searching it again.
    """
    return PLACEHOLDER_RE.split(text)


def fill(
    parts: Sequence[str], values: Mapping[str, str], escape: Callable[[str], str] = str
) -> str:
    """Join parts from `split_placeholders`, each known name replaced by its value.

    Unknown names are left as written (validation reports them before any send), and
    values are never expanded again.
    """
    text = [parts[0]]
    for index in range(1, len(parts), 2):
        # One lookup: a message's values may be computed as they are asked for.
        value = values.get(parts[index])
        text.append("$$" + parts[index] if value is None else escape(value))
        text.append(parts[index + 1])
    return "".join(text)


def substitute(text: str, values: Mapping[str, str], escape: Callable[[str], str] = str) -> str:
    """Replace each known `$$Name` in one pass (see `fill`)."""
    return fill(split_placeholders(text), values, escape)


def substitute_json(template: Any, values: Mapping[str, str]) -> Any:
    """Substitute inside the string values of a parsed JSON template (never in keys)."""
    if isinstance(template, str):
        return substitute(template, values)
    if isinstance(template, dict):
        return {key: substitute_json(item, values) for key, item in template.items()}
    if isinstance(template, list):
        return [substitute_json(item, values) for item in template]
    return template
