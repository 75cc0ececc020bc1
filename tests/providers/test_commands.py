"""The operators' commands: rotate_keys, rotate_callback_tokens, export_providers,
import_providers and prune_events."""

from __future__ import annotations

import io
import json
import stat
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from providers.models import DeliveryReport, Message, MessageEvent, Provider
from providers.sending.rendering import MASK

pytestmark = pytest.mark.django_db

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def dlr_post(client, url: str, message: Message):
    body = [{"event": "delivered", "data": [{"meta": str(message.id), "ts": 1654512921}]}]
    return client.post(url, data=json.dumps(body), content_type="application/json")


def write_json(tmp_path, content) -> str:
    path = tmp_path / "providers.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


# ---------------------------------------------------------------- rotate_keys


def test_rotate_keys_reports_what_it_re_encrypted(settings, sinch_provider, capsys):
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [KEY_A]
    sinch_provider.save()
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    call_command("rotate_keys")

    assert "Re-encrypted the secrets of 1 provider(s)." in capsys.readouterr().out
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [KEY_B]
    assert Provider.objects.get(id=sinch_provider.id).password == "sinch-pass-Xy9"


def test_rotate_keys_names_a_provider_it_cannot_decrypt_and_fails(
    settings, sinch_provider, generic_provider, capsys
):
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    generic_provider.save()
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [KEY_A]
    sinch_provider.save()
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    with pytest.raises(CommandError, match=f"id {generic_provider.id}"):
        call_command("rotate_keys")

    captured = capsys.readouterr()
    assert "Re-encrypted the secrets of 1 provider(s)." in captured.out
    assert f"Provider id {generic_provider.id}:" in captured.err
    settings.SMSGATEWAY_ENCRYPTION_KEYS = [KEY_B]
    assert Provider.objects.get(id=sinch_provider.id).password == "sinch-pass-Xy9"


def test_rotate_keys_help_gives_the_procedure(capsys):
    with pytest.raises(SystemExit):
        call_command("rotate_keys", "--help")

    help_text = " ".join(capsys.readouterr().out.split())
    assert "put it first in SMSGATEWAY_ENCRYPTION_KEYS and keep the old key after it" in help_text
    assert "remove the old key" in help_text


# ---------------------------------------------------------------- rotate_callback_tokens


def test_a_rotated_callback_url_is_printed_and_the_old_one_stops_working(
    client, generic_provider, sinch_provider, capsys
):
    old_url = reverse("dlr_callback", args=[generic_provider.callback_token])
    sinch_token = sinch_provider.callback_token
    message = Message.objects.create(provider=generic_provider, to="+919876543210", body="hi")

    call_command("rotate_callback_tokens", "--provider", str(generic_provider.id))

    generic_provider.refresh_from_db()
    out = capsys.readouterr().out
    assert f"Generic (id {generic_provider.id}): {generic_provider.callback_url}" in out
    new_path = reverse("dlr_callback", args=[generic_provider.callback_token])
    assert dlr_post(client, old_url, message).status_code == 404
    assert dlr_post(client, new_path, message).status_code == 200
    assert Message.objects.get(id=message.id).status == Message.Status.DELIVERED
    sinch_provider.refresh_from_db()
    assert sinch_provider.callback_token == sinch_token


def test_all_providers_get_new_callback_urls(generic_provider, sinch_provider, capsys):
    old = set(Provider.objects.values_list("callback_token", flat=True))

    call_command("rotate_callback_tokens", "--all")

    out = capsys.readouterr().out
    for provider in Provider.objects.all():
        assert provider.callback_token not in old
        assert provider.callback_url in out
    assert "Rotated 2 provider(s)' callback and inbound tokens" in out


def test_an_unknown_provider_id_is_an_error_and_changes_nothing(generic_provider):
    token = generic_provider.callback_token

    with pytest.raises(CommandError, match="No provider with id 4242"):
        call_command(
            "rotate_callback_tokens", "--provider", str(generic_provider.id), "--provider", "4242"
        )

    generic_provider.refresh_from_db()
    assert generic_provider.callback_token == token


def test_rotate_callback_tokens_needs_a_provider_or_all():
    with pytest.raises(CommandError, match="--provider --all"):
        call_command("rotate_callback_tokens")


# ---------------------------------------------------------------- export_providers


def test_the_export_masks_secrets_by_default(sinch_provider, generic_provider, capsys):
    call_command("export_providers")

    captured = capsys.readouterr()
    for secret in ("acme-user", "sinch-pass-Xy9", "header-secret-value"):
        assert secret not in captured.out
    records = json.loads(captured.out)
    assert [r["nickname"] for r in records] == ["Generic", "Sinch India"]
    assert records[0]["headers"] == {"X-Api-Key": MASK}
    assert captured.err == ""


def test_an_export_with_secrets_goes_to_a_private_file_with_a_warning(
    tmp_path, sinch_provider, capsys
):
    path = tmp_path / "export.json"

    call_command("export_providers", "--include-secrets", "--output", str(path))

    captured = capsys.readouterr()
    assert "credentials in clear" in captured.err
    assert "sinch-pass-Xy9" not in captured.out + captured.err
    assert json.loads(path.read_text())[0]["password"] == "sinch-pass-Xy9"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# ---------------------------------------------------------------- import_providers


def test_export_then_import_into_an_empty_database(tmp_path, sinch_provider, generic_provider):
    path = tmp_path / "export.json"
    call_command("export_providers", "--include-secrets", "--output", str(path))
    before = path.read_text()
    Provider.objects.all().delete()

    call_command("import_providers", str(path))

    again = tmp_path / "again.json"
    call_command("export_providers", "--include-secrets", "--output", str(again))
    assert again.read_text() == before


def test_import_reads_stdin(monkeypatch, generic_provider, capsys):
    payload = {"to": "$$To", "text": "$$Body"}
    record = {"nickname": "From stdin", "endpoint": "https://a.example.com/", "payload": payload}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps([record])))

    call_command("import_providers", "-")

    assert "Created: From stdin" in capsys.readouterr().out
    assert Provider.objects.filter(nickname="From stdin").exists()


def test_an_import_dry_run_reports_and_saves_nothing(tmp_path, generic_provider, capsys):
    call_command("export_providers")
    records = json.loads(capsys.readouterr().out)
    records[0]["endpoint"] = "https://other.example.com/send"
    records.append({**records[0], "nickname": "Copy", "headers": {}})

    call_command("import_providers", write_json(tmp_path, records), "--dry-run")

    out = capsys.readouterr().out
    assert "Would update: Generic (endpoint)" in out
    assert "Would create: Copy" in out
    assert "Dry run, nothing saved: 1 to create, 1 to update, 0 unchanged." in out
    generic_provider.refresh_from_db()
    assert generic_provider.endpoint == "https://sms.example.com/send"
    assert Provider.objects.count() == 1


def test_an_invalid_provider_rejects_the_import_naming_it(tmp_path, generic_provider):
    records = [
        {"nickname": "Fine", "endpoint": "https://a.example.com/", "payload": {"t": "$$To"}},
        {"nickname": "Broken", "endpoint": "http://a.example.com/", "payload": {"b": "$$Body"}},
    ]

    with pytest.raises(CommandError) as caught:
        call_command("import_providers", write_json(tmp_path, records))

    text = str(caught.value)
    assert text.startswith("Import rejected, nothing changed:")
    assert "  Broken: endpoint: The endpoint must use https://." in text
    assert "  Fine: payload:" in text
    assert list(Provider.objects.values_list("nickname", flat=True)) == ["Generic"]


def test_a_file_that_is_not_json_is_a_clear_error(tmp_path):
    path = write_json(tmp_path, '[{"nickname": "x",}]')

    with pytest.raises(CommandError, match=r"providers\.json is not valid JSON: .*line 1"):
        call_command("import_providers", path)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read .*nothing-here.json: No such file"):
        call_command("import_providers", str(tmp_path / "nothing-here.json"))


def test_a_json_object_instead_of_a_list_is_rejected(tmp_path):
    with pytest.raises(CommandError, match="Expected a JSON list of provider objects"):
        call_command("import_providers", write_json(tmp_path, {"nickname": "x"}))


# ---------------------------------------------------------------- prune_events


def old_final_message(provider: Provider, *, days_ago: int) -> Message:
    then = timezone.now() - timedelta(days=days_ago)
    message = Message.objects.create(
        provider=provider, to="+919876543210", status="delivered", completed_at=then
    )
    MessageEvent.objects.create(message=message, source="dlr", status="delivered")
    DeliveryReport.objects.create(
        provider=provider,
        message=message,
        message_ref=str(message.id),
        event="delivered",
        outcome="applied",
    )
    MessageEvent.objects.filter(message=message).update(created_at=then)
    DeliveryReport.objects.filter(message=message).update(received_at=then)
    return message


def test_prune_events_deletes_history_older_than_90_days_by_default(generic_provider, capsys):
    old_final_message(generic_provider, days_ago=91)
    kept = old_final_message(generic_provider, days_ago=30)

    call_command("prune_events")

    out = capsys.readouterr().out
    assert "Deleted 1 message event(s) and 1 delivery report(s) older than 90 day(s)." in out
    assert list(MessageEvent.objects.values_list("message_id", flat=True)) == [kept.id]
    assert Message.objects.count() == 2


def test_prune_events_with_a_dry_run_and_a_shorter_age(generic_provider, capsys):
    old_final_message(generic_provider, days_ago=91)
    old_final_message(generic_provider, days_ago=30)

    call_command("prune_events", "--older-than", "7", "--dry-run")

    out = capsys.readouterr().out
    assert "Would delete 2 message event(s) and 2 delivery report(s) older than 7 day(s)." in out
    assert MessageEvent.objects.count() == 2


def test_prune_events_refuses_a_negative_age():
    with pytest.raises(CommandError, match="--older-than must be 0 or more"):
        call_command("prune_events", "--older-than", "-1")
