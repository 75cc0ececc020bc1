"""Django admin for operators: providers, messages, delivery reports and opt-outs.

Provider secrets (username, password, header values) are never rendered: the
change form takes them write-only, and view-only pages show whether they are set.
Messages and delivery reports are read-only records; operators act through actions
that call the services.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from providers import phones
from providers.config.secrets import CLEAR, ENCRYPTED_FIELDS, HeaderEdit
from providers.config.services import (
    ProviderInUse,
    provider_create,
    provider_delete,
    provider_errors,
    provider_in_use,
    provider_rotate_token,
    provider_update,
)
from providers.config.validation import PROVIDER_CONFIG_FIELDS
from providers.inbound.services import opt_out_add, opt_out_remove
from providers.models import DeliveryReport, Lane, Message, MessageEvent, OptOut, Provider, Reply
from providers.selectors import provider_reference_messages
from providers.sending.rendering import MASK
from providers.sending.retry import message_retry

admin.site.site_header = "smsgateway administration"
admin.site.site_title = "smsgateway admin"

# Loading a provider decrypts these; lists that only show its nickname skip them.
PROVIDER_SECRET_FIELDS = tuple(f"provider__{name}" for name in ENCRYPTED_FIELDS)


# ---------------------------------------------------------------- providers


class MaskedHeadersWidget(forms.Textarea):
    """Shows `Name: ********` for every line, whatever value was stored or typed.

    A bound form that failed validation would otherwise echo new header values back.
    """

    def format_value(self, value: Any) -> str | None:
        if not value:
            return None
        lines = []
        for line in str(value).splitlines():
            name, colon, _ = line.partition(":")
            lines.append(f"{name.strip()}: {MASK}" if colon else line)
        return "\n".join(lines)


def _secret_input(label: str, *, password: bool = False) -> forms.CharField:
    """A write-only box: it never shows what is stored, and blank keeps it."""
    return forms.CharField(
        label=label,
        required=False,
        strip=not password,  # a password's spaces are part of it
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password" if password else "off"}
        ),
    )


class ProviderAdminForm(forms.ModelForm):
    """Provider configuration with write-only secrets, saved by the write service.

    Secrets follow `providers.config.secrets`: a blank username or password (or a
    header whose value is blank or the mask) keeps the stored value; the clear boxes
    remove it.
    """

    # Declared so the field says https is assumed (Django 6's default) without a warning.
    endpoint = forms.URLField(label="HTTP endpoint", max_length=2000, assume_scheme="https")
    new_username = _secret_input("Username")
    clear_username = forms.BooleanField(label="Remove the stored username", required=False)
    new_password = _secret_input("Password", password=True)
    clear_password = forms.BooleanField(label="Remove the stored password", required=False)
    oauth_token_url = forms.URLField(
        label="OAuth token URL", max_length=2000, required=False, assume_scheme="https"
    )
    new_oauth_client_secret = _secret_input("OAuth client secret", password=True)
    clear_oauth_client_secret = forms.BooleanField(
        label="Remove the stored client secret", required=False
    )
    new_callback_username = _secret_input("Callback username")
    new_callback_password = _secret_input("Callback password", password=True)
    clear_callback_auth = forms.BooleanField(
        label="Turn off basic auth on the callback", required=False
    )
    inbound_format = forms.ChoiceField(
        label="Reply format", choices=Provider.InboundFormat.choices, required=False
    )
    header_lines = forms.CharField(
        label="Headers",
        required=False,
        widget=MaskedHeadersWidget(attrs={"rows": 4}),
        help_text=(
            f"One header per line, <code>Name: value</code>. Values are never shown: keep "
            f"<code>{MASK}</code> (or leave the value empty) to keep a stored value, delete "
            "the line to remove the header."
        ),
    )

    class Meta:
        model = Provider
        # The configuration that is not secret: secrets have write-only fields above.
        fields = [name for name in PROVIDER_CONFIG_FIELDS if name not in ENCRYPTED_FIELDS]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = self.instance
        self.fields["header_lines"].initial = "\n".join(
            f"{name}: {MASK}" for name in (stored.headers or {})
        )
        for name, value in (("username", stored.username), ("password", stored.password)):
            self.fields[f"new_{name}"].help_text = (
                f"A {name} is stored (hidden). Leave blank to keep it."
                if value
                else f"No {name} stored."
            )
        self.fields["new_oauth_client_secret"].help_text = (
            "A client secret is stored (hidden). Leave blank to keep it. "
            if stored.oauth_client_secret
            else ""
        ) + "Sent with the client ID as HTTP Basic auth to the token URL."
        self.fields["new_callback_username"].help_text = (
            "Delivery reports must carry this basic auth (stored, hidden): leave both blank "
            "to keep it."
            if stored.callback_requires_auth
            else "Optional: set a username and password to require basic auth on the callback."
        )

    def clean_header_lines(self) -> list[HeaderEdit]:
        edits = []
        for line in self.cleaned_data.get("header_lines", "").splitlines():
            if not line.strip():
                continue
            name, colon, value = line.partition(":")
            if not colon or not name.strip():
                # The line itself is not quoted back: it may be a pasted secret.
                raise forms.ValidationError("Write each header as Name: value, one per line.")
            edits.append(HeaderEdit(name.strip(), value.strip()))
        return edits

    def clean_oauth_extra(self) -> Any:
        return self.cleaned_data.get("oauth_extra") or {}

    def clean_dlr_mapping(self) -> Any:
        # An emptied box means "no mapping", not JSON null (the column is not nullable).
        return self.cleaned_data.get("dlr_mapping") or {}

    def clean_response(self) -> Any:
        return self.cleaned_data.get("response") or {}

    def clean_inbound_mapping(self) -> Any:
        return self.cleaned_data.get("inbound_mapping") or {}

    def clean_inbound_format(self) -> str:
        # Left out of a post, the stored (or default) format stays.
        return self.cleaned_data.get("inbound_format") or self.instance.inbound_format

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        edit = {name: cleaned[name] for name in self._meta.fields or () if name in cleaned}
        edit["headers"] = cleaned.get("header_lines", [])
        for name in ("username", "password", "oauth_client_secret"):
            edit[name] = CLEAR if cleaned.get(f"clear_{name}") else cleaned.get(f"new_{name}", "")
        for name in ("callback_username", "callback_password"):
            edit[name] = (
                CLEAR if cleaned.get("clear_callback_auth") else cleaned.get(f"new_{name}", "")
            )
        self.edit = edit
        stored = self.instance if self.instance.pk else None
        form_names = {
            "username": "new_username",
            "password": "new_password",
            "oauth_client_secret": "new_oauth_client_secret",
            "headers": "header_lines",
            "callback_username": "new_callback_username",
            "callback_password": "new_callback_password",
        }
        for name, texts in provider_errors(data=edit, provider=stored).items():
            field = form_names.get(name, name)
            if field in self.errors:
                continue  # the field's own error already says what is wrong
            for text in texts:
                self.add_error(field if field in self.fields else None, text)
        return cleaned


class ReadOnly:
    """For admin pages and inlines of records nobody adds, edits or deletes by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnly, admin.ModelAdmin):
    pass


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderAdminForm

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Provider:
        # Saved here, through the write service; save_model has nothing left to do.
        provider = form.save(commit=False)
        if change:
            return provider_update(provider=provider, data=form.edit)
        return provider_create(data=form.edit)

    def save_model(self, request: HttpRequest, obj: Provider, form: Any, change: bool) -> None:
        pass

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> Any:
        # Through the service, and refused before Django's confirmation page, which would
        # list every message of the provider.
        provider = self.get_object(request, object_id)
        if provider is not None:
            change_page = reverse("admin:providers_provider_change", args=[provider.pk])
            if reason := provider_in_use(provider=provider):
                self.message_user(request, reason, level=messages.ERROR)
                return redirect(change_page)
            if request.method == "POST":
                try:
                    provider_delete(provider=provider)
                except ProviderInUse as exc:
                    self.message_user(request, str(exc), level=messages.ERROR)
                    return redirect(change_page)
                self.message_user(request, f"Provider “{provider.nickname}” deleted.")
                return redirect("admin:providers_provider_changelist")
        return super().delete_view(request, object_id, extra_context)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        for provider in queryset:
            try:
                provider_delete(provider=provider)
            except ProviderInUse as exc:
                self.message_user(request, str(exc), level=messages.ERROR)

    list_display = (
        "nickname",
        "kind",
        "endpoint_host",
        "batch",
        "dlr_format",
        "created_at",
        "last_test",
    )
    list_filter = ("kind", "dlr_format")
    search_fields = ("nickname",)
    actions = ["rotate_callback_token"]
    readonly_fields = (
        "callback_url",
        "inbound_url",
        "last_test_at",
        "last_test_ok",
        "last_test_summary",
        "created_at",
        "updated_at",
        "username_stored",
        "password_stored",
        "header_names",
        "callback_auth",
        "oauth_client_secret_stored",
        "dispatch_error",
        "dispatch_error_at",
    )
    fieldsets = [
        (None, {"fields": ["nickname", "kind", "callback_url"]}),
        (
            "Request",
            {
                "fields": [
                    "request_type",
                    "endpoint",
                    "content_type",
                    "auth_type",
                    "new_username",
                    "clear_username",
                    "new_password",
                    "clear_password",
                    "header_lines",
                ]
            },
        ),
        (
            "OAuth 2.0 client credentials (authentication “OAuth 2.0”)",
            {
                "fields": [
                    "oauth_token_url",
                    "oauth_client_id",
                    "new_oauth_client_secret",
                    "clear_oauth_client_secret",
                    "oauth_scope",
                    "oauth_extra",
                    "dispatch_error",
                    "dispatch_error_at",
                ]
            },
        ),
        (
            "Payload",
            {
                "fields": [
                    "payload",
                    "number_format",
                    "batch_enabled",
                    "batch_key",
                    "batch_size",
                ]
            },
        ),
        (
            "Delivery reports",
            {
                "fields": [
                    "response",
                    "dlr_format",
                    "dlr_mapping",
                    "new_callback_username",
                    "new_callback_password",
                    "clear_callback_auth",
                ]
            },
        ),
        ("Replies", {"fields": ["inbound_url", "inbound_format", "inbound_mapping"]}),
        ("Last test SMS", {"fields": ["last_test_at", "last_test_ok", "last_test_summary"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]
    # Shown only once the provider exists.
    NOT_ON_ADD: dict[str, str | None] = dict.fromkeys(
        [
            "callback_url",
            "inbound_url",
            "clear_username",
            "clear_password",
            "clear_oauth_client_secret",
            "dispatch_error",
            "dispatch_error_at",
            "clear_callback_auth",
            "last_test_at",
            "last_test_ok",
            "last_test_summary",
            "created_at",
            "updated_at",
        ]
    )
    # Pages that cannot edit (view permission only) show whether secrets are set.
    VIEW_ONLY: dict[str, str | None] = {
        "new_username": "username_stored",
        "new_password": "password_stored",
        "header_lines": "header_names",
        "clear_username": None,
        "clear_password": None,
        "new_oauth_client_secret": "oauth_client_secret_stored",
        "clear_oauth_client_secret": None,
        "new_callback_username": "callback_auth",
        "new_callback_password": None,
        "clear_callback_auth": None,
    }

    def get_fieldsets(self, request: HttpRequest, obj: Provider | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return _rewrite(fieldsets, self.NOT_ON_ADD)
        if not self.has_change_permission(request, obj):
            return _rewrite(fieldsets, self.VIEW_ONLY)
        return fieldsets

    @admin.display(description="Endpoint host")
    def endpoint_host(self, obj: Provider) -> str:
        return urlsplit(obj.endpoint).hostname or obj.endpoint

    @admin.display(description="Batch")
    def batch(self, obj: Provider) -> str:
        if not obj.batch_enabled:
            return "No"
        return f"{obj.batch_size} per request in “{obj.batch_key}”"

    @admin.display(description="Last test", ordering="last_test_at")
    def last_test(self, obj: Provider) -> str:
        if obj.last_test_at is None:
            return "Never tested"
        verdict = "OK" if obj.last_test_ok else "Failed"
        return f"{verdict}: {obj.last_test_summary}" if obj.last_test_summary else verdict

    @admin.display(description="Callback URL")
    def callback_url(self, obj: Provider) -> str:
        return obj.callback_url

    @admin.display(description="Inbound URL (replies)")
    def inbound_url(self, obj: Provider) -> str:
        return obj.inbound_url

    @admin.display(description="Username")
    def username_stored(self, obj: Provider) -> str:
        return "Stored (hidden)" if obj.username else "Not set"

    @admin.display(description="Password")
    def password_stored(self, obj: Provider) -> str:
        return "Stored (hidden)" if obj.password else "Not set"

    @admin.display(description="OAuth client secret")
    def oauth_client_secret_stored(self, obj: Provider) -> str:
        return "Stored (hidden)" if obj.oauth_client_secret else "Not set"

    @admin.display(description="Callback basic auth")
    def callback_auth(self, obj: Provider) -> str:
        return "Required (credentials hidden)" if obj.callback_requires_auth else "Off"

    @admin.display(description="Headers")
    def header_names(self, obj: Provider) -> str:
        names = list(obj.headers or {})
        return ", ".join(f"{name}: {MASK}" for name in names) if names else "None"

    @admin.action(description="Rotate the callback and inbound URLs", permissions=["change"])
    def rotate_callback_token(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        count = 0
        for provider in queryset:
            provider_rotate_token(provider=provider)
            count += 1
        self.message_user(
            request,
            f"Rotated the callback and inbound tokens of {count} provider(s). Give each "
            "provider its new callback and inbound URLs: the old ones no longer accept "
            "delivery reports or replies.",
            messages.SUCCESS,
        )


def _rewrite(fieldsets: Any, renames: dict[str, str | None]) -> list[Any]:
    """Rename fields in admin fieldsets; a field renamed to None is dropped."""
    rewritten = []
    for title, options in fieldsets:
        fields = []
        for name in options["fields"]:
            new_name = renames.get(name, name) if isinstance(name, str) else name
            if new_name:
                fields.append(new_name)
        if fields:
            rewritten.append((title, {**options, "fields": fields}))
    return rewritten


# ---------------------------------------------------------------- messages


class MessageEventInline(ReadOnly, admin.TabularInline):
    model = MessageEvent
    fields = (
        "created_at",
        "source",
        "status",
        "code",
        "description",
        "http_status",
        "duration_ms",
        "details",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "event"
    verbose_name_plural = "history"

    @admin.display(description="Details")
    def details(self, obj: MessageEvent) -> SafeString | str:
        if not obj.data:
            return "-"
        # Send attempts store the request already masked, so it is safe to show.
        return format_html(
            '<pre style="white-space: pre-wrap; margin: 0">{}</pre>',
            json.dumps(obj.data, indent=2, ensure_ascii=False),
        )


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "to",
        "provider",
        "status",
        "error_code",
        "attempts",
        "is_test",
    )
    list_filter = ("status", "provider", "is_test")
    list_select_related = ("provider",)
    search_fields = ("to",)
    search_help_text = "A message id, the provider's id for one, or a phone number or part of one."
    # Counting a large message table on every page is the slowest query here.
    show_full_result_count = False
    inlines = [MessageEventInline]
    actions = ["retry_failed"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return super().get_queryset(request).defer(*PROVIDER_SECRET_FIELDS)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Message], search_term: str
    ) -> tuple[QuerySet[Message], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(id=uuid.UUID(term)), False
        except ValueError:
            pass
        by_reference = provider_reference_messages(queryset, term)
        if by_reference is not None:
            return by_reference, False
        # Numbers are stored in E.164; spaces, dashes and a leading + are not part of it.
        digits = "".join(ch for ch in term if ch.isdigit())
        if not digits:
            return queryset.none(), False
        return queryset.filter(to__contains=digits), False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        # Retrying changes messages, so it needs the change permission the admin's
        # own forms are denied.
        return request.user.has_perm("providers.change_message")

    @admin.action(description="Retry failed messages", permissions=["retry"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        requeued = skipped = 0
        for message in queryset.select_related(None).only("id"):
            if message_retry(message=message, actor=request.user.get_username()):
                requeued += 1
            else:
                skipped += 1
        text = f"Requeued {requeued} failed message(s)."
        if skipped:
            text += f" Skipped {skipped} that had not failed."
        self.message_user(request, text, messages.SUCCESS if requeued else messages.WARNING)


# ---------------------------------------------------------------- delivery reports


@admin.register(DeliveryReport)
class DeliveryReportAdmin(ReadOnlyAdmin):
    list_display = (
        "received_at",
        "provider",
        "event",
        "message_ref",
        "message_link",
        "code",
        "outcome",
    )
    list_filter = ("outcome", "event", "provider")
    list_select_related = ("provider",)
    # Case-sensitive, as references are: a prefix match that the reference index serves.
    search_fields = ("message_ref__startswith",)
    search_help_text = "The message id the report names, or its beginning (exact case)."
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[DeliveryReport]:
        return super().get_queryset(request).defer(*PROVIDER_SECRET_FIELDS)

    @admin.display(description="Message")
    def message_link(self, obj: DeliveryReport) -> SafeString | str:
        if obj.message_id is None:
            return "-"
        # Linked by id alone: joining the message table for a link is not worth it.
        url = reverse("admin:providers_message_change", args=[obj.message_id])
        return format_html('<a href="{}">view</a>', url)


# ---------------------------------------------------------------- lanes


@admin.register(Lane)
class LaneAdmin(ReadOnlyAdmin):
    """What the dispatchers send through, to look at: a campaign's lane is changed by
    pausing, resuming or cancelling the campaign, never here."""

    list_display = (
        "name",
        "provider",
        "transactional",
        "state",
        "starts_at",
        "rate",
        "quiet_hours",
        "sealed",
        "drained_at",
    )
    list_filter = ("state", "transactional", "provider")
    list_select_related = ("provider",)
    search_fields = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Lane]:
        return super().get_queryset(request).defer(*PROVIDER_SECRET_FIELDS)


# ---------------------------------------------------------------- opt-outs


class OptOutAdminForm(forms.ModelForm):
    class Meta:
        model = OptOut
        fields = ["phone", "source", "text"]
        help_texts = {"phone": "With the country code, e.g. +919876543210."}

    def clean_phone(self) -> str:
        # Stored in E.164 like messages, or the opt-out would never match a message.
        try:
            return phones.normalize(self.cleaned_data["phone"])
        except phones.InvalidNumber as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(OptOut)
class OptOutAdmin(admin.ModelAdmin):
    """Numbers are added and removed through the opt-out services (an addition fails the
    number's queued campaign messages); an entry is never edited."""

    form = OptOutAdminForm
    list_display = ("phone", "source", "text", "created_at")
    search_fields = ("phone", "text")
    readonly_fields = ("created_at",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: OptOut, form: Any, change: bool) -> None:
        added = opt_out_add(phone=obj.phone, source=obj.source, text=obj.text)
        obj.pk = added.opt_out.pk
        if added.messages_failed:
            self.message_user(
                request,
                f"{added.messages_failed} queued campaign message(s) to {obj.phone} will not "
                "be sent.",
                messages.WARNING,
            )

    def delete_model(self, request: HttpRequest, obj: OptOut) -> None:
        opt_out_remove(phone=obj.phone)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[OptOut]) -> None:
        for phone in queryset.values_list("phone", flat=True):
            opt_out_remove(phone=phone)


# ---------------------------------------------------------------- replies


@admin.register(Reply)
class ReplyAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "phone", "to", "text", "provider", "campaign_ref", "action")
    list_filter = ("action", "provider")
    list_select_related = ("provider",)
    search_fields = ("phone", "text")
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Reply]:
        return super().get_queryset(request).defer(*PROVIDER_SECRET_FIELDS)
