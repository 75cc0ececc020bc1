from __future__ import annotations

from django.http import HttpResponse
from django.urls import path


def _stub(request, pk=None):  # replaced by the dashboard views
    return HttpResponse("dashboard")


urlpatterns = [
    path("", _stub, name="dashboard"),
    path("settings/engage/channels/sms/providers/<int:pk>/", _stub, name="provider_detail"),
]
