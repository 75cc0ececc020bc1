"""India's DLT rules: registered templates with `{#var#}`, sender ids."""

from __future__ import annotations

import re

VAR = "{#var#}"
MAX_VAR_LENGTH = 30


def _squash(text: str) -> str:
    # Whitespace runs compare as one space: operators scrub wording, not spacing.
    return re.sub(r"\s+", " ", text).strip()


def _pattern(template: str) -> re.Pattern[str]:
    pieces = [re.escape(part) for part in _squash(template).split(VAR)]
    return re.compile("(.*?)".join(pieces), re.DOTALL)


def template_mismatch(template: str, text: str) -> str | None:
    """Why `text` does not match the registered `template`, or None when it does."""
    if not template:
        return None
    match = _pattern(template).fullmatch(_squash(text))
    if not match:
        return "The message does not match the registered DLT template."
    for number, value in enumerate(match.groups(), start=1):
        if len(value) > MAX_VAR_LENGTH:
            return (
                f"Variable {number} of the DLT template is {len(value)} characters "
                f"({value[:40]!r}); at most {MAX_VAR_LENGTH} are allowed."
            )
    return None


def sender_id_error(sender_id: str, *, promotional: bool) -> str | None:
    """The DLT header rule for Indian numbers: 6 digits promotional, 6 letters otherwise."""
    if promotional:
        if not re.fullmatch(r"\d{6}", sender_id):
            return "A promotional sender id is 6 digits."
    elif not re.fullmatch(r"[A-Za-z]{6}", sender_id):
        return "A transactional or service sender id is 6 letters."
    return None
