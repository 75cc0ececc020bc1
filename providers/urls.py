"""Dashboard URLs, laid out like CleverTap's Settings > Engage > Channels > SMS."""

from __future__ import annotations

from django.urls import path

from providers import views
from providers.inbound import pages as inbound_pages

SMS = "settings/engage/channels/sms/"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path(SMS, views.provider_list, name="provider_list"),
    path(f"{SMS}providers/new/", views.provider_create, name="provider_create"),
    path(f"{SMS}providers/<int:pk>/", views.provider_detail, name="provider_detail"),
    path(f"{SMS}providers/<int:pk>/edit/", views.provider_edit, name="provider_edit"),
    path(f"{SMS}providers/<int:pk>/delete/", views.provider_delete, name="provider_delete"),
    path(f"{SMS}providers/<int:pk>/test-sms/", views.provider_test_sms, name="provider_test_sms"),
    path(
        f"{SMS}providers/<int:pk>/fix-sinch-flags/",
        views.provider_sinch_flags_fix,
        name="provider_sinch_flags_fix",
    ),
    path(f"{SMS}providers/<int:pk>/messages/", views.provider_messages, name="provider_messages"),
    path(f"{SMS}messages/<uuid:pk>/", views.message_detail, name="message_detail"),
    path(f"{SMS}messages/<uuid:pk>/status/", views.message_status, name="message_status"),
    path(f"{SMS}inbox/", inbound_pages.inbox, name="inbox"),
]
