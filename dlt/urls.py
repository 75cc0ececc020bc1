"""Dashboard pages of the DLT registry (Settings › Engage › Channels › SMS › DLT)."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("settings/engage/channels/sms/dlt/", views.dlt_overview, name="dlt_overview"),
]
