"""Dashboard forms for campaigns: parse what the browser sends into campaign values.

The campaign rules live in `services.campaign_errors` (shared with the API and the
launch check); the form turns inputs into values, asks that function what is wrong
with the campaign as it would be saved, and puts each message beside its field.
"""

from __future__ import annotations

import copy
from typing import Any

import phonenumbers
from django import forms
from django.utils import timezone

from dlt.models import Header, Template
from providers.models import Provider

from . import dlt_check, services
from .models import Campaign

# Filled from the campaign's own fields (see services.campaign_variables): never asked twice.
OWN_FIELDS = {"SenderID": "sender_id", "EntityID": "entity_id"}
# Campaign fields the form edits as they are; scheduled_at and variables are derived.
EDITED_FIELDS = (
    "name",
    "provider",
    "kind",
    "sender_id",
    "message",
    "template_id",
    "entity_id",
    "dlt_template",
    "default_country",
    "throttle_per_second",
    "throttle_per_5min",
)
SAVED_FIELDS = (*EDITED_FIELDS, "scheduled_at", "variables")
# The largest value a PositiveIntegerField holds on every database.
MAX_THROTTLE = 2_147_483_647


def country_choices() -> list[tuple[str, str]]:
    """Every region phonenumbers knows, as ("IN", "IN (+91)"), India first."""
    regions = sorted(phonenumbers.SUPPORTED_REGIONS - {"IN"})
    return [
        (code, f"{code} (+{phonenumbers.country_code_for_region(code)})")
        for code in ["IN", *regions]
    ]


def custom_names(provider: Provider) -> list[str]:
    """The provider's custom placeholders the marketer types a value for."""
    return [name for name in provider.custom_placeholders if name not in OWN_FIELDS]


def single_newlines(text: str) -> str:
    # Browsers post a textarea's line breaks as CRLF; an SMS carries one character.
    return text.replace("\r\n", "\n")


class CampaignForm(forms.Form):
    """Create or edit a draft campaign."""

    name = forms.CharField(
        max_length=200,
        error_messages={"required": "Give the campaign a name."},
        help_text="Only your team sees it.",
    )
    provider = forms.ModelChoiceField(
        queryset=Provider.objects.none(),
        empty_label="Choose a provider…",
        error_messages={
            "required": "Choose the provider that sends the campaign.",
            "invalid_choice": "That provider no longer exists: choose another.",
        },
    )
    kind = forms.ChoiceField(choices=Campaign.Kind.choices, widget=forms.RadioSelect, label="Kind")
    sender_id = forms.CharField(
        max_length=11,
        required=False,
        label="Sender ID",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    message = forms.CharField(
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 5, "placeholder": "Hi {{first_name|there}}, your order has shipped."}
        ),
        help_text="Personalise with {{column}} or {{column|default}}.",
    )
    template_id = forms.CharField(
        max_length=64,
        required=False,
        label="DLT template ID",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    entity_id = forms.CharField(
        max_length=64,
        required=False,
        label="Principal entity ID",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    dlt_template = forms.CharField(
        required=False,
        label="Registered template text",
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "Hi {#var#}, your order {#var#} has shipped."}
        ),
        help_text="As registered on the DLT portal, with {#var#} or a tag such as "
        "{#numeric#} or {#url#} for each variable part. Filled from the DLT registry when it "
        "holds the template id.",
    )
    default_country = forms.ChoiceField(
        label="Default country",
        help_text="For numbers written without a + and country code.",
    )
    schedule = forms.ChoiceField(
        choices=[("now", "Send at launch"), ("later", "Schedule")],
        widget=forms.RadioSelect,
        label="When",
    )
    scheduled_at = forms.DateTimeField(
        required=False,
        label="Date and time",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    throttle_per_second = forms.IntegerField(
        required=False,
        max_value=MAX_THROTTLE,
        label="Per second",
        widget=forms.NumberInput(attrs={"min": 1, "placeholder": "No limit"}),
    )
    throttle_per_5min = forms.IntegerField(
        required=False,
        max_value=MAX_THROTTLE,
        label="Per 5 minutes",
        widget=forms.NumberInput(attrs={"min": 1, "placeholder": "No limit"}),
    )

    def __init__(self, data: Any = None, *, instance: Campaign | None = None) -> None:
        self.instance = instance
        self.providers = list(Provider.objects.order_by("nickname"))
        if instance is not None:
            initial: dict[str, Any] = {name: getattr(instance, name) for name in EDITED_FIELDS}
            initial["provider"] = instance.provider_id
            initial["schedule"] = "later" if instance.scheduled_at else "now"
            if instance.scheduled_at:
                initial["scheduled_at"] = timezone.localtime(instance.scheduled_at)
            initial.update(
                {f"var_{name}": value for name, value in (instance.variables or {}).items()}
            )
        else:
            initial = {
                "kind": Campaign.Kind.TRANSACTIONAL,
                "default_country": "IN",
                "schedule": "now",
            }
            if len(self.providers) == 1:
                initial["provider"] = self.providers[0].pk
        super().__init__(data, initial=initial)
        self.fields[
            "scheduled_at"
        ].help_text = f"Time zone: {timezone.get_current_timezone_name()}."
        self.fields["provider"].queryset = Provider.objects.order_by(  # type: ignore[attr-defined]
            "nickname"
        )
        self.fields["default_country"].choices = country_choices()  # type: ignore[attr-defined]
        # One input per custom placeholder of any provider; the page shows those of
        # the chosen provider, and only those are required and saved.
        self.names_by_provider = {p.pk: custom_names(p) for p in self.providers}
        self.variable_names = list(
            dict.fromkeys(name for names in self.names_by_provider.values() for name in names)
        )
        for name in self.variable_names:
            self.fields[f"var_{name}"] = forms.CharField(
                label=f"$${name}", max_length=1000, required=False
            )

    # -------------------------------------------------------------- parsing

    def clean_name(self) -> str:
        return str(self.cleaned_data["name"]).strip()

    def clean_sender_id(self) -> str:
        return str(self.cleaned_data["sender_id"]).strip()

    def clean_message(self) -> str:
        return single_newlines(self.cleaned_data["message"])

    def clean_dlt_template(self) -> str:
        return single_newlines(self.cleaned_data["dlt_template"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("schedule") == "later":
            when = cleaned.get("scheduled_at")
            if when is None and not self.has_error("scheduled_at"):
                self.add_error("scheduled_at", "Pick the date and time to send.")
            elif when is not None and when <= timezone.now():
                self.add_error("scheduled_at", "Pick a time in the future.")
        provider = cleaned.get("provider")
        if provider is None:
            return cleaned
        campaign = self.campaign()
        problems = services.campaign_errors(campaign)
        if "variables" in problems:
            if self._place_missing_values(campaign):
                del problems["variables"]
        for name, messages in problems.items():
            if name in self.errors:
                continue  # a field that could not even be parsed already says why
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
        return cleaned

    def _place_missing_values(self, campaign: Campaign) -> bool:
        """Put "enter a value" beside each input a provider placeholder is missing from."""
        values = services.campaign_variables(campaign)
        placed = False
        for name in campaign.provider.custom_placeholders:
            if values.get(name, "").strip():
                continue
            field = OWN_FIELDS.get(name, f"var_{name}")
            if name in OWN_FIELDS:
                label = str(self.fields[field].label)
                message = f"{campaign.provider.nickname} sends $${name}: enter the {label.lower()}."
            else:
                message = f"Enter a value for $${name}."
            if field not in self.errors:
                self.add_error(field, message)
            placed = True
        return placed

    def campaign(self) -> Campaign:
        """The campaign as it would be saved (not saved)."""
        data = self.cleaned_data
        # A copy: a rejected edit must not change the campaign the page shows.
        campaign = copy.copy(self.instance) if self.instance is not None else Campaign()
        for name in EDITED_FIELDS:
            if name in data:
                setattr(campaign, name, data[name])
        campaign.scheduled_at = (
            data.get("scheduled_at") if data.get("schedule") == "later" else None
        )
        dlt_check.registry_fill(campaign)
        provider = data.get("provider")
        names = custom_names(provider) if provider is not None else []
        campaign.variables = {
            name: str(data.get(f"var_{name}") or "").strip()
            for name in names
            if str(data.get(f"var_{name}") or "").strip()
        }
        return campaign

    def save(self, *, user: Any = None) -> Campaign:
        """Create the campaign, or write the edit while the campaign is still a draft.

        Raises services.TransitionNotAllowed when a launch got there first.
        """
        campaign = self.campaign()
        if self.instance is None:
            campaign.created_by = user if getattr(user, "is_authenticated", False) else None
            campaign.save()
            return campaign
        fields = {name: getattr(campaign, name) for name in SAVED_FIELDS}
        return services.campaign_update(campaign=campaign, fields=fields)

    # -------------------------------------------------------------- display

    def dlt_registry(self) -> dict[str, Any] | None:
        """The registry's active headers and approved templates, for the pickers that fill
        the DLT fields (None with an empty registry: the fields are typed by hand)."""
        templates = list(
            Template.objects.filter(status=Template.Status.APPROVED)
            .select_related("entity")
            .prefetch_related("headers")
            .order_by("name", "template_id")
        )
        if not templates:
            return None
        headers = Header.objects.filter(status=Header.Status.ACTIVE).order_by("sender_id")
        return {
            "headers": [
                {"sender_id": h.sender_id, "category": h.get_category_display()} for h in headers
            ],
            "templates": [
                {
                    "template_id": t.template_id,
                    "label": str(t),
                    "text": t.text,
                    "category": t.category,
                    "kind": dlt_check.campaign_kind(t.category),
                    "entity_id": t.entity.entity_id,
                    "headers": [h.sender_id for h in t.headers.all()],
                }
                for t in templates
            ],
        }

    def selected_provider_id(self) -> int | None:
        value = self["provider"].value()
        try:
            return int(value) if value not in (None, "") else None
        except (TypeError, ValueError):
            return None

    def variable_rows(self) -> list[dict[str, Any]]:
        """The custom value inputs, each marked with whether the chosen provider uses it."""
        used = set(self.names_by_provider.get(self.selected_provider_id() or 0, []))
        return [
            {"field": self[f"var_{name}"], "name": name, "shown": name in used}
            for name in self.variable_names
        ]

    def provider_names_map(self) -> dict[str, list[str]]:
        """{provider id: custom placeholder names}, for the page script."""
        return {str(pk): names for pk, names in self.names_by_provider.items()}


class UploadForm(forms.Form):
    """A recipient list: the CSV file, its phone column and the country for national numbers."""

    file = forms.FileField(
        label="CSV file",
        error_messages={
            "required": "Choose a CSV file to upload.",
            "empty": "The file is empty: the first row must name the columns (e.g. phone).",
        },
        widget=forms.FileInput(attrs={"accept": ".csv,text/csv"}),
    )
    phone_column = forms.CharField(
        max_length=100,
        required=False,
        label="Phone column",
        widget=forms.TextInput(attrs={"placeholder": "Found by name", "spellcheck": "false"}),
        help_text="Leave empty to use the column named phone, mobile, to or msisdn.",
    )
    default_country = forms.ChoiceField(label="Default country")

    def __init__(self, data: Any = None, files: Any = None, *, campaign: Campaign) -> None:
        super().__init__(data, files, initial={"default_country": campaign.default_country})
        self.fields["default_country"].choices = country_choices()  # type: ignore[attr-defined]
