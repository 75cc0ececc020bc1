from __future__ import annotations

from django.apps import AppConfig


class DltConfig(AppConfig):
    name = "dlt"
    verbose_name = "India DLT registry"
    default_auto_field = "django.db.models.BigAutoField"
