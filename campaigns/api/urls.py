"""URLs of the campaign API, included by smsgateway.api_urls at /api/v1/ (namespace "api").

No app_name here: the names join the including "api" namespace (api:campaign-detail).
"""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import CampaignViewSet, UploadViewSet

router = SimpleRouter()
router.register("campaigns", CampaignViewSet, basename="campaign")

UPLOADS = "campaigns/<int:campaign_id>/uploads/"

urlpatterns = [
    *router.urls,
    path(
        UPLOADS,
        UploadViewSet.as_view({"get": "list", "post": "create"}),
        name="campaign-upload-list",
    ),
    path(
        f"{UPLOADS}<int:pk>/",
        UploadViewSet.as_view({"get": "retrieve"}),
        name="campaign-upload-detail",
    ),
    path(
        f"{UPLOADS}<int:pk>/errors.csv",
        UploadViewSet.as_view({"get": "errors_csv"}),
        name="campaign-upload-errors",
    ),
]
