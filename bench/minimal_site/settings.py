"""smsgateway's settings, with the URLs of the minimal DLR view added."""

from __future__ import annotations

from smsgateway.settings import *  # noqa: F403

ROOT_URLCONF = "bench.minimal_site.urls"
