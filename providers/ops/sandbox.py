"""Built-in sandbox provider: a fake Sinch India ``messages.json`` for the demo.

It lets a newcomer send a test SMS and watch a delivery report arrive without a
Sinch account. It is served at ``/sandbox/sinch-india/messages.json`` only while
``SMSGATEWAY_SANDBOX_ENABLED`` is on (404 otherwise); it is a demo fake, never a
production path.

A request is a POST with a JSON body in the Sinch India preset's shape
(``appid``, ``userId``, ``pass``, ``from``, ``to``, ``msgid``, ``text``, ``dtm``,
``dpi`` ...). ``userId``/``pass`` must match ``SMSGATEWAY_SANDBOX_USERNAME`` /
``SMSGATEWAY_SANDBOX_PASSWORD`` (defaults ``sandbox`` / ``sandbox-pass``), else 401;
missing required fields give 400. An accepted message is answered 200 and, after
``SMSGATEWAY_SANDBOX_DLR_DELAY`` seconds (default 2), a CleverTap-format DLR is
posted to the callback URL of the provider that owns message ``msgid``.

Test numbers (the national part of a +91 number; ``to`` may be written with or
without the country code or ``+``; with several comma-separated numbers the first
one decides):

============  ==========================================================
number        what the sandbox does
============  ==========================================================
9999900001    accepts (200), then a failed DLR with code 901 (DND failure)
9999900002    accepts (200), then a failed DLR with code 910 (invalid subscriber)
9999900003    answers only after SMSGATEWAY_READ_TIMEOUT + 1 s (at most 30 s),
              so the send times out; no DLR
9999900004    401: authentication rejected; no DLR
9999900005    500: server error; no DLR
9999900006    200 with {"status": "error", "code": "4001"} in the body (as real
              APIs answer a rejection); no DLR
any other     accepts (200), then a delivered DLR
============  ==========================================================
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import uuid
from typing import Any, TypedDict

import requests
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponseNotAllowed, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from providers.error_codes import failure_meaning
from providers.models import Provider

logger = logging.getLogger(__name__)

REQUIRED_FIELDS = ("appid", "userId", "pass", "from", "to", "msgid", "text")
DND_FAILURE = "9999900001"
INVALID_SUBSCRIBER = "9999900002"
SLOW = "9999900003"
AUTH_REJECTED = "9999900004"
SERVER_ERROR = "9999900005"
REJECTED_IN_200 = "9999900006"
FAILURE_CODES = {DND_FAILURE: "901", INVALID_SUBSCRIBER: "910"}
# A slow answer must outlast the read timeout, but never hold a server thread for long.
MAX_SLOW_SECONDS = 30.0
DLR_POST_TIMEOUT = (3.0, 5.0)


class SandboxNumber(TypedDict):
    number: str
    e164: str
    outcome: str


def test_numbers() -> list[SandboxNumber]:
    """The sandbox's test numbers and what each does, for the dashboard to show."""
    outcomes = [
        (DND_FAILURE, "Accepted, then a failed DLR with code 901 (DND failure)"),
        (INVALID_SUBSCRIBER, "Accepted, then a failed DLR with code 910 (invalid subscriber)"),
        (SLOW, "Answers after the read timeout: the send times out"),
        (AUTH_REJECTED, "HTTP 401: authentication rejected"),
        (SERVER_ERROR, "HTTP 500: provider error"),
        (
            REJECTED_IN_200,
            'HTTP 200 with {"status": "error", "code": "4001"}: rejected in the body',
        ),
    ]
    return [{"number": n, "e164": "+91" + n, "outcome": text} for n, text in outcomes]


# Not collected by pytest when a test module imports this module's names.
test_numbers.__test__ = False  # type: ignore[attr-defined]


@csrf_exempt
def messages_json(request: HttpRequest) -> JsonResponse | HttpResponseNotAllowed:
    if not settings.SMSGATEWAY_SANDBOX_ENABLED:
        raise Http404("The sandbox provider is not enabled.")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        return _error(400, "The body must be a JSON object.")
    missing = [name for name in REQUIRED_FIELDS if not str(data.get(name) or "").strip()]
    if missing:
        return _error(400, "Missing required fields: " + ", ".join(missing), missing=missing)
    if not _credentials_ok(str(data["userId"]), str(data["pass"])):
        return _error(401, "Invalid userId or pass.")

    msgid = str(data["msgid"])
    number = _national(str(data["to"]).split(",")[0])
    if number == AUTH_REJECTED:
        return _error(401, f"Authentication rejected (sandbox test number {number}).")
    if number == SERVER_ERROR:
        return _error(500, f"Internal server error (sandbox test number {number}).")
    if number == REJECTED_IN_200:
        # As real APIs do: the HTTP status says OK, the body says no.
        body = {"status": "error", "code": "4001", "description": "Invalid template"}
        return JsonResponse(body, status=200)
    if number == SLOW:
        time.sleep(min(float(settings.SMSGATEWAY_READ_TIMEOUT) + 1.0, MAX_SLOW_SECONDS))
        return _error(504, f"Answered too late on purpose (sandbox test number {number}).")

    callback_url = _callback_url_for(msgid)
    if callback_url is None:
        logger.warning("sandbox: no message %r, so no DLR will be posted", msgid)
    else:
        code = FAILURE_CODES.get(number, "")
        delay = settings.SMSGATEWAY_SANDBOX_DLR_DELAY
        schedule_dlr(callback_url, msgid, code, delay)
    return JsonResponse(
        {
            "status": "success",
            "code": "200",
            "msgid": msgid,
            "to": data["to"],
            "description": "Message accepted by the sandbox",
        }
    )


def _error(status: int, description: str, **extra: Any) -> JsonResponse:
    body = {"status": "error", "code": str(status), "description": description, **extra}
    return JsonResponse(body, status=status)


def _credentials_ok(username: str, password: str) -> bool:
    expected_user = settings.SMSGATEWAY_SANDBOX_USERNAME
    expected_pass = settings.SMSGATEWAY_SANDBOX_PASSWORD
    # Both compared every time, in constant time, like a real provider should.
    user_ok = hmac.compare_digest(username.encode(), str(expected_user).encode())
    pass_ok = hmac.compare_digest(password.encode(), str(expected_pass).encode())
    return user_ok and pass_ok


def _national(number: str) -> str:
    digits = "".join(ch for ch in number if ch.isdigit())
    if len(digits) == 12 and digits.startswith("91"):
        return digits[2:]
    return digits


def _callback_url_for(msgid: str) -> str | None:
    try:
        message_id = uuid.UUID(msgid.strip())
    except ValueError:
        return None
    # Only the token is needed: loading the secrets would decrypt them for nothing.
    provider = Provider.objects.only("callback_token").filter(messages__id=message_id).first()
    return provider.callback_url if provider else None


def dlr_body(msgid: str, code: str = "") -> list[dict[str, Any]]:
    """The CleverTap-format DLR for one message: delivered, or failed with `code`."""
    record: dict[str, Any] = {"ts": int(time.time()), "meta": msgid}
    if code:
        record.update(code=code, description=failure_meaning(code))
        return [{"event": "failed", "data": [record]}]
    record["description"] = "Delivered to handset"
    return [{"event": "delivered", "data": [record]}]


def schedule_dlr(callback_url: str, msgid: str, code: str, delay: float) -> None:
    """Post the DLR `delay` seconds from now; at once (synchronously) when the delay is 0.

    The synchronous path keeps tests free of threads and sleeps.
    """
    if delay <= 0:
        post_dlr(callback_url, msgid, code)
        return
    timer = threading.Timer(delay, post_dlr, args=(callback_url, msgid, code))
    # A pending demo DLR must never keep the server process from exiting.
    timer.daemon = True
    timer.start()


def post_dlr(callback_url: str, msgid: str, code: str) -> None:
    """Post one DLR; never raises (it may run on a timer thread with no one to catch it)."""
    try:
        response = requests.post(callback_url, json=dlr_body(msgid, code), timeout=DLR_POST_TIMEOUT)
        logger.info("sandbox: DLR for %s posted, HTTP %s", msgid, response.status_code)
    except Exception:
        logger.exception("sandbox: posting the DLR for %s failed", msgid)
