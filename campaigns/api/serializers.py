"""Serializers of the campaign API: campaigns, their statistics and recipient uploads.

A campaign is validated by services.campaign_errors on the campaign as it would be
saved (the stored values with the request's changes applied), so the API, the
dashboard and the launch check share one set of rules.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from campaigns import dlt_check, services
from campaigns.models import Campaign, Upload, UploadError
from campaigns.selectors import campaign_stats
from providers.api.validators import validate_json_text

from .schema import NamedChoiceField

# What a client may write; everything else is set by the lifecycle.
EDITABLE_FIELDS = (
    "name",
    "provider",
    "kind",
    "sender_id",
    "message",
    "template_id",
    "entity_id",
    "dlt_template",
    "variables",
    "default_country",
    "scheduled_at",
    "throttle_per_second",
    "throttle_per_5min",
)
READ_ONLY_FIELDS: tuple[str, ...] = ("status", "created_at", "launched_at", "completed_at")
# Rejected rows shown with an upload; the full list is the errors.csv download.
ERRORS_SHOWN = 100


class CampaignStatsSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Recipients.")
    queued = serializers.IntegerField(help_text="Messages waiting to be sent.")
    sending = serializers.IntegerField(help_text="Messages being sent now.")
    submitted = serializers.IntegerField(help_text="Accepted by the provider, no report yet.")
    delivered = serializers.IntegerField()
    failed = serializers.IntegerField()
    pending = serializers.IntegerField(help_text="Recipients not yet delivered or failed.")
    delivery_rate = serializers.FloatField(
        allow_null=True, help_text="Delivered, in percent of delivered plus failed."
    )


class CampaignSummarySerializer(serializers.Serializer):
    recipients = serializers.IntegerField()
    messages = serializers.IntegerField(help_text="Messages created so far (from launch on).")
    delivered = serializers.IntegerField()
    failed = serializers.IntegerField()


class CampaignBaseSerializer(serializers.ModelSerializer):
    kind = NamedChoiceField(
        choices=Campaign.Kind.choices,
        required=False,
        schema_name="CampaignKindEnum",
        help_text="Under India's DLT rules, promotional sender ids are 6 digits and "
        "promotional messages go out only 09:00-21:00 IST.",
    )
    status = NamedChoiceField(
        choices=Campaign.Status.choices, read_only=True, schema_name="CampaignStatusEnum"
    )
    variables = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=1000),
        required=False,
        validators=[validate_json_text],  # the names; the child checks the values
        help_text="Values of the provider's custom $$Name placeholders, by name.",
    )

    class Meta:
        model = Campaign
        fields = ["id", *EDITABLE_FIELDS, *READ_ONLY_FIELDS]
        read_only_fields = READ_ONLY_FIELDS
        extra_kwargs = {
            # Blank is left to campaign_errors, which says what to write.
            "message": {"allow_blank": True, "trim_whitespace": False},
            "default_country": {"help_text": "ISO country code for numbers without +, e.g. IN."},
        }

    def validate_default_country(self, value: str) -> str:
        code = value.strip().upper()
        if code not in phonenumbers.SUPPORTED_REGIONS:
            raise serializers.ValidationError(f"{value!r} is not a country code such as IN or US.")
        return code

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The rules apply to the campaign as it will be saved, not to a patch alone.
        stored = self.instance if self.instance is not None else Campaign()
        values = {name: getattr(stored, name) for name in EDITABLE_FIELDS if name != "provider"}
        if self.instance is not None:
            values["provider"] = stored.provider
        campaign = Campaign(**{**values, **attrs})
        if "template_id" in attrs:
            # A template of the DLT registry brings its text, entity and kind.
            dlt_check.registry_fill(campaign)
            attrs.update({n: getattr(campaign, n) for n in ("dlt_template", "entity_id", "kind")})
        errors = services.campaign_errors(campaign)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def update(self, instance: Campaign, validated_data: dict[str, Any]) -> Campaign:
        return services.campaign_update(campaign=instance, fields=validated_data)


class CampaignSerializer(CampaignBaseSerializer):
    stats = serializers.SerializerMethodField()

    class Meta(CampaignBaseSerializer.Meta):
        fields = [*CampaignBaseSerializer.Meta.fields, "stats"]

    @extend_schema_field(CampaignStatsSerializer)
    def get_stats(self, campaign: Campaign) -> dict[str, Any]:
        return CampaignStatsSerializer(campaign_stats(campaign=campaign)).data


class CampaignListItemSerializer(CampaignBaseSerializer):
    """A campaign in the list: counts from two queries per page instead of full stats."""

    summary = serializers.SerializerMethodField()

    class Meta(CampaignBaseSerializer.Meta):
        fields = [*CampaignBaseSerializer.Meta.fields, "summary"]
        read_only_fields = tuple(fields)

    @extend_schema_field(CampaignSummarySerializer)
    def get_summary(self, campaign: Campaign) -> dict[str, int]:
        counts = self.context.get("message_counts", {}).get(campaign.pk, {})
        return {
            "recipients": getattr(campaign, "recipients_count", 0) or 0,
            "messages": counts.get("total", 0),
            "delivered": counts.get("delivered", 0),
            "failed": counts.get("failed", 0),
        }


class UploadErrorSerializer(serializers.ModelSerializer):
    class Meta:
        model = UploadError
        fields = ["row", "phone", "error"]
        read_only_fields = fields


class UploadSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="original_name", read_only=True)
    status = NamedChoiceField(
        choices=Upload.Status.choices, read_only=True, schema_name="UploadStatusEnum"
    )
    progress = serializers.IntegerField(read_only=True, help_text="Percent of the file read.")
    # A field named like Serializer.errors: DRF moves declared fields off the class.
    errors = serializers.SerializerMethodField(  # type: ignore[assignment]
        help_text=f"The first {ERRORS_SHOWN} rejected rows; errors_csv has them all."
    )
    errors_csv = serializers.SerializerMethodField(help_text="Every rejected row, as CSV.")

    class Meta:
        model = Upload
        fields = [
            "id",
            "name",
            "status",
            "progress",
            "rows_total",
            "rows_accepted",
            "rows_rejected",
            "error",
            "errors",
            "errors_csv",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields
        extra_kwargs = {"error": {"help_text": "Why the whole file was refused, if it was."}}

    @extend_schema_field(UploadErrorSerializer(many=True))
    def get_errors(self, upload: Upload) -> Any:
        # The list prefetches the first rows of every upload in one query.
        errors = getattr(upload, "first_errors", None)
        if errors is None:
            errors = upload.errors.order_by("row", "id")[:ERRORS_SHOWN]
        return UploadErrorSerializer(errors, many=True).data

    def get_errors_csv(self, upload: Upload) -> str:
        return reverse(
            "api:campaign-upload-errors",
            args=[upload.campaign_id, upload.pk],
            request=self.context.get("request"),
        )


class UploadCreateSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV (UTF-8 or Excel's CSV) with a header row naming a phone column."
    )
    phone_column = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="The column holding the numbers; found by name (phone, mobile, to …) if empty.",
    )
    default_country = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2,
        help_text="ISO country code for numbers without +; the campaign's by default.",
    )

    def validate_default_country(self, value: str) -> str:
        code = value.strip().upper()
        if code and code not in phonenumbers.SUPPORTED_REGIONS:
            raise serializers.ValidationError(f"{value!r} is not a country code such as IN or US.")
        return code


class LaunchRefusedSerializer(serializers.Serializer):
    errors = serializers.ListField(  # type: ignore[assignment]
        child=serializers.CharField(),
        help_text='Why the campaign cannot go out, e.g. "Row 7 (+91…): No value for …".',
    )
