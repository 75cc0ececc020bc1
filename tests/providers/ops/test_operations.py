"""providers.ops: key rotation, callback tokens, export/import, pruning history."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.utils import timezone

from providers.models import DeliveryReport, Message, MessageEvent, Provider
from providers.ops.crypto import DecryptionError
from providers.ops.keys import (
    UnknownProviders,
    provider_secrets_rotate,
    providers_rotate_callback_tokens,
)
from providers.ops.pruning import message_history_prune
from providers.ops.transfer import (
    CONFIG_FIELDS,
    EXPORT_FIELDS,
    ProviderImportError,
    providers_export,
    providers_import,
)
from providers.sending.rendering import MASK

pytestmark = pytest.mark.django_db

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
PLAINTEXTS = ("acme-user", "sinch-pass-Xy9", "header-secret-value")


def raw_secrets(provider: Provider) -> tuple[str, str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT username, password, headers FROM providers_provider WHERE id = %s",
            [provider.id],
        )
        return cursor.fetchone()


def encrypt_with(settings, key: str, *providers: Provider) -> None:
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [key]
    for provider in providers:
        provider.save()


# ---------------------------------------------------------------- encryption keys


def test_after_rotation_the_old_key_can_be_removed(settings, sinch_provider, generic_provider):
    encrypt_with(settings, KEY_A, sinch_provider, generic_provider)
    before = [raw_secrets(sinch_provider), raw_secrets(generic_provider)]
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    result = provider_secrets_rotate()

    assert (result.rotated, result.failures) == (2, {})
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [KEY_B]
    sinch = Provider.objects.get(id=sinch_provider.id)
    generic = Provider.objects.get(id=generic_provider.id)
    assert (sinch.username, sinch.password) == ("acme-user", "sinch-pass-Xy9")
    assert generic.headers == {"X-Api-Key": "header-secret-value"}
    after = [raw_secrets(sinch_provider), raw_secrets(generic_provider)]
    for old_row, new_row in zip(before, after, strict=True):
        for old, new in zip(old_row, new_row, strict=True):
            assert new == old == "" or (new != old and new.startswith("enc:"))
            assert not any(secret in new for secret in PLAINTEXTS)


def test_a_rotated_secret_does_not_decrypt_with_only_the_old_key(settings, sinch_provider):
    encrypt_with(settings, KEY_A, sinch_provider)
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    provider_secrets_rotate()

    settings.SMSGATEWAY_ENCRYPTION_KEYS = [KEY_A]
    with pytest.raises(DecryptionError):
        Provider.objects.get(id=sinch_provider.id)


def test_a_provider_no_key_decrypts_is_reported_and_the_others_still_rotate(
    settings, sinch_provider, generic_provider
):
    encrypt_with(settings, Fernet.generate_key().decode(), generic_provider)
    encrypt_with(settings, KEY_A, sinch_provider)
    unreadable = raw_secrets(generic_provider)
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    result = provider_secrets_rotate()

    assert result.rotated == 1
    assert list(result.failures) == [generic_provider.id]
    assert "cannot be decrypted" in result.failures[generic_provider.id]
    assert raw_secrets(generic_provider) == unreadable
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [KEY_B]
    assert Provider.objects.get(id=sinch_provider.id).password == "sinch-pass-Xy9"


def test_a_value_stored_unencrypted_is_reported_not_rewritten(settings, sinch_provider):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE providers_provider SET password = %s WHERE id = %s",
            ["plain-pass", sinch_provider.id],
        )

    result = provider_secrets_rotate()

    assert result.failures == {sinch_provider.id: "stored value is not encrypted"}
    assert raw_secrets(sinch_provider)[1] == "plain-pass"


def test_empty_credentials_stay_empty(settings, generic_provider):
    result = provider_secrets_rotate()

    assert result.rotated == 1
    username, password, _ = raw_secrets(generic_provider)
    assert (username, password) == ("", "")


# ---------------------------------------------------------------- callback tokens


def test_only_the_named_providers_get_new_tokens(sinch_provider, generic_provider):
    sinch_token, generic_token = sinch_provider.callback_token, generic_provider.callback_token

    rotated = providers_rotate_callback_tokens(provider_ids=[sinch_provider.id])

    assert [provider.id for provider in rotated] == [sinch_provider.id]
    sinch_provider.refresh_from_db()
    generic_provider.refresh_from_db()
    assert sinch_provider.callback_token not in ("", sinch_token)
    assert rotated[0].callback_token == sinch_provider.callback_token
    assert generic_provider.callback_token == generic_token


def test_without_ids_every_provider_gets_a_new_token(sinch_provider, generic_provider):
    old = set(Provider.objects.values_list("callback_token", flat=True))

    rotated = providers_rotate_callback_tokens()

    assert len(rotated) == 2
    assert not old & set(Provider.objects.values_list("callback_token", flat=True))


def test_an_unknown_id_changes_no_token(sinch_provider):
    token = sinch_provider.callback_token

    with pytest.raises(UnknownProviders) as caught:
        providers_rotate_callback_tokens(provider_ids=[sinch_provider.id, 9999])

    assert caught.value.ids == [9999]
    assert "9999" in str(caught.value)
    sinch_provider.refresh_from_db()
    assert sinch_provider.callback_token == token


# ---------------------------------------------------------------- export


def test_the_default_export_holds_no_secret(sinch_provider, generic_provider):
    records = providers_export()

    text = json.dumps(records)
    assert not any(secret in text for secret in PLAINTEXTS)
    assert [record["nickname"] for record in records] == ["Generic", "Sinch India"]
    generic = records[0]
    assert "username" not in generic and "password" not in generic
    assert generic["headers"] == {"X-Api-Key": MASK}
    assert generic_provider.callback_token not in text
    assert set(generic) == set(CONFIG_FIELDS)


def test_an_export_with_secrets_holds_them_in_clear(sinch_provider, generic_provider):
    records = {r["nickname"]: r for r in providers_export(include_secrets=True)}

    assert records["Sinch India"]["username"] == "acme-user"
    assert records["Sinch India"]["password"] == "sinch-pass-Xy9"
    assert records["Generic"]["headers"] == {"X-Api-Key": "header-secret-value"}
    assert "callback_token" not in records["Generic"]


# ---------------------------------------------------------------- import


def configuration(provider: Provider) -> dict:
    return {name: getattr(provider, name) for name in EXPORT_FIELDS}


def test_a_round_trip_with_secrets_restores_everything_but_the_tokens(
    sinch_provider, generic_provider, batch_provider
):
    generic_provider.dlr_format = Provider.DlrFormat.CUSTOM
    generic_provider.dlr_mapping = {"id": "msgid", "status": "stat"}
    generic_provider.save()
    originals = {p.nickname: configuration(p) for p in Provider.objects.all()}
    tokens = set(Provider.objects.values_list("callback_token", flat=True))
    exported = json.loads(json.dumps(providers_export(include_secrets=True)))
    Provider.objects.all().delete()

    changes = providers_import(records=exported)

    assert sorted((c.nickname, c.action) for c in changes) == [
        ("Batcher", "create"),
        ("Generic", "create"),
        ("Sinch India", "create"),
    ]
    assert {p.nickname: configuration(p) for p in Provider.objects.all()} == originals
    assert not tokens & set(Provider.objects.values_list("callback_token", flat=True))


def test_a_round_trip_without_secrets_restores_the_configuration(batch_provider):
    exported = json.loads(json.dumps(providers_export()))
    original = configuration(batch_provider)
    Provider.objects.all().delete()

    providers_import(records=exported)

    assert configuration(Provider.objects.get()) == original
    assert json.loads(json.dumps(providers_export())) == exported


def test_importing_an_unchanged_export_changes_nothing(generic_provider):
    updated_at = generic_provider.updated_at

    changes = providers_import(records=providers_export())

    assert [(c.nickname, c.action) for c in changes] == [("Generic", "unchanged")]
    generic_provider.refresh_from_db()
    assert generic_provider.updated_at == updated_at


def test_an_update_keeps_masked_and_omitted_secrets(sinch_provider, generic_provider):
    sinch_provider.headers = {"X-Key": "k-1"}
    sinch_provider.save()
    records = providers_export()
    for record in records:
        record["endpoint"] = "https://sms2.example.com/send"
    sinch = next(r for r in records if r["nickname"] == "Sinch India")
    sinch["password"] = MASK

    changes = providers_import(records=records)

    assert {c.nickname: c.fields for c in changes} == {
        "Generic": ["endpoint"],
        "Sinch India": ["endpoint"],
    }
    sinch_provider.refresh_from_db()
    generic_provider.refresh_from_db()
    assert sinch_provider.endpoint == "https://sms2.example.com/send"
    assert (sinch_provider.username, sinch_provider.password) == ("acme-user", "sinch-pass-Xy9")
    assert sinch_provider.headers == {"X-Key": "k-1"}
    assert generic_provider.headers == {"X-Api-Key": "header-secret-value"}


def test_an_update_sets_new_secrets_and_keeps_the_callback_token(generic_provider):
    token = generic_provider.callback_token
    record = providers_export()[0]
    record["headers"] = {"X-Api-Key": MASK, "X-Other": "new-value"}
    record["username"] = "new-user"

    [change] = providers_import(records=[record])

    assert change.fields == ["username", "headers"]
    generic_provider.refresh_from_db()
    assert generic_provider.username == "new-user"
    assert generic_provider.headers == {"X-Api-Key": "header-secret-value", "X-Other": "new-value"}
    assert generic_provider.callback_token == token


def test_a_masked_header_with_nothing_stored_is_rejected(generic_provider):
    exported = providers_export()
    Provider.objects.all().delete()

    with pytest.raises(ProviderImportError) as caught:
        providers_import(records=exported)

    assert list(caught.value.errors) == ["Generic"]
    assert "X-Api-Key" in caught.value.errors["Generic"][0]
    assert "--include-secrets" in caught.value.errors["Generic"][0]
    assert not Provider.objects.exists()


def test_one_invalid_provider_rejects_the_whole_import(generic_provider):
    good = {**providers_export()[0], "endpoint": "https://changed.example.com/"}
    new = {"nickname": "New", "endpoint": "https://sms.example.com/", "payload": {"t": "$$To"}}
    bad = {"nickname": "Bad", "endpoint": "ftp://example.com/", "payload": {"a": "$$Body"}}

    with pytest.raises(ProviderImportError) as caught:
        providers_import(records=[good, new, bad])

    errors = caught.value.errors
    assert set(errors) == {"New", "Bad"}
    assert any("$$Body or $$TemplateID" in text for text in errors["New"])
    assert any(text.startswith("endpoint:") for text in errors["Bad"])
    assert any("$$To" in text for text in errors["Bad"])
    assert list(Provider.objects.values_list("nickname", flat=True)) == ["Generic"]
    generic_provider.refresh_from_db()
    assert generic_provider.endpoint == "https://sms.example.com/send"


@pytest.mark.parametrize(
    ("records", "label", "fragment"),
    [
        ({"nickname": "X"}, "file", "JSON list"),
        (["X"], "record 1", "JSON object"),
        ([{"endpoint": "https://a.example.com/"}], "record 1", "nickname"),
        ([{"nickname": "X", "callback_token": "abc"}], "X", "Unknown field(s): callback_token"),
        ([{"nickname": "X", "kind": "nope"}], "X", "kind:"),
        ([{"nickname": "X", "batch_size": None}], "X", "batch_size: may not be null"),
        ([{"nickname": "X", "headers": {"A": 1}}], "X", "headers: must be a JSON object"),
        ([{"nickname": "X", "password": 5}], "X", "password: must be text"),
        ([{"nickname": "X", "dlr_mapping": []}], "X", "dlr_mapping: must be a JSON object"),
    ],
)
def test_a_malformed_record_is_rejected_with_a_clear_error(records, label, fragment):
    with pytest.raises(ProviderImportError) as caught:
        providers_import(records=records)

    assert fragment in " ".join(caught.value.errors[label])
    assert not Provider.objects.exists()


def test_a_nickname_given_twice_is_rejected(generic_provider):
    record = providers_export()[0]

    with pytest.raises(ProviderImportError) as caught:
        providers_import(records=[record, record])

    assert "more than once" in caught.value.errors["Generic"][0]


def test_a_dry_run_reports_the_changes_and_saves_nothing(generic_provider):
    record = {**providers_export()[0], "batch_size": 50}
    new = {**record, "nickname": "Copy", "headers": {}}

    changes = providers_import(records=[record, new], dry_run=True)

    assert [(c.nickname, c.action, c.fields) for c in changes] == [
        ("Generic", "update", ["batch_size"]),
        ("Copy", "create", []),
    ]
    generic_provider.refresh_from_db()
    assert generic_provider.batch_size == 100
    assert list(Provider.objects.values_list("nickname", flat=True)) == ["Generic"]


# ---------------------------------------------------------------- pruning history


def message_with_history(
    provider: Provider, *, status: str, days_ago: float, completed_days_ago: float | None = None
) -> Message:
    """A message with one event and one delivery report, all `days_ago` old."""
    then = timezone.now() - timedelta(days=days_ago)
    finished = completed_days_ago if completed_days_ago is not None else days_ago
    message = Message.objects.create(
        provider=provider,
        to="+919876543210",
        body="hi",
        status=status,
        completed_at=(
            timezone.now() - timedelta(days=finished) if status in Message.TERMINAL else None
        ),
    )
    event = MessageEvent.objects.create(message=message, source="send", status=status)
    report = DeliveryReport.objects.create(
        provider=provider,
        message=message,
        message_ref=str(message.id),
        event="delivered",
        outcome=DeliveryReport.Outcome.APPLIED,
    )
    MessageEvent.objects.filter(id=event.id).update(created_at=then)
    DeliveryReport.objects.filter(id=report.id).update(received_at=then)
    return message


def test_old_history_of_final_messages_is_deleted_and_the_rest_kept(generic_provider):
    delivered = message_with_history(generic_provider, status="delivered", days_ago=100)
    failed = message_with_history(generic_provider, status="failed", days_ago=100)
    unfinished = message_with_history(generic_provider, status="submitted", days_ago=100)
    recent = message_with_history(generic_provider, status="delivered", days_ago=10)
    just_finished = message_with_history(
        generic_provider, status="failed", days_ago=100, completed_days_ago=1
    )
    unmatched = DeliveryReport.objects.create(
        provider=generic_provider,
        message_ref="nobody",
        event="delivered",
        outcome="unknown_message",
    )
    DeliveryReport.objects.filter(id=unmatched.id).update(
        received_at=timezone.now() - timedelta(days=100)
    )

    result = message_history_prune(older_than=timedelta(days=90))

    assert (result.events, result.reports) == (2, 2)
    assert Message.objects.count() == 5
    for gone in (delivered, failed):
        assert not gone.events.exists() and not gone.reports.exists()
    for kept in (unfinished, recent, just_finished):
        assert kept.events.count() == 1 and kept.reports.count() == 1
    assert DeliveryReport.objects.filter(id=unmatched.id).exists()


def test_pruning_works_through_several_batches(generic_provider):
    for _ in range(5):
        message_with_history(generic_provider, status="delivered", days_ago=100)

    result = message_history_prune(older_than=timedelta(days=90), batch_size=2)

    assert (result.events, result.reports) == (5, 5)
    assert not MessageEvent.objects.exists() and not DeliveryReport.objects.exists()


def test_a_dry_run_counts_and_deletes_nothing(generic_provider):
    message_with_history(generic_provider, status="delivered", days_ago=100)

    result = message_history_prune(older_than=timedelta(days=90), dry_run=True)

    assert (result.events, result.reports) == (1, 1)
    assert MessageEvent.objects.count() == 1 and DeliveryReport.objects.count() == 1
