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
    "Username",
    "Password",
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


def fill(parts: Sequence[str], values: Mapping[str, str]) -> str:
    """Join parts from `split_placeholders`, each known name replaced by its value.

    As with `substitute`, unknown names are left as written and values are not expanded.
    """
    text = [parts[0]]
    for index in range(1, len(parts), 2):
        value = values.get(parts[index])
        text.append("$$" + parts[index] if value is None else value)
        text.append(parts[index + 1])
    return "".join(text)


def substitute(text: str, values: Mapping[str, str], escape: Callable[[str], str] = str) -> str:
    """Replace each known `$$Name` in one pass; values are never expanded again.

    Unknown names are left as written: validation reports them before any send.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        return escape(values[name])

    return PLACEHOLDER_RE.sub(replace, text)


def substitute_json(template: Any, values: Mapping[str, str]) -> Any:
    """Substitute inside the string values of a parsed JSON template (never in keys)."""
    if isinstance(template, str):
        return substitute(template, values)
    if isinstance(template, dict):
        return {key: substitute_json(item, values) for key, item in template.items()}
    if isinstance(template, list):
        return [substitute_json(item, values) for item in template]
    return template
