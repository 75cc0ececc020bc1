import hashlib

from django.db import migrations, models

import providers.ops.crypto


def fill_digests(apps, schema_editor):
    Provider = apps.get_model("providers", "Provider")
    for provider in Provider.objects.only("id", "callback_token"):
        digest = hashlib.sha256(provider.callback_token.encode()).hexdigest()
        Provider.objects.filter(id=provider.id).update(callback_token_digest=digest)


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0002_workerheartbeat"),
    ]

    operations = [
        migrations.AddField(
            model_name="provider",
            name="callback_username",
            field=providers.ops.crypto.EncryptedTextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="provider",
            name="callback_password",
            field=providers.ops.crypto.EncryptedTextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="provider",
            name="callback_token_digest",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(fill_digests, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="provider",
            name="callback_token_digest",
            field=models.CharField(editable=False, max_length=64, unique=True),
        ),
    ]
