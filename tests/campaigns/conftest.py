from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def loopback(settings):
    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = True
    settings.SMSGATEWAY_RETRY_BASE_SECONDS = 0.01
    settings.SMSGATEWAY_RETRY_MAX_SECONDS = 0.05
