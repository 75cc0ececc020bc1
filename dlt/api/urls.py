"""URLs of the DLT registry API, included at /api/v1/dlt/ inside the "api" namespace."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import (
    CheckView,
    EntityViewSet,
    HeaderViewSet,
    ImportView,
    TemplateViewSet,
    WhitelistViewSet,
)

router = SimpleRouter()
router.register("entities", EntityViewSet, basename="dlt-entity")
router.register("headers", HeaderViewSet, basename="dlt-header")
router.register("templates", TemplateViewSet, basename="dlt-template")
router.register("whitelist", WhitelistViewSet, basename="dlt-whitelist")

urlpatterns = [
    *router.urls,
    path("imports/", ImportView.as_view(), name="dlt-import"),
    path("check/", CheckView.as_view(), name="dlt-check"),
]
