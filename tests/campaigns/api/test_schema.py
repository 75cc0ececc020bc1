"""The campaign endpoints in the OpenAPI schema."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.core.management import call_command


def test_the_schema_validates_without_warnings(db, tmp_path: Path):
    target = tmp_path / "schema.yml"

    # --fail-on-warn raises on any warning, e.g. an unnamed enum collision.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    schema = yaml.safe_load(target.read_text())
    assert {
        "/api/v1/campaigns/",
        "/api/v1/campaigns/{id}/",
        "/api/v1/campaigns/{id}/launch/",
        "/api/v1/campaigns/{id}/pause/",
        "/api/v1/campaigns/{id}/resume/",
        "/api/v1/campaigns/{id}/cancel/",
        "/api/v1/campaigns/{id}/export/",
        "/api/v1/campaigns/{campaign_id}/uploads/",
        "/api/v1/campaigns/{campaign_id}/uploads/{id}/",
        "/api/v1/campaigns/{campaign_id}/uploads/{id}/errors.csv",
    } <= set(schema["paths"])
    upload = schema["paths"]["/api/v1/campaigns/{campaign_id}/uploads/"]["post"]
    assert list(upload["requestBody"]["content"]) == ["multipart/form-data"]
    assert set(upload["responses"]) == {"201", "202", "400", "409"}
    export = schema["paths"]["/api/v1/campaigns/{id}/export/"]["get"]
    assert list(export["responses"]["200"]["content"]) == ["text/csv"]
    assert schema["components"]["schemas"]["CampaignStatusEnum"]["enum"] == [
        "draft",
        "scheduled",
        "running",
        "paused",
        "completed",
        "cancelled",
    ]
