"""One-time credentials for linking in QBO (`product.md` §5): issuing and revoking. The API and the
Link pages both go through here.

A username is 3 groups of 4 characters from an alphabet without look-alikes (no I, O, 0, 1); a
password is 16 letters and digits from the OS CSPRNG, about 95 bits. Only a slow hash of the
password is stored (Django's password hasher): under 112 bits a fast hash is not enough."""

from __future__ import annotations

import datetime as dt
import secrets
import string
from collections.abc import Iterable

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import Actor, record
from feeds.models import Connection, CredentialSet, SourceAccount

USERNAME_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PASSWORD_ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 16
LIFETIME = dt.timedelta(minutes=60)


def new_username() -> str:
    groups = ("".join(secrets.choice(USERNAME_ALPHABET) for _ in range(4)) for _ in range(3))
    return "-".join(groups)


def new_password() -> str:
    """16 characters with at least one lower-case letter, one upper-case letter and one digit."""
    while True:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))
        if (
            any(c.islower() for c in password)
            and any(c.isupper() for c in password)
            and any(c.isdigit() for c in password)
        ):
            return password


def issue(
    connection: Connection,
    accounts: Iterable[SourceAccount],
    *,
    origin: str,
    actor: Actor,
) -> tuple[CredentialSet, str]:
    """Create a credential set covering `accounts`; return it with the plain password, which
    exists nowhere else and must be shown once."""
    accounts = list(accounts)
    password = new_password()
    password_hash = make_password(password)
    now = timezone.now()
    with transaction.atomic():
        for _attempt in range(5):
            try:
                with transaction.atomic():
                    credential_set = CredentialSet.objects.create(
                        connection=connection,
                        origin=origin,
                        username=new_username(),
                        password_hash=password_hash,
                        created=now,
                        expires=now + LIFETIME,
                    )
                break
            except IntegrityError:  # a username already taken: 2^60 of them, so rare
                continue
        else:  # pragma: no cover - five collisions in a row
            raise RuntimeError("could not find a free username")
        credential_set.source_accounts.set(accounts)
        record(
            actor,
            "credentials.issued",
            credential_set,
            username=credential_set.username,
            origin=origin,
            accounts=[a.account_id for a in accounts],
            expires=credential_set.expires.isoformat(),
        )
    return credential_set, password


def revoke_unused(connection: Connection, *, actor: Actor) -> int:
    """Invalidate every set of the connection that has not been used; return how many."""
    with transaction.atomic():
        unused = CredentialSet.objects.filter(
            connection=connection, used__isnull=True, revoked__isnull=True
        )
        usernames = list(unused.values_list("username", flat=True))
        count = unused.update(revoked=timezone.now())
        record(actor, "credentials.revoked", connection, count=count, usernames=usernames)
    return count
