"""The audit trail: who (an `Actor`) did what to which object. Every status change and every
security-relevant event goes through `record`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models

from accounts.models import ActorType, ApiKey, AuditEvent


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
