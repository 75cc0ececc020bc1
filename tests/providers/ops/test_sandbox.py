"""The built-in sandbox provider: a fake Sinch India messages.json that posts DLRs back."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import responses
from django.test import Client
from django.urls import reverse

from providers.models import Message
from providers.ops import sandbox
from providers.sending.create import message_create

CREDENTIALS = {"userId": "sandbox-user", "pass": "sandbox-pass"}


@pytest.fixture(autouse=True)
def _sandbox_on(settings):
    settings.SMSGATEWAY_SANDBOX_ENABLED = True
    settings.SMSGATEWAY_SANDBOX_DLR_DELAY = 0
    settings.SMSGATEWAY_READ_TIMEOUT = 0.2


@pytest.fixture
def callbacks():
    """Captures the DLRs the sandbox posts; a request nobody registered fails loudly."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def message(generic_provider) -> Message:
    return message_create(provider=generic_provider, to="+919876543210", body="hello")


def sinch_body(**fields: Any) -> dict[str, Any]:
    """A request as the Sinch India preset renders it."""
    body = {
        "appid": "sandbox",
        **CREDENTIALS,
        "contenttype": "1",
        "from": "SBXDEM",
        "to": "919876543210",
        "selfid": "true",
        "msgid": str(uuid.uuid4()),
        "intflag": "false",
        "alert": "1",
        "text": "hello",
        "dpi": "1701158123540939524",
        "dtm": "",
    }
    body.update(fields)
    return body


def post(client: Client, body: Any) -> Any:
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(reverse("sandbox_send"), data=data, content_type="application/json")


def posted_dlrs(mock: responses.RequestsMock) -> list[tuple[str, Any]]:
    return [(call.request.url, json.loads(call.request.body)) for call in mock.calls]


# --- availability and input checks


def test_it_answers_404_when_the_sandbox_is_disabled(client, settings):
    settings.SMSGATEWAY_SANDBOX_ENABLED = False
    assert post(client, sinch_body()).status_code == 404


def test_it_answers_405_to_anything_but_post(client):
    response = client.get(reverse("sandbox_send"))
    assert response.status_code == 405


def test_it_needs_no_csrf_token(db, callbacks):
    response = post(Client(enforce_csrf_checks=True), sinch_body())
    assert response.status_code == 200


@pytest.mark.parametrize(
    "credentials",
    [
        {"userId": "sandbox-user", "pass": "wrong"},
        {"userId": "someone", "pass": "sandbox-pass"},
    ],
)
def test_wrong_credentials_are_rejected_with_401(client, db, callbacks, credentials):
    response = post(client, sinch_body(**credentials))
    assert response.status_code == 401
    assert response.json()["status"] == "error"
    assert not callbacks.calls


def test_credentials_come_from_settings(client, db, settings, callbacks):
    settings.SMSGATEWAY_SANDBOX_USERNAME = "demo-user"
    settings.SMSGATEWAY_SANDBOX_PASSWORD = "demo-pass"
    assert post(client, sinch_body()).status_code == 401
    assert post(client, sinch_body(userId="demo-user", **{"pass": "demo-pass"})).status_code == 200


def test_missing_fields_are_named_in_a_400(client, db):
    body = sinch_body(text="")
    del body["to"]
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["missing"] == ["to", "text"]
    assert "to, text" in response.json()["description"]


@pytest.mark.parametrize("body", ["not json", "[1, 2]", ""])
def test_a_body_that_is_not_a_json_object_is_a_400(client, db, body):
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["status"] == "error"


# --- success and the DLR it posts


def test_a_message_is_accepted_and_a_delivered_dlr_goes_to_its_providers_callback(
    client, message, callbacks
):
    callbacks.post(message.provider.callback_url, json={"status": "success"})
    response = post(client, sinch_body(msgid=str(message.id)))

    assert response.status_code == 200
    assert response.json()["status"] == "success"
    assert response.json()["msgid"] == str(message.id)
    [(url, dlr)] = posted_dlrs(callbacks)
    assert url == message.provider.callback_url
    record = dlr[0]["data"][0]
    assert dlr == [
        {
            "event": "delivered",
            "data": [
                {"ts": record["ts"], "meta": str(message.id), "description": "Delivered to handset"}
            ],
        }
    ]
    assert isinstance(record["ts"], int)


@pytest.mark.parametrize(
    ("number", "code", "meaning"),
    [
        ("9999900001", "901", "DND failure"),
        ("+919999900001", "901", "DND failure"),
        ("919999900001", "901", "DND failure"),
        ("919999900002", "910", "Invalid subscriber"),
    ],
)
def test_failure_numbers_are_accepted_then_fail_by_dlr(
    client, message, callbacks, number, code, meaning
):
    callbacks.post(message.provider.callback_url, json={"status": "success"})
    response = post(client, sinch_body(msgid=str(message.id), to=number))

    assert response.status_code == 200
    [(_, dlr)] = posted_dlrs(callbacks)
    assert dlr[0]["event"] == "failed"
    assert dlr[0]["data"][0] | {"ts": 0} == {
        "ts": 0,
        "meta": str(message.id),
        "code": code,
        "description": meaning,
    }


def test_the_first_of_several_numbers_decides(client, message, callbacks):
    callbacks.post(message.provider.callback_url, json={"status": "success"})
    post(client, sinch_body(msgid=str(message.id), to="919999900001,919876543210"))
    [(_, dlr)] = posted_dlrs(callbacks)
    assert dlr[0]["event"] == "failed"


def test_the_auth_number_is_rejected_with_401_and_no_dlr(client, message, callbacks):
    response = post(client, sinch_body(msgid=str(message.id), to="919999900004"))
    assert response.status_code == 401
    assert not callbacks.calls


def test_the_server_error_number_answers_500_and_no_dlr(client, message, callbacks):
    response = post(client, sinch_body(msgid=str(message.id), to="+919999900005"))
    assert response.status_code == 500
    assert not callbacks.calls


def test_the_slow_number_answers_only_after_the_read_timeout(
    client, message, callbacks, monkeypatch
):
    slept: list[float] = []
    monkeypatch.setattr(sandbox.time, "sleep", slept.append)
    response = post(client, sinch_body(msgid=str(message.id), to="9999900003"))

    assert slept == [pytest.approx(1.2)]  # the read timeout (0.2 s) plus one second
    assert response.status_code == 504
    assert not callbacks.calls


def test_the_slow_number_never_holds_a_thread_for_more_than_30_seconds(
    client, db, settings, monkeypatch
):
    settings.SMSGATEWAY_READ_TIMEOUT = 120
    slept: list[float] = []
    monkeypatch.setattr(sandbox.time, "sleep", slept.append)
    post(client, sinch_body(to="9999900003"))
    assert slept == [30.0]


@pytest.mark.parametrize("msgid", [str(uuid.uuid4()), "not-a-uuid"])
def test_an_unknown_message_id_is_accepted_but_no_dlr_is_posted(client, db, callbacks, msgid):
    response = post(client, sinch_body(msgid=msgid))
    assert response.status_code == 200
    assert not callbacks.calls


def test_with_a_delay_the_dlr_is_posted_later_from_a_daemon_timer(
    client, message, settings, monkeypatch
):
    settings.SMSGATEWAY_SANDBOX_DLR_DELAY = 2.5
    timers: list[Any] = []

    class FakeTimer:
        def __init__(self, interval: float, function: Any, args: tuple[Any, ...]) -> None:
            self.interval, self.function, self.args = interval, function, args
            self.daemon = False
            self.started = False
            timers.append(self)

        def start(self) -> None:
            self.started = True

    monkeypatch.setattr(sandbox.threading, "Timer", FakeTimer)
    with responses.RequestsMock() as mock:
        mock.post(message.provider.callback_url, json={"status": "success"})
        assert post(client, sinch_body(msgid=str(message.id))).status_code == 200
        assert not mock.calls  # nothing posted yet

        [timer] = timers
        assert (timer.interval, timer.daemon, timer.started) == (2.5, True, True)
        timer.function(*timer.args)
        [(url, dlr)] = posted_dlrs(mock)
    assert url == message.provider.callback_url
    assert dlr[0]["event"] == "delivered"


def test_a_failing_dlr_post_is_logged_not_raised(message, caplog):
    with responses.RequestsMock() as mock:
        mock.post(message.provider.callback_url, body=ConnectionError("refused"))
        sandbox.post_dlr(message.provider.callback_url, str(message.id), "")
    assert "posting the DLR" in caplog.text
    # The callback URL carries the provider's secret token: it must not reach the logs.
    assert message.provider.callback_token not in caplog.text


# --- the documented test numbers


def test_every_test_number_is_documented_in_the_module_docstring():
    numbers = sandbox.test_numbers()
    assert [n["number"] for n in numbers] == [
        "9999900001",
        "9999900002",
        "9999900003",
        "9999900004",
        "9999900005",
        "9999900006",
    ]
    for number in numbers:
        assert number["number"] in (sandbox.__doc__ or "")
        assert number["e164"] == "+91" + number["number"]
