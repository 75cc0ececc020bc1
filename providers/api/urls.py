"""URLs of the providers' and messages' API, included by smsgateway.api_urls at /api/v1/
(names in its "api" namespace)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from providers.api.inbound import OptOutViewSet, ReplyViewSet
from providers.api.views import MessageViewSet, ProviderViewSet

router = SimpleRouter()
router.register("providers", ProviderViewSet, basename="provider")
router.register("messages", MessageViewSet, basename="message")
router.register("inbound", ReplyViewSet, basename="reply")
router.register("opt-outs", OptOutViewSet, basename="opt-out")

urlpatterns = router.urls
