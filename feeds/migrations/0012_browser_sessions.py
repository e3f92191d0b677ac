import uuid

import django.db.models.deletion
from django.db import migrations, models


def carry_sessions_over(apps, schema_editor):
    # The sessions open when this runs go on in the new table: operators stay signed in to
    # admin, and an SMB user in the middle of the Link pages keeps their place.
    from django.contrib.sessions.backends.db import SessionStore

    Session = apps.get_model("sessions", "Session")
    BrowserSession = apps.get_model("feeds", "BrowserSession")
    store = SessionStore()
    rows = []
    for session in Session.objects.iterator():
        link = store.decode(session.session_data).get("link") or {}
        try:
            connection = uuid.UUID(str(link["connection"])) if link else None
        except (KeyError, TypeError, ValueError):
            connection = None
        rows.append(
            BrowserSession(
                session_key=session.session_key,
                session_data=session.session_data,
                expire_date=session.expire_date,
                connection_id=connection,
            )
        )
    BrowserSession.objects.bulk_create(rows, batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("feeds", "0011_replay_guard_by_request_id"),
        ("sessions", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="BrowserSession",
            fields=[
                (
                    "session_key",
                    models.CharField(
                        max_length=40, primary_key=True, serialize=False, verbose_name="session key"
                    ),
                ),
                ("session_data", models.TextField(verbose_name="session data")),
                ("expire_date", models.DateTimeField(db_index=True, verbose_name="expire date")),
                (
                    "connection",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="feeds.connection",
                    ),
                ),
            ],
            options={
                "verbose_name": "browser session",
                "verbose_name_plural": "browser sessions",
                "abstract": False,
            },
        ),
        migrations.RunPython(carry_sessions_over, migrations.RunPython.noop),
    ]
