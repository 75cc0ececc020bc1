"""The JSON log formatter: one object per line, `extra` fields included."""

from __future__ import annotations

import json
import logging
import logging.config
import sys
import uuid
from datetime import datetime
from typing import Any

from smsgateway.logging import JsonFormatter


def record(
    msg: str, *args: object, extra: dict[str, Any] | None = None, exc_info: Any = None
) -> logging.LogRecord:
    """A record as `logging.getLogger("providers.services").info(...)` would make it."""
    logger = logging.getLogger("providers.services")
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
    assert entry["logger"] == "providers.services"
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
