"""Fixtures shared by every test module."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from dlt import services as dlt_services
from dlt.models import Category
from providers.models import Provider
from tests.factories import FAKE_ENDPOINT, signed_in


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
    """Each test starts with an empty cache: no test sees figures another one counted,
    nor a DLT registry another one wrote (a rollback sends no signal to forget it)."""
    from django.core.cache import cache

    from dlt.check import registry_forget

    cache.clear()
    registry_forget()
    yield
    cache.clear()
    registry_forget()


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("marketer", "m@example.com", "s3cret-pass!")


@pytest.fixture
def marketer(user):
    """The dashboard, signed in as the marketer."""
    return signed_in(user)


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
    from providers.config.presets import PRESETS

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


# ---------------------------------------------------------------- a DLT registry
# One entity with a transactional and a promotional header and a template for each.


@pytest.fixture
def entity(db):
    return dlt_services.entity_save(name="Acme Retail", entity_id="1201160000000000001")


@pytest.fixture
def other_entity(db):
    return dlt_services.entity_save(name="Other Co", entity_id="1201160000000000002")


@pytest.fixture
def alert_header(entity):
    return dlt_services.header_save(
        sender_id="ACLALT", category=Category.TRANSACTIONAL, entity=entity
    )


@pytest.fixture
def promo_header(entity):
    return dlt_services.header_save(
        sender_id="567890", category=Category.PROMOTIONAL, entity=entity
    )


@pytest.fixture
def otp_template(entity, alert_header):
    return dlt_services.template_save(
        template_id="1207160000000000101",
        name="OTP",
        entity=entity,
        headers=[alert_header],
        category=Category.TRANSACTIONAL,
        text="Your OTP is {#numeric#}. Do not share it. - Acme",
    )


@pytest.fixture
def offer_template(entity, promo_header):
    return dlt_services.template_save(
        template_id="1207160000000000202",
        name="Offer",
        entity=entity,
        headers=[promo_header],
        category=Category.PROMOTIONAL,
        text="Hi {#alphanumeric#}, {#var#} off today: {#url#} - Acme",
    )
