"""DLT registry API serializers: they parse and render; writes go through dlt.services."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model
from rest_framework import serializers

from dlt import services
from dlt.models import Entity, Header, Template, WhitelistEntry


class _ServiceSerializer(serializers.ModelSerializer):
    """A registry record whose create and update go through dlt.services.record_save
    with every field (those a PATCH leaves out as stored)."""

    def _values(self, validated: dict[str, Any]) -> dict[str, Any]:
        instance = self.instance
        values: dict[str, Any] = {}
        for name in services.record_fields(self.Meta.model):
            if name in validated:
                values[name] = validated[name]
            elif instance is not None:
                current = getattr(instance, name)
                values[name] = list(current.all()) if name == "headers" else current
        return values

    def _save(self, record: Model | None, validated: dict[str, Any]) -> Any:
        try:
            return services.record_save(
                model=self.Meta.model, record=record, values=self._values(validated)
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc

    def create(self, validated_data: dict[str, Any]) -> Any:
        return self._save(None, validated_data)

    def update(self, instance: Any, validated_data: dict[str, Any]) -> Any:
        return self._save(instance, validated_data)


class EntitySerializer(_ServiceSerializer):
    class Meta:
        model = Entity
        fields = ["id", "name", "entity_id", "tm_chain_id", "created_at", "updated_at"]
        extra_kwargs = {"name": {"required": False}, "entity_id": {"validators": []}}


class HeaderSerializer(_ServiceSerializer):
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
        read_only_fields = ["last_used_at"]
        # Uniqueness is the service's rule, with its message, on every path.
        extra_kwargs: dict[str, dict[str, Any]] = {"sender_id": {"validators": []}}


class TemplateSerializer(_ServiceSerializer):
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
        extra_kwargs: dict[str, dict[str, Any]] = {"template_id": {"validators": []}}


class WhitelistEntrySerializer(_ServiceSerializer):
    entity = serializers.PrimaryKeyRelatedField(queryset=Entity.objects.all())
    headers = serializers.PrimaryKeyRelatedField(
        queryset=Header.objects.all(), many=True, required=False
    )

    class Meta:
        model = WhitelistEntry
        fields = ["id", "kind", "value", "dynamic", "entity", "headers", "created_at", "updated_at"]
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
