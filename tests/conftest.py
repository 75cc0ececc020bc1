"""Fixtures shared by every test module."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from providers.models import Provider

FAKE_ENDPOINT = "https://sms.example.com/send"


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.SMSGATEWAY_BASE_URL = "https://gateway.example.com"
    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = False
    settings.SMSGATEWAY_RETRY_BASE_SECONDS = 1.0
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Pages render {% static %} without a collectstatic manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache: no test sees figures another one counted."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("marketer", "m@example.com", "s3cret-pass!")


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("operator", "o@example.com", "s3cret-pass!")


@pytest.fixture
def generic_provider(db):
    """A JSON POST provider without batch mode, sending to FAKE_ENDPOINT."""
    return Provider.objects.create(
        nickname="Generic",
        endpoint=FAKE_ENDPOINT,
        payload={"to": "$$To", "text": "$$Body", "id": "$$MessageID", "tid": "$$TemplateID"},
        headers={"X-Api-Key": "header-secret-value"},
    )


@pytest.fixture
def sinch_provider(db):
    """The Sinch India preset with credentials stored encrypted."""
    from providers.presets import PRESETS

    preset = PRESETS["sinch_india"]
    return Provider.objects.create(
        nickname="Sinch India",
        kind=preset["kind"],
        endpoint=FAKE_ENDPOINT,
        payload=preset["payload"],
        username="acme-user",
        password="sinch-pass-Xy9",
    )


@pytest.fixture
def batch_provider(db):
    return Provider.objects.create(
        nickname="Batcher",
        endpoint=FAKE_ENDPOINT,
        payload={
            "tid": "$$TemplateID",
            "msgs": [{"to": "$$To", "mid": "$$MessageID", "body": "$$Body"}],
        },
        batch_enabled=True,
        batch_key="msgs",
        batch_size=1000,
    )
