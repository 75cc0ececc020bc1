"""Reading a provider's answer with its response rules (`Provider.response`).

Real SMS APIs answer HTTP 200 with an error in the body and name the message by an id of
their own, which later delivery reports carry. The rules say how to tell:

    {"success": {"path": "status", "equals": ["success", "ok"]},  # or {"regex": "..."}
     "message_id": {"path": "msgid"},                             # or {"regex": "id=(\\w+)"}
     "error_code": {"path": "code"}, "error_description": {"path": "description"},
     "permanent_codes": ["4001"], "transient_codes": ["503"],
     "batch_results": {"path": "results", "match": "position"}}   # or {"match": {"path": "msgid"}}

- A path is a dot path into the JSON answer, list indices included (`data.0.id`); a regex
  reads the raw body (its first group, or the whole match).
- A success rule with `equals` passes when the value, as text, is one of them; without,
  when the value is present and not false, null or empty.
- A 2xx that fails the success rule is a failure (`provider_rejected`) with the
  provider's code and description, permanent unless the code is in `transient_codes`.
  On any answer, a code in `permanent_codes` or `transient_codes` decides whether it is
  tried again.
- A rule that cannot be applied (the answer is not JSON, a path is missing) fails the
  send (`answer_unreadable`, permanent: the provider may have taken the message).
- In batch mode with `batch_results`, the path rules are read in each record of that
  list, matched to the messages by position or by the id the record echoes (ours,
  `$$MessageID`); regex rules read the whole answer. A message no record mentions keeps
  the request's outcome.

No rules (an empty object) is the old behaviour: any 2xx is accepted.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from providers.http.transport import ErrorKind, SendResult

READ_RULES = ("success", "message_id", "error_code", "error_description")
CODE_LISTS = ("permanent_codes", "transient_codes")
RULE_KEYS = (*READ_RULES, *CODE_LISTS, "batch_results")
# Longer ids are not ids: the column holds 100 characters.
MAX_ID_LENGTH = 100
_MISSING = object()


class Unreadable(Exception):
    """A rule that cannot be applied to this answer."""


@dataclass
class Reading:
    """What the rules made of one answer: the request's result, each message's result
    (None: the request's, for every message) and, rule by rule, what was read."""

    result: SendResult
    results: list[SendResult] | None = None
    readout: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- checking rules


def response_rules_errors(rules: Any) -> list[str]:
    """Why these rules cannot be saved (empty when they can)."""
    if rules in (None, ""):
        return []
    if not isinstance(rules, dict):
        return ["The response rules must be a JSON object."]
    errors = [f"Unknown rule {key!r}." for key in rules if key not in RULE_KEYS]
    for name in READ_RULES:
        if name in rules:
            errors.extend(f"{name}: {problem}" for problem in _rule_errors(rules[name], name))
    for name in CODE_LISTS:
        codes = rules.get(name, [])
        if not isinstance(codes, list) or not all(isinstance(c, str | int) for c in codes):
            errors.append(f"{name}: must be a list of codes.")
    if "batch_results" in rules:
        errors.extend(f"batch_results: {p}" for p in _batch_errors(rules["batch_results"]))
    return errors


def _rule_errors(rule: Any, name: str) -> list[str]:
    if not isinstance(rule, dict) or ("path" in rule) == ("regex" in rule):
        return ['give either {"path": "..."} or {"regex": "..."}.']
    if "regex" in rule:
        try:
            re.compile(str(rule["regex"]))
        except re.error as exc:
            return [f"the regex does not compile: {exc}."]
    elif not isinstance(rule["path"], str) or not rule["path"].strip():
        return ["the path must be a dot path such as data.0.id."]
    if "equals" in rule:
        if name != "success":
            return ["only the success rule takes equals."]
        equals = rule["equals"]
        if not isinstance(equals, list) or not equals:
            return ["equals must be a list of accepted values."]
    return []


def _batch_errors(rule: Any) -> list[str]:
    if not isinstance(rule, dict) or not isinstance(rule.get("path"), str):
        return ['give {"path": "...", "match": "position"} or {"match": {"path": "..."}}.']
    match = rule.get("match", "position")
    if match != "position" and not (
        isinstance(match, dict) and isinstance(match.get("path"), str) and match["path"]
    ):
        return ['match must be "position" or {"path": "<where the record echoes our id>"}.']
    return []


def reads_message_ids(rules: Any) -> bool:
    """Whether the provider's answers name its own message ids (reports may carry them)."""
    return isinstance(rules, dict) and bool(rules.get("message_id"))


# ---------------------------------------------------------------- reading an answer


def answer_read(
    rules: Any, result: SendResult, *, message_ids: Sequence[str], batch: bool
) -> Reading:
    """Apply the rules to an HTTP answer for these messages (our ids, in request order)."""
    if not rules or result.http_status is None:
        return Reading(result)
    readout: list[str] = []
    answer = _Answer(result.response)
    if not result.ok:
        code = _read_optional(rules, "error_code", answer, readout)
        description = _read_optional(rules, "error_description", answer, readout)
        return Reading(_with_provider_codes(rules, result, code, description), readout=readout)
    records = rules.get("batch_results") if batch else None
    if records:
        return _batch_read(rules, records, result, answer, message_ids, readout)
    return Reading(_verdict(rules, result, answer, readout), readout=readout)


class _Answer:
    """The body, and its JSON once asked for."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._json: Any = _MISSING

    def json(self) -> Any:
        if self._json is _MISSING:
            try:
                self._json = (True, json.loads(self.text))
            except ValueError:
                self._json = (False, None)
        parsed, value = self._json
        if not parsed:
            raise Unreadable("the answer is not JSON")
        return value


def _verdict(
    rules: dict[str, Any],
    result: SendResult,
    answer: _Answer,
    readout: list[str],
    *,
    record: Any = _MISSING,
) -> SendResult:
    """One message's result from a 2xx answer (or from its record of a batch answer)."""
    try:
        if "success" in rules and not _success(rules["success"], answer, record, readout):
            code = _read_optional(rules, "error_code", answer, readout, record=record)
            description = _read_optional(rules, "error_description", answer, readout, record=record)
            return _rejected(rules, result, code, description)
        message_id = ""
        if "message_id" in rules:
            message_id = _value_text(rules["message_id"], answer, record)[:MAX_ID_LENGTH]
            if not message_id:
                raise Unreadable("the message id is empty")
            readout.append(f"message_id {_where(rules['message_id'])}: {message_id}")
    except Unreadable as exc:
        readout.append(f"could not read the answer: {exc}")
        return _changed(
            result, ok=False, error_kind=ErrorKind.UNREADABLE, error=str(exc), retryable=False
        )
    return _changed(result, provider_message_id=message_id) if message_id else result


def _batch_read(
    rules: dict[str, Any],
    records_rule: dict[str, Any],
    result: SendResult,
    answer: _Answer,
    message_ids: Sequence[str],
    readout: list[str],
) -> Reading:
    try:
        records = _at(answer.json(), records_rule["path"])
        if not isinstance(records, list):
            raise Unreadable(f"{records_rule['path']} is not a list")
    except Unreadable as exc:
        readout.append(f"could not read the answer: {exc}")
        code = _read_optional(rules, "error_code", answer, [])
        failed = _changed(
            result, ok=False, error_kind=ErrorKind.UNREADABLE, error=str(exc), retryable=False
        )
        if code:
            failed.code = code
        return Reading(failed, readout=readout)
    match = records_rule.get("match", "position")
    if match == "position":
        found: list[Any] = [
            records[i] if i < len(records) else _MISSING for i in range(len(message_ids))
        ]
    else:
        echoed: dict[str, Any] = {}
        for record in records:
            try:
                echoed.setdefault(_text(_at(record, match["path"])), record)
            except Unreadable:
                continue
        found = [echoed.get(message_id, _MISSING) for message_id in message_ids]
    readout.append(f"batch_results {records_rule['path']}: {len(records)} records")
    results = []
    for position, record in enumerate(found):
        if record is _MISSING:
            results.append(result)  # not mentioned: the request's outcome
            continue
        lines: list[str] = []
        results.append(_verdict(rules, result, answer, lines, record=record))
        if position == 0:
            readout.extend(f"record 1: {line}" for line in lines)
    return Reading(result, results=results, readout=readout)


def _success(rule: dict[str, Any], answer: _Answer, record: Any, readout: list[str]) -> bool:
    if "regex" in rule:
        passed = re.search(str(rule["regex"]), answer.text) is not None
        readout.append(f"success {_where(rule)}: {'matched' if passed else 'no match'}")
        return passed
    value = _at(_document(answer, record), rule["path"])
    if "equals" in rule:
        passed = _text(value) in {_text(accepted) for accepted in rule["equals"]}
    else:
        passed = value not in (None, False, "", [], {})
    verdict = "accepted" if passed else "rejected"
    readout.append(f"success {_where(rule)}: {_text(value)!r} → {verdict}")
    return passed


def _read_optional(
    rules: dict[str, Any], name: str, answer: _Answer, readout: list[str], *, record: Any = _MISSING
) -> str:
    """The error code or description, or '' where the answer does not carry one."""
    rule = rules.get(name)
    if not rule:
        return ""
    try:
        value = _value_text(rule, answer, record)
    except Unreadable:
        return ""
    readout.append(f"{name} {_where(rule)}: {value}")
    return value


def _value_text(rule: dict[str, Any], answer: _Answer, record: Any) -> str:
    if "regex" in rule:
        found = re.search(str(rule["regex"]), answer.text)
        if found is None:
            raise Unreadable(f"no match for {rule['regex']}")
        return (found.group(1) if found.groups() else found.group(0)).strip()
    return _text(_at(_document(answer, record), rule["path"])).strip()


def _document(answer: _Answer, record: Any) -> Any:
    return answer.json() if record is _MISSING else record


def _at(document: Any, path: str) -> Any:
    value = document
    for step in path.strip().split("."):
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif (
            isinstance(value, list)
            and step.lstrip("-").isdigit()
            and -len(value) <= int(step) < len(value)
        ):
            value = value[int(step)]
        else:
            raise Unreadable(f"the answer has no {path}")
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def _where(rule: dict[str, Any]) -> str:
    return f"(path {rule['path']})" if "path" in rule else f"(regex {rule['regex']})"


def _rejected(rules: dict[str, Any], result: SendResult, code: str, description: str) -> SendResult:
    said = " ".join(part for part in (code, description) if part)
    return _changed(
        result,
        ok=False,
        error_kind=ErrorKind.PROVIDER_REJECTED,
        error=(said or f"HTTP {result.http_status}: {result.response[:200]}")[:500],
        code=code[:32],
        retryable=_listed(rules, code, default=False),
    )


def _with_provider_codes(
    rules: dict[str, Any], result: SendResult, code: str, description: str
) -> SendResult:
    """An HTTP error with what the provider's body says about it."""
    if not (code or description):
        return result
    said = " ".join(part for part in (code, description) if part)
    return _changed(
        result,
        error=f"HTTP {result.http_status}: {said}"[:500],
        code=code[:32],
        retryable=_listed(rules, code, default=None),
    )


def _changed(result: SendResult, **changes: Any) -> SendResult:
    """A copy of the result with these changes (the request's result is shared by its
    messages; dataclasses.replace cost more than reading the answer)."""
    changed = copy.copy(result)
    for name, value in changes.items():
        setattr(changed, name, value)
    return changed


def _listed(rules: dict[str, Any], code: str, *, default: bool | None) -> bool | None:
    """Whether a provider's code is worth another try: as the code lists say."""
    if code and code in {str(c) for c in rules.get("transient_codes", [])}:
        return True
    if code and code in {str(c) for c in rules.get("permanent_codes", [])}:
        return False
    return default
