"""Log formatting: plain lines for people, one JSON object per line for machines.

Every process the product starts (gunicorn, through gunicorn.conf.py, and Django's) times
its lines in UTC with the offset written out, whatever the dashboard's time zone: Django
sets the process's time zone to TIME_ZONE, gunicorn's master never does, and operators
compare lines across processes and machines.

JSON is chosen in settings with `LOG_FORMAT=json`. Each line has `time` (UTC, ISO 8601),
`level`, `logger` and `message`, then every field passed with `extra=`
(`logger.info("...", extra={"message_id": ...})`), and `exception` / `stack` when there
is one. Values JSON cannot hold are written as their `str()`.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came from `extra=`.
RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}


PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def utc_time(record: logging.LogRecord) -> str:
    """When the record was made, in UTC with its offset, to the millisecond."""
    return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")


class UtcFormatter(logging.Formatter):
    """Plain lines timed in UTC: `2026-12-03T14:50:01.123+00:00 INFO name message`."""

    def __init__(self, fmt: str | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(fmt or PLAIN_FORMAT, *args, **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_time(record)


def gunicorn_logging(log_format: str) -> dict[str, Any]:
    """gunicorn's logging configuration (its `logconfig_dict`), in this module's format."""
    formatter = (
        "smsgateway.logging.JsonFormatter" if log_format == "json" else __name__ + ".UtcFormatter"
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "product",
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"product": {"()": formatter}},
        "handlers": {"console": handler},
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
            # No access log: DLR callback paths carry each provider's secret token.
            "gunicorn.access": {"handlers": [], "level": "INFO", "propagate": False},
        },
    }


class JsonFormatter(logging.Formatter):
    """Formats a record as a single line of JSON (newlines inside values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": utc_time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in RECORD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)
