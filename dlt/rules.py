"""India's DLT rules as the operators scrub them, without the database.

A registered template is fixed text with variables. Since TRAI's direction of 18 November
2025 each variable is tagged with its type; older templates keep the untyped `{#var#}`.
The rules for a tag's value are those the operators and aggregators publish (see
../shared/reference/india-dlt.md and the sources cited by each limit below); where they
differ the limit is a setting, the stricter reading by default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

# `{#number#}` is how some portals spell `{#numeric#}` (fast2sms.com/help/?p=16124).
TAG_RE = re.compile(r"\{#(var|numeric|number|alphanumeric|url|urlott|cbn|email)#\}", re.I)
TAGS = ("var", "numeric", "alphanumeric", "url", "urlott", "cbn", "email")
# Where a tag's value may not hold a space: matching then never lets it swallow the
# fixed text around it.
_NO_SPACE_TAGS = {"url", "urlott", "email"}
# Links as a reader sees them: with a scheme, starting with www., or a host with a path.
URL_RE = re.compile(
    r"(?<![@\w.])(?:https?://[^\s<>\"']+|www\.[^\s<>\"']+"
    r"|(?:[a-z0-9-]+\.)+[a-z]{2,}/[^\s<>\"']*)",
    re.I,
)
_URL_TRAILING = ".,;:!?)]}'\""


def tag_of(raw: str) -> str:
    """The canonical name of a tag as written (`{#Number#}` -> `numeric`)."""
    name = raw.lower()
    return "numeric" if name == "number" else name


def tag_label(tag: str) -> str:
    return "{#" + tag + "#}"


def squash(text: str) -> str:
    # Whitespace runs compare as one space: operators scrub wording, not spacing.
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class ParsedTemplate:
    """A template's fixed parts and tags: `parts[i]` comes before `tags[i]`."""

    parts: tuple[str, ...]
    tags: tuple[str, ...]
    pattern: re.Pattern[str]

    def values(self, text: str) -> list[str] | None:
        """The variables' values in `text`, or None when its fixed parts differ."""
        match = self.pattern.fullmatch(squash(text))
        return list(match.groups()) if match else None

    def first_difference(self, text: str) -> str:
        """Where `text` stops following the template, for a user to find it."""
        text = squash(text)
        position = 0
        for index, part in enumerate(self.parts):
            if not part:
                continue
            found = text.find(part, position) if index else (0 if text.startswith(part) else -1)
            if found < 0:
                return f"the template's text {part.strip()[:60]!r} is not in the message"
            position = found + len(part)
        return "the message's end differs from the template's"


@lru_cache(maxsize=512)
def parse_template(text: str) -> ParsedTemplate:
    pieces = TAG_RE.split(squash(text))
    parts = tuple(pieces[0::2])
    tags = tuple(tag_of(raw) for raw in pieces[1::2])
    groups = [r"(\S*?)" if tag in _NO_SPACE_TAGS else "(.*?)" for tag in tags]
    regex = "".join(
        re.escape(part) + group for part, group in zip(parts, [*groups, ""], strict=True)
    )
    return ParsedTemplate(parts, tags, re.compile(regex, re.DOTALL))


def has_variables(text: str) -> bool:
    return bool(TAG_RE.search(text))


def sender_id_error(sender_id: str, *, promotional: bool) -> str | None:
    """The DLT header rule: 6 digits for promotional, 6 letters otherwise."""
    if promotional:
        if not re.fullmatch(r"\d{6}", sender_id):
            return "A promotional sender id is 6 digits."
    elif not re.fullmatch(r"[A-Za-z]{6}", sender_id):
        return "A transactional or service sender id is 6 letters."
    return None


# ---------------------------------------------------------------- links and numbers


def urls_in(text: str) -> list[str]:
    """Every link in a text, without the punctuation that ends a sentence."""
    return [match.group(0).rstrip(_URL_TRAILING) for match in URL_RE.finditer(text)]


def normalise_url(url: str) -> tuple[str, str]:
    """A link as the operators compare it: (scheme, the rest), scheme and host without
    case, path and query as sent. The scheme is "" when the link has none."""
    url = url.strip()
    scheme = ""
    if match := re.match(r"^([a-z][a-z0-9+.-]*)://", url, re.I):
        scheme = match.group(1).lower()
    parts = urlsplit(url if scheme else "//" + url)
    query = f"?{parts.query}" if parts.query else ""
    return scheme, f"{parts.netloc.lower()}{parts.path or '/'}{query}"


def url_allowed(url: str, registered: str, *, dynamic: bool) -> bool:
    """A static entry allows exactly its link; a dynamic one any link it begins.

    A link written without a scheme (www.example.com) matches an entry with either.
    """
    (sent_scheme, sent), (entry_scheme, entry) = normalise_url(url), normalise_url(registered)
    if sent_scheme and entry_scheme and sent_scheme != entry_scheme:
        return False
    if not dynamic:
        return sent == entry
    return sent.startswith(entry) or sent == entry.rstrip("/")


def normalise_number(number: str) -> str:
    """A callback number in one form: E.164 where phonenumbers reads it (Indian by
    default, so that 1800 toll-free and landline numbers compare), else its digits."""
    try:
        parsed = phonenumbers.parse(number, "IN")
    except phonenumbers.NumberParseException:
        return re.sub(r"\D", "", number)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def looks_like_number(value: str) -> bool:
    return bool(re.fullmatch(r"\+?[\d][\d\s-]{4,18}\d", value))


def looks_like_url(value: str) -> bool:
    return bool(URL_RE.fullmatch(value.rstrip(_URL_TRAILING))) and value == value.strip()


# ---------------------------------------------------------------- values by tag


def var_limit() -> int:
    # "Commonly at most 30 characters" for {#var#} (fast2sms, msg91): the stricter reading.
    return int(settings.SMSGATEWAY_DLT_VAR_MAX_LENGTH)


def alphanumeric_limit() -> int:
    # MSG91 documents at most 40 characters for {#alphanumeric#}
    # (msg91.com/help/dlt-registration-in-india/variable-tagging-on-dlt-sms-templates).
    return int(settings.SMSGATEWAY_DLT_ALPHANUMERIC_MAX_LENGTH)


def shape_error(tag: str, value: str) -> str | None:
    """Why a value does not have its tag's shape (whitelists aside), or None."""
    if tag == "numeric":
        # Digits only: no spaces, commas, points or signs (operators' published rule).
        if not value.isascii() or not value.isdigit():
            return "is not digits only"
    elif tag == "alphanumeric":
        if not value or not all(ch.isalnum() for ch in value):
            return "has characters other than letters and digits"
        if len(value) > alphanumeric_limit():
            return f"is {len(value)} characters; at most {alphanumeric_limit()} are allowed"
    elif tag == "var":
        if len(value) > var_limit():
            return f"is {len(value)} characters; at most {var_limit()} are allowed"
    elif tag == "email":
        try:
            validate_email(value)
        except ValidationError:
            return "is not a valid e-mail address"
    elif tag in ("url", "urlott"):
        if not looks_like_url(value):
            return "is not a link"
    elif tag == "cbn":
        if not looks_like_number(value):
            return "is not a phone number"
    return None
