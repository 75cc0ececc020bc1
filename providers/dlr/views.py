"""DLR callback view (stub)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def dlr_callback(request: HttpRequest, token: str) -> HttpResponse:
    return HttpResponse(status=501)
