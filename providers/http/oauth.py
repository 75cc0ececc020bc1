"""OAuth 2.0 client credentials: the access token a provider with `auth_type` oauth2 wants.

The token request is built and its answer read by oauthlib's `BackendApplicationClient`
(RFC 6749 section 4.4) and sent through our own SSRF-safe transport (`transport.send`:
the endpoint check, the guarded connection, the timeouts, the bounded body, no
redirects), never through `OAuth2Session`, whose requests would go around that guard.
The client authenticates with HTTP Basic (client id and secret in the Authorization
header), which RFC 6749 section 2.3.1 says every server must accept.

A token is kept in `AccessToken` (encrypted), shared by every worker and web process,
until shortly before it expires (`refresh_margin`); an answer without `expires_in` is
taken to last DEFAULT_LIFETIME. When it must be fetched, one process does it: it takes
a lease with an UPDATE that only one process can win (the same on SQLite and
PostgreSQL, with no transaction held open during the HTTP call), and the others wait
for its token. A token the provider answers 401 to is dropped (`access_token_drop`),
so the next call fetches a new one.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from oauthlib.oauth2 import BackendApplicationClient, OAuth2Error

from providers.http import transport
from providers.http.transport import SendResult
from providers.models import AccessToken, Provider
from providers.ops.crypto import DecryptionError
from providers.sending.rendering import RenderedRequest, mask_secrets

logger = logging.getLogger(__name__)

# When the answer says nothing of the token's lifetime (no expires_in): an hour, the
# common lifetime. A provider that expires it sooner answers 401, and a new one is fetched.
DEFAULT_LIFETIME = timedelta(hours=1)
# A token is fetched again this long before it expires, at most; a short-lived token
# 10 % of its lifetime before.
REFRESH_MARGIN = timedelta(seconds=60)
# While waiting for the process that holds the lease, look at its row this often.
WAIT_POLL_SECONDS = 0.1


class TokenUnavailable(Exception):
    """No token could be had; the text says why, for the provider page and the test SMS."""


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: datetime
    # Fetch a new one from then on (the old one still works until expires_at).
    refresh_at: datetime


def refresh_margin(lifetime: timedelta) -> timedelta:
    return min(REFRESH_MARGIN, lifetime / 10)


def lease_length() -> timedelta:
    """How long the fetching process holds the lease: longer than its HTTP call may take."""
    request = settings.SMSGATEWAY_CONNECT_TIMEOUT + settings.SMSGATEWAY_READ_TIMEOUT
    return timedelta(seconds=request + 5)


def access_token_get(*, provider: Provider) -> Token:
    """The provider's current token: the stored one while it is fresh, else a new one,
    fetched by this process or by another that holds the lease. Raises TokenUnavailable
    (and writes the reason to `Provider.dispatch_error`) when none can be had."""
    AccessToken.objects.bulk_create([AccessToken(provider_id=provider.id)], ignore_conflicts=True)
    deadline = time.monotonic() + lease_length().total_seconds() + 1
    while True:
        try:
            row = AccessToken.objects.get(provider_id=provider.id)
        except DecryptionError:
            # Stored under a key that is no longer configured: a new token will do.
            AccessToken.objects.filter(provider_id=provider.id).update(token="", expires_at=None)
            continue
        now = timezone.now()
        token = _fresh(row, now)
        if token is not None:
            return token
        lease = _lease_take(row, now)
        if lease is not None:
            return _fetch_and_store(provider, lease=lease)
        if time.monotonic() > deadline:
            raise TokenUnavailable("another process is fetching the token and has not finished")
        time.sleep(WAIT_POLL_SECONDS)


def access_token_drop(*, provider_id: int, token: str) -> None:
    """Forget `token` (the provider refused it), unless another process already replaced
    it: the next `access_token_get` fetches a new one."""
    row = AccessToken.objects.filter(provider_id=provider_id).first()
    if row is not None and row.token == token:
        # fetched_at tells this token apart from one stored since it was read.
        AccessToken.objects.filter(provider_id=provider_id, fetched_at=row.fetched_at).update(
            token="", expires_at=None
        )


def access_token_forget(*, provider_id: int) -> None:
    """Drop the stored token (the credentials or the token URL changed)."""
    AccessToken.objects.filter(provider_id=provider_id).delete()


def _fresh(row: AccessToken, now: datetime) -> Token | None:
    if not row.token or row.expires_at is None:
        return None
    lifetime = row.expires_at - (row.fetched_at or row.expires_at)
    refresh_at = row.expires_at - refresh_margin(lifetime)
    return Token(row.token, row.expires_at, refresh_at) if now < refresh_at else None


def _lease_take(row: AccessToken, now: datetime) -> datetime | None:
    """The lease, if this process won the right to fetch (one UPDATE, which only one
    process can win): the lease is free, or its holder died, and nobody stored a token
    since `row` was read."""
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    fetched = row.fetched_at
    unchanged = Q(fetched_at__isnull=True) if fetched is None else Q(fetched_at=fetched)
    lease = now + lease_length()
    won = AccessToken.objects.filter(free, unchanged, provider_id=row.provider_id).update(
        lease_until=lease
    )
    return lease if won == 1 else None


def _fetch_and_store(provider: Provider, *, lease: datetime) -> Token:
    try:
        value, lifetime = token_fetch(provider=provider)
    except TokenUnavailable as exc:
        AccessToken.objects.filter(provider_id=provider.id, lease_until=lease).update(
            lease_until=None
        )
        _dispatch_error_write(provider.id, f"Dispatch error: {exc}")
        logger.warning("provider %s: no OAuth token: %s", provider.nickname, exc)
        raise
    now = timezone.now()
    expires_at = now + lifetime
    AccessToken.objects.filter(provider_id=provider.id).update(
        token=value, expires_at=expires_at, fetched_at=now, lease_until=None
    )
    _dispatch_error_write(provider.id, "")
    return Token(value, expires_at, expires_at - refresh_margin(lifetime))


def _dispatch_error_write(provider_id: int, text: str) -> None:
    # update(), not save(): the dispatchers reload a provider whose updated_at changed.
    providers = Provider.objects.filter(id=provider_id)
    if text:
        providers.update(dispatch_error=text[:2000], dispatch_error_at=timezone.now())
    else:
        providers.exclude(dispatch_error="").update(dispatch_error="", dispatch_error_at=None)


def token_fetch(*, provider: Provider) -> tuple[str, timedelta]:
    """Ask the token endpoint for a new token: (token, lifetime), or TokenUnavailable.
    No database access."""
    client = BackendApplicationClient(client_id=provider.oauth_client_id)
    extra = {str(key): str(value) for key, value in (provider.oauth_extra or {}).items()}
    body = client.prepare_request_body(scope=provider.oauth_scope or None, **extra)
    secrets = [provider.oauth_client_secret] if provider.oauth_client_secret else []
    request = RenderedRequest(
        method="POST",
        url=provider.oauth_token_url,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
        body=body.encode("utf-8"),
        auth=(provider.oauth_client_id, provider.oauth_client_secret),
        secrets=secrets,
    )
    # A session of its own: the token endpoint is not the provider's host.
    session = transport.new_session(pool_size=1)
    try:
        result = transport.send(request, session=session)
    finally:
        session.close()
    answer = mask_secrets(result.response, secrets)[:500]
    if not result.ok:
        raise TokenUnavailable(_refusal(result, answer, secrets))
    try:
        token = client.parse_request_body_response(result.response)
    except (OAuth2Error, ValueError) as exc:
        raise TokenUnavailable(
            f"the token endpoint's answer holds no usable token ({exc}): {answer}"
        ) from exc
    expires_in = token.get("expires_in")
    lifetime = timedelta(seconds=int(expires_in)) if expires_in else DEFAULT_LIFETIME
    return str(token["access_token"]), lifetime


def _refusal(result: SendResult, answer: str, secrets: list[str]) -> str:
    if result.http_status is None:
        reason = mask_secrets(result.error, secrets)
        return f"the token endpoint could not be reached — {result.error_title}: {reason}"
    error = ""
    try:
        error = str(json.loads(result.response).get("error", ""))
    except (ValueError, AttributeError):
        pass
    refused = result.http_status in (401, 403) or error in (
        "invalid_client",
        "unauthorized_client",
        "invalid_grant",
    )
    what = "refused the credentials" if refused else "refused the request"
    if result.http_status >= 500:
        what = "failed"
    if 300 <= result.http_status < 400:
        return f"the token endpoint redirected — {result.error}"
    return f"the token endpoint {what} — HTTP {result.http_status}: {answer}".strip()
