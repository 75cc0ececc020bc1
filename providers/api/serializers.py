"""Serializers of the REST API: providers, test SMS, messages and their events.

Secrets (password, username, header values) are accepted on input and never
returned: the password is write-only, the username and every header value come
back as the mask "********". On update they follow `providers.config.secrets`: the
mask (or blank, or leaving the field out) keeps what is stored and null clears it, so a
client can send back what it read without wiping the credentials.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from providers.api.validators import validate_json_text
from providers.config.secrets import header_edits
from providers.config.services import (
    ProviderInvalid,
    provider_create,
    provider_errors,
    provider_update,
)
from providers.config.validation import PROVIDER_CONFIG_FIELDS
from providers.models import Message, MessageEvent, Provider
from providers.sending.rendering import MASK

# The largest id a BigAutoField holds: a larger number names no row (and overflows SQLite).
MAX_ID = 2**63 - 1


class MaskedCharField(serializers.CharField):
    """A credential written in clear and always read back as the mask."""

    def to_representation(self, value: Any) -> str:
        return MASK if value else ""


class MaskedHeadersField(serializers.DictField):
    """Header name/value pairs whose values are always read back as the mask."""

    def to_representation(self, value: Any) -> dict[str, str]:
        return {str(name): MASK for name in (value or {})}


def _masked_secret(help_text: str) -> MaskedCharField:
    """A secret read back as the mask (so a client sees that one is set)."""
    return MaskedCharField(
        required=False, allow_blank=True, allow_null=True, max_length=255, help_text=help_text
    )


def _write_only_secret(what: str) -> serializers.CharField:
    """A secret never returned; the rule for keeping it is `providers.config.secrets`."""
    return serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        allow_null=True,
        trim_whitespace=False,
        max_length=1000,
        style={"input_type": "password"},
        help_text=f"Never returned. On update, omitted or blank keeps the stored {what} and "
        "null clears it.",
    )


OAUTH_HELP: dict[str, dict[str, Any]] = {
    "oauth_token_url": {
        "help_text": 'For auth_type "oauth2": the token endpoint (client credentials grant).'
    },
    "oauth_client_id": {
        "help_text": "Sent with the client secret as HTTP Basic auth to the token URL "
        "(RFC 6749's recommended client authentication)."
    },
    "oauth_scope": {"help_text": "Optional: the scope asked for, space-separated."},
    "oauth_extra": {
        "help_text": "Optional key-value pairs added to the token request (audience, …).",
        "validators": [validate_json_text],
    },
}


class ProviderSerializer(serializers.ModelSerializer):
    username = _masked_secret(
        f'Read back as "{MASK}" when set. On update, omitted, blank or "{MASK}" keeps the '
        "stored username and null clears it."
    )
    password = _write_only_secret("password")
    oauth_client_secret = _write_only_secret("client secret")
    headers = MaskedHeadersField(
        child=serializers.CharField(allow_blank=True, max_length=4000),
        required=False,
        help_text=f'Header name to value. Values are read back as "{MASK}"; on update, '
        f'"{MASK}" (or blank) keeps the stored value of the header of that name, in any '
        "case; names left out are removed.",
    )
    callback_username = _masked_secret(
        "Optional HTTP basic auth the provider must send with delivery reports. "
        f'Read back as "{MASK}" when set; on update omitted, blank or "{MASK}" keeps it and '
        "null clears it (clear both to turn the check off)."
    )
    callback_password = _write_only_secret("callback password")
    callback_auth = serializers.SerializerMethodField(
        help_text="Whether the callback requires basic auth."
    )
    callback_url = serializers.CharField(
        read_only=True,
        help_text="Delivery-report URL to give the provider. It contains a secret token.",
    )
    inbound_url = serializers.CharField(
        read_only=True,
        help_text="URL to give the provider for replies (MO), in `inbound_format`. It "
        "contains a secret token of its own and takes the callback's basic auth.",
    )
    batch_size = serializers.IntegerField(
        required=False, help_text="Records per request in batch mode, 1 to 1,000."
    )
    custom_placeholders = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Custom $$Name placeholders of the payload; each needs a value in `variables`.",
    )

    class Meta:
        model = Provider
        fields = [
            "id",
            *PROVIDER_CONFIG_FIELDS,
            "callback_auth",
            "callback_url",
            "inbound_url",
            "custom_placeholders",
            "dispatch_error",
            "dispatch_error_at",
            "last_test_at",
            "last_test_ok",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "last_test_at",
            "last_test_ok",
            "dispatch_error",
            "dispatch_error_at",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            # Uniqueness, without regard to case, is the write service's.
            "nickname": {"validators": []},
            "payload": {
                "help_text": "JSON template with $$To, $$Body, $$MessageID … placeholders.",
                "validators": [validate_json_text],
            },
            **OAUTH_HELP,
            "dispatch_error": {
                "help_text": "Why the workers hold this provider's messages (an OAuth 2.0 "
                "token that cannot be had); blank when they send."
            },
            "dlr_mapping": {
                "help_text": 'For dlr_format "custom": {"id" (our message id), "provider_id" '
                '(the provider\'s), "status", "code", "time", "description", "status_map"}.',
                "validators": [validate_json_text],
            },
            "response": {
                "help_text": "How to read the provider's answer: success, message_id, "
                "error_code, error_description ({path} or {regex}), permanent_codes, "
                "transient_codes, batch_results. Empty: any 2xx is accepted.",
                "validators": [validate_json_text],
            },
            "inbound_mapping": {
                "help_text": 'For inbound_format "custom": the field names {"from", "text", '
                '"to", "time"} (from and text required).',
                "validators": [validate_json_text],
            },
        }

    def get_callback_auth(self, provider: Provider) -> bool:
        return provider.callback_requires_auth

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if errors := provider_errors(data=_edit(attrs), provider=self.instance):
            raise serializers.ValidationError(errors)
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Provider:
        try:
            return provider_create(data=_edit(validated_data))
        except ProviderInvalid as exc:
            raise serializers.ValidationError(exc.errors) from exc

    def update(self, instance: Provider, validated_data: dict[str, Any]) -> Provider:
        try:
            return provider_update(provider=instance, data=_edit(validated_data))
        except ProviderInvalid as exc:
            raise serializers.ValidationError(exc.errors) from exc


def _edit(attrs: dict[str, Any]) -> dict[str, Any]:
    """The serializer's fields as the write service takes them (headers as edits)."""
    if "headers" not in attrs:
        return attrs
    return {**attrs, "headers": header_edits(attrs["headers"])}


class ProviderTestSmsSerializer(serializers.Serializer):
    country_code = serializers.CharField(max_length=5, help_text="Calling code, e.g. 91 or +91.")
    mobile = serializers.CharField(max_length=20, help_text="National mobile number.")
    message = serializers.CharField(
        allow_blank=True,
        trim_whitespace=False,
        max_length=2000,
        help_text="Text of the SMS; may be blank when a template id is given.",
    )
    template_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    variables = serializers.DictField(
        required=False,
        validators=[validate_json_text],
        help_text="Values of the provider's custom placeholders, by name.",
    )


class ProviderTestSmsResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message_id = serializers.UUIDField(allow_null=True)
    http_status = serializers.IntegerField(allow_null=True)
    response = serializers.CharField(help_text="The provider's answer, secrets masked.")
    error = serializers.CharField()
    error_kind = serializers.CharField(
        help_text="e.g. auth_rejected, timeout, connection_error, provider_rejected."
    )
    provider_message_id = serializers.CharField(
        help_text="The provider's id for the message, as its response rules read it."
    )
    response_rules = serializers.ListField(
        source="readout",
        child=serializers.CharField(),
        help_text="What each of the provider's response rules read from the answer.",
    )
    dlt_warnings = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Why the operators would reject the text under India's DLT rules (the "
        "test SMS is sent all the same); empty when the DLT registry has nothing against it.",
    )


class MessageEventSerializer(serializers.ModelSerializer):
    # Blank for events that change nothing (replies, duplicate reports).
    status = serializers.ChoiceField(
        choices=Message.Status.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = MessageEvent
        fields = ["created_at", "source", "status", "code", "description", "http_status", "data"]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id",
            "provider",
            "to",
            "body",
            "template_id",
            "status",
            "error_code",
            "error_description",
            "attempts",
            "provider_message_id",
            "created_at",
            "updated_at",
            "submitted_at",
            "completed_at",
        ]
        read_only_fields = fields


class MessageDetailSerializer(MessageSerializer):
    events = MessageEventSerializer(many=True, read_only=True)

    class Meta(MessageSerializer.Meta):
        fields = [*MessageSerializer.Meta.fields, "events"]
        read_only_fields = fields


class MessageCreateSerializer(serializers.Serializer):
    # An id, resolved by the view for every message of a request at once.
    provider = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="Provider id.")
    to = serializers.CharField(
        max_length=64, help_text="Recipient in international form, e.g. +919876543210."
    )
    body = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, default=""
    )
    template_id = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")
    variables = serializers.DictField(
        required=False,
        default=dict,
        validators=[validate_json_text],
        help_text="Values of the provider's custom placeholders.",
    )


# A message's input is validated against fields built once per process: DRF builds a
# serializer's fields afresh for each instance, which cost more than the validation
# itself (180 µs against 50, for every message an integrator queues).
_message_fields: Any = None


def message_input(data: Any) -> tuple[dict[str, Any] | None, Any]:
    """One message's input validated as MessageCreateSerializer does: (data, None) when
    valid, else (None, its errors)."""
    global _message_fields
    if _message_fields is None:
        _message_fields = MessageCreateSerializer().fields
    serializer = MessageCreateSerializer(data=data)
    serializer.__dict__["fields"] = _message_fields  # DRF's cached_property, filled
    if serializer.is_valid():
        return serializer.validated_data, None
    return None, serializer.errors


class MessageFilterSerializer(serializers.Serializer):
    """Query parameters of the message list."""

    status = serializers.ChoiceField(choices=Message.Status.choices, required=False)
    provider = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Provider id."
    )
    to = serializers.CharField(
        required=False,
        max_length=64,
        help_text="A number as typed (+91 98765 43210, 919876543210, 9876543210 …).",
    )
    provider_message_id = serializers.CharField(
        required=False, max_length=100, help_text="The provider's own id for the message."
    )


class DetailErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
