"""Operators' key work: re-encrypting stored secrets with the first configured key,
and new callback tokens. The management commands rotate_keys and
rotate_callback_tokens are thin wrappers around these functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import models, transaction
from django.db.models import Value
from django.db.models.functions import Cast

from providers.config.secrets import ENCRYPTED_FIELDS
from providers.config.services import provider_rotate_token
from providers.models import AccessToken, Provider
from providers.ops import crypto

# ---------------------------------------------------------------- encryption keys


@dataclass
class KeyRotation:
    """What `provider_secrets_rotate` did: rows re-encrypted, and rows it could not read."""

    rotated: int = 0
    # Provider id -> why its secrets were left as they were.
    failures: dict[int, str] = field(default_factory=dict)


def provider_secrets_rotate() -> KeyRotation:
    """Re-encrypt every provider's stored secrets with the first configured key.

    Works on the stored ciphertext, never on plaintext: each value is decrypted by
    whichever configured key can and encrypted again with the first one, in a
    transaction per provider. A provider whose secrets no configured key decrypts is
    left unchanged and reported; the others are still rotated.
    """
    result = KeyRotation()
    for provider_id in list(Provider.objects.order_by("id").values_list("id", flat=True)):
        try:
            with transaction.atomic():
                _provider_secrets_rotate(provider_id)
        except crypto.DecryptionError as exc:
            result.failures[provider_id] = str(exc)
        else:
            result.rotated += 1
    return result


def _provider_secrets_rotate(provider_id: int) -> None:
    # Cast to a plain text column so the encrypted fields' converters (which decrypt)
    # stay out of the way, and write back through Value() so they do not encrypt again.
    raw = {f"raw_{name}": Cast(name, output_field=models.TextField()) for name in ENCRYPTED_FIELDS}
    stored = (
        Provider.objects.select_for_update()
        .filter(id=provider_id)
        .annotate(**raw)
        .values(*raw)
        .first()
    )
    if stored is None:
        return  # deleted since the list was read
    changes = {
        name: Value(crypto.rotate(value), output_field=models.TextField())
        for name in ENCRYPTED_FIELDS
        if (value := stored[f"raw_{name}"])
    }
    if changes:
        Provider.objects.filter(id=provider_id).update(**changes)
    _access_token_rotate(provider_id)


def _access_token_rotate(provider_id: int) -> None:
    """The provider's stored OAuth token too, so that the old key can go."""
    token = AccessToken.objects.filter(provider_id=provider_id)
    raw = token.annotate(raw=Cast("token", output_field=models.TextField()))
    stored = raw.values_list("raw", flat=True).first()
    if stored:
        token.update(token=Value(crypto.rotate(stored), output_field=models.TextField()))


# ---------------------------------------------------------------- callback tokens


class UnknownProviders(LookupError):
    """Some of the provider ids asked for do not exist."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = sorted(ids)
        super().__init__("No provider with id " + ", ".join(str(i) for i in self.ids) + ".")


def providers_rotate_callback_tokens(
    *, provider_ids: Sequence[int] | None = None
) -> list[Provider]:
    """Give each provider (all of them when `provider_ids` is None) a new callback token.

    The old callback URLs stop working at once. All or nothing: an unknown id raises
    `UnknownProviders` before any token changes.
    """
    with transaction.atomic():
        providers = Provider.objects.select_for_update().order_by("id")
        if provider_ids is not None:
            providers = providers.filter(id__in=provider_ids)
        found = list(providers)
        missing = set(provider_ids or ()) - {provider.id for provider in found}
        if missing:
            raise UnknownProviders(list(missing))
        for provider in found:
            provider_rotate_token(provider=provider)
    return found
