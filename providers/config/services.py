"""Writes to a provider's configuration: the one service each path calls.

The dashboard form, the API's serializer, the admin and the configuration import only
parse their input into an edit (field names to Python values, secrets as
`providers.config.secrets` describes) and call `provider_create` or `provider_update`;
`provider_errors` says what either would refuse, for paths that show errors before
saving.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from providers.config.secrets import SECRET_FIELDS, secrets_resolve
from providers.config.validation import (
    PROVIDER_CONFIG_FIELDS,
    nickname_taken,
    provider_config_errors,
)
from providers.http.oauth import access_token_forget
from providers.models import Message, Provider, new_callback_token

# What an OAuth 2.0 token is fetched with: a change drops the stored token.
TOKEN_FIELDS = (
    "auth_type",
    "oauth_token_url",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_scope",
    "oauth_extra",
)


class ProviderInvalid(ValueError):
    """The edit was refused and nothing was saved; `errors` holds messages by field."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{name}: {' '.join(texts)}" for name, texts in errors.items()))


def provider_errors(
    *, data: Mapping[str, Any], provider: Provider | None = None
) -> dict[str, list[str]]:
    """What `provider_create` (no `provider`) or `provider_update` would refuse in `data`."""
    return _resolved(data, provider)[1]


def provider_values(*, data: Mapping[str, Any], provider: Provider | None = None) -> dict[str, Any]:
    """The configuration `data` would leave (every config field), secrets resolved.

    For comparing before and after (the import's dry run); raises ProviderInvalid.
    """
    values, errors = _resolved(data, provider)
    if errors:
        raise ProviderInvalid(errors)
    return values


def provider_create(*, data: Mapping[str, Any]) -> Provider:
    """A new provider from `data`, or ProviderInvalid saying what is wrong."""
    return _save(Provider(), data, stored=None)


def provider_update(*, provider: Provider, data: Mapping[str, Any]) -> Provider:
    """Apply `data` to `provider` (fields left out keep their value), or ProviderInvalid."""
    return _save(provider, data, stored=provider)


def _save(provider: Provider, data: Mapping[str, Any], *, stored: Provider | None) -> Provider:
    values, errors = _resolved(data, stored)
    if errors:
        raise ProviderInvalid(errors)
    token_changed = stored is not None and any(
        values[name] != getattr(stored, name) for name in TOKEN_FIELDS
    )
    for name, value in values.items():
        setattr(provider, name, value)
    try:
        with transaction.atomic():
            provider.save()
    except IntegrityError as exc:
        # Checked above; a parallel request can still have taken the name since.
        if taken := nickname_taken(values["nickname"], provider=stored):
            raise ProviderInvalid({"nickname": [taken]}) from exc
        raise
    if token_changed:
        _provider_token_forget(provider)
    return provider


def _provider_token_forget(provider: Provider) -> None:
    """New credentials or token URL: the stored token (and the error the old ones got)
    no longer applies; the next send fetches a token with the new ones."""
    access_token_forget(provider_id=provider.id)
    Provider.objects.filter(id=provider.id).exclude(dispatch_error="").update(
        dispatch_error="", dispatch_error_at=None
    )
    provider.dispatch_error, provider.dispatch_error_at = "", None


def _resolved(
    data: Mapping[str, Any], stored: Provider | None
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Every config field as `data` leaves it, and the errors, first problem per field."""
    secrets, errors = secrets_resolve(data, stored=stored)
    source = stored if stored is not None else Provider()
    values = {name: getattr(source, name) for name in PROVIDER_CONFIG_FIELDS}
    values.update(
        (name, value)
        for name, value in data.items()
        if name in PROVIDER_CONFIG_FIELDS and name not in SECRET_FIELDS and name != "headers"
    )
    values.update(secrets)
    values["nickname"] = str(values["nickname"] or "").strip()

    def add(more: Mapping[str, list[str]]) -> None:
        # A field that already failed says why; a later rule would only repeat it.
        for name, texts in more.items():
            if name not in errors:
                errors[name] = list(texts)

    add(provider_config_errors(values))
    if taken := nickname_taken(values["nickname"], provider=stored):
        add({"nickname": [taken]})
    try:
        # Types, choices and lengths: what the rules above do not already say better.
        Provider(**values).clean_fields(exclude=["callback_token", "callback_token_digest"])
    except ValidationError as exc:
        add(exc.message_dict)
    return values, errors


# ---------------------------------------------------------------- providers


def provider_rotate_token(*, provider: Provider) -> str:
    """Give the provider new secret tokens for its callback and inbound URLs (one leaked
    URL is as good as the other to whoever has it); the old URLs stop working."""
    provider.callback_token = new_callback_token()
    provider.inbound_token = new_callback_token()
    provider.save(update_fields=["callback_token", "inbound_token", "updated_at"])
    return provider.callback_token


# ---------------------------------------------------------------- provider fixes


def provider_sinch_flags_fix(*, provider: Provider) -> bool:
    """Make a Sinch India payload send each message's own `alert` and `intflag`
    ($$Alert, $$International) instead of the old constants. False if nothing changed."""
    from providers.config.presets import sinch_constant_flags, sinch_flags_fixed

    if provider.kind != Provider.Kind.SINCH_INDIA or not sinch_constant_flags(provider.payload):
        return False
    provider.payload = sinch_flags_fixed(provider.payload)
    provider.save(update_fields=["payload", "updated_at"])
    return True


class ProviderInUse(Exception):
    """A provider that cannot be deleted: messages or other records still refer to it."""


def provider_in_use(*, provider: Provider) -> str | None:
    """Why the provider cannot be deleted because of its messages (None: it has none)."""
    count = Message.objects.filter(provider=provider).count()
    if not count:
        return None
    return (
        f"“{provider.nickname}” has {count:,} message(s), so it cannot be deleted: their "
        "history and delivery reports refer to it."
    )


def provider_delete(*, provider: Provider) -> None:
    """Delete a provider (and its empty lanes), or raise ProviderInUse saying why not.

    Its messages are counted first, by index: Django's PROTECT check would load every
    one of them into memory to say the same.
    """
    from django.db.models import ProtectedError

    if reason := provider_in_use(provider=provider):
        raise ProviderInUse(reason)
    try:
        with transaction.atomic():
            provider.delete()
    except ProtectedError as exc:
        kinds = sorted({str(obj._meta.verbose_name_plural) for obj in exc.protected_objects})
        raise ProviderInUse(
            f"“{provider.nickname}” is still used by {', '.join(kinds)}, so it cannot be deleted."
        ) from exc
