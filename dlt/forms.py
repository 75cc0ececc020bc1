"""Dashboard forms of the DLT registry: parse what the browser sends and save it through
`dlt.services`, with each of the service's reasons beside the field it is about."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet

from . import rules, services
from .imports import FIELDS, REQUIRED
from .models import Category, Entity, Header, Template, WhitelistEntry

CATEGORY_CHOICES = [("", "Choose…"), *Category.choices]
TAG_HELP = " ".join(rules.tag_label(tag) for tag in rules.TAGS)
CHECK_TEXT_MAX = 2000
IMPORT_KINDS = [("templates", "Templates"), ("headers", "Headers"), ("whitelist", "Whitelist")]


class HeaderChoiceField(forms.ModelMultipleChoiceField):
    """Headers as ticked boxes, each named with its category and entity."""

    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: Model) -> str:
        assert isinstance(obj, Header)
        return f"{obj.sender_id} · {obj.get_category_display()} · {obj.entity.name}"


def _entity_field(**kwargs: Any) -> forms.ModelChoiceField[Entity]:
    return forms.ModelChoiceField(Entity.objects.all(), empty_label="Choose…", **kwargs)


def _headers() -> QuerySet[Header]:
    return Header.objects.select_related("entity")


class RegistryForm(forms.Form):
    """A form for one kind of registry record: the service's reasons beside the fields,
    and `save()` writes it through the service (dlt.services.record_save)."""

    model: type[Model]

    def __init__(self, data: Any = None, *, instance: Any = None) -> None:
        self.instance = instance
        super().__init__(data, initial=self.initial_from(instance) if instance else None)

    def initial_from(self, instance: Any) -> dict[str, Any]:
        return {name: getattr(instance, name) for name in self.base_fields}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self.add_service_errors(
            services.record_errors(model=self.model, record=self.instance, values=cleaned)
        )
        return cleaned

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        for name, messages in errors.items():
            # A field that could not even be parsed already says why.
            if name in self.errors:
                continue
            for message in messages:
                self.add_error(name if name in self.fields else None, message)

    def save(self) -> Any:
        """The saved record, or None when the service refused it (its reasons are
        then on the form)."""
        try:
            return self.service_save()
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                self.add_service_errors(exc.message_dict)
            else:
                self.add_error(None, exc)
            return None

    def service_save(self) -> Any:
        return services.record_save(
            model=self.model, record=self.instance, values=self.cleaned_data
        )


class EntityForm(RegistryForm):
    model = Entity

    name = forms.CharField(
        max_length=200,
        required=False,
        help_text="The business as registered. Leave empty to use the PE id.",
    )
    entity_id = forms.CharField(
        max_length=64,
        label="PE id",
        error_messages={"required": "Enter the PE id from the DLT portal."},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "spellcheck": "false"}),
        help_text="The principal entity id the DLT portal gave you (Sinch India's dpi).",
    )
    tm_chain_id = forms.CharField(
        max_length=200,
        required=False,
        label="Telemarketer chain id",
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
        help_text="The PE–TM chain declared on the DLT portal; some aggregators ask for it.",
    )


class HeaderForm(RegistryForm):
    model = Header

    sender_id = forms.CharField(
        max_length=11,
        label="Sender id",
        error_messages={"required": "Enter the header as registered."},
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
        help_text="6 digits for a promotional header, 6 letters for the others.",
    )
    category = forms.ChoiceField(
        choices=CATEGORY_CHOICES,
        error_messages={"required": "Choose the header's category."},
    )
    entity = _entity_field(
        error_messages={"required": "Choose the entity the header is registered for."}
    )
    status = forms.ChoiceField(
        choices=Header.Status.choices, initial=Header.Status.ACTIVE, widget=forms.RadioSelect
    )


class TemplateForm(RegistryForm):
    model = Template

    template_id = forms.CharField(
        max_length=64,
        label="Template id",
        error_messages={"required": "Enter the template id from the DLT portal."},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "spellcheck": "false"}),
    )
    name = forms.CharField(
        max_length=200, required=False, help_text="Your name for it, e.g. OTP or Diwali offer."
    )
    entity = _entity_field(
        error_messages={"required": "Choose the entity the template is registered for."}
    )
    category = forms.ChoiceField(
        choices=CATEGORY_CHOICES,
        error_messages={"required": "Choose the template's category."},
    )
    headers = HeaderChoiceField(
        _headers(),
        required=False,
        help_text="The headers it was registered for; none means any header of the entity.",
    )
    content_type = forms.ChoiceField(
        choices=Template.ContentType.choices,
        initial=Template.ContentType.TEXT,
        widget=forms.RadioSelect,
        label="Content type",
    )
    text = forms.CharField(
        max_length=2000,
        error_messages={"required": "Enter the template's text as registered."},
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text=f"As registered, each variable written as a tag: {TAG_HELP}.",
    )
    status = forms.ChoiceField(
        choices=Template.Status.choices, initial=Template.Status.APPROVED, widget=forms.RadioSelect
    )

    def initial_from(self, instance: Any) -> dict[str, Any]:
        initial = super().initial_from(instance)
        initial["headers"] = list(instance.headers.all())
        return initial


class WhitelistForm(RegistryForm):
    model = WhitelistEntry

    kind = forms.ChoiceField(
        choices=WhitelistEntry.Kind.choices,
        initial=WhitelistEntry.Kind.URL,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose a URL, an OTT/APK link or a callback number."},
    )
    value = forms.CharField(
        max_length=2000,
        error_messages={"required": "Enter the link or number as whitelisted."},
        widget=forms.TextInput(
            attrs={"spellcheck": "false", "placeholder": "https://example.com/offer"}
        ),
        help_text="A link such as https://example.com/offer, or a callback number.",
    )
    dynamic = forms.BooleanField(
        required=False,
        label="Dynamic URL",
        help_text="A registered prefix that each message completes, not the exact link.",
    )
    entity = _entity_field(error_messages={"required": "Choose the entity that whitelisted it."})
    headers = HeaderChoiceField(
        _headers(),
        required=False,
        help_text="Only for these headers; none means every header of the entity.",
    )

    def initial_from(self, instance: Any) -> dict[str, Any]:
        initial = super().initial_from(instance)
        initial["headers"] = list(instance.headers.all())
        return initial


# ---------------------------------------------------------------- import


class ImportForm(forms.Form):
    """A registry export to import: what it holds, the file, and its entity."""

    kind = forms.ChoiceField(
        choices=IMPORT_KINDS, initial="templates", widget=forms.RadioSelect, label="The file holds"
    )
    file = forms.FileField(
        label="CSV or XLSX file",
        error_messages={
            "required": "Choose the CSV or XLSX file to import.",
            "empty": "The file is empty: the first row must name the columns.",
        },
        widget=forms.FileInput(
            attrs={
                "accept": ".csv,.xlsx,text/csv,"
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        ),
        help_text="An export of the DLT portal, or your own sheet with a heading row.",
    )
    entity = forms.ModelChoiceField(
        Entity.objects.all(),
        required=False,
        empty_label="From the file's entity column",
        help_text="For a file without an entity (PE id) column.",
    )


class ColumnMappingForm(forms.Form):
    """Which of the file's headings holds each field the import reads."""

    kind = forms.ChoiceField(choices=IMPORT_KINDS, widget=forms.HiddenInput)
    upload = forms.CharField(widget=forms.HiddenInput)
    name = forms.CharField(widget=forms.HiddenInput, required=False)
    entity = forms.ModelChoiceField(Entity.objects.all(), required=False, widget=forms.HiddenInput)

    def __init__(self, data: Any = None, *, kind: str, headings: list[str], **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.import_kind = kind
        columns = [(h, h) for h in headings]
        for name in FIELDS[kind]:
            required = name in REQUIRED[kind]
            # A field left blank is found by its heading, when the file has a known one.
            blank = "Choose a column…" if required else "Found by its heading, if any"
            self.fields[f"column_{name}"] = forms.ChoiceField(
                choices=[("", blank), *columns],
                required=required,
                label=name.replace("_", " ").capitalize(),
                error_messages={"required": "Choose the column that holds it."},
            )

    def column_fields(self) -> list[forms.BoundField]:
        return [self[f"column_{name}"] for name in FIELDS[self.import_kind]]

    def columns(self) -> dict[str, str]:
        """{field: heading} for every field given a column."""
        return {
            name: self.cleaned_data[f"column_{name}"]
            for name in FIELDS[self.import_kind]
            if self.cleaned_data.get(f"column_{name}")
        }


# ---------------------------------------------------------------- check


class CheckForm(forms.Form):
    """A message to check against the registry, for one header or template or any."""

    text = forms.CharField(
        max_length=CHECK_TEXT_MAX,
        strip=False,
        label="Message",
        error_messages={"required": "Enter the message to check."},
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "Your OTP is 123456. Do not share it. - Acme"}
        ),
    )
    sender_id = forms.ChoiceField(required=False, label="Header")
    template_id = forms.ChoiceField(required=False, label="Template")

    def __init__(self, data: Any = None) -> None:
        super().__init__(data)
        headers = Header.objects.values_list("sender_id", flat=True)
        templates = Template.objects.values_list("template_id", "name")
        self.fields["sender_id"].choices = [  # type: ignore[attr-defined]
            ("", "Any header"),
            *((s, s) for s in headers),
        ]
        self.fields["template_id"].choices = [  # type: ignore[attr-defined]
            ("", "Any approved template"),
            *((t, f"{name} ({t})" if name else t) for t, name in templates),
        ]
