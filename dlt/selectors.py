"""Reads of the DLT registry for other pages."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from .models import Entity, Header, Template

# CleverTap's DLT failure codes and the registry record each one is about.
FAILURE_RECORDS = {
    "906": "header",
    "907": "entity",
    "908": "template",
    "909": "template",
    "919": "template",
    "920": "whitelist",
}


@dataclass(frozen=True)
class RecordLink:
    label: str
    url: str


def failure_links(
    code: str, *, sender_id: str = "", entity_id: str = "", template_id: str = ""
) -> list[RecordLink]:
    """Links to what a DLT failure code names: the message's header, entity, template or
    the entity's whitelist (a record the registry does not hold is not linked)."""
    about = FAILURE_RECORDS.get(code)
    links: list[RecordLink] = []
    if about == "header" and sender_id:
        header = Header.objects.filter(sender_id=sender_id.upper()).first()
        if header is not None:
            links.append(RecordLink(f"Header {header.sender_id}", header.get_absolute_url()))
    elif about == "entity" and entity_id:
        entity = Entity.objects.filter(entity_id=entity_id).first()
        if entity is not None:
            links.append(RecordLink(f"Entity {entity}", entity.get_absolute_url()))
    elif about == "template" and template_id:
        template = Template.objects.filter(template_id=template_id).first()
        if template is not None:
            links.append(RecordLink(f"Template {template}", template.get_absolute_url()))
    elif about == "whitelist":
        template = Template.objects.filter(template_id=template_id).first() if template_id else None
        label = f"Whitelist of {template.entity.name}" if template else "Whitelist"
        links.append(RecordLink(label, reverse("dlt_overview") + "#whitelist"))
    return links
