from django.db import migrations, models


def forget_signatures(apps, schema_editor):
    # The rows were hashes of signatures; none can match a request id. Within five minutes
    # they could not be replayed anyway, under the new signing string.
    apps.get_model("feeds", "ReplayGuard").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("feeds", "0010_webhooks"),
    ]

    operations = [
        migrations.RunPython(forget_signatures, migrations.RunPython.noop),
        migrations.RenameField(
            model_name="replayguard",
            old_name="signature",
            new_name="request_key",
        ),
        migrations.AlterModelOptions(
            name="replayguard",
            options={
                "verbose_name": "accepted QBO request",
                "verbose_name_plural": "accepted QBO requests",
            },
        ),
    ]
