"""Root URLs: dashboard, API, DLR callback, inbound URL, sandbox provider, admin."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from providers.dlr.views import dlr_callback
from providers.inbound.views import inbound_callback
from providers.ops import health, metrics, sandbox

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("dlr/<str:token>/", dlr_callback, name="dlr_callback"),
    path("mo/<str:token>/", inbound_callback, name="inbound_callback"),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/", include("smsgateway.api_urls")),
    # Answers 404 unless SMSGATEWAY_SANDBOX_ENABLED is on.
    path("sandbox/sinch-india/messages.json", sandbox.messages_json, name="sandbox_send"),
    path("", include("dlt.urls")),
    path("", include("campaigns.urls")),
    path("", include("providers.urls")),
]
