"""Dashboard URLs for campaigns: Engage > Campaigns."""

from __future__ import annotations

from django.urls import path

from . import views

BASE = "engage/campaigns/"
ONE = f"{BASE}<int:pk>/"

urlpatterns = [
    path(BASE, views.campaign_list, name="campaign_list"),
    path(f"{BASE}new/", views.campaign_create, name="campaign_create"),
    path(ONE, views.campaign_detail, name="campaign_detail"),
    path(f"{ONE}edit/", views.campaign_edit, name="campaign_edit"),
    path(f"{ONE}preview/", views.campaign_preview, name="campaign_preview"),
    path(f"{ONE}uploads/", views.campaign_upload, name="campaign_upload"),
    path(
        f"{ONE}uploads/<int:upload_pk>/",
        views.campaign_upload_status,
        name="campaign_upload_status",
    ),
    path(
        f"{ONE}uploads/<int:upload_pk>/rejected.csv",
        views.campaign_upload_errors,
        name="campaign_upload_errors",
    ),
    path(f"{ONE}launch/", views.campaign_launch, name="campaign_launch"),
    path(f"{ONE}pause/", views.campaign_pause, name="campaign_pause"),
    path(f"{ONE}resume/", views.campaign_resume, name="campaign_resume"),
    path(f"{ONE}cancel/", views.campaign_cancel, name="campaign_cancel"),
    path(f"{ONE}progress/", views.campaign_progress, name="campaign_progress"),
    path(f"{ONE}results.csv", views.campaign_export, name="campaign_export"),
]
