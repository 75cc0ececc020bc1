"""The REST API's root, mounted at /api/v1/: each app's routes in one "api" namespace
(api:message-detail, api:campaign-launch, api:dlt-check …).

The apps' URL modules name no namespace of their own and never include each other: the
delivery layer (providers) knows nothing of campaigns or of the DLT registry.
"""

from __future__ import annotations

from django.urls import include, path

app_name = "api"

urlpatterns = [
    path("", include("providers.api.urls")),
    path("dlt/", include("dlt.api.urls")),
    path("", include("campaigns.api.urls")),
]
