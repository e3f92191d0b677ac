"""Load demo data: the organization "Maple Bank" and two SMB companies with source accounts.

Idempotent: a second run creates nothing and leaves what an operator has edited since alone
(the organization is set only while it still has its initial, unconfigured values)."""

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiClient, Company, OrganizationSettings
from feeds.link_urls import link_url
from feeds.models import Connection, SourceAccount

DEMO_CLIENT = "demo"
LOGO = Path(__file__).resolve().parents[2] / "demo" / "maple-bank.png"
NAMESPACE = uuid.UUID("6f1d2c6e-2f0b-4c59-9d87-3f4a3c2b9e10")

COMPANIES = [
    {
        "key": "us",
        "name": "Bluebird Coffee Roasters LLC",
        "country": "US",
        "description": "Demo company in Portland, Oregon.",
        "accounts": [
            ("bb-chk-001", "Business Checking", "checking", "000123456781", "USD", "12450.18"),
            ("bb-sav-002", "Business Savings", "savings", "000123456799", "USD", "40210.00"),
            (
                "bb-cc-003",
                "Visa Business Card",
                "creditCard",
                "4111111111114242",
                "USD",
                "-1873.52",
            ),
        ],
    },
    {
        "key": "ca",
        "name": "Boulangerie Saint-Laurent inc.",
        "country": "CA",
        "description": "Demo company in Montréal, Québec.",
        "accounts": [
            (
                "bsl-cheq-01",
                "Compte chèques entreprise",
                "checking",
                "0012345678",
                "CAD",
                "8734.56",
            ),
            ("bsl-epar-02", "Compte épargne", "savings", "0012349876", "CAD", "25000.00"),
            ("bsl-usd-03", "US dollar account", "checking", "0098765432", "USD", "3120.75"),
            (
                "bsl-mc-04",
                "Mastercard Affaires",
                "creditCard",
                "5555444433331111",
                "CAD",
                "-642.10",
            ),
        ],
    },
]


class Command(BaseCommand):
    help = "Load the Maple Bank demo organization and two demo companies (safe to run again)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        org = OrganizationSettings.get()
        if org.institution_name == OrganizationSettings._meta.get_field("institution_name").default:
            org.institution_name = "Maple Bank"
            org.institution_name_fr = "Banque Maple"
            org.integration_enabled = True
            org.logo = LOGO.read_bytes()
            org.logo_content_type = "image/png"
            org.logo_updated = timezone.now()
            org.callout_title_en = "Keep these credentials private"
            org.callout_body_en = (
                "Maple Bank will never ask for them by phone or e-mail. Questions? Call "
                "1 800 555-0199."
            )
            org.callout_title_fr = "Gardez ces identifiants confidentiels"
            org.callout_body_fr = (
                "Banque Maple ne vous les demandera jamais par téléphone ni par courriel. Des "
                "questions? Appelez le 1 800 555-0199."
            )
            org.support_contact = "support@maplebank.example · 1 800 555-0199"
            org.save()
            self.stdout.write("Organization set to Maple Bank.")

        client, _ = ApiClient.objects.get_or_create(name=DEMO_CLIENT)
        for spec in COMPANIES:
            company, _ = Company.objects.get_or_create(
                id=uuid.uuid5(NAMESPACE, f"company-{spec['key']}"),
                defaults={
                    "client": client,
                    "name": spec["name"],
                    "country": spec["country"],
                    "description": spec["description"],
                },
            )
            connection, _ = Connection.objects.get_or_create(
                id=uuid.uuid5(NAMESPACE, f"connection-{spec['key']}"), defaults={"company": company}
            )
            for account_id, name, kind, number, currency, balance in spec["accounts"]:
                SourceAccount.objects.get_or_create(
                    connection=connection,
                    account_id=account_id,
                    defaults={
                        "account_name": name,
                        "account_type": kind,
                        "account_number": number,
                        "currency": currency,
                        "balance": Decimal(balance),
                    },
                )
            self.stdout.write(
                f"{company.name} ({company.country}): company {company.id}, "
                f"connection {connection.id}, {connection.source_accounts.count()} source accounts"
            )
            self.stdout.write(f"  Link URL (valid 1 hour): {link_url(connection)}")
