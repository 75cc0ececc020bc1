"""The JSON log formatter: one object per line, `extra` fields included."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smsgateway.logging import JsonFormatter, UtcFormatter


def record(
    msg: str, *args: object, extra: dict[str, Any] | None = None, exc_info: Any = None
) -> logging.LogRecord:
    """A record as `logging.getLogger("providers.sending.record").info(...)` would make it."""
    logger = logging.getLogger("providers.sending.record")
    return logger.makeRecord(
        logger.name, logging.INFO, __file__, 1, msg, args, exc_info, extra=extra
    )


def test_a_line_has_time_level_logger_message_and_the_extra_fields():
    message_id = uuid.uuid4()
    line = JsonFormatter().format(
        record(
            "message %s attempt %s: %s",
            message_id,
            2,
            "submitted",
            extra={"message_id": message_id, "attempt": 2},
        )
    )
    entry = json.loads(line)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "providers.sending.record"
    assert entry["message"] == f"message {message_id} attempt 2: submitted"
    assert entry["message_id"] == str(message_id)
    assert entry["attempt"] == 2
    assert datetime.fromisoformat(entry["time"]).utcoffset().total_seconds() == 0
    assert not {"args", "msg", "levelno", "pathname", "exc_info"} & entry.keys()


def test_a_multiline_message_stays_on_one_line():
    line = JsonFormatter().format(record("first\nsecond"))
    assert "\n" not in line
    assert json.loads(line)["message"] == "first\nsecond"


def test_an_exception_is_included_with_its_traceback():
    try:
        raise ValueError("bad value")
    except ValueError:
        failed = record("it failed", exc_info=sys.exc_info())
    entry = json.loads(JsonFormatter().format(failed))
    assert "Traceback" in entry["exception"]
    assert "ValueError: bad value" in entry["exception"]


def test_an_extra_field_cannot_replace_the_standard_ones():
    entry = json.loads(JsonFormatter().format(record("hello", extra={"level": "FAKE"})))
    assert entry["level"] == "INFO"


def test_settings_can_name_it_as_a_formatter_factory():
    configurator = logging.config.DictConfigurator({})
    formatter = configurator.configure_formatter({"()": "smsgateway.logging.JsonFormatter"})
    assert isinstance(formatter, JsonFormatter)


# ---------------------------------------------------------------- plain lines, one time zone

UTC_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 [A-Z]+ \S+ ")


def test_plain_lines_are_timed_in_utc_whatever_the_process_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        entry = record("started")
        entry.created = datetime(2026, 12, 3, 15, 45, 1, 250000, tzinfo=UTC).timestamp()
        line = UtcFormatter().format(entry)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert line == "2026-12-03T15:45:01.250+00:00 INFO providers.sending.record started"


def test_gunicorn_and_django_write_the_same_utc_lines(tmp_path):
    """Both the processes `dev.py run` starts: gunicorn's own lines and Django's."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "LOG_FORMAT": "plain", "TIME_ZONE": "Asia/Kolkata"}
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "smsgateway.wsgi", "--bind", "127.0.0.1:0"],
        cwd=root,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert web.stderr is not None
        lines = [web.stderr.readline() for _ in range(2)]
    finally:
        web.terminate()
        web.wait(timeout=30)
    assert all(UTC_LINE.match(line) for line in lines), lines
    django = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "import logging; logging.getLogger('x').warning('hi')",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert UTC_LINE.match(django.stderr.splitlines()[-1]), django.stderr
    # Start-up is quiet: no library's banner before the line the command wrote.
    assert django.stderr.splitlines() == [django.stderr.splitlines()[-1]], django.stderr
