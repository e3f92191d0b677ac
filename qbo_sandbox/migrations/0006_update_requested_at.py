from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("qbo_sandbox", "0005_seen_request"),
    ]

    operations = [
        migrations.AddField(
            model_name="linkedfeed",
            name="update_requested_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="update requested at"),
        ),
        migrations.AlterField(
            model_name="pullcredential",
            name="username",
            field=models.CharField(max_length=200, verbose_name="username"),
        ),
    ]
