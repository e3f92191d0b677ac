"""Every status change of a connection, source account, push operation or delivery batch goes
through `transition`: it checks the change against the lifecycle of `product.md` §1, §7 and §10,
applies it only if nobody changed the status meanwhile, and writes the audit event and the
change's webhook event (`feeds.webhooks.outbox`), all in one database transaction."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import Actor, record
from feeds.models import (
    Connection,
    ConnectionStatus,
    DeliveryBatch,
    DeliveryStatus,
    Feed,
    PushOperation,
    PushStatus,
    SourceAccount,
    SourceAccountStatus,
)
from feeds.webhooks import outbox

C, S, P, D = ConnectionStatus, SourceAccountStatus, PushStatus, DeliveryStatus

ALLOWED: dict[type[models.Model], dict[str, set[str]]] = {
    Connection: {
        # Linked when the SMB links an account in QBO; Unlinked by the client (only from Linked)
        # or when every source account is disconnected; linking again in QBO re-links it.
        C.PENDING_AUTH: {C.LINKED, C.DEAUTHORIZED},
        C.LINKED: {C.UNLINKED, C.DEAUTHORIZED},
        C.UNLINKED: {C.LINKED, C.DEAUTHORIZED},
        C.DEAUTHORIZED: set(),
    },
    SourceAccount: {
        # connected when linked in QBO; disconnected 10 days after QBO disabled the feed;
        # connected again when the SMB links it anew.
        S.PENDING: {S.CONNECTED},
        S.CONNECTED: {S.DISCONNECTED},
        S.DISCONNECTED: {S.CONNECTED},
    },
    PushOperation: {
        P.PENDING: {P.SUCCESS, P.FAILED},
        P.SUCCESS: set(),
        P.FAILED: set(),
    },
    DeliveryBatch: {
        # failed = retries exhausted, re-sent on the next run; rejected = QBO refused it (4xx),
        # re-sent only when an operator asks.
        D.PENDING: {D.DELIVERED, D.FAILED, D.REJECTED},
        D.FAILED: {D.PENDING},
        D.REJECTED: {D.PENDING},
        D.DELIVERED: set(),
    },
}


class IllegalTransition(Exception):
    """A status change the lifecycle does not allow, or one that lost a race."""


def can_transition(obj: models.Model, to: str) -> bool:
    return to in ALLOWED[type(obj)].get(obj.status, set())


def transition(
    obj: models.Model,
    to: str,
    *,
    actor: Actor,
    reason: str = "",
    updates: dict[str, Any] | None = None,
    **data: Any,
) -> None:
    """Move `obj` to status `to` (also saving `updates`), or raise `IllegalTransition`."""
    model = type(obj)
    current, to = str(obj.status), str(to)
    allowed = sorted(str(s) for s in ALLOWED[model].get(current, set()))
    if to not in allowed:
        raise IllegalTransition(
            _("%(object)s %(pk)s cannot go from '%(from)s' to '%(to)s'; allowed: %(allowed)s.")
            % {
                "object": model._meta.verbose_name,
                "pk": obj.pk,
                "from": current,
                "to": to,
                "allowed": ", ".join(allowed) or _("none"),
            }
        )
    fields = {"status": to, **(updates or {})}
    if any(f.name == "modified" for f in model._meta.concrete_fields):
        fields["modified"] = timezone.now()
    # Inside a caller's transaction, the change, its audit row and its event are that
    # transaction's (no savepoint of their own: two round trips fewer); otherwise one of their
    # own. A status changed meanwhile changes nothing, and is raised outside either.
    if transaction.get_connection().in_atomic_block:
        applied = _apply(obj, current, to, fields, actor, reason, data)
    else:
        with transaction.atomic():
            applied = _apply(obj, current, to, fields, actor, reason, data)
    if not applied:
        raise IllegalTransition(
            _("%(object)s %(pk)s is no longer '%(from)s'; someone changed it meanwhile.")
            % {"object": model._meta.verbose_name, "pk": obj.pk, "from": current}
        )


def _apply(
    obj: models.Model,
    current: str,
    to: str,
    fields: dict[str, Any],
    actor: Actor,
    reason: str,
    data: dict[str, Any],
) -> bool:
    model = type(obj)
    # Optimistic: applies only if the status is still the one we checked.
    if model._default_manager.filter(pk=obj.pk, status=current).update(**fields) != 1:
        return False
    for field, value in fields.items():
        setattr(obj, field, value)
    if model is Connection and to in (C.UNLINKED, C.DEAUTHORIZED):
        # Nothing more is delivered for an unlinked connection until it is linked again.
        data["feeds_ended"] = (
            Feed.objects.active()
            .filter(source_account__connection=obj)
            .update(ended=timezone.now())
        )
    details = {"from": current, "to": to, **data}
    if reason:
        details["reason"] = reason
    record(actor, f"{model._meta.model_name}.status", obj, **details)
    outbox.status_changed(obj, current, to)
    return True
