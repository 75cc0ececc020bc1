"""Dashboard forms: parse what the browser sends into provider and test-SMS values.

The configuration rules and the saving live in `providers.config.services` (shared
with the API, the admin and the import); these forms only turn form fields into an
edit, with secrets as `providers.config.secrets` describes, and put each rule's
message beside the field it is about.
"""

from __future__ import annotations

import json
from itertools import zip_longest
from typing import Any

from django import forms
from django.utils.datastructures import MultiValueDict

from providers.config.presets import PRESETS, SINCH_SHORTEN_KEY
from providers.config.secrets import CLEAR, HeaderEdit
from providers.config.services import (
    ProviderInvalid,
    provider_create,
    provider_errors,
    provider_update,
)
from providers.models import Provider
from providers.sending.placeholders import STANDARD_PLACEHOLDERS, find_placeholders
from providers.sending.rendering import MASK

DLR_MAPPING_KEYS = ("id", "provider_id", "status", "code", "time", "description")
INBOUND_KEYS = ("from", "to", "text", "time")


def _getlist(data: Any, name: str) -> list[str]:
    if isinstance(data, MultiValueDict):
        return data.getlist(name)
    value = data.get(name, [])
    return list(value) if isinstance(value, list | tuple) else [value]


def parse_json(text: str, *, what: str) -> Any:
    """Parse JSON or raise a ValidationError that says where the mistake is."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from exc


class WriteOnlyTextInput(forms.TextInput):
    """A visible text input that never renders a value back: what it holds is a secret."""

    def format_value(self, value: Any) -> None:
        return None


class HeaderRowsWidget(forms.Widget):
    """Reads the header table's parallel inputs: one name/value (and stored key) per row.

    `header_key` is the stored name a row started from, so a row whose value is still
    the mask keeps that header's stored value, even when the name was edited.
    """

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[dict[str, str]]:
        rows = zip_longest(
            _getlist(data, "header_key"),
            _getlist(data, "header_name"),
            _getlist(data, "header_value"),
            fillvalue="",
        )
        return [{"key": key, "name": name_, "value": value} for key, name_, value in rows]

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return "header_name" not in data


class HeadersField(forms.Field):
    """Header rows, cleaned: blank rows dropped, names and values stripped."""

    widget = HeaderRowsWidget

    def prepare_value(self, value: Any) -> Any:
        # The initial value is the stored {name: value} dict: show names, mask values.
        if isinstance(value, dict):
            return [{"key": name, "name": name, "value": MASK} for name in value]
        return value

    def clean(self, value: Any) -> list[dict[str, str]]:
        rows = []
        seen: set[str] = set()
        errors = []
        for row in value or []:
            name = str(row.get("name", "")).strip()
            text = str(row.get("value", "")).strip()
            key = str(row.get("key", "")).strip()
            if not name and not text:
                continue
            if not name:
                errors.append("Every header with a value needs a name.")
                continue
            if name in seen:
                # Two rows with one name would silently collapse into one.
                errors.append(f"The header {name} is given twice.")
            seen.add(name)
            rows.append({"key": key, "name": name, "value": text})
        if errors:
            raise forms.ValidationError(errors)
        return rows


def _json_text(value: Any) -> str:
    """A JSON setting as the form shows it: indented, or nothing when empty."""
    return json.dumps(value, indent=2, ensure_ascii=False) if value else ""


class DlrMappingWidget(forms.Widget):
    """Reads the custom-DLR inputs (one per report field, plus the status map)."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> dict[str, str]:
        keys = (*DLR_MAPPING_KEYS, "status_map")
        return {key: str(data.get(f"dlr_{key}_field", "") or "") for key in keys}

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return "dlr_id_field" not in data


class DlrMappingField(forms.Field):
    """The custom DLR field mapping: report field names and a JSON status-value map."""

    widget = DlrMappingWidget

    def prepare_value(self, value: Any) -> Any:
        if (
            isinstance(value, dict)
            and "status_map" in value
            and isinstance(value["status_map"], dict)
        ):
            shown = {key: str(value.get(key, "")) for key in DLR_MAPPING_KEYS}
            status_map = value["status_map"]
            shown["status_map"] = json.dumps(status_map, indent=2) if status_map else ""
            return shown
        if isinstance(value, dict):
            return {key: str(value.get(key, "")) for key in (*DLR_MAPPING_KEYS, "status_map")}
        return {}

    def clean(self, value: Any) -> dict[str, Any]:
        value = value or {}
        names = {key: value.get(key, "").strip() for key in DLR_MAPPING_KEYS}
        mapping: dict[str, Any] = {key: name for key, name in names.items() if name}
        status_map_text = value.get("status_map", "").strip()
        if status_map_text:
            status_map = parse_json(status_map_text, what="The status map")
            if not isinstance(status_map, dict):
                raise forms.ValidationError(
                    'The status map must be a JSON object, e.g. {"DELIVRD": "delivered"}.'
                )
            mapping["status_map"] = {str(k): v for k, v in status_map.items()}
        return mapping


class InboundMappingWidget(forms.Widget):
    """Reads the custom inbound format's inputs: one field name per part of a reply."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> dict[str, str] | None:
        if "inbound_from_field" not in data:
            return None
        return {key: str(data.get(f"inbound_{key}_field", "") or "") for key in INBOUND_KEYS}


class InboundMappingField(forms.Field):
    """The custom inbound mapping: the names of a reply's fields (None: not in the form)."""

    widget = InboundMappingWidget

    def prepare_value(self, value: Any) -> Any:
        shown = value if isinstance(value, dict) else {}
        return {key: str(shown.get(key, "")) for key in INBOUND_KEYS}

    def clean(self, value: Any) -> dict[str, str] | None:
        if value is None:
            return None
        names = {key: str(value.get(key, "")).strip() for key in INBOUND_KEYS}
        return {key: name for key, name in names.items() if name}


class ProviderForm(forms.Form):
    """Add or edit a provider. Secrets (username, password, header values) are write-only."""

    nickname = forms.CharField(
        max_length=100,
        error_messages={"required": "Give the provider a nickname."},
        help_text="A unique name marketers pick the provider by.",
    )
    kind = forms.ChoiceField(
        choices=Provider.Kind.choices, widget=forms.HiddenInput, required=False
    )
    request_type = forms.ChoiceField(
        choices=Provider.RequestType.choices, widget=forms.RadioSelect, label="Request type"
    )
    # Sinch India only: its `s` parameter has Sinch shorten (and track) the links.
    shorten_urls = forms.BooleanField(
        required=False,
        label="Shorten links (Sinch's s parameter)",
        help_text="Sinch replaces each link with a short, tracked one. Whitelist the short "
        "domain on your DLT portal first: operators block links that are not whitelisted.",
    )
    endpoint = forms.CharField(
        max_length=2000,
        required=False,
        label="HTTP endpoint",
        widget=forms.URLInput(
            attrs={"placeholder": "https://api.example.com/sms/send", "spellcheck": "false"}
        ),
    )
    content_type = forms.ChoiceField(
        choices=Provider.ContentType.choices, widget=forms.RadioSelect, label="Body encoding"
    )
    auth_type = forms.ChoiceField(
        choices=Provider.AuthType.choices, widget=forms.RadioSelect, label="Authentication"
    )
    username = forms.CharField(
        required=False,
        widget=WriteOnlyTextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    clear_username = forms.BooleanField(required=False, label="Remove the stored username")
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )
    clear_password = forms.BooleanField(required=False, label="Remove the stored password")
    oauth_token_url = forms.CharField(
        max_length=2000,
        required=False,
        label="Token URL",
        widget=forms.URLInput(
            attrs={"placeholder": "https://auth.example.com/oauth2/token", "spellcheck": "false"}
        ),
    )
    oauth_client_id = forms.CharField(
        max_length=255,
        required=False,
        label="Client ID",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    oauth_client_secret = forms.CharField(
        required=False,
        strip=False,
        label="Client secret",
        help_text="Sent with the client ID as HTTP Basic auth to the token URL (the client "
        "authentication RFC 6749 recommends and token endpoints accept).",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )
    clear_oauth_client_secret = forms.BooleanField(
        required=False, label="Remove the stored client secret"
    )
    oauth_scope = forms.CharField(
        max_length=500,
        required=False,
        label="Scope",
        help_text="Optional; several are separated by spaces.",
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    oauth_extra = forms.CharField(
        required=False,
        label="Extra token request values",
        help_text="Optional JSON key-value pairs sent with the token request, e.g. "
        '{"audience": "sms-api"}.',
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "autocomplete": "off"}),
    )
    headers = HeadersField(required=False)
    payload = forms.CharField(
        required=False,
        label="Payload template",
        widget=forms.Textarea(
            attrs={"rows": 16, "spellcheck": "false", "autocomplete": "off", "wrap": "off"}
        ),
    )
    number_format = forms.ChoiceField(
        choices=Provider.NumberFormat.choices, label="$$To number format"
    )
    batch_enabled = forms.BooleanField(required=False, label="Send in batches")
    batch_key = forms.CharField(
        max_length=100,
        required=False,
        label="Array key",
        widget=forms.TextInput(attrs={"placeholder": "msgs", "spellcheck": "false"}),
    )
    batch_size = forms.IntegerField(
        required=False,
        label="Records per request",
        widget=forms.NumberInput(attrs={"min": 1, "max": 1000}),
    )
    dlr_format = forms.ChoiceField(choices=Provider.DlrFormat.choices, label="DLR format")
    dlr_mapping = DlrMappingField(required=False, label="Field mapping")
    response = forms.CharField(
        required=False,
        label="Response rules",
        widget=forms.Textarea(
            attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off", "wrap": "off"}
        ),
    )
    # Not required: a form posted without it keeps the stored format.
    inbound_format = forms.ChoiceField(
        choices=Provider.InboundFormat.choices, required=False, label="Reply format"
    )
    inbound_mapping = InboundMappingField(required=False, label="Reply field mapping")
    callback_auth = forms.BooleanField(
        required=False, label="Require basic auth on the callback URL"
    )
    callback_username = forms.CharField(
        required=False,
        label="Callback username",
        widget=WriteOnlyTextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    callback_password = forms.CharField(
        required=False,
        strip=False,
        label="Callback password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )

    def __init__(
        self,
        data: Any = None,
        *,
        instance: Provider | None = None,
        preset: str = "generic",
    ) -> None:
        self.instance = instance
        if instance is not None:
            initial = {
                name: getattr(instance, name)
                for name in (
                    "nickname",
                    "kind",
                    "request_type",
                    "endpoint",
                    "content_type",
                    "auth_type",
                    "oauth_token_url",
                    "oauth_client_id",
                    "oauth_scope",
                    "headers",
                    "number_format",
                    "batch_enabled",
                    "batch_key",
                    "batch_size",
                    "dlr_format",
                    "dlr_mapping",
                    "inbound_format",
                    "inbound_mapping",
                )
            }
            initial["payload"] = json.dumps(instance.payload, indent=2, ensure_ascii=False)
            initial["response"] = _json_text(instance.response)
            initial["oauth_extra"] = (
                json.dumps(instance.oauth_extra, ensure_ascii=False) if instance.oauth_extra else ""
            )
            initial["callback_auth"] = instance.callback_requires_auth
            initial["shorten_urls"] = isinstance(instance.payload, dict) and (
                instance.payload.get(SINCH_SHORTEN_KEY) == "1"
            )
        else:
            initial = {"batch_size": 100, "headers": {}, "dlr_mapping": {}}
            initial.update(PRESETS.get(preset, PRESETS["generic"]))
            initial["payload"] = json.dumps(initial["payload"], indent=2, ensure_ascii=False)
            initial["response"] = _json_text(initial.get("response"))
        super().__init__(data, initial=initial)
        if instance is not None:
            self.fields["nickname"].help_text = ""
            if instance.username:
                self.fields["username"].widget.attrs["placeholder"] = "Stored: leave blank to keep"
            if instance.password:
                self.fields["password"].widget.attrs["placeholder"] = "Stored: leave blank to keep"
            for name in ("oauth_client_secret", "callback_username", "callback_password"):
                if getattr(instance, name):
                    self.fields[name].widget.attrs["placeholder"] = "Stored: leave blank to keep"

    # -------------------------------------------------------------- parsing

    @property
    def creating(self) -> bool:
        return self.instance is None

    def clean_endpoint(self) -> str:
        endpoint = self.cleaned_data["endpoint"].strip()
        if any(ch.isspace() for ch in endpoint):
            raise forms.ValidationError("The endpoint may not contain spaces.")
        return endpoint

    def clean_payload(self) -> Any:
        text = self.cleaned_data["payload"].strip()
        return parse_json(text, what="The payload") if text else None

    def clean_response(self) -> Any:
        text = self.cleaned_data["response"].strip()
        return parse_json(text, what="The response rules") if text else {}

    def clean_oauth_token_url(self) -> str:
        return self.cleaned_data["oauth_token_url"].strip()

    def clean_oauth_extra(self) -> Any:
        text = self.cleaned_data["oauth_extra"].strip()
        return parse_json(text, what="The extra token request values") if text else {}

    def clean_headers(self) -> list[HeaderEdit]:
        # A row's key is the stored header it started from: a renamed row keeps its value.
        return [
            HeaderEdit(row["name"], row["value"], row["key"])
            for row in self.cleaned_data["headers"]
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        problems = provider_errors(data=self.provider_data(), provider=self.instance)
        for name, messages in problems.items():
            # A field that could not even be parsed already says why.
            if name in self.errors:
                continue
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
        return cleaned

    def provider_data(self) -> dict[str, Any]:
        """The edit the cleaned input makes, as the write service takes it."""
        data = self.cleaned_data
        stored = self.instance
        values: dict[str, Any] = {
            name: data.get(name)
            for name in (
                "nickname",
                "request_type",
                "endpoint",
                "content_type",
                "auth_type",
                "payload",
                "number_format",
                "batch_key",
                "dlr_format",
                "oauth_token_url",
                "oauth_client_id",
                "oauth_scope",
            )
        }
        values["oauth_extra"] = data.get("oauth_extra") or {}
        values["batch_enabled"] = bool(data.get("batch_enabled"))
        if data.get("batch_size") is not None:
            values["batch_size"] = data["batch_size"]
        values["headers"] = data.get("headers", [])
        values["dlr_mapping"] = data.get("dlr_mapping", {})
        values["response"] = data.get("response", {})
        if data.get("inbound_format"):
            values["inbound_format"] = data["inbound_format"]
        if data.get("inbound_mapping") is not None:
            values["inbound_mapping"] = data["inbound_mapping"]
        # Write-only secrets: a blank input keeps what is stored, a ticked box removes it.
        for secret in ("username", "password", "oauth_client_secret"):
            values[secret] = CLEAR if data.get(f"clear_{secret}") else data.get(secret) or ""
        for secret in ("callback_username", "callback_password"):
            # Unticked, the callback takes reports without auth.
            values[secret] = (data.get(secret) or "") if data.get("callback_auth") else CLEAR
        if self.creating:
            values["kind"] = data.get("kind") or Provider.Kind.GENERIC
        kind = values.get("kind") or (stored.kind if stored is not None else "")
        payload = values.get("payload")
        if kind == Provider.Kind.SINCH_INDIA and isinstance(payload, dict):
            payload = {k: v for k, v in payload.items() if k != SINCH_SHORTEN_KEY}
            if data.get("shorten_urls"):
                payload[SINCH_SHORTEN_KEY] = "1"
            values["payload"] = payload
        return values

    def save(self) -> Provider | None:
        """Create or update the provider from a valid form; None, with the errors on the
        form, when it was refused since (another request took the nickname)."""
        try:
            if self.instance is None:
                return provider_create(data=self.provider_data())
            return provider_update(provider=self.instance, data=self.provider_data())
        except ProviderInvalid as exc:
            for name, messages in exc.errors.items():
                for message in messages:
                    self.add_error(name if name in self.fields else None, message)
            return None

    # -------------------------------------------------------------- display

    def header_rows(self) -> list[dict[str, Any]]:
        """Rows for the header table. Values typed into a rejected form are not echoed:
        only the mask of a stored value goes back to the browser."""
        rows = self["headers"].value() or []
        shown = []
        for row in rows:
            if not row.get("name") and not row.get("value"):
                continue
            keeps_stored = row.get("value") == MASK and bool(row.get("key"))
            shown.append(
                {
                    "key": row.get("key", ""),
                    "name": row.get("name", ""),
                    "value": MASK if keeps_stored else "",
                    "reenter": self.is_bound and not keeps_stored and bool(row.get("value")),
                }
            )
        return shown

    def dlr_mapping_values(self) -> dict[str, str]:
        value = self["dlr_mapping"].value()
        return value if isinstance(value, dict) else {}

    def inbound_mapping_values(self) -> dict[str, str]:
        value = self["inbound_mapping"].value()
        return value if isinstance(value, dict) else {}

    def payload_text(self) -> str:
        return str(self["payload"].value() or "")

    def ui_state(self) -> dict[str, bool]:
        """Which optional sections start open (the page's script keeps them in step)."""
        payload_names = set(find_placeholders(self.payload_text()))
        auth = self["auth_type"].value()
        return {
            "content_type": self["request_type"].value() != "GET",
            "credentials": auth == "basic" or bool({"Username", "Password"} & payload_names),
            "oauth": auth == "oauth2",
            "batch": bool(self["batch_enabled"].value())
            or any(self.has_error(f) for f in ("batch_key", "batch_size")),
            "dlr_mapping": self["dlr_format"].value() == "custom" or self.has_error("dlr_mapping"),
            "callback_auth": bool(self["callback_auth"].value())
            or any(self.has_error(f) for f in ("callback_username", "callback_password")),
        }

    def stored_secrets(self) -> dict[str, bool]:
        """Whether a username/password is stored (never what it is)."""
        stored = self.instance
        return {
            name: bool(stored and getattr(stored, name))
            for name in (
                "username",
                "password",
                "oauth_client_secret",
                "callback_username",
                "callback_password",
            )
        }


# Shown beside each placeholder the payload editor finds; anything else is custom.
_PLACEHOLDER_HELP = {
    "To": "recipient's number",
    "Body": "message text",
    "MessageID": "our message id, returned in DLRs",
    "TemplateID": "DLT template id",
    "TemplateVariables": "template variable values",
    "CampaignID": "campaign reference",
    "Alert": "1 transactional or service, 0 promotional (Sinch India's alert)",
    "International": "true for a number outside India (Sinch India's intflag)",
    "Username": "the username below",
    "Password": "the password below",
    "AccessToken": "the OAuth 2.0 access token (instead of an Authorization header)",
}


def standard_placeholders() -> list[tuple[str, str]]:
    """(name, what it is filled with) for every placeholder the gateway fills itself."""
    return [(name, _PLACEHOLDER_HELP.get(name, "")) for name in STANDARD_PLACEHOLDERS]


class SendTestSmsForm(forms.Form):
    """Send Test SMS: a number, a message, and a value for each custom placeholder."""

    country_code = forms.CharField(
        max_length=5,
        initial="91",
        label="Country code",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    mobile = forms.CharField(
        max_length=20,
        label="Mobile number",
        error_messages={"required": "Enter a mobile number."},
        widget=forms.TextInput(
            attrs={"inputmode": "tel", "autocomplete": "off", "placeholder": "98765 43210"}
        ),
    )
    message = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Hello from smsgateway"}),
    )
    template_id = forms.CharField(
        max_length=64,
        required=False,
        label="Template ID",
        help_text="The DLT template id ($$TemplateID).",
    )

    def __init__(self, data: Any = None, *, provider: Provider) -> None:
        super().__init__(data)
        names = find_placeholders(provider.payload, provider.endpoint)
        if "TemplateID" not in names:
            del self.fields["template_id"]
            self.fields["message"].required = True
            self.fields["message"].error_messages["required"] = "Enter the message to send."
        self.custom_names = provider.custom_placeholders
        for name in self.custom_names:
            self.fields[f"var_{name}"] = forms.CharField(
                label=f"$${name}",
                max_length=500,
                error_messages={"required": f"Enter a value for $${name}."},
            )

    def variables(self) -> dict[str, str]:
        return {name: self.cleaned_data[f"var_{name}"] for name in self.custom_names}

    def variable_fields(self) -> list[forms.BoundField]:
        return [self[f"var_{name}"] for name in self.custom_names]
