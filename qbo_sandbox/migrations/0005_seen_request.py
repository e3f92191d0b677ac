from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("qbo_sandbox", "0004_pull_mode"),
    ]

    operations = [
        migrations.CreateModel(
            name="SeenRequest",
            fields=[
                (
                    "request_key",
                    models.CharField(
                        max_length=64,
                        primary_key=True,
                        serialize=False,
                        verbose_name="request key",
                    ),
                ),
                ("seen", models.DateTimeField(db_index=True, verbose_name="seen")),
            ],
            options={
                "verbose_name": "accepted request",
                "verbose_name_plural": "accepted requests",
            },
        ),
    ]
