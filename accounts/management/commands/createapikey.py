"""Create an API key and print it once. The key is the last line of stdout, alone."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.audit import Actor, record
from accounts.models import ApiClient, ApiKey


class Command(BaseCommand):
    help = (
        "Create an API key named NAME for the API client --client (default: NAME; created if "
        "missing) and print it once. Earlier keys of the client stay valid until revoked."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", help="a name for the key, e.g. 'backend-2026'")
        parser.add_argument("--client", help="the API client that owns the key (default: NAME)")

    def handle(self, *args: Any, name: str, client: str | None, **options: Any) -> None:
        name = name.strip()
        client_name = (client or name).strip()
        if not name or len(name) > 100 or len(client_name) > 100:
            raise CommandError("NAME and --client must be 1 to 100 characters.")
        api_client, created = ApiClient.objects.get_or_create(name=client_name)
        key, secret = ApiKey.issue(api_client, name)
        record(Actor.system("createapikey"), "api_key.created", key, client=api_client.name)
        if created:
            self.stderr.write(f"Created API client {api_client.name!r}.")
        self.stderr.write(
            f"API key {name!r} ({key.prefix}…) for client {api_client.name!r}. "
            "It is shown only now; store it safely:"
        )
        self.stdout.write(secret)
