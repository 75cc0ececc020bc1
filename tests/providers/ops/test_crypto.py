from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from providers.models import Provider
from providers.ops.crypto import DecryptionError


def raw_row(provider: Provider) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM providers_provider WHERE id = %s", [provider.id])
        return repr(cursor.fetchone())


def test_secrets_are_encrypted_at_rest(sinch_provider, generic_provider):
    assert "sinch-pass-Xy9" not in raw_row(sinch_provider)
    assert "acme-user" not in raw_row(sinch_provider)
    assert "header-secret-value" not in raw_row(generic_provider)
    reloaded = Provider.objects.get(id=sinch_provider.id)
    assert reloaded.password == "sinch-pass-Xy9"


def test_a_wrong_key_raises_instead_of_returning_ciphertext(sinch_provider, settings):
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    sinch_provider.save()
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError):
        Provider.objects.get(id=sinch_provider.id)


def test_secrets_stored_before_keys_were_configured_still_decrypt(sinch_provider, settings):
    # Encrypted with the key derived from SECRET_KEY; rotate_keys can then move them.
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    assert Provider.objects.get(id=sinch_provider.id).password == "sinch-pass-Xy9"


def test_an_old_key_still_decrypts_after_a_new_one_is_put_in_front(sinch_provider, settings):
    old = Fernet.generate_key().decode()
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [old]
    sinch_provider.save()
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old]
    assert Provider.objects.get(id=sinch_provider.id).password == "sinch-pass-Xy9"
