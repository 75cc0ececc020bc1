"""A campaign's DLT check: against its template in the registry (`dlt`), or against the
template text typed by hand when the registry does not hold it."""

from __future__ import annotations

from collections.abc import Callable

from dlt.check import CheckResult, Registry, free_text_check
from dlt.models import Category, Template
from dlt.rules import has_variables

from .models import Campaign


def campaign_kind(category: str) -> str:
    """The campaign kind a DLT category implies (promotional quiet hours and headers)."""
    if category == Category.PROMOTIONAL:
        return Campaign.Kind.PROMOTIONAL
    return Campaign.Kind.TRANSACTIONAL


def registry_fill(campaign: Campaign) -> None:
    """Fill a campaign's DLT fields from its registered template: the template's text and
    entity, and the kind its category implies (so that quiet hours and header rules
    follow). A template id not in the registry leaves the fields as typed."""
    if not campaign.template_id:
        return
    template = (
        Template.objects.select_related("entity").filter(template_id=campaign.template_id).first()
    )
    if template is None:
        return
    campaign.dlt_template = template.text
    campaign.entity_id = template.entity.entity_id
    campaign.kind = campaign_kind(template.category)


def _registered(campaign: Campaign) -> Registry | None:
    if not campaign.template_id:
        return None
    registry = Registry.load(template_id=campaign.template_id, sender_id=campaign.sender_id)
    return registry if campaign.template_id in registry.templates else None


def fit_errors(campaign: Campaign) -> list[str]:
    """What the registry says against the campaign's header and template, whatever each
    recipient's text: an unregistered or inactive header, a template of another category
    or entity, or not linked to the header."""
    registry = _registered(campaign)
    if registry is None:
        return []
    return registry.fit_errors(sender_id=campaign.sender_id, template_id=campaign.template_id)


def text_checker(campaign: Campaign) -> Callable[[str], CheckResult] | None:
    """A check of one recipient's text (read the registry once), or None when the campaign
    names no DLT template."""
    registry = _registered(campaign)
    if registry is not None:
        sender, template = campaign.sender_id, campaign.template_id
        return lambda text: registry.text_check(text, sender_id=sender, template_id=template)
    if campaign.dlt_template:
        template_text = campaign.dlt_template
        return lambda text: free_text_check(template_text, text)
    return None


def fixed_text(campaign: Campaign) -> bool:
    """Whether the template has no variable: every text must then be its very words."""
    return bool(campaign.dlt_template) and not has_variables(campaign.dlt_template)
