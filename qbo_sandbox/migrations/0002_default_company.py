"""The sandbox company with its default chart of accounts (Checking, Savings, Visa) and the fault
settings row. Idempotent; `SandboxCompany.current()` recreates them after a database flush."""

from django.db import migrations

DEFAULT_ACCOUNTS = [("Checking", "Bank"), ("Savings", "Bank"), ("Visa", "CreditCard")]


def create_defaults(apps, schema_editor):
    SandboxCompany = apps.get_model("qbo_sandbox", "SandboxCompany")
    ChartAccount = apps.get_model("qbo_sandbox", "ChartAccount")
    FaultSettings = apps.get_model("qbo_sandbox", "FaultSettings")
    company, _ = SandboxCompany.objects.get_or_create(pk=1, defaults={"name": "Sandbox Company"})
    for name, account_type in DEFAULT_ACCOUNTS:
        ChartAccount.objects.get_or_create(
            company=company, name=name, defaults={"account_type": account_type}
        )
    FaultSettings.objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("qbo_sandbox", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
