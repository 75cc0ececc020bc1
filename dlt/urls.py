"""Dashboard pages of the DLT registry (Settings › Engage › Channels › SMS › DLT)."""

from __future__ import annotations

from django.urls import path

from . import views

PREFIX = "settings/engage/channels/sms/dlt/"

urlpatterns = [
    path(PREFIX, views.dlt_overview, name="dlt_overview"),
    path(f"{PREFIX}import/", views.dlt_import, name="dlt_import"),
    path(f"{PREFIX}check/", views.dlt_check, name="dlt_check"),
    path(f"{PREFIX}entities/new/", views.record_form, {"kind": "entities"}, name="dlt_entity_new"),
    path(
        f"{PREFIX}entities/<int:pk>/",
        views.record_form,
        {"kind": "entities"},
        name="dlt_entity_edit",
    ),
    path(f"{PREFIX}headers/new/", views.record_form, {"kind": "headers"}, name="dlt_header_new"),
    path(
        f"{PREFIX}headers/<int:pk>/", views.record_form, {"kind": "headers"}, name="dlt_header_edit"
    ),
    path(
        f"{PREFIX}templates/new/", views.record_form, {"kind": "templates"}, name="dlt_template_new"
    ),
    path(
        f"{PREFIX}templates/<int:pk>/",
        views.record_form,
        {"kind": "templates"},
        name="dlt_template_edit",
    ),
    path(
        f"{PREFIX}whitelist/new/",
        views.record_form,
        {"kind": "whitelist"},
        name="dlt_whitelist_new",
    ),
    path(
        f"{PREFIX}whitelist/<int:pk>/",
        views.record_form,
        {"kind": "whitelist"},
        name="dlt_whitelist_edit",
    ),
    # kind: entities, headers, templates or whitelist.
    path(f"{PREFIX}<str:kind>/<int:pk>/delete/", views.record_delete, name="dlt_delete"),
]
