"""Dashboard pages: Settings > Engage > Channels > SMS.

Views stay thin: forms parse input, `services` write, `selectors` read, templates show.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dlt.selectors import failure_links
from providers import selectors
from providers.config import services
from providers.config.presets import PRESETS, sinch_constant_flags
from providers.config.validation import payload_rules
from providers.forms import ProviderForm, SendTestSmsForm, standard_placeholders
from providers.http.transport import ERROR_TITLES
from providers.models import Message, Provider
from providers.pagination import CappedPaginator
from providers.sending import dlt_scrub
from providers.sending.send_now import test_sms_send
from providers.sending.sms_length import sms_length_rules

MESSAGES_PER_PAGE = 50
RECENT_MESSAGES = 10
# The service names test-SMS fields after the message; the form after what the user sees.
TEST_FIELD_NAMES = {"body": "message", "to": "mobile", "variables": "__all__"}


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return redirect("provider_list")


@login_required
@require_GET
def provider_list(request: HttpRequest) -> HttpResponse:
    providers = [
        {"provider": provider, "host": selectors.endpoint_host(provider), "health": health}
        for provider, health in selectors.provider_list()
    ]
    return render(
        request,
        "providers/provider_list.html",
        {
            "rows": providers,
            "presets": _preset_choices(),
            "health_sample": selectors.HEALTH_SAMPLE,
            "health_minutes": int(selectors.HEALTH_WINDOW.total_seconds() // 60),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def provider_create(request: HttpRequest) -> HttpResponse:
    preset = request.GET.get("preset", "generic")
    if preset not in PRESETS:
        preset = "generic"
    form = ProviderForm(request.POST if request.method == "POST" else None, preset=preset)
    if request.method == "POST":
        provider = _save(form)
        if provider is not None:
            messages.success(
                request, f"Provider “{provider.nickname}” saved. Send a test SMS to check it works."
            )
            return redirect(provider)
    return _render_form(request, form, provider=None, preset=preset)


@login_required
@require_http_methods(["GET", "POST"])
def provider_edit(request: HttpRequest, pk: int) -> HttpResponse:
    provider = get_object_or_404(Provider, pk=pk)
    form = ProviderForm(request.POST if request.method == "POST" else None, instance=provider)
    if request.method == "POST":
        saved = _save(form)
        if saved is not None:
            messages.success(request, f"Provider “{saved.nickname}” saved.")
            return redirect(saved)
    return _render_form(request, form, provider=provider, preset=provider.kind)


def _save(form: ProviderForm) -> Provider | None:
    return form.save() if form.is_valid() else None


def _render_form(
    request: HttpRequest, form: ProviderForm, *, provider: Provider | None, preset: str
) -> HttpResponse:
    status = 400 if form.is_bound and form.errors else 200
    return render(
        request,
        "providers/provider_form.html",
        {
            "form": form,
            "provider": provider,
            "preset": preset,
            "preset_label": dict(Provider.Kind.choices).get(preset, "Other (Generic)"),
            "standard_placeholders": standard_placeholders(),
            "payload_rules": payload_rules(),
            "ui": form.ui_state(),
        },
        status=status,
    )


@login_required
@require_GET
def provider_detail(request: HttpRequest, pk: int) -> HttpResponse:
    # The provider and the health of its recent sends, in one query.
    found = selectors.provider_health(providers=Provider.objects.filter(pk=pk))
    if not found:
        raise Http404("No such provider.")
    [(provider, health)] = found
    recent = selectors.provider_messages(provider=provider).messages[:RECENT_MESSAGES]
    uses_sandbox = selectors.provider_uses_sandbox(provider=provider)
    return render(
        request,
        "providers/provider_detail.html",
        {
            "provider": provider,
            "host": selectors.endpoint_host(provider),
            "stats": selectors.provider_stats(provider=provider),
            "health": health,
            "recent": selectors.with_error_meanings(recent),
            "test_form": SendTestSmsForm(provider=provider),
            "uses_sandbox": uses_sandbox,
            "sandbox_numbers": selectors.sandbox_test_numbers() if uses_sandbox else [],
            "sms_length_rules": sms_length_rules(),
            "constant_flags": sinch_constant_flags(provider.payload)
            if provider.kind == Provider.Kind.SINCH_INDIA
            else [],
        },
    )


@login_required
@require_POST
def provider_sinch_flags_fix(request: HttpRequest, pk: int) -> HttpResponse:
    provider = get_object_or_404(Provider, pk=pk)
    if services.provider_sinch_flags_fix(provider=provider):
        messages.success(request, "The payload now sends each message's own alert and intflag.")
    return redirect(provider)


@login_required
@require_POST
def provider_test_sms(request: HttpRequest, pk: int) -> JsonResponse:
    """Send a test SMS now and answer with its outcome as JSON (the page's script shows it)."""
    provider = get_object_or_404(Provider, pk=pk)
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return _field_errors({"__all__": ["Send the test SMS fields as a JSON object."]})
    form = SendTestSmsForm(
        {k: "" if v is None else str(v) for k, v in data.items()}, provider=provider
    )
    if not form.is_valid():
        return _field_errors(
            {name: [str(error) for error in errors] for name, errors in form.errors.items()}
        )
    if not data.get("send_anyway"):
        warnings = dlt_scrub.test_sms_warnings(
            body=form.cleaned_data["message"],
            template_id=form.cleaned_data.get("template_id", ""),
            sender_id=form.variables().get("SenderID", ""),
        )
        if warnings:
            # Nothing is sent yet: the page shows why and offers to send anyway.
            return JsonResponse({"ok": False, "dlt_warnings": warnings})
    result = test_sms_send(
        provider=provider,
        country_code=form.cleaned_data["country_code"],
        mobile=form.cleaned_data["mobile"],
        message=form.cleaned_data["message"],
        template_id=form.cleaned_data.get("template_id", ""),
        variables=form.variables(),
        user=request.user,
    )
    if result.errors:
        return _field_errors(
            {TEST_FIELD_NAMES.get(name, name): errors for name, errors in result.errors.items()}
        )
    answer: dict[str, Any] = {
        "ok": result.ok,
        "message_id": result.message_id,
        "http_status": result.http_status,
        "response": result.response,
        "error_kind": result.error_kind,
        "error_title": ERROR_TITLES.get(result.error_kind, "Send failed") if not result.ok else "",
        "error": result.error,
        "provider_message_id": result.provider_message_id,
        "response_rules": result.readout,
    }
    if result.message_id:
        answer["message_url"] = reverse("message_detail", args=[result.message_id])
        answer["status_url"] = reverse("message_status", args=[result.message_id])
    return JsonResponse(answer)


def _field_errors(errors: dict[str, list[str]]) -> JsonResponse:
    return JsonResponse({"ok": False, "errors": errors}, status=400)


@login_required
@require_GET
def provider_messages(request: HttpRequest, pk: int) -> HttpResponse:
    provider = get_object_or_404(Provider, pk=pk)
    status = request.GET.get("status", "")
    if status not in Message.Status.values:
        status = ""
    number = request.GET.get("q", "").strip()[:32]
    found, exact = selectors.provider_messages(provider=provider, status=status, number=number)
    page = CappedPaginator(found, MESSAGES_PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = selectors.with_error_meanings(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "providers/provider_messages.html",
        {
            "provider": provider,
            "page": page,
            "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2),
            "status": status,
            "number": number,
            "exact_number": exact,
            "partial_scope": selectors.PARTIAL_SEARCH_SCOPE,
            "statuses": Message.Status.choices,
            "query": query.urlencode(),
        },
    )


@login_required
@require_GET
def message_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    message = _get_message(pk)
    return render(
        request,
        "providers/message_detail.html",
        {
            "message": message,
            "provider": message.provider,
            "error_meaning": selectors.error_meaning(message.error_code),
            "dlt_links": failure_links(
                message.error_code,
                sender_id=str((message.variables or {}).get("SenderID", "")),
                entity_id=str((message.variables or {}).get("EntityID", "")),
                template_id=message.template_id,
            )
            if message.status == Message.Status.FAILED
            else [],
            "history": selectors.message_history(message=message),
            "variables": json.dumps(message.variables, indent=2, ensure_ascii=False)
            if message.variables
            else "",
        },
    )


@login_required
@require_GET
def message_status(request: HttpRequest, pk: Any) -> JsonResponse:
    """A message's current status, polled by the pages that show it live."""
    message = _get_message(pk)
    return JsonResponse(
        {
            "id": str(message.id),
            "status": message.status,
            "status_display": message.get_status_display(),
            "terminal": message.is_terminal,
            "error_code": message.error_code,
            "error_meaning": selectors.error_meaning(message.error_code),
            "error_description": message.error_description,
            "events": message.events.count(),
            "updated_at": message.updated_at.isoformat(),
        }
    )


def _get_message(pk: Any) -> Message:
    try:
        return selectors.message_get(message_id=pk)
    except Message.DoesNotExist as exc:
        raise Http404("No such message.") from exc


@login_required
@require_http_methods(["GET", "POST"])
def provider_delete(request: HttpRequest, pk: int) -> HttpResponse:
    provider = get_object_or_404(Provider, pk=pk)
    if request.method == "POST":
        nickname = provider.nickname
        try:
            services.provider_delete(provider=provider)
        except services.ProviderInUse as exc:
            messages.error(request, str(exc))
            return redirect(provider)
        messages.success(request, f"Provider “{nickname}” deleted.")
        return redirect("provider_list")
    return render(
        request,
        "providers/provider_confirm_delete.html",
        {
            "provider": provider,
            "message_count": provider.messages.count(),
        },
    )


def _preset_choices() -> list[dict[str, str]]:
    return [
        {
            "key": "generic",
            "label": "Other (Generic)",
            "description": "Any HTTP API: your endpoint, headers and payload.",
        },
        {
            "key": "sinch_india",
            "label": "Sinch India",
            "description": "Sinch India (ACL) messages.json, pre-filled.",
        },
    ]
