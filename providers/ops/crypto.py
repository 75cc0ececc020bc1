"""Encryption at rest for provider secrets (passwords, usernames, header values).

Fernet (AES-128-CBC + HMAC) from `cryptography`; MultiFernet so keys can rotate:
the first key encrypts, every key decrypts.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

PREFIX = "enc:"


class DecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


def _fernet() -> MultiFernet:
    # The key derived from SECRET_KEY encrypts when no keys are configured, and always
    # decrypts last: an installation that starts without keys can move to its own with
    # rotate_keys.
    digest = hashlib.sha256(("smsgateway-secrets:" + settings.SECRET_KEY).encode()).digest()
    keys = [*settings.SMSGATEWAY_ENCRYPTION_KEYS, base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])


def encrypt(plaintext: str) -> str:
    return PREFIX + _fernet().encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise DecryptionError("stored value is not encrypted")
    try:
        return _fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("secret cannot be decrypted with the configured keys") from exc


def rotate(stored: str) -> str:
    """Re-encrypt a stored value with the first (newest) key."""
    if not stored.startswith(PREFIX):
        raise DecryptionError("stored value is not encrypted")
    try:
        return PREFIX + _fernet().rotate(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("secret cannot be decrypted with the configured keys") from exc


class EncryptedTextField(models.TextField):
    """A text field stored encrypted; Python code only ever sees the plaintext.

    An empty string stays empty in the database so "no password" needs no key.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> str | None:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)


class EncryptedJSONField(models.TextField):
    """A JSON value stored encrypted as a whole (used for header name/value pairs)."""

    # Tell django-stubs what Python code gets and sets (a dict, not the stored text).
    _pyi_private_set_type: Any
    _pyi_private_get_type: dict[str, Any]  # type: ignore[assignment]

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return self.get_default()
        return json.loads(decrypt(value))

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value else self.get_default()
        return value

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return encrypt(json.dumps(value, ensure_ascii=False))

    def value_to_string(self, obj: Any) -> str:
        return json.dumps(self.value_from_object(obj))
