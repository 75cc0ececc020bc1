"""API token authentication whose look-ups each web process keeps for a moment.

An integrator sending OTPs calls hundreds of times a second with the same token; each
call asked the database for the token and its user. The token's user is kept for
SMSGATEWAY_LOOKUP_CACHE_SECONDS (smsgateway.process_cache): a token deleted or a user
deactivated in this process stops working at once, in another process within that time.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from smsgateway.process_cache import ProcessCache

_tokens: ProcessCache[tuple[Any, Token]] = ProcessCache()


class CachedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        # DRF's own check (unknown token, inactive user) raises; only a success is kept.
        found = _tokens.get(
            key, lambda: super(CachedTokenAuthentication, self).authenticate_credentials(key)
        )
        assert found is not None
        return found


@receiver([post_save, post_delete], sender=Token)
@receiver([post_save, post_delete], sender=get_user_model())
def _forget_tokens(**kwargs: Any) -> None:
    _tokens.clear()
