"""The scrub check: would the operators let this text through for this header?

It answers what an operator's DLT scrubbing would: the header is registered and active,
the template is approved, linked to the header and of a category the header may carry,
both belong to one entity, the text follows the template's fixed parts, each variable
fits its tag, and every link and callback number is whitelisted. The registry is read
once into a `Registry` snapshot, so a campaign's launch checks a million texts without
asking the database again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

from django.db.models import Q
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from smsgateway.process_cache import ProcessCache

from . import rules
from .models import Category, Entity, Header, Template, WhitelistEntry

LINK_TAGS = ("url", "urlott")


@dataclass
class Variable:
    tag: str
    value: str
    ok: bool
    error: str = ""


@dataclass
class CheckResult:
    ok: bool
    template_id: str = ""
    category: str = ""
    variables: list[Variable] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Every approved template the text fits (a check made without a template id).
    matches: list[str] = field(default_factory=list)
    # How many of the errors, at the end, are about the text rather than the header
    # and template.
    text_errors: int = field(default=0, repr=False)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["text_errors"]
        return data

    @property
    def summary(self) -> str:
        return "; ".join(self.errors)


def categories_fit(header: str, template: str) -> bool:
    """Whether a header of one category may carry a template of another.

    Promotional and government traffic each needs a header of its own category. Headers
    for transactional and service messages are the same kind of 6-letter header (portals
    register them as "others"): any of them carries any such template.
    """
    own = {Category.PROMOTIONAL, Category.GOVERNMENT}
    if header in own or template in own:
        return header == template
    return True


def alert_flag(category: str) -> str:
    """Sinch India's `alert`: 0 for promotional messages, 1 for the rest."""
    return "0" if category == Category.PROMOTIONAL else "1"


# ---------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class HeaderView:
    sender_id: str
    category: str
    entity: str
    active: bool


@dataclass(frozen=True)
class TemplateView:
    template_id: str
    category: str
    entity: str
    text: str
    approved: bool
    headers: frozenset[str]

    @cached_property
    def parsed(self) -> rules.ParsedTemplate:
        # Kept with the snapshot: a header's templates are matched on every check.
        return rules.parse_template(self.text)


@dataclass(frozen=True)
class EntryView:
    kind: str
    value: str
    dynamic: bool
    headers: frozenset[str]


class Whitelist:
    """An entity's whitelisted links and numbers that one header may use."""

    def __init__(self, entries: Iterable[EntryView]) -> None:
        self.links = [(e.kind, e.value, e.dynamic) for e in entries if e.kind != "cbn"]
        self.numbers = {rules.normalise_number(e.value) for e in entries if e.kind == "cbn"}

    def allows_link(self, url: str, kinds: Iterable[str] = LINK_TAGS) -> bool:
        wanted = set(kinds)
        return any(
            kind in wanted and rules.url_allowed(url, value, dynamic=dynamic)
            for kind, value, dynamic in self.links
        )

    def allows_number(self, number: str) -> bool:
        return rules.normalise_number(number) in self.numbers


def value_error(tag: str, value: str, whitelist: Whitelist | None, scope: str) -> str | None:
    """Why the operators would refuse this variable's value, or None.

    Without a whitelist (a template typed by hand, no registry) only the shape is checked.
    """
    problem = rules.shape_error(tag, value)
    if problem or whitelist is None:
        return problem
    if tag == "url" and not whitelist.allows_link(value, ["url"]):
        return f"is not whitelisted for {scope}"
    if tag == "urlott" and not whitelist.allows_link(value, ["urlott"]):
        return f"is not a whitelisted OTT/APK link for {scope}"
    if tag == "cbn" and not whitelist.allows_number(value):
        return f"is not a whitelisted callback number for {scope}"
    return None


def _variable_error(number: int, variable: Variable) -> str:
    return f"variable {number} {rules.tag_label(variable.tag)} '{variable.value}' {variable.error}"


def text_check(
    parsed: rules.ParsedTemplate,
    text: str,
    *,
    whitelist: Whitelist | None = None,
    scope: str = "",
    template_name: str = "the registered template",
) -> tuple[list[Variable], list[str]]:
    """Each variable of `text` under `parsed` and what is wrong with the text, if anything."""
    values = parsed.values(text)
    if values is None:
        difference = parsed.first_difference(text)
        return [], [f"The message does not match {template_name}: {difference}."]
    variables, errors = [], []
    for number, (tag, value) in enumerate(zip(parsed.tags, values, strict=True), start=1):
        problem = value_error(tag, value, whitelist, scope)
        variable = Variable(tag, value, problem is None, problem or "")
        variables.append(variable)
        if problem:
            errors.append(_variable_error(number, variable))
    if whitelist is not None:
        # A link anywhere (in the fixed text, or inside an untyped variable) is scrubbed too.
        own = [value for tag, value in zip(parsed.tags, values, strict=True) if tag in LINK_TAGS]
        for url in rules.urls_in(rules.squash(text)):
            if not any(url in value for value in own) and not whitelist.allows_link(url):
                errors.append(f"The link '{url}' is not whitelisted for {scope}.")
    return variables, errors


def free_text_check(template_text: str, text: str) -> CheckResult:
    """A text against a template typed by hand (nothing in the registry): its fixed parts
    and the shape of each variable; whitelists are not known."""
    variables, errors = text_check(rules.parse_template(template_text), text)
    return CheckResult(ok=not errors, variables=variables, errors=errors)


@dataclass
class Registry:
    """What the check needs from the registry, read once."""

    headers: dict[str, HeaderView]
    templates: dict[str, TemplateView]
    whitelist: dict[str, list[EntryView]]
    entity_names: dict[str, str]

    @classmethod
    def load(cls, *, template_id: str = "", sender_id: str = "") -> Registry:
        """The registry, or only what a check of this template (and header) reads.

        Read as plain values, not model instances: a header's templates are read on every
        check of a text without a template id.
        """
        sender_id = sender_id.upper()
        templates = Template.objects.all()
        headers = Header.objects.all()
        if template_id:
            templates = templates.filter(template_id=template_id)
            headers = headers.filter(sender_id__in=[sender_id] if sender_id else [])
        elif sender_id:
            headers = headers.filter(sender_id=sender_id)
            # Only the templates this header may send (linked to it, or to no header).
            linked = Template.headers.through.objects.filter(header__sender_id=sender_id)
            templates = templates.filter(
                Q(id__in=linked.values("template_id")) | Q(headers__isnull=True)
            ).distinct()
        rows = list(
            templates.values_list(
                "id", "template_id", "category", "entity__entity_id", "text", "status"
            )
        )
        template_headers = _links(Template.headers.through, "template_id", [r[0] for r in rows])
        template_views = {
            tid: TemplateView(
                tid,
                category,
                entity,
                text,
                status == Template.Status.APPROVED,
                template_headers.get(pk, frozenset()),
            )
            for pk, tid, category, entity, text, status in rows
        }
        entity_ids = {t.entity for t in template_views.values()}
        header_views = {
            sid: HeaderView(sid, category, entity, status == Header.Status.ACTIVE)
            for sid, category, entity, status in headers.values_list(
                "sender_id", "category", "entity__entity_id", "status"
            )
        }
        entries = list(
            WhitelistEntry.objects.filter(entity__entity_id__in=entity_ids).values_list(
                "id", "entity__entity_id", "kind", "value", "dynamic"
            )
        )
        entry_headers = _links(
            WhitelistEntry.headers.through, "whitelistentry_id", [e[0] for e in entries]
        )
        whitelist: dict[str, list[EntryView]] = {}
        for pk, entity, kind, value, dynamic in entries:
            whitelist.setdefault(entity, []).append(
                EntryView(kind, value, dynamic, entry_headers.get(pk, frozenset()))
            )
        names = dict(
            Entity.objects.filter(entity_id__in=entity_ids).values_list("entity_id", "name")
        )
        return cls(header_views, template_views, whitelist, names)

    def whitelist_for(self, entity: str, header: HeaderView | None) -> Whitelist:
        entries = self.whitelist.get(entity, [])
        if header is not None:
            entries = [e for e in entries if not e.headers or header.sender_id in e.headers]
        return Whitelist(entries)

    def check(self, text: str, *, sender_id: str = "", template_id: str = "") -> CheckResult:
        """The scrub check of `text`; without a template id, against every approved
        template of the header (or of any header)."""
        errors: list[str] = []
        header = None
        if sender_id:
            header = self.headers.get(sender_id.upper())
            if header is None:
                errors.append(f"Header {sender_id} is not in the DLT registry.")
            elif not header.active:
                errors.append(f"Header {header.sender_id} is inactive.")
        if template_id:
            template = self.templates.get(template_id)
            if template is None:
                errors.append(f"Template {template_id} is not in the DLT registry.")
                return CheckResult(ok=False, template_id=template_id, errors=errors)
            return self._check_template(template, text, header, errors)
        candidates = [
            t
            for t in self.templates.values()
            if t.approved and (header is None or not t.headers or header.sender_id in t.headers)
        ]
        results = [self._check_template(t, text, header, errors) for t in candidates]
        passed = [r for r in results if r.ok]
        if passed:
            passed[0].matches = [r.template_id for r in passed]
            return passed[0]
        # The closest: a template whose fixed text the message follows.
        followed = [
            result
            for template, result in zip(candidates, results, strict=True)
            if template.parsed.values(text) is not None
        ]
        if len(results) == 1 or followed:
            return (followed or results)[0]
        scope = f" of header {header.sender_id}" if header else ""
        return CheckResult(
            ok=False,
            errors=[
                *errors,
                f"The message matches none of the {len(candidates)} approved templates{scope}.",
            ],
        )

    def fit_errors(self, *, sender_id: str = "", template_id: str) -> list[str]:
        """What is wrong with sending this template under this header, whatever the text."""
        result = self.check("", sender_id=sender_id, template_id=template_id)
        return result.errors[: len(result.errors) - result.text_errors]

    def text_check(self, text: str, *, sender_id: str = "", template_id: str) -> CheckResult:
        """Only what is wrong with this text (a campaign checks the fit once, the text
        of every recipient); the result's errors leave the header and template out."""
        result = self.check(text, sender_id=sender_id, template_id=template_id)
        result.errors = result.errors[len(result.errors) - result.text_errors :]
        result.ok = not result.errors
        return result

    def _check_template(
        self, template: TemplateView, text: str, header: HeaderView | None, found: list[str]
    ) -> CheckResult:
        errors = list(found)
        name = f"template {template.template_id}"
        if not template.approved:
            errors.append(f"Template {template.template_id} is inactive.")
        if header is not None:
            if header.entity != template.entity:
                errors.append(
                    f"Header {header.sender_id} belongs to entity {header.entity}; "
                    f"{name} to {template.entity}."
                )
            if template.headers and header.sender_id not in template.headers:
                errors.append(
                    f"Template {template.template_id} is not registered for header "
                    f"{header.sender_id}."
                )
            if not categories_fit(header.category, template.category):
                errors.append(
                    f"A {Category(template.category).label.lower()} template needs a "
                    f"{_needed(template.category)} header; {header.sender_id} is "
                    f"{Category(header.category).label.lower()}."
                )
        scope = header.sender_id if header else self.entity_names.get(template.entity, "")
        variables, problems = text_check(
            template.parsed,
            text,
            whitelist=self.whitelist_for(template.entity, header),
            scope=scope or template.entity,
            template_name=name,
        )
        errors += problems
        return CheckResult(
            ok=not errors,
            template_id=template.template_id,
            category=template.category,
            variables=variables,
            errors=errors,
            text_errors=len(problems),
        )


def _links(through: Any, key: str, ids: list[int]) -> dict[int, frozenset[str]]:
    """The sender ids of the headers each record (by id) is linked to."""
    found: dict[int, set[str]] = {}
    if ids:
        pairs = through.objects.filter(**{f"{key}__in": ids}).values_list(key, "header__sender_id")
        for record, sender_id in pairs:
            found.setdefault(record, set()).add(sender_id)
    return {record: frozenset(sender_ids) for record, sender_ids in found.items()}


def _needed(category: str) -> str:
    if category in (Category.PROMOTIONAL, Category.GOVERNMENT):
        return Category(category).label.lower()
    return "transactional or service"


# What a check of one template, or of one header's templates, read from the registry,
# kept for a moment (smsgateway.process_cache): an OTP, or an integrator asking before
# each one, does not wait for the registry to be read again.
_registries: ProcessCache[Registry] = ProcessCache()


def registry_for(*, template_id: str = "", sender_id: str = "") -> Registry:
    """What a check of this template (or, without one, of this header's templates) reads."""
    key = (template_id, sender_id.upper())
    registry = _registries.get(
        key, lambda: Registry.load(template_id=template_id, sender_id=sender_id)
    )
    assert registry is not None  # a load always answers
    return registry


@receiver([post_save, post_delete], sender=Entity)
@receiver([post_save, post_delete], sender=Header)
@receiver([post_save, post_delete], sender=Template)
@receiver([post_save, post_delete], sender=WhitelistEntry)
@receiver(m2m_changed, sender=Template.headers.through)
@receiver(m2m_changed, sender=WhitelistEntry.headers.through)
def registry_forget(**kwargs: Any) -> None:
    # A change saved in this process applies at once; one saved in another, within
    # SMSGATEWAY_LOOKUP_CACHE_SECONDS.
    _registries.clear()


def message_check(text: str, *, sender_id: str = "", template_id: str = "") -> CheckResult:
    """The check of one message, reading only what it needs from the registry."""
    registry = registry_for(template_id=template_id, sender_id=sender_id)
    return registry.check(text, sender_id=sender_id, template_id=template_id)
