"""DLT registry API serializers: they parse and render; writes go through dlt.services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model
from rest_framework import serializers

from dlt import services
from dlt.models import Entity, Header, Template, WhitelistEntry


def _saved(save: Callable[..., Model], **values: Any) -> Any:
    try:
        return save(**values)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from exc


class _ServiceSerializer(serializers.ModelSerializer):
    """A registry record whose create and update call its service with every field."""

    save_with: Callable[..., Model]
    instance_arg: str

    def _values(self, validated: dict[str, Any]) -> dict[str, Any]:
        instance = self.instance
        values: dict[str, Any] = {}
        for name in self.Meta.writable:  # type: ignore[attr-defined]
            if name in validated:
                values[name] = validated[name]
            elif instance is not None:
                current = getattr(instance, name)
                values[name] = list(current.all()) if name == "headers" else current
        return values

    def create(self, validated_data: dict[str, Any]) -> Any:
        return _saved(type(self).save_with, **self._values(validated_data))

    def update(self, instance: Any, validated_data: dict[str, Any]) -> Any:
        values = self._values(validated_data)
        return _saved(type(self).save_with, **{self.instance_arg: instance}, **values)


class EntitySerializer(_ServiceSerializer):
    save_with = staticmethod(services.entity_save)
    instance_arg = "entity"

    class Meta:
        model = Entity
        fields = ["id", "name", "entity_id", "tm_chain_id", "created_at", "updated_at"]
        writable = ["name", "entity_id", "tm_chain_id"]
        extra_kwargs = {"name": {"required": False}, "entity_id": {"validators": []}}


class HeaderSerializer(_ServiceSerializer):
    save_with = staticmethod(services.header_save)
    instance_arg = "header"
    entity = serializers.PrimaryKeyRelatedField(queryset=Entity.objects.all())

    class Meta:
        model = Header
        fields = [
            "id",
            "sender_id",
            "category",
            "entity",
            "status",
            "last_used_at",
            "created_at",
            "updated_at",
        ]
        writable = ["sender_id", "category", "entity", "status"]
        read_only_fields = ["last_used_at"]
        # Uniqueness is the service's rule, with its message, on every path.
        extra_kwargs: dict[str, dict[str, Any]] = {"sender_id": {"validators": []}}


class TemplateSerializer(_ServiceSerializer):
    save_with = staticmethod(services.template_save)
    instance_arg = "template"
    entity = serializers.PrimaryKeyRelatedField(queryset=Entity.objects.all())
    headers = serializers.PrimaryKeyRelatedField(
        queryset=Header.objects.all(), many=True, required=False
    )

    class Meta:
        model = Template
        fields = [
            "id",
            "template_id",
            "name",
            "entity",
            "headers",
            "category",
            "content_type",
            "text",
            "status",
            "created_at",
            "updated_at",
        ]
        writable = [
            "template_id",
            "name",
            "entity",
            "headers",
            "category",
            "content_type",
            "text",
            "status",
        ]
        extra_kwargs: dict[str, dict[str, Any]] = {"template_id": {"validators": []}}


class WhitelistEntrySerializer(_ServiceSerializer):
    save_with = staticmethod(services.whitelist_save)
    instance_arg = "entry"
    entity = serializers.PrimaryKeyRelatedField(queryset=Entity.objects.all())
    headers = serializers.PrimaryKeyRelatedField(
        queryset=Header.objects.all(), many=True, required=False
    )

    class Meta:
        model = WhitelistEntry
        fields = ["id", "kind", "value", "dynamic", "entity", "headers", "created_at", "updated_at"]
        writable = ["kind", "value", "dynamic", "entity", "headers"]
        validators: list[object] = []


class ImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A CSV or XLSX file as the DLT portal exports it.")
    kind = serializers.ChoiceField(choices=["templates", "headers", "whitelist"])
    columns = serializers.JSONField(
        required=False,
        help_text="Our field to the file's column, for columns not recognised: "
        '{"text": "Msg Body"}.',
    )
    entity = serializers.PrimaryKeyRelatedField(
        queryset=Entity.objects.all(),
        required=False,
        allow_null=True,
        help_text="The entity of rows that name none (a file without an entity column).",
    )

    def validate_columns(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise serializers.ValidationError(
                'Send an object of field to column name, e.g. {"text": "Msg Body"}.'
            )
        return value


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    error = serializers.CharField()


class ImportResultSerializer(serializers.Serializer):
    kind = serializers.CharField()
    rows_total = serializers.IntegerField()
    rows_accepted = serializers.IntegerField()
    rows_rejected = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    errors = ImportErrorSerializer(many=True)  # type: ignore[assignment]
    columns = serializers.DictField(child=serializers.CharField())


class ImportRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())
    missing = serializers.ListField(child=serializers.CharField())


class CheckSerializer(serializers.Serializer):
    text = serializers.CharField(trim_whitespace=False, max_length=5000)
    sender_id = serializers.CharField(required=False, allow_blank=True, max_length=11, default="")
    template_id = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")


class CheckVariableSerializer(serializers.Serializer):
    tag = serializers.CharField()
    value = serializers.CharField()
    ok = serializers.BooleanField()
    error = serializers.CharField()


class CheckResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    template_id = serializers.CharField()
    category = serializers.CharField()
    variables = CheckVariableSerializer(many=True)
    errors = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]
    matches = serializers.ListField(
        child=serializers.CharField(),
        help_text="Without a template id: every approved template the text fits.",
    )
