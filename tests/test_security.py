"""Login throttling, CSP and the production settings profile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_logins_are_locked_out_after_five_failures(client, user):
    for _ in range(4):
        response = client.post("/login/", {"username": "marketer", "password": "wrong"})
        assert response.status_code == 200
    # The fifth failure locks the pair out; now even the right password is refused.
    assert client.post("/login/", {"username": "marketer", "password": "x"}).status_code == 429
    response = client.post("/login/", {"username": "marketer", "password": "s3cret-pass!"})
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_successful_login_resets_the_count(client, user):
    for _ in range(4):
        client.post("/login/", {"username": "marketer", "password": "wrong"})
    assert (
        client.post("/login/", {"username": "marketer", "password": "s3cret-pass!"}).status_code
        == 302
    )
    client.logout()
    for _ in range(4):
        client.post("/login/", {"username": "marketer", "password": "wrong"})
    assert (
        client.post("/login/", {"username": "marketer", "password": "s3cret-pass!"}).status_code
        == 302
    )


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/login/", "/admin/login/", "/api/docs/"])
def test_every_page_carries_a_content_security_policy(client, path):
    policy = client.get(path).headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


@pytest.mark.django_db
def test_csrf_is_enforced_on_the_login_form(user):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/login/", {"username": "marketer", "password": "s3cret-pass!"})
    assert response.status_code == 403


def test_the_production_profile_passes_check_deploy(tmp_path):
    # As deployed: not the in-process setting the browser tests need.
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {
        **inherited,
        "DEBUG": "false",
        "SECRET_KEY": "k" * 20 + "production-secret-key-with-enough-entropy-4815162342",
        "SMSGATEWAY_HTTPS": "true",
        "ALLOWED_HOSTS": "sms.example.com",
        "SMSGATEWAY_BASE_URL": "https://sms.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_json_nested_too_deeply_is_a_400_not_a_500(user):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(user)
    response = api.post("/api/v1/providers/", "[" * 100_000, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.django_db
def test_a_status_map_that_is_not_an_object_is_a_field_error(user):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(user)
    for status_map in (["x"], {"DELIVRD": []}):
        response = api.post(
            "/api/v1/providers/",
            {
                "nickname": "m",
                "endpoint": "https://sms.example.com/s",
                "payload": {"to": "$$To", "text": "$$Body"},
                "dlr_format": "custom",
                "dlr_mapping": {"id": "ref", "status": "st", "status_map": status_map},
            },
            format="json",
        )
        assert response.status_code == 400
        assert "dlr_mapping" in response.json()
