"""Django admin for the DLT registry: entities, headers, templates and whitelist.

Writes go through `dlt.services`, as the dashboard's forms, the API and the import do:
each admin form asks `record_errors` for the reasons a record is refused (shown beside
their fields), and `save_model` saves through `record_save`, which also sets a template's
or whitelist entry's headers.
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
    """A model form whose rules are the service's (dlt.services.record_errors)."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        record = self.instance if self.instance.pk else None
        errors = services.record_errors(model=self._meta.model, record=record, values=cleaned)
        for name, messages in errors.items():
            # A field that could not even be parsed already says why.
            if name in self.errors:
                continue
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
        return cleaned


class ServiceAdmin(admin.ModelAdmin):
    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        services.record_save(model=type(obj), record=obj, values=form.cleaned_data)

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        services.record_delete(record=obj)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The service already set the headers: saving the form's m2m again would only
        # repeat it, outside the service.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


# ---------------------------------------------------------------- entities


class EntityAdminForm(ServiceAdminForm):
    class Meta:
        model = Entity
        fields = services.record_fields(Entity)


@admin.register(Entity)
class EntityAdmin(ServiceAdmin):
    form = EntityAdminForm
    list_display = ("name", "entity_id", "tm_chain_id", "updated_at")
    search_fields = ("name", "entity_id", "tm_chain_id")


# ---------------------------------------------------------------- headers


class HeaderAdminForm(ServiceAdminForm):
    class Meta:
        model = Header
        fields = services.record_fields(Header)


@admin.register(Header)
class HeaderAdmin(ServiceAdmin):
    form = HeaderAdminForm
    list_display = ("sender_id", "category", "entity", "status", "last_used_at")
    list_filter = ("category", "status", "entity")
    list_select_related = ("entity",)
    search_fields = ("sender_id", "entity__name", "entity__entity_id")
    readonly_fields = ("last_used_at",)


# ---------------------------------------------------------------- templates


class TemplateAdminForm(ServiceAdminForm):
    class Meta:
        model = Template
        fields = services.record_fields(Template)


@admin.register(Template)
class TemplateAdmin(ServiceAdmin):
    form = TemplateAdminForm
    list_display = ("template_id", "name", "entity", "category", "content_type", "status")
    list_filter = ("category", "status", "content_type", "entity")
    list_select_related = ("entity",)
    search_fields = ("template_id", "name", "text", "headers__sender_id")


# ---------------------------------------------------------------- whitelist


class WhitelistAdminForm(ServiceAdminForm):
    class Meta:
        model = WhitelistEntry
        fields = services.record_fields(WhitelistEntry)


@admin.register(WhitelistEntry)
class WhitelistEntryAdmin(ServiceAdmin):
    form = WhitelistAdminForm
    list_display = ("value", "kind", "dynamic", "entity")
    list_filter = ("kind", "dynamic", "entity")
    list_select_related = ("entity",)
    search_fields = ("value", "entity__name", "entity__entity_id", "headers__sender_id")
