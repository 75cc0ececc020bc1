"""A dispatcher's OAuth 2.0 access tokens, one per provider with `auth_type` oauth2.

The token lives in the database (`providers.http.oauth`, shared by every process); this
keeps the current one in memory so a request costs no lookup, and gets a new one in a
thread of its own, so the dispatcher's loop never waits on a token endpoint: while a
token is fetched, the provider's messages are simply not claimed (a fresh token is
fetched before the old one expires, so a provider in steady use never pauses). A token
that cannot be had holds the provider for SMSGATEWAY_OAUTH_RETRY_SECONDS: its messages
stay queued, with no attempt counted, and the provider page shows why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone

from providers.http import oauth
from providers.models import Provider

logger = logging.getLogger(__name__)


def uses_token(provider: Provider) -> bool:
    return provider.auth_type == Provider.AuthType.OAUTH2


@dataclass
class _State:
    token: str = ""
    # time.monotonic() values: fetch a new token from refresh_at; the token stops working
    # at expires_at; after a failure, nothing is tried before held_until.
    refresh_at: float = float("-inf")
    expires_at: float = float("-inf")
    held_until: float = float("-inf")
    fetching: bool = False
    # A token the provider refused, to drop from the database before fetching.
    refused: str = ""
    # The configuration changed during the fetch: what it brings back is not used.
    stale: bool = False


class TokenKeeper:
    """The tokens of one dispatcher; `wake(provider_id)` is called (from the fetching
    thread) when a fetch ends, so the loop turns to claim or to release."""

    def __init__(self, *, wake: Callable[[int], None]) -> None:
        self._wake = wake
        self._states: dict[int, _State] = {}
        self._lock = threading.Lock()

    def usable(self, provider: Provider, *, wait: bool = False) -> str | None:
        """The token to send with now, or None (being fetched, or held). Starts a fetch
        when the token is due for refresh; with `wait`, waits for it to end."""
        state = self._states.setdefault(provider.id, _State())
        now = time.monotonic()
        if now >= state.refresh_at and now >= state.held_until:
            self._start_fetch(provider, state)
        if wait:
            while state.fetching:
                time.sleep(0.01)
            now = time.monotonic()
        with self._lock:
            return state.token if state.token and now < state.expires_at else None

    def held(self, provider_id: int) -> bool:
        """Whether the provider's last fetch failed (its messages wait for the retry)."""
        state = self._states.get(provider_id)
        return state is not None and not state.fetching and time.monotonic() < state.held_until

    def look_again_at(self, provider_id: int) -> float:
        """When a provider without a token is worth asking again (time.monotonic())."""
        state = self._states.get(provider_id)
        if state is None or state.fetching:
            return time.monotonic() + settings.SMSGATEWAY_DISPATCH_POLL_SECONDS
        return state.held_until

    def rejected(self, provider_id: int, token: str) -> None:
        """The provider answered 401 to `token`: drop it, here and (by the next fetch,
        which `usable` starts) in the database."""
        state = self._states.setdefault(provider_id, _State())
        with self._lock:
            if state.token == token:
                state.token = ""
                state.refresh_at = state.expires_at = float("-inf")
            state.refused = token

    def forget(self, provider_id: int) -> None:
        """The provider's configuration changed: its token is read again."""
        state = self._states.get(provider_id)
        if state is None:
            return
        if state.fetching:
            state.stale = True
        else:
            del self._states[provider_id]

    def _start_fetch(self, provider: Provider, state: _State) -> None:
        if state.fetching:
            return
        state.fetching = True
        thread = threading.Thread(
            target=self._fetch, args=(provider, state), name="oauth-token", daemon=True
        )
        thread.start()

    def _fetch(self, provider: Provider, state: _State) -> None:
        try:
            if state.refused:
                oauth.access_token_drop(provider_id=provider.id, token=state.refused)
                state.refused = ""
            token = oauth.access_token_get(provider=provider)
        except Exception as exc:
            if not isinstance(exc, oauth.TokenUnavailable):
                logger.exception("fetching the token of provider %s failed", provider.id)
            retry = settings.SMSGATEWAY_OAUTH_RETRY_SECONDS
            with self._lock:
                state.held_until = time.monotonic() + retry
        else:
            # From the database's clock to this process's monotonic one.
            now, moment = timezone.now(), time.monotonic()
            with self._lock:
                state.token = token.value
                state.refresh_at = moment + (token.refresh_at - now).total_seconds()
                state.expires_at = moment + (token.expires_at - now).total_seconds()
                state.held_until = float("-inf")
        finally:
            connection.close()
            if state.stale:
                with self._lock:
                    state.token, state.stale = "", False
                    state.refresh_at = state.expires_at = state.held_until = float("-inf")
            state.fetching = False
            self._wake(provider.id)
