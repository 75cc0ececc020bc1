"""Dashboard pages with a million messages: p95 time of a logged-in GET, page by page.

The database is first brought to the size (seed.dashboard_seed: five providers, one
campaign holding 40 % of the messages, send and DLR events), once per database. Each
run then GETs every page a few times to warm up and `page_requests` times timed, one
at a time, with a logged-in session, through gunicorn.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from .. import seed
from ..context import Context
from ..report import Check, Run, Spec

PAGES = ("provider list", "campaign page", "message log")
SPECS = [Spec(f"{page} p95 ms", 150, higher_is_better=False) for page in PAGES]
_seeded: dict[str, seed.Dashboard] = {}


def _session_cookie(user: Any) -> str:
    """A logged-in session, as the login form would have left it."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return str(session.session_key)


def dashboard(ctx: Context, number: int) -> Run:
    data = _seeded.get(ctx.database)
    notes: dict[str, Any] = {}
    if data is None:
        started = time.perf_counter()
        data = _seeded[ctx.database] = seed.dashboard_seed(
            total=ctx.sizes.dashboard_messages, user=ctx.user
        )
        notes["seed seconds"] = round(time.perf_counter() - started, 1)
    sms = "/settings/engage/channels/sms/"
    urls = {
        "provider list": sms,
        "campaign page": f"/engage/campaigns/{data.campaign}/",
        "message log": f"{sms}providers/{data.providers[0]}/messages/",
    }
    figures: dict[str, float] = {}
    checks = []
    with requests.Session() as browser:
        browser.cookies.set(settings.SESSION_COOKIE_NAME, _session_cookie(ctx.user))
        for page, path in urls.items():
            times, statuses = [], set()
            for n in range(ctx.sizes.page_warmup + ctx.sizes.page_requests):
                started = time.perf_counter()
                answer = browser.get(ctx.url + path, allow_redirects=False, timeout=120)
                elapsed = time.perf_counter() - started
                statuses.add(answer.status_code)
                if n >= ctx.sizes.page_warmup:
                    times.append(elapsed)
            times.sort()
            figures[f"{page} p95 ms"] = times[min(len(times) - 1, int(len(times) * 0.95))] * 1000
            checks.append(Check(f"{page} answered 200", statuses == {200}, f"{statuses}"))
    return Run(figures, checks=checks, notes=notes)
