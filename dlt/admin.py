"""Django admin for the DLT registry: entities, headers, templates and whitelist.

Writes go through `dlt.services`, as the dashboard's forms and the import do: each
admin form asks the service's `*_errors` for the reasons a record is refused (shown
beside their fields), and `save_model` saves through the `*_save` service, which also
sets a template's or whitelist entry's headers.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from . import services
from .models import Entity, Header, Template, WhitelistEntry


class ServiceAdminForm(forms.ModelForm):
    """A model form whose rules are the service's."""

    def service_errors(self, cleaned: dict[str, Any]) -> dict[str, list[str]]:
        return {}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name, messages in self.service_errors(cleaned).items():
            # A field that could not even be parsed already says why.
            if name in self.errors:
                continue
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
        return cleaned


class ServiceAdmin(admin.ModelAdmin):
    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        services.record_delete(record=obj)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The service already set the headers: saving the form's m2m again would only
        # repeat it, outside the service.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


# ---------------------------------------------------------------- entities


@admin.register(Entity)
class EntityAdmin(ServiceAdmin):
    list_display = ("name", "entity_id", "tm_chain_id", "updated_at")
    search_fields = ("name", "entity_id", "tm_chain_id")
    fields = ("name", "entity_id", "tm_chain_id")

    def save_model(self, request: HttpRequest, obj: Entity, form: Any, change: bool) -> None:
        data = form.cleaned_data
        services.entity_save(
            entity=obj,
            name=data["name"],
            entity_id=data["entity_id"],
            tm_chain_id=data.get("tm_chain_id") or "",
        )


# ---------------------------------------------------------------- headers


class HeaderAdminForm(ServiceAdminForm):
    class Meta:
        model = Header
        fields = ("sender_id", "category", "entity", "status")

    def clean_sender_id(self) -> str:
        return str(self.cleaned_data["sender_id"]).strip().upper()

    def service_errors(self, cleaned: dict[str, Any]) -> dict[str, list[str]]:
        return services.header_errors(
            header=self.instance,
            sender_id=cleaned.get("sender_id", ""),
            category=cleaned.get("category", ""),
            entity=cleaned.get("entity"),
        )


@admin.register(Header)
class HeaderAdmin(ServiceAdmin):
    form = HeaderAdminForm
    list_display = ("sender_id", "category", "entity", "status", "last_used_at")
    list_filter = ("category", "status", "entity")
    list_select_related = ("entity",)
    search_fields = ("sender_id", "entity__name", "entity__entity_id")
    readonly_fields = ("last_used_at",)

    def save_model(self, request: HttpRequest, obj: Header, form: Any, change: bool) -> None:
        data = form.cleaned_data
        services.header_save(
            header=obj,
            sender_id=data["sender_id"],
            category=data["category"],
            entity=data["entity"],
            status=data["status"],
        )


# ---------------------------------------------------------------- templates


class TemplateAdminForm(ServiceAdminForm):
    class Meta:
        model = Template
        fields = (
            "template_id",
            "name",
            "entity",
            "headers",
            "category",
            "content_type",
            "text",
            "status",
        )

    def service_errors(self, cleaned: dict[str, Any]) -> dict[str, list[str]]:
        return services.template_errors(
            template=self.instance,
            template_id=cleaned.get("template_id", ""),
            entity=cleaned.get("entity"),
            headers=list(cleaned.get("headers") or []),
            category=cleaned.get("category", ""),
            text=cleaned.get("text", ""),
        )


@admin.register(Template)
class TemplateAdmin(ServiceAdmin):
    form = TemplateAdminForm
    list_display = ("template_id", "name", "entity", "category", "content_type", "status")
    list_filter = ("category", "status", "content_type", "entity")
    list_select_related = ("entity",)
    search_fields = ("template_id", "name", "text", "headers__sender_id")

    def save_model(self, request: HttpRequest, obj: Template, form: Any, change: bool) -> None:
        data = form.cleaned_data
        services.template_save(
            template=obj,
            template_id=data["template_id"],
            name=data.get("name") or "",
            entity=data["entity"],
            headers=data["headers"],
            category=data["category"],
            content_type=data["content_type"],
            text=data["text"],
            status=data["status"],
        )


# ---------------------------------------------------------------- whitelist


class WhitelistAdminForm(ServiceAdminForm):
    class Meta:
        model = WhitelistEntry
        fields = ("kind", "value", "dynamic", "entity", "headers")

    def service_errors(self, cleaned: dict[str, Any]) -> dict[str, list[str]]:
        return services.whitelist_errors(
            entry=self.instance,
            kind=cleaned.get("kind", ""),
            value=str(cleaned.get("value", "")).strip(),
            entity=cleaned.get("entity"),
            headers=list(cleaned.get("headers") or []),
        )


@admin.register(WhitelistEntry)
class WhitelistEntryAdmin(ServiceAdmin):
    form = WhitelistAdminForm
    list_display = ("value", "kind", "dynamic", "entity")
    list_filter = ("kind", "dynamic", "entity")
    list_select_related = ("entity",)
    search_fields = ("value", "entity__name", "entity__entity_id", "headers__sender_id")

    def save_model(
        self, request: HttpRequest, obj: WhitelistEntry, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        services.whitelist_save(
            entry=obj,
            kind=data["kind"],
            value=data["value"],
            dynamic=data.get("dynamic", False),
            entity=data["entity"],
            headers=data["headers"],
        )
