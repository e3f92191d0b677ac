"""One-time credentials for linking in QBO (`product.md` §5): issuing and revoking. The API and the
Link pages both go through here.

A username is 3 groups of 4 characters from an alphabet without look-alikes (no I, O, 0, 1); a
password is 16 letters and digits without look-alikes (no I, l, 1, O, o, 0) from the OS CSPRNG,
about 93 bits. Only a slow hash of the
password is stored (Django's password hasher): under 112 bits a fast hash is not enough."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from accounts.audit import Actor, record
from feeds import availability
from feeds.models import Connection, CredentialSet, Feed, LinkSession, SourceAccount

USERNAME_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
USERNAME_SHAPE = re.compile(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}")
# Letters and digits without the look-alikes (I, l, 1; O, o, 0): a password read off a phone and
# typed on a desktop is typed right. 56 symbols, about 93 bits in 16.
LOOK_ALIKES = "Il1Oo0"
PASSWORD_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in LOOK_ALIKES)
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
    exists nowhere else and must be shown once. The surfaces ask for a missing country first;
    this refusal keeps credentials from ever existing for a company outside the US and Canada."""
    if not availability.country_supported(connection.company):
        raise ValueError(f"company {connection.company_id} has no supported country")
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


def revoke(
    credential_sets: QuerySet[CredentialSet], *, actor: Actor, connection: Connection | None = None
) -> int:
    """Invalidate `credential_sets`, used ones too, and stop the feeds linked with them as if
    disconnected in QBO (`feed_rules.disable_feed`), as the hosted service does; return how many
    sets. One audit event per connection concerned, with the usernames (for `connection`, also
    when there was nothing left to revoke: the request itself is worth keeping)."""
    from feeds import feed_rules  # feed_rules is above credentials

    with transaction.atomic():
        rows = list(
            credential_sets.filter(revoked__isnull=True).values_list(
                "pk", "username", "connection_id"
            )
        )
        pks = [pk for pk, _username, _connection in rows]
        now = timezone.now()
        count = CredentialSet.objects.filter(pk__in=pks, revoked__isnull=True).update(revoked=now)
        for feed in Feed.objects.active().filter(credential_set__in=pks):
            feed_rules.disable_feed(feed, actor=actor, at=now)
        usernames: dict[Any, list[str]] = {}
        if connection is not None:
            usernames[connection.pk] = []
        for _pk, username, connection_id in rows:
            usernames.setdefault(connection_id, []).append(username)
        concerned = Connection.objects.in_bulk(usernames) if usernames else {}
        for connection_id, names in usernames.items():
            record(
                actor,
                "credentials.revoked",
                concerned.get(connection_id, connection),
                count=len(names),
                usernames=names,
            )
    return count


def revoke_all(connection: Connection, *, actor: Actor) -> int:
    """Revoke every set of the connection (API `DELETE`, the Link page); return how many."""
    return revoke(
        CredentialSet.objects.filter(connection=connection), actor=actor, connection=connection
    )


MAX_FAILED_ATTEMPTS = 5
# Verified against when the username is unknown, so that both paths cost one slow hash.
_DUMMY_HASH: list[str] = []


class CredentialError(Exception):
    """Redemption refused. `reason` is for the audit trail only: QBO (and so the SMB user) is
    never told which of these it was."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # unknown, wrong_password, expired, used, revoked, locked


def _dummy_hash() -> str:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(make_password(new_password()))
    return _DUMMY_HASH[0]


def check_nothing(password: str) -> None:
    """Spend the time one verification takes, checking nothing: for a call refused before its
    credentials are looked at, which must not answer faster than a wrong password does."""
    check_password(password, _dummy_hash())


def redeem(
    username: str,
    password: str,
    *,
    actor: Actor,
    then: Callable[[CredentialSet], None] | None = None,
) -> CredentialSet:
    """Spend a credential set for one QBO link (`product.md` §5, §6), or raise CredentialError.

    One slow hash whatever the username, outside any transaction (on SQLite a transaction holds
    the write lock); every attempt is audited (never the password); five wrong passwords lock
    the set; of two concurrent redemptions exactly one wins (the spend is a conditional UPDATE).
    `then` records what the spend is for (the link session) in the transaction that spends the
    set: if it fails, the set is not spent."""
    return _verify(username, password, actor=actor, pull=False, then=then)


def redeem_for_link(
    username: str, password: str, *, actor: Actor
) -> tuple[LinkSession, list[SourceAccount]]:
    """QBO's verify: spend the credential set and open the session QBO links within
    (`feed_rules.open_link_session`) in one transaction, so that a crash between them never
    leaves a spent set without a session; or raise CredentialError."""
    from feeds import feed_rules  # feed_rules is above credentials

    opened: list[tuple[LinkSession, list[SourceAccount]]] = []
    redeem(
        username,
        password,
        actor=actor,
        then=lambda credential_set: opened.append(
            feed_rules.open_link_session(credential_set, actor=actor)
        ),
    )
    return opened[0]


def authenticate_pull(username: str, password: str, *, actor: Actor) -> CredentialSet:
    """The credential set QBO pulls with (`product.md` §5, §12), or raise CredentialError.

    The same check as `redeem` (one slow hash whatever the username, the same lockout), but a
    set is not spent: its first success binds it (`used` set, audited), and from then on it
    keeps working, without expiring, until revoked. Unlike `redeem`, nothing is written for an
    unknown username, and a refused call for a set that can no longer be reserved (revoked,
    locked, expired) is audited once an hour per set and reason: QBO pulls with what it holds
    every day, and unauthenticated calls must not grow the database without bound. A bound
    set's credentials, once verified, skip the slow hash for VERIFIED_SECONDS."""
    return _verify(username, password, actor=actor, pull=True)


REFUSAL_AUDIT_INTERVAL = 3600  # seconds; pull refusals of a set that cannot be reserved
# A pull's credentials, once verified, are remembered this long (as an HMAC under SECRET_KEY,
# never the password), so that QBO's next calls of the same pull cost no slow hash and its
# concurrent calls reserve no attempts. Revocation and the lock are still read from the row.
VERIFIED_SECONDS = 300


def _verified_name(credential_set: CredentialSet, password: str) -> str:
    message = f"{credential_set.pk}\x00{credential_set.password_hash}\x00{password}".encode()
    digest = hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()
    return f"credentials-verified:{digest}"


def _verify(
    username: str,
    password: str,
    *,
    actor: Actor,
    pull: bool,
    then: Callable[[CredentialSet], None] | None = None,
) -> CredentialSet:
    username = username.strip().upper()
    now = timezone.now()
    credential_set = (
        CredentialSet.objects.select_related("connection").filter(username=username).first()
    )
    if credential_set is None:
        check_password(password, _dummy_hash())
        if not pull:
            # Not the text itself: a password pasted into the username field must not be kept.
            record(
                actor,
                "credentials.verify_failed",
                None,
                reason="unknown",
                username_length=len(username),
                username_shape_ok=bool(USERNAME_SHAPE.fullmatch(username)),
            )
        raise CredentialError("unknown")

    def refuse(reason: str, **data) -> CredentialError:
        record(actor, "credentials.verify_failed", credential_set, reason=reason, **data)
        return CredentialError(reason)

    verified = _verified_name(credential_set, password) if pull else ""
    if (
        pull
        and credential_set.used is not None
        and credential_set.revoked is None
        and credential_set.locked is None
        and cache.get(verified)
    ):
        return credential_set
    # A bound set (used) stays good for pulling; for a link it is spent.
    usable = {"active", "used"} if pull else {"active"}
    # Reserve an attempt before checking the password (a conditional UPDATE), so that however
    # many guesses arrive at once, no more than MAX_FAILED_ATTEMPTS are ever checked.
    reserved = (
        credential_set.state in usable
        and CredentialSet.objects.filter(
            pk=credential_set.pk,
            failed_attempts__lt=MAX_FAILED_ATTEMPTS,
            locked__isnull=True,
            revoked__isnull=True,
        ).update(failed_attempts=F("failed_attempts") + 1)
        == 1
    )
    password_ok = check_password(password, credential_set.password_hash)
    if not reserved:
        credential_set.refresh_from_db()
        state = credential_set.state
        if credential_set.locked and state in usable:
            state = "locked"
        reason = state if state not in usable else "locked"
        if pull and not cache.add(
            f"credentials-refused:{credential_set.pk}:{reason}", 1, REFUSAL_AUDIT_INTERVAL
        ):
            raise CredentialError(reason)
        raise refuse(reason)
    if not password_ok:
        with transaction.atomic():
            attempts = CredentialSet.objects.values_list("failed_attempts", flat=True).get(
                pk=credential_set.pk
            )
            if attempts >= MAX_FAILED_ATTEMPTS:
                CredentialSet.objects.filter(pk=credential_set.pk, locked__isnull=True).update(
                    locked=now
                )
            error = refuse("wrong_password", failed_attempts=attempts)
        raise error
    # The right password: the reserved attempt was not a failure.
    CredentialSet.objects.filter(pk=credential_set.pk).update(
        failed_attempts=F("failed_attempts") - 1
    )
    if pull:
        cache.set(verified, 1, VERIFIED_SECONDS)
    if pull and credential_set.used is not None:
        return credential_set  # bound before: pulls go on until it is revoked
    with transaction.atomic():
        spent = CredentialSet.objects.filter(
            pk=credential_set.pk,
            used__isnull=True,
            revoked__isnull=True,
            locked__isnull=True,
            expires__gt=now,
        ).update(used=now)
        if spent == 1:
            credential_set.used = now
            if pull:
                record(actor, "credentials.bound", credential_set, username=credential_set.username)
            else:
                record(
                    actor, "credentials.redeemed", credential_set, username=credential_set.username
                )
            if then is not None:
                then(credential_set)  # what raises here leaves the set unspent
    if spent != 1:
        credential_set.refresh_from_db()
        if pull and credential_set.state == "used":
            return credential_set  # a concurrent pull bound it a moment ago
        raise refuse(credential_set.state if credential_set.state != "active" else "used")
    return credential_set
