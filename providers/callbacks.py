"""What every URL a provider calls shares: the DLR callback (`/dlr/<token>/`) and the
inbound URL for replies (`/mo/<token>/`) have one guard and one answer shape.

Each URL carries a secret token of its own; both take the provider's optional basic
auth (Provider.callback_username/password). The token is compared in constant time and
the database is only ever asked for its SHA-256, so how long a lookup takes says nothing
about how close a guess was. Bodies over 1 MB are refused before they are read. A JSON
body is answered with `{"status": "success|partial|fail", "processed": N, "unprocessed":
[{"status": "fail", "code": …, "error": …, "record": {…}}]}`, CleverTap's shape.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.http.multipartparser import MultiPartParserError

from providers.dlr.base import MalformedBody, clean_params
from providers.models import Provider, callback_token_digest
from smsgateway.process_cache import ProcessCache

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# What secrets.token_urlsafe produces; anything else cannot match, and some of it (a NUL)
# would make PostgreSQL raise instead of simply finding nothing.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
TokenField = Literal["callback_token", "inbound_token"]
# What the two URLs read of a provider: its sending credentials stay encrypted.
GUARD_FIELDS = (
    "nickname",
    "dlr_format",
    "dlr_mapping",
    "inbound_format",
    "inbound_mapping",
    "callback_token",
    "inbound_token",
    "callback_username",
    "callback_password",
)
REALMS: dict[str, str] = {"callback_token": "smsgateway DLR", "inbound_token": "smsgateway MO"}


@dataclass
class Call:
    """A call the guard let through: whose URL it was, its body, and whether the
    provider's format for it is parameters (`plain`: GET or POST, answered in text)."""

    provider: Provider
    body: bytes
    plain: bool
    what: str

    def refuse(self, status: int, error: str) -> HttpResponse:
        return refused(self.provider, status, error, what=self.what, plain=self.plain)


def call_received(
    request: HttpRequest,
    token: str,
    *,
    field: TokenField,
    format_field: Literal["dlr_format", "inbound_format"],
    what: str,
) -> Call | HttpResponse:
    """The call to a provider's URL, or the answer that refuses it: the guard
    (`provider_or_refusal`), the methods its format takes (GET too for parameters) and
    the body's size limit."""
    found = provider_or_refusal(request, token, field=field, what=what)
    if isinstance(found, HttpResponse):
        return found
    # Both formats' choices name parameters "params".
    plain = getattr(found, format_field) == "params"
    allowed = ["GET", "POST"] if plain else ["POST"]
    if request.method not in allowed:
        return quiet(HttpResponseNotAllowed(allowed))
    body = read_body(request)
    call = Call(found, body or b"", plain, what)
    if body is None:
        return call.refuse(413, f"body larger than {MAX_BODY_BYTES // 1024 // 1024} MB")
    return call


def call_params(request: HttpRequest) -> dict[str, str]:
    """A parameter format's values, cleaned: form fields win over the query string (a
    dlr-url's own query comes first). MalformedBody when they cannot be read."""
    try:
        return clean_params({**request.GET.dict(), **request.POST.dict()})
    except (MultiPartParserError, SuspiciousOperation) as exc:
        raise MalformedBody(str(exc) or "unreadable parameters") from exc


def provider_or_refusal(
    request: HttpRequest, token: str, *, field: TokenField, what: str
) -> Provider | HttpResponse:
    """The provider this URL belongs to, or the answer that refuses the request: 404 for
    an unknown token, 401 when the provider requires basic auth and it is missing or
    wrong. `what` names the URL in the log (never the token, which is a secret)."""
    provider = provider_for_token(token, field=field)
    if provider is None:
        logger.warning("%s with an unknown token", what)
        return quiet(HttpResponse("Unknown callback URL.", status=404, content_type="text/plain"))
    if provider.callback_requires_auth and not basic_auth_ok(request, provider):
        logger.warning("%s for provider %s without valid basic auth", what, provider.pk)
        response = HttpResponse("Authentication required.", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = f'Basic realm="{REALMS[field]}", charset="UTF-8"'
        return quiet(response)
    return provider


def provider_for_token(token: str, *, field: TokenField) -> Provider | None:
    """The provider whose callback (or inbound) token this is, compared in constant time."""
    if not TOKEN_RE.fullmatch(token):
        return None
    digest = callback_token_digest(token)
    provider = _found.get(f"{field}:{digest}", lambda: _provider_by_digest(field, digest))
    if provider is None:
        return None
    return provider if hmac.compare_digest(getattr(provider, field), token) else None


# The providers found by token, kept for a moment (smsgateway.process_cache).
_found: ProcessCache[Provider] = ProcessCache()


@receiver([post_save, post_delete], sender=Provider)
def _forget_providers(**kwargs: Any) -> None:
    _found.clear()


def _provider_by_digest(field: TokenField, digest: str) -> Provider | None:
    lookup = {f"{field}_digest": digest}
    return Provider.objects.only("id", *GUARD_FIELDS).filter(**lookup).first()


def basic_auth_ok(request: HttpRequest, provider: Provider) -> bool:
    scheme, _, encoded = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        username, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    # Both compared, always, so a wrong username takes as long as a wrong password.
    username_ok = hmac.compare_digest(username.encode(), provider.callback_username.encode())
    password_ok = hmac.compare_digest(password.encode(), provider.callback_password.encode())
    return bool(sep) and username_ok and password_ok


def read_body(request: HttpRequest) -> bytes | None:
    """The body, or None when it is over the limit (checked before reading when possible)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return None
    try:
        body = request.body
    except RequestDataTooBig:
        return None
    return body if len(body) <= MAX_BODY_BYTES else None


def refused(provider: Provider, status: int, error: str, *, what: str, plain: bool) -> HttpResponse:
    """A request refused whole: the reason in text (`plain`, for parameter formats) or as
    `{"status": "fail", "processed": 0, "error": …}`."""
    logger.warning("%s for provider %s refused (%s): %s", what, provider.pk, status, error)
    response: HttpResponse
    if plain:
        response = HttpResponse(error, status=status, content_type="text/plain")
    else:
        response = JsonResponse({"status": "fail", "processed": 0, "error": error}, status=status)
    return quiet(response)


def quiet(response: HttpResponse) -> HttpResponse:
    # Django logs every 4xx with the request path, and here the path holds the provider's
    # secret token; the guard and the views log the provider's id instead.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def unprocessed(code: int, error: str, record: Any) -> dict[str, Any]:
    """One record the sender should know was not taken, and why."""
    return {"status": "fail", "code": code, "error": error, "record": record}


def answer(processed: int, not_taken: list[dict[str, Any]], *, status: int = 200) -> JsonResponse:
    outcome = "success" if not not_taken else "partial" if processed else "fail"
    body = {"status": outcome, "processed": processed, "unprocessed": not_taken}
    return JsonResponse(body, status=status)
