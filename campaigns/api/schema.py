"""OpenAPI detail: choice sets of the campaign API as named schema components.

Campaigns, uploads, messages and providers each have a `status` or `kind` with its own
choices; left to drf-spectacular, these would get hash-suffixed names and a warning.
A NamedChoiceField names its choice set (CampaignStatusEnum, UploadStatusEnum …).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_choice_field
from rest_framework import serializers


class NamedChoiceField(serializers.ChoiceField):
    def __init__(self, *, schema_name: str, **kwargs: Any) -> None:
        self.schema_name = schema_name
        super().__init__(**kwargs)


class NamedChoiceFieldExtension(OpenApiSerializerFieldExtension):
    target_class = NamedChoiceField

    def get_name(self) -> str:
        return self.target.schema_name

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = build_choice_field(self.target)
        schema.pop("x-spec-enum-id", None)  # only used to name unnamed enums
        return schema
