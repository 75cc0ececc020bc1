"""Reading a provider's answer with its response rules: each rule on its own."""

from __future__ import annotations

import json

import pytest

from providers.http.response_rules import answer_read, response_rules_errors
from providers.http.transport import ErrorKind, SendResult

SINCH = {
    "success": {"path": "status", "equals": ["success", "ok"]},
    "message_id": {"path": "msgid"},
    "error_code": {"path": "code"},
    "error_description": {"path": "description"},
    "transient_codes": ["503"],
}


def answer(body: object, status: int = 200) -> SendResult:
    text = body if isinstance(body, str) else json.dumps(body)
    return SendResult(ok=200 <= status < 300, http_status=status, response=text)


def read(rules, body, status=200, ids=("m1",), batch=False):
    result = answer(body, status)
    if not result.ok:
        result.error_kind = ErrorKind.REJECTED if status < 500 else ErrorKind.SERVER_ERROR
        result.error = f"HTTP {status}: {result.response}"
    return answer_read(rules, result, message_ids=list(ids), batch=batch)


def test_no_rules_accepts_any_2xx_as_before():
    reading = read({}, {"status": "error"})
    assert reading.result.ok
    assert reading.results is None
    assert reading.readout == []


def test_an_accepted_answer_gives_the_providers_id():
    reading = read(SINCH, {"status": "success", "code": "200", "msgid": "ab12"})
    assert reading.result.ok
    assert reading.result.provider_message_id == "ab12"
    assert "message_id (path msgid): ab12" in reading.readout


def test_a_200_with_an_error_in_the_body_is_a_permanent_rejection_with_its_code():
    reading = read(SINCH, {"status": "error", "code": "4001", "description": "Invalid template"})
    result = reading.result
    assert not result.ok
    assert result.error_kind == ErrorKind.PROVIDER_REJECTED
    assert f"{result.error_title}: {result.error}" == "Provider rejected: 4001 Invalid template"
    assert result.code == "4001"
    assert not result.transient
    assert "success (path status): 'error' → rejected" in reading.readout


def test_a_rejection_whose_code_is_listed_transient_is_tried_again():
    reading = read(SINCH, {"status": "error", "code": "503", "description": "Busy"})
    assert reading.result.error_kind == ErrorKind.PROVIDER_REJECTED
    assert reading.result.transient


def test_an_http_error_takes_the_code_and_description_from_the_body():
    rules = {**SINCH, "permanent_codes": ["INVALID_NUMBER"]}
    reading = read(rules, {"code": "INVALID_NUMBER", "description": "No such number"}, 503)
    result = reading.result
    assert result.error == "HTTP 503: INVALID_NUMBER No such number"
    # 503 would be retried; the provider's code says it is no use.
    assert not result.transient
    plain = read(SINCH, {"code": "X", "description": "Down"}, 503).result
    assert plain.transient


def test_a_text_answer_is_read_by_regex():
    rules = {"success": {"regex": r"^OK\b"}, "message_id": {"regex": r"id=(\w+)"}}
    accepted = read(rules, "OK id=77abc")
    assert accepted.result.ok and accepted.result.provider_message_id == "77abc"
    refused = read({**rules, "error_description": {"regex": r"ERR (.*)"}}, "ERR bad sender")
    assert refused.result.error_kind == ErrorKind.PROVIDER_REJECTED
    assert refused.result.error == "bad sender"


def test_ids_are_read_by_dot_paths_with_list_indices():
    rules = {"message_id": {"path": "data.0.id"}}
    reading = read(rules, {"data": [{"id": 123456}]})
    assert reading.result.provider_message_id == "123456"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("<html>Bad gateway</html>", "the answer is not JSON"),
        ({"result": "ok"}, "the answer has no status"),
    ],
)
def test_a_rule_that_cannot_be_applied_fails_the_send_with_the_reason(body, reason):
    reading = read(SINCH, body)
    result = reading.result
    assert not result.ok
    assert result.error_kind == ErrorKind.UNREADABLE
    assert result.error == reason
    # The provider may have taken it: never sent again on our guess.
    assert not result.transient
    assert f"could not read the answer: {reason}" in reading.readout


def test_an_accepted_answer_without_the_id_is_not_understood():
    reading = read(SINCH, {"status": "success"})
    assert reading.result.error_kind == ErrorKind.UNREADABLE
    assert reading.result.error == "the answer has no msgid"


BATCH = {
    "message_id": {"path": "msgid"},
    "success": {"path": "status", "equals": ["ok"]},
    "error_code": {"path": "code"},
}


def test_a_batch_answer_is_read_record_by_record_by_position():
    rules = {**BATCH, "batch_results": {"path": "results", "match": "position"}}
    body = {
        "results": [
            {"status": "ok", "msgid": "p1"},
            {"status": "failed", "code": "4002"},
        ]
    }
    reading = read(rules, body, ids=["m1", "m2", "m3"], batch=True)
    first, second, third = reading.results
    assert first.ok and first.provider_message_id == "p1"
    assert not second.ok and second.code == "4002"
    assert second.error_kind == ErrorKind.PROVIDER_REJECTED
    # Not mentioned: the request's outcome (accepted).
    assert third.ok and third.provider_message_id == ""


def test_a_batch_answer_is_matched_by_the_id_each_record_echoes():
    rules = {**BATCH, "batch_results": {"path": "results", "match": {"path": "ref"}}}
    body = {
        "results": [
            {"ref": "m2", "status": "ok", "msgid": "p2"},
            {"ref": "m1", "status": "rejected", "code": "DND"},
        ]
    }
    reading = read(rules, body, ids=["m1", "m2"], batch=True)
    first, second = reading.results
    assert not first.ok and first.code == "DND"
    assert second.ok and second.provider_message_id == "p2"


def test_a_batch_answer_without_its_list_fails_every_message():
    rules = {**BATCH, "batch_results": {"path": "results"}}
    reading = read(rules, {"status": "error", "code": "401"}, ids=["m1", "m2"], batch=True)
    assert reading.results is None
    assert reading.result.error_kind == ErrorKind.UNREADABLE
    assert reading.result.code == "401"


def test_outside_batch_mode_the_batch_rule_is_not_used():
    rules = {**BATCH, "batch_results": {"path": "results"}}
    reading = read(rules, {"status": "ok", "msgid": "x9"})
    assert reading.result.provider_message_id == "x9"


@pytest.mark.parametrize(
    ("rules", "error"),
    [
        ([], "must be a JSON object"),
        ({"succes": {"path": "s"}}, "Unknown rule 'succes'"),
        ({"success": {"path": "s", "regex": "x"}}, "success: give either"),
        ({"message_id": {"regex": "("}}, "message_id: the regex does not compile"),
        ({"message_id": {"path": "id", "equals": ["1"]}}, "only the success rule takes equals"),
        ({"success": {"path": "s", "equals": "ok"}}, "equals must be a list"),
        ({"transient_codes": "503"}, "transient_codes: must be a list of codes"),
        ({"batch_results": {"path": "r", "match": "order"}}, 'match must be "position"'),
    ],
)
def test_rules_that_cannot_work_are_refused_with_a_reason(rules, error):
    assert any(error in problem for problem in response_rules_errors(rules))


def test_the_sinch_preset_rules_are_valid():
    from providers.config.presets import PRESETS

    assert response_rules_errors(PRESETS["sinch_india"]["response"]) == []
