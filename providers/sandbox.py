"""Built-in sandbox provider (stub; see issue 2)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def messages_json(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=501)
