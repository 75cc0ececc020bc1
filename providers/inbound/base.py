"""What every inbound parser returns: the replies a body carries and the records it
could not read (echoed back to the sender, as the DLR callback does).

Bodies are read with the DLR parsers' helpers (`providers.dlr.base`): the same safe JSON,
the same cleaning of strings, the same tolerant times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from providers.dlr.base import RecordError


@dataclass
class Incoming:
    """One reply as a provider sent it: the sender as written (normalised when stored),
    our number or short code, the text and when it was sent. `message_ref` is our
    message id when the provider names the message replied to (CleverTap's `meta`)."""

    phone: str
    text: str
    to: str = ""
    sent_at: datetime | None = None
    message_ref: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class ParsedReplies:
    replies: list[Incoming] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)

    def reject(self, record: Any, error: str) -> None:
        self.errors.append(RecordError(error=error, record=record))
