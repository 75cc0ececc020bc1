"""The OpenAPI schema and its Swagger UI page."""

from __future__ import annotations

import yaml


def test_the_schema_describes_every_endpoint(client, db):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    paths = yaml.safe_load(response.content)["paths"]
    assert set(paths) == {
        "/api/v1/providers/",
        "/api/v1/providers/{id}/",
        "/api/v1/providers/{id}/test-sms/",
        "/api/v1/messages/",
        "/api/v1/messages/{id}/",
        "/api/v1/inbound/",
        "/api/v1/inbound/{id}/",
        "/api/v1/opt-outs/",
        "/api/v1/opt-outs/{phone}/",
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
        "/api/v1/dlt/entities/",
        "/api/v1/dlt/entities/{id}/",
        "/api/v1/dlt/headers/",
        "/api/v1/dlt/headers/{id}/",
        "/api/v1/dlt/templates/",
        "/api/v1/dlt/templates/{id}/",
        "/api/v1/dlt/whitelist/",
        "/api/v1/dlt/whitelist/{id}/",
        "/api/v1/dlt/imports/",
        "/api/v1/dlt/check/",
    }


def test_the_schema_never_offers_the_password_for_reading(client, db):
    schemas = yaml.safe_load(client.get("/api/schema/").content)["components"]["schemas"]

    assert "password" not in schemas["Provider"]["properties"]
    assert schemas["ProviderRequest"]["properties"]["password"]["writeOnly"] is True


def test_the_swagger_ui_page_loads_its_files_locally(client, db, settings):
    # Tests run without collectstatic, so without the manifest the hashing storage needs.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert (
        b"/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in response.content
    )
    assert b"cdn." not in response.content
