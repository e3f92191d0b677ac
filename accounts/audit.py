"""The audit trail: who (an `Actor`) did what to which object. Every status change and every
security-relevant event goes through `record`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import ActorType, ApiKey, AuditEvent, RefusalTally


@dataclass(frozen=True)
class Actor:
    type: str
    id: str = ""
    label: str = ""

    @classmethod
    def operator(cls, user: Any) -> Actor:
        return cls(ActorType.OPERATOR, str(user.pk), user.get_username())

    @classmethod
    def api_key(cls, key: ApiKey) -> Actor:
        return cls(ActorType.API_KEY, str(key.pk), f"{key.client.name}: {key.name} ({key.prefix}…)")

    @classmethod
    def smb(cls, connection_id: Any) -> Actor:
        return cls(ActorType.SMB, str(connection_id), "Link")

    @classmethod
    def qbo(cls) -> Actor:
        return cls(ActorType.QBO, "", "QuickBooks Online")

    @classmethod
    def worker(cls) -> Actor:
        return cls(ActorType.WORKER, "", "worker")

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(ActorType.SYSTEM, "", label)


def company_id_of(obj: models.Model) -> Any:
    """The company an object belongs to, for filtering the trail by company."""
    if obj._meta.label_lower == "accounts.company":
        return obj.pk
    paths = (
        "company_id",
        "connection.company_id",
        "source_account.connection.company_id",
        "feed.source_account.connection.company_id",
    )
    for path in paths:
        target: Any = obj
        try:
            for part in path.split("."):
                target = getattr(target, part)
        except AttributeError:
            continue
        return target
    return None


def record(actor: Actor, action: str, obj: models.Model | None = None, **data: Any) -> AuditEvent:
    return AuditEvent.objects.create(
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        company_id=company_id_of(obj) if obj is not None else None,
        data=data,
    )


# Refusals of unauthenticated requests --------------------------------------------------------

# Distinct sources tallied a minute for one action; beyond them, all count under OTHER.
MAX_SOURCES_PER_MINUTE = 10
OTHER = "other"
# Caller strings kept in a tally (a path, a reason), at most this long.
KEPT_CHARACTERS = 100


def record_refusal(action: str, source: str, **data: Any) -> None:
    """Count one refused unauthenticated request: one row per action, source and minute, with
    the first refusal's details cut short (`RefusalTally`)."""
    now = timezone.now()
    minute = now.replace(second=0, microsecond=0)
    source = (source or "unknown")[:64]
    if _count(action, source, minute):
        return
    if RefusalTally.objects.filter(action=action, minute=minute).count() >= MAX_SOURCES_PER_MINUTE:
        source = OTHER
        if _count(action, source, minute):
            return
    first = {k: str(v)[:KEPT_CHARACTERS] for k, v in list(data.items())[:5]}
    try:
        with transaction.atomic():
            RefusalTally.objects.create(
                action=action, source=source, minute=minute, count=1, first=first
            )
    except IntegrityError:  # another process made the row a moment ago
        _count(action, source, minute)


def _count(action: str, source: str, minute: Any) -> bool:
    return bool(
        RefusalTally.objects.filter(action=action, source=source, minute=minute).update(
            count=F("count") + 1
        )
    )


def purge_refusals(before: Any) -> int:
    return RefusalTally.objects.filter(minute__lt=before).delete()[0]
