"""Dashboard pages of the DLT registry (Settings › Engage › Channels › SMS › DLT).

Views stay thin: forms parse input, `dlt.services` write, `dlt.imports` reads a file in,
`dlt.check` answers whether a text would pass, templates show.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Count, Model, Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from . import rules, services
from .check import message_check
from .forms import (
    CHECK_TEXT_MAX,
    IMPORT_KINDS,
    CheckForm,
    ColumnMappingForm,
    EntityForm,
    HeaderForm,
    ImportForm,
    RegistryForm,
    TemplateForm,
    WhitelistForm,
)
from .imports import FIELDS, REQUIRED, ImportRefused, import_file, read_columns
from .models import Category, Entity, Header, Template, WhitelistEntry

# An uploaded file waits here between the upload and its column mapping.
IMPORT_DIR = "dlt-imports"
IMPORT_TOKEN_RE = re.compile(r"[0-9a-f]{32}\.(csv|xlsx)")
# A file whose mapping was never chosen is removed after a day.
IMPORT_KEEP_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Kind:
    """One kind of registry record as the pages show it."""

    slug: str  # in the URLs: dlt/<slug>/<pk>/delete/
    model: type[Model]
    form: type[RegistryForm]
    noun: str
    edit_url: str
    intro: str

    def label(self, record: Model) -> str:
        return f"{self.noun.capitalize()} {record}"


KINDS = {
    kind.slug: kind
    for kind in (
        Kind(
            slug="entities",
            model=Entity,
            form=EntityForm,
            noun="entity",
            edit_url="dlt_entity_edit",
            intro="The principal entity (PE): the business that registered the headers, "
            "templates and whitelist on the DLT portal.",
        ),
        Kind(
            slug="headers",
            model=Header,
            form=HeaderForm,
            noun="header",
            edit_url="dlt_header_edit",
            intro="A sender id registered for an entity. Promotional headers are 6 digits; "
            "transactional, service and government headers 6 letters.",
        ),
        Kind(
            slug="templates",
            model=Template,
            form=TemplateForm,
            noun="template",
            edit_url="dlt_template_edit",
            intro="A content template as approved: the fixed text and a tag for each "
            "variable. A message to an Indian number must follow an approved template of "
            "its header.",
        ),
        Kind(
            slug="whitelist",
            model=WhitelistEntry,
            form=WhitelistForm,
            noun="whitelist entry",
            edit_url="dlt_whitelist_edit",
            intro="Operators block links and callback numbers that are not whitelisted: a "
            "static URL must be sent exactly, a dynamic one is a prefix each message "
            "completes.",
        ),
    )
}


def _kind(slug: str) -> Kind:
    try:
        return KINDS[slug]
    except KeyError:
        raise Http404("No such kind of DLT record.") from None


# ---------------------------------------------------------------- the DLT page


@login_required
@require_http_methods(["GET"])
def dlt_overview(request: HttpRequest) -> HttpResponse:
    return _render_overview(request, CheckForm())


def _render_overview(
    request: HttpRequest, check_form: CheckForm, check: Any = None, status: int = 200
) -> HttpResponse:
    header = request.GET.get("header", "").strip().upper()[:11]
    query = request.GET.get("q", "").strip()[:200]
    templates = _templates(header=header, query=query)
    entities = Entity.objects.annotate(
        header_count=Count("headers", distinct=True),
        template_count=Count("templates", distinct=True),
    )
    headers = Header.objects.select_related("entity")
    whitelist = WhitelistEntry.objects.select_related("entity").prefetch_related(
        Prefetch("headers", queryset=Header.objects.only("sender_id"))
    )
    template_total = Template.objects.count()
    return render(
        request,
        "dlt/overview.html",
        {
            "entities": entities,
            "headers": headers,
            "template_rows": [{"template": t, "parts": _text_parts(t.text)} for t in templates],
            "template_total": template_total,
            "whitelist": whitelist,
            "empty": not entities.exists(),
            "header_filter": header,
            "query": query,
            "filtered": bool(header or query),
            "check_form": check_form,
            "check": check,
            "check_category": Category(check.category).label if check and check.category else "",
            "categories": dict(Category.choices),
        },
        status=status,
    )


def _templates(*, header: str, query: str) -> QuerySet[Template]:
    templates = Template.objects.select_related("entity").prefetch_related(
        Prefetch("headers", queryset=Header.objects.only("sender_id"))
    )
    if header:
        templates = templates.filter(headers__sender_id=header)
    if query:
        templates = templates.filter(
            Q(template_id__icontains=query) | Q(name__icontains=query) | Q(text__icontains=query)
        )
    return templates.distinct()


def _text_parts(text: str) -> list[dict[str, Any]]:
    """A template's text as fixed pieces and tags, for the page to mark the tags."""
    parts: list[dict[str, Any]] = []
    position = 0
    for match in rules.TAG_RE.finditer(text):
        if match.start() > position:
            parts.append({"text": text[position : match.start()], "tag": False})
        parts.append({"text": match.group(0), "tag": True})
        position = match.end()
    if position < len(text):
        parts.append({"text": text[position:], "tag": False})
    return parts


# ---------------------------------------------------------------- add, edit, delete


@login_required
@require_http_methods(["GET", "POST"])
def record_form(request: HttpRequest, kind: str, pk: int | None = None) -> HttpResponse:
    """Add (no pk) or edit one entity, header, template or whitelist entry."""
    spec = _kind(kind)
    record = get_object_or_404(spec.model, pk=pk) if pk is not None else None
    form = spec.form(request.POST if request.method == "POST" else None, instance=record)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        if saved is not None:
            messages.success(request, f"{spec.label(saved)} saved.")
            return redirect(reverse("dlt_overview") + f"#{spec.slug}")
    return render(
        request,
        "dlt/record_form.html",
        {"form": form, "kind": spec, "record": record, "uses": _uses(record)},
        status=400 if form.is_bound and form.errors else 200,
    )


def _uses(record: Model | None) -> dict[str, int] | None:
    """What still refers to an entity: it cannot be deleted before those are."""
    if not isinstance(record, Entity):
        return None
    return {
        "headers": record.headers.count(),
        "templates": record.templates.count(),
        "whitelist": record.whitelist.count(),
    }


@login_required
@require_POST
def record_delete(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    spec = _kind(kind)
    record = get_object_or_404(spec.model, pk=pk)
    label = spec.label(record)
    try:
        services.record_delete(record=record)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(spec.edit_url, pk=record.pk)
    messages.success(request, f"{label} deleted.")
    return redirect(reverse("dlt_overview") + f"#{spec.slug}")


# ---------------------------------------------------------------- import


@login_required
@require_http_methods(["GET", "POST"])
def dlt_import(request: HttpRequest) -> HttpResponse:
    """Upload a registry file; when its headings are not recognised, map them, then
    import. The file is kept under MEDIA_ROOT between the two steps."""
    if request.method == "GET":
        return _render_import(request, form=ImportForm())
    if "upload" in request.POST:
        return _import_mapped(request)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render_import(request, form=form, status=400)
    data = form.cleaned_data
    token = _keep_upload(data["file"])
    return _run_import(
        request,
        token=token,
        name=data["file"].name,
        kind=data["kind"],
        entity=data["entity"],
        columns=None,
        form=form,
    )


def _import_mapped(request: HttpRequest) -> HttpResponse:
    kind = request.POST.get("kind", "")
    token = request.POST.get("upload", "")
    if kind not in FIELDS or not IMPORT_TOKEN_RE.fullmatch(token):
        return _render_import(
            request,
            form=ImportForm(),
            error="The import form was incomplete: choose the file again.",
            status=400,
        )
    path = _import_dir() / token
    if not path.exists():
        return _render_import(
            request,
            form=ImportForm(initial={"kind": kind}),
            error="The uploaded file is no longer here: choose it again.",
            status=400,
        )
    name = request.POST.get("name", "")
    if Path(name).suffix.lower() != Path(token).suffix:
        # The stored file's own kind decides how it is read, whatever the form says.
        name = token
    with path.open("rb") as handle:
        headings = read_columns(File(handle, name=name))
    mapping = ColumnMappingForm(request.POST, kind=kind, headings=headings)
    if not mapping.is_valid():
        return _render_import(request, form=None, mapping=mapping, name=name, status=400)
    return _run_import(
        request,
        token=token,
        name=name,
        kind=kind,
        entity=mapping.cleaned_data["entity"],
        columns=mapping.columns(),
        form=None,
    )


def _run_import(
    request: HttpRequest,
    *,
    token: str,
    name: str,
    kind: str,
    entity: Entity | None,
    columns: dict[str, str] | None,
    form: ImportForm | None,
) -> HttpResponse:
    path = _import_dir() / token
    try:
        with path.open("rb") as handle:
            result = import_file(
                file=File(handle, name=name), kind=kind, columns=columns, entity=entity
            )
    except ImportRefused as exc:
        if not exc.missing:
            path.unlink(missing_ok=True)
            form = form or ImportForm(initial={"kind": kind, "entity": entity})
            form.add_error("file", exc.message)
            return _render_import(request, form=form, status=400)
        initial = {"kind": kind, "upload": token, "name": name, "entity": entity}
        initial.update({f"column_{field}": heading for field, heading in (columns or {}).items()})
        mapping = ColumnMappingForm(initial=initial, kind=kind, headings=exc.columns)
        return _render_import(request, form=None, mapping=mapping, name=name, refused=exc)
    path.unlink(missing_ok=True)
    return _render_import(
        request, form=ImportForm(initial={"kind": kind}), result=result, name=name
    )


def _render_import(
    request: HttpRequest,
    *,
    form: ImportForm | None,
    mapping: ColumnMappingForm | None = None,
    name: str = "",
    refused: ImportRefused | None = None,
    result: Any = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "dlt/import.html",
        {
            "form": form,
            "mapping": mapping,
            "name": name,
            "refused": refused,
            "result": result,
            "error": error,
            "layouts": [(kind, FIELDS[kind], REQUIRED[kind]) for kind, _ in IMPORT_KINDS],
        },
        status=status,
    )


def _import_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / IMPORT_DIR


def _keep_upload(file: UploadedFile) -> str:
    """Store the upload under a random name (the token the mapping step posts back)."""
    folder = _import_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stale = time.time() - IMPORT_KEEP_SECONDS
    for old in folder.iterdir():
        try:
            if old.stat().st_mtime < stale:
                old.unlink()
        except FileNotFoundError:
            pass  # another request (or process) removed it first
    suffix = ".xlsx" if (file.name or "").lower().endswith(".xlsx") else ".csv"
    token = uuid.uuid4().hex + suffix
    with (folder / token).open("wb") as out:
        for chunk in file.chunks():
            out.write(chunk)
    return token


# ---------------------------------------------------------------- check a message


@login_required
@require_POST
def dlt_check(request: HttpRequest) -> HttpResponse:
    """Would the operators let this text through? JSON in and out for the page's
    script; a plain form post re-renders the DLT page with the answer."""
    if request.content_type != "application/json":
        form = CheckForm(request.POST)
        if not form.is_valid():
            return _render_overview(request, form, status=400)
        data = form.cleaned_data
        check = message_check(
            data["text"], sender_id=data["sender_id"], template_id=data["template_id"]
        )
        return _render_overview(request, form, check=check)
    try:
        data = json.loads(request.body)
    except ValueError:
        return _check_refused("Send the check as a JSON object.")
    if not isinstance(data, dict):
        return _check_refused("Send the check as a JSON object.")
    text, sender_id, template_id = (data.get(k) or "" for k in ("text", "sender_id", "template_id"))
    if not all(isinstance(v, str) for v in (text, sender_id, template_id)):
        return _check_refused("text, sender_id and template_id must be strings.")
    if not text.strip():
        return _check_refused("Enter the message to check.")
    if len(text) > CHECK_TEXT_MAX:
        return _check_refused(f"A message of at most {CHECK_TEXT_MAX} characters is checked.")
    result = message_check(text, sender_id=sender_id.strip(), template_id=template_id.strip())
    return JsonResponse(result.as_dict())


def _check_refused(error: str) -> JsonResponse:
    return JsonResponse({"ok": False, "error": error}, status=400)
