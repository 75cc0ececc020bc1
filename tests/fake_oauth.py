"""An OAuth 2.0 provider for integration tests: a token endpoint (`/token`, the client
credentials grant) and an SMS endpoint (`/send`) that takes only the tokens it issued,
both served over real HTTP by one FakeProvider on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any
from urllib.parse import parse_qs

from providers.models import Provider
from tests.fake_provider import Answer, FakeProvider, Received

CLIENT_ID = "acme-client"
CLIENT_SECRET = "client-Secret-9xQ"


class FakeOAuth:
    def __init__(self, *, expires_in: int | None = 3600, token_delay: float = 0.0) -> None:
        self.expires_in = expires_in
        self.token_delay = token_delay
        # Answer every token request with this instead (an endpoint that fails).
        self.token_answer: Answer | None = None
        # Answer every send with 401 whatever its token (a provider that refuses them all).
        self.refuse_all = False
        self.token_requests: list[Received] = []
        self.sends: list[Received] = []
        self.issued: list[str] = []
        self._valid: set[str] = set()
        self._lock = threading.Lock()
        self.server = FakeProvider(self._answer)

    @property
    def url(self) -> str:
        return self.server.url

    def revoke(self) -> None:
        """Every token issued so far stops working (expired early, or revoked)."""
        with self._lock:
            self._valid.clear()

    def __enter__(self) -> FakeOAuth:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    def _answer(self, request: Received) -> Answer:
        if request.path.startswith("/token"):
            return self._token(request)
        with self._lock:
            self.sends.append(request)
            token = sent_token(request)
            ok = token in self._valid and not self.refuse_all
        if ok:
            return Answer()
        return Answer(status=401, body='{"error": "invalid_token"}')

    def _token(self, request: Received) -> Answer:
        with self._lock:
            self.token_requests.append(request)
        if self.token_answer is not None:
            return self.token_answer
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return Answer(
                status=401,
                body='{"error": "invalid_client", "error_description": "Unknown client"}',
            )
        with self._lock:
            token = f"access-{len(self.issued) + 1}-Zk3"
            self.issued.append(token)
            self._valid.add(token)
        answer: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        return Answer(body=json.dumps(answer), delay=self.token_delay)


def sent_token(request: Received) -> str:
    """The token a send carried: its Bearer header, or the body's "token"."""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth.removeprefix("Bearer ")
    try:
        return str(json.loads(request.body).get("token", ""))
    except ValueError:
        return ""


def token_form(request: Received) -> dict[str, list[str]]:
    return parse_qs(request.body.decode())


def oauth_provider(url: str, *, token_url: str | None = None, **fields: Any) -> Provider:
    """A provider sending to `url`/send with a token from `url`/token (or `token_url`)."""
    values: dict[str, Any] = {
        "nickname": "OAuth SMS",
        "endpoint": url + "/send",
        "payload": {"to": "$$To", "id": "$$MessageID", "text": "$$Body"},
        "auth_type": Provider.AuthType.OAUTH2,
        "oauth_token_url": token_url or url + "/token",
        "oauth_client_id": CLIENT_ID,
        "oauth_client_secret": CLIENT_SECRET,
        "oauth_scope": "sms.send",
        **fields,
    }
    return Provider.objects.create(**values)
