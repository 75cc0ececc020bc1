"""Write-only secrets: how an edit keeps, replaces or clears what is stored.

A provider's username, password, OAuth client secret, header values and callback
credentials are never
shown back, so an edit cannot simply send "the value" the way it sends a nickname.
Every path that saves a provider (the dashboard form, the API, the admin and the
configuration import) hands its input to `secrets_resolve`, which applies one rule:

=========================================  ======================================
the edit gives, for a secret               what is saved
=========================================  ======================================
nothing (the field is left out)            the stored value
blank text, or the mask ``MASK``           the stored value; the mask with nothing
                                           stored is an error (it cannot keep
                                           what is not there)
``CLEAR`` (API and import: JSON null;      nothing: the secret is removed
dashboard and admin: a "Remove" box)
any other text                             that text
=========================================  ======================================

Headers are given as the whole set: a header left out is removed. A header whose
value is blank or the mask keeps the stored value of the header it names, matched
without regard to case (HTTP header names are case-insensitive), or of the header it
was renamed from when the path knows that (the dashboard's header table does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from providers.models import Provider
from providers.sending.rendering import MASK

# The value an edit gives a secret to remove it (JSON null on the API and the import).
CLEAR = None

SECRET_FIELDS = (
    "username",
    "password",
    "oauth_client_secret",
    "callback_username",
    "callback_password",
)
# Every column stored encrypted (providers.ops.crypto): the secrets and the headers.
ENCRYPTED_FIELDS = (*SECRET_FIELDS, "headers")

_LABELS = {
    "username": "username",
    "password": "password",
    "oauth_client_secret": "client secret",
    "callback_username": "callback username",
    "callback_password": "callback password",
}


def nothing_stored(what: str) -> str:
    """The error for a mask (or blank) that would keep a value nobody stored."""
    return f"No {what} is stored to keep: enter it."


class HeaderEdit(NamedTuple):
    """One header of an edit; `was` is the stored name it started from, if known."""

    name: str
    value: str
    was: str = ""


def header_edits(headers: Mapping[str, Any]) -> list[HeaderEdit]:
    """Header edits from a {name: value} object (the API, the admin, the import)."""
    return [HeaderEdit(str(name), str(value)) for name, value in headers.items()]


def secrets_resolve(
    edit: Mapping[str, Any], *, stored: Provider | None
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The secrets `edit` saves (only those it changes or clears) and its errors.

    `edit` maps field names to what the path received: a secret's text, `CLEAR`, or
    for `headers` a list of `HeaderEdit`. Fields it leaves out are not in the result.
    """
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name in SECRET_FIELDS:
        if name not in edit:
            continue
        given = edit[name]
        if given is CLEAR:
            values[name] = ""
        elif given not in ("", MASK):
            values[name] = given
        elif given == MASK and not (stored is not None and getattr(stored, name)):
            errors[name] = [nothing_stored(_LABELS[name])]
    if "headers" in edit:
        values["headers"], problems = _headers_resolve(
            edit["headers"], stored=stored.headers if stored is not None else {}
        )
        if problems:
            errors["headers"] = problems
    return values, errors


def _headers_resolve(
    edits: Sequence[HeaderEdit], *, stored: Mapping[str, Any] | None
) -> tuple[dict[str, str], list[str]]:
    by_name = {str(name).lower(): str(value) for name, value in (stored or {}).items()}
    headers: dict[str, str] = {}
    problems: list[str] = []
    for header in edits:
        if header.value not in ("", MASK):
            headers[header.name] = header.value
            continue
        kept = by_name.get((header.was or header.name).lower())
        if kept is None:
            problems.append(f"Enter a value for the {header.name} header: none is stored to keep.")
        else:
            headers[header.name] = kept
    return headers, problems
