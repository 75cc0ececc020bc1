"""DRF's JSON parser, also answering 400 for JSON nested too deeply to read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            # DRF turns ValueError into a 400; deep nesting raises this instead.
            raise ParseError("JSON parse error - nested too deeply") from exc
