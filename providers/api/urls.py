"""URLs of the REST API, mounted at /api/v1/ (names in the "api" namespace)."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .views import MessageViewSet, ProviderViewSet

app_name = "api"

router = SimpleRouter()
router.register("providers", ProviderViewSet, basename="provider")
router.register("messages", MessageViewSet, basename="message")

urlpatterns = [
    *router.urls,
    path("dlt/", include("dlt.api.urls")),
    path("", include("campaigns.api.urls")),
]
