"""Connections, source accounts and their QBO feeds, credentials, transactions and deliveries.

Status values and JSON names follow `product.md` to the letter. Status fields are never assigned
directly: `feeds.lifecycle.transition` validates each change and writes its audit event.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any

from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Company

MONEY = {"max_digits": 18, "decimal_places": 2}
# QBO takes at most this many days of history: the earliest feed start date chosen in QBO, and
# the oldest clearedOnDate a write may carry (`product.md` §6, §8).
HISTORY_DAYS = 7


def _choices_check(
    field: str, choices: type[models.TextChoices], name: str
) -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(**{f"{field}__in": choices.values}), name=name)


class ConnectionStatus(models.TextChoices):
    PENDING_AUTH = "PendingAuth", _("Pending authorization")
    LINKED = "Linked", _("Linked")
    UNLINKED = "Unlinked", _("Unlinked")
    DEAUTHORIZED = "Deauthorized", _("Deauthorized")


class Connection(models.Model):
    PLATFORM_KEY = "hcws"
    PLATFORM_NAME = "QuickBooks Online Bank Feeds"
    SOURCE_TYPE = "BankFeed"
    # The one integration every connection uses (QBO bank feeds), named as the hosted service
    # names an integration: its key is the platform key, and both ids are fixed (uuid5 of
    # "linksite:integration:hcws" and "linksite:source:qbo-bank-feeds"), so they never change
    # between deployments or releases.
    INTEGRATION_KEY = PLATFORM_KEY
    INTEGRATION_ID = uuid.UUID("23ef72e4-f155-5554-8e6c-618052d9e303")
    SOURCE_ID = uuid.UUID("56ec0661-5733-5fab-b9ab-9badc24c92ae")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    company = models.ForeignKey(
        Company, models.CASCADE, related_name="connections", verbose_name=_("company")
    )
    platform_key = models.CharField(_("platform key"), max_length=4, default=PLATFORM_KEY)
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=ConnectionStatus.choices,
        default=ConnectionStatus.PENDING_AUTH,
    )
    # Part of every signed Link URL; raising it invalidates all Link URLs issued before.
    link_generation = models.PositiveIntegerField(default=1, editable=False)
    created = models.DateTimeField(_("created"), default=timezone.now)
    modified = models.DateTimeField(_("modified"), auto_now=True)
    # Set when the client deletes the connection through the API: it is deauthorized, the API
    # answers 404 for it from then on, and the row stays for the audit trail and history.
    deleted = models.DateTimeField(_("deleted"), null=True, blank=True)

    class Meta:
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        ordering = ["-created"]
        indexes = [models.Index(fields=["company", "-created"], name="connection_company_created")]
        constraints = [
            _choices_check("status", ConnectionStatus, "connection_status_valid"),
            models.CheckConstraint(
                condition=Q(platform_key="hcws"), name="connection_platform_key_hcws"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.company} · {self.PLATFORM_NAME} ({self.get_status_display()})"


class AccountType(models.TextChoices):
    CHECKING = "checking", _("Checking")
    SAVINGS = "savings", _("Savings")
    LOAN = "loan", _("Loan")
    CREDIT_CARD = "creditCard", _("Credit card")
    PREPAID_CARD = "prepaidCard", _("Prepaid card")


class Currency(models.TextChoices):
    USD = "USD", "USD"
    CAD = "CAD", "CAD"


class SourceAccountStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    CONNECTED = "connected", _("connected")
    DISCONNECTED = "disconnected", _("disconnected")


class SourceAccount(models.Model):
    """A bank or card account the client holds for the SMB (`bankFeedAccounts`)."""

    connection = models.ForeignKey(
        Connection, models.CASCADE, related_name="source_accounts", verbose_name=_("connection")
    )
    account_id = models.CharField(_("account id"), max_length=100)
    account_name = models.CharField(_("account name"), max_length=200)
    account_type = models.CharField(_("account type"), max_length=12, choices=AccountType.choices)
    account_number = models.CharField(_("account number"), max_length=50)
    routing_number = models.CharField(_("routing number"), max_length=50, blank=True, default="")
    sort_code = models.CharField(_("sort code"), max_length=50, blank=True, default="")
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    balance = models.DecimalField(_("balance"), **MONEY, default=0)
    # The v2 body's routingInfo {bankCode, type} and accountInfo {description, nickname,
    # accountOpenDate, availableBalance}, kept as sent (validated) and returned on every read.
    routing_info = models.JSONField(_("routing info"), null=True, blank=True)
    account_info = models.JSONField(_("account info"), null=True, blank=True)
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=SourceAccountStatus.choices,
        default=SourceAccountStatus.PENDING,
    )
    created = models.DateTimeField(_("created"), default=timezone.now)
    modified = models.DateTimeField(_("modified"), auto_now=True)

    class Meta:
        verbose_name = _("source account")
        verbose_name_plural = _("source accounts")
        ordering = ["connection_id", "created", "id"]
        indexes = [models.Index(fields=["connection", "status"], name="sourceaccount_conn_status")]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "account_id"], name="sourceaccount_id_unique_per_connection"
            ),
            models.CheckConstraint(condition=~Q(account_id=""), name="sourceaccount_id_not_empty"),
            _choices_check("account_type", AccountType, "sourceaccount_type_valid"),
            _choices_check("currency", Currency, "sourceaccount_currency_valid"),
            _choices_check("status", SourceAccountStatus, "sourceaccount_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.account_name} ({self.account_id})"

    @property
    def masked_number(self) -> str:
        return self.mask(self.account_number)

    @staticmethod
    def mask(account_number: str) -> str:
        """Only the last 4 digits are ever shown to SMB users."""
        return "••••" + account_number[-4:]


def new_feed_id() -> str:
    return "fd_" + secrets.token_hex(12)


class TargetAccountType(models.TextChoices):
    BANK = "Bank", _("Bank")
    CREDIT_CARD = "CreditCard", _("Credit card")


class FeedDelivery(models.TextChoices):
    """How a feed reaches QBO: linked through the push protocol (linksite sends batches), or by
    QBO's first pull through the IDX API (QBO reads; nothing is pushed)."""

    PUSH = "push", _("pushed by linksite")
    PULL = "pull", _("pulled by QBO")


class FeedQuerySet(models.QuerySet):
    def active(self) -> FeedQuerySet:
        """Feeds still delivering: neither disabled in QBO nor ended by linksite."""
        return self.filter(Feed.ACTIVE)


class Feed(models.Model):
    """One link, made in QBO, from a source account to a QBO target account. A source account has
    at most one active feed; after a disconnect it can be linked again, which makes a new feed."""

    id = models.CharField(_("feed id"), primary_key=True, max_length=40, default=new_feed_id)
    source_account = models.ForeignKey(
        SourceAccount, models.CASCADE, related_name="feeds", verbose_name=_("source account")
    )
    credential_set = models.ForeignKey(
        "CredentialSet",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="feeds",
        verbose_name=_("credential set"),
    )
    target_account_id = models.CharField(_("target account id"), max_length=100)
    target_account_name = models.CharField(_("target account name"), max_length=200)
    target_account_type = models.CharField(
        _("target account type"), max_length=10, choices=TargetAccountType.choices
    )
    feed_start_date = models.DateField(_("feed start date"))
    delivery = models.CharField(
        _("delivery"), max_length=4, choices=FeedDelivery.choices, default=FeedDelivery.PUSH
    )
    created = models.DateTimeField(_("linked"), default=timezone.now)
    # Set when QBO reports the feed disconnected (`feedDisabledOnUtc`).
    disabled_on_utc = models.DateTimeField(_("disabled in QBO"), null=True, blank=True)
    # Set when linksite stops the feed itself (connection unlinked by the client).
    ended = models.DateTimeField(_("ended"), null=True, blank=True)
    # A pulled feed: when QBO last read its transactions (the daily maintenance disables a feed
    # QBO has not pulled for FEED_DISCONNECT_GRACE_DAYS).
    last_pulled = models.DateTimeField(_("last pulled by QBO"), null=True, blank=True)
    # Who is pushing this feed, until when: one pusher at a time, on any database.
    push_lease_owner = models.CharField(max_length=64, blank=True, default="", editable=False)
    push_lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    ACTIVE = Q(disabled_on_utc__isnull=True, ended__isnull=True)
    objects = FeedQuerySet.as_manager()

    class Meta:
        verbose_name = _("feed")
        verbose_name_plural = _("feeds")
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_account"],
                condition=Q(disabled_on_utc__isnull=True, ended__isnull=True),  # ACTIVE
                name="feed_one_active_per_source_account",
            ),
            _choices_check("target_account_type", TargetAccountType, "feed_target_type_valid"),
            _choices_check("delivery", FeedDelivery, "feed_delivery_valid"),
        ]
        indexes = [models.Index(fields=["disabled_on_utc"], name="feed_disabled")]

    def __str__(self) -> str:
        return self.id

    @property
    def is_active(self) -> bool:
        return self.disabled_on_utc is None and self.ended is None


def new_link_session_id() -> str:
    return secrets.token_urlsafe(24)


class CredentialOrigin(models.TextChoices):
    LINK = "link", _("Link page")
    API = "api", _("API")


class CredentialSet(models.Model):
    """A one-time username and password for linking in QBO. Only a slow hash of the password is
    stored; the state (active, used, revoked, locked, expired) follows from the timestamps."""

    connection = models.ForeignKey(
        Connection, models.CASCADE, related_name="credential_sets", verbose_name=_("connection")
    )
    source_accounts = models.ManyToManyField(
        SourceAccount, related_name="credential_sets", verbose_name=_("source accounts")
    )
    origin = models.CharField(_("created from"), max_length=4, choices=CredentialOrigin.choices)
    username = models.CharField(_("username"), max_length=14, unique=True)
    password_hash = models.CharField(max_length=200, editable=False)
    created = models.DateTimeField(_("created"), default=timezone.now)
    expires = models.DateTimeField(_("expires"), db_index=True)
    used = models.DateTimeField(_("used"), null=True, blank=True)
    revoked = models.DateTimeField(_("revoked"), null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(_("failed attempts"), default=0)
    locked = models.DateTimeField(_("locked"), null=True, blank=True)

    class Meta:
        verbose_name = _("credential set")
        verbose_name_plural = _("credential sets")
        ordering = ["-created"]
        indexes = [models.Index(fields=["connection", "used", "revoked"], name="credset_unused")]
        constraints = [
            _choices_check("origin", CredentialOrigin, "credentialset_origin_valid"),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def state(self) -> str:
        if self.revoked:
            return "revoked"
        if self.used:
            return "used"
        if self.locked:
            return "locked"
        if self.expires <= timezone.now():
            return "expired"
        return "active"


class BrowserSession(AbstractBaseSession):
    """A browser's session: Django's own, server-side (`linksite.sessions` stores it), with the
    Link connection it is bound to copied into a column of its own when it is saved, so that a
    Link page reads its session, connection and company in one statement (issue 18). The column
    is never trusted alone: the page checks it against the session's data."""

    DATA_KEY = "link"  # where the Link pages keep their state in the session's data

    connection = models.ForeignKey(
        Connection,
        models.DO_NOTHING,  # a session of a deleted connection joins nothing: the page refuses
        db_constraint=False,
        db_index=False,  # read by session key only
        null=True,
        related_name="+",
    )

    class Meta(AbstractBaseSession.Meta):
        verbose_name = _("browser session")
        verbose_name_plural = _("browser sessions")

    @classmethod
    def unexpired(cls, key: str, now: Any) -> models.QuerySet:
        """The session of this key, unless it has expired (as Django's database store reads)."""
        return cls.objects.filter(session_key=key, expire_date__gt=now)

    @classmethod
    def read_parameters(cls) -> tuple[tuple[models.Field, Any], ...]:
        """`unexpired`'s parameters (key, now) with sentinel values, for `feeds.prepared`."""
        return (
            (cls._meta.get_field("session_key"), "prepared-session-key-sentinel"),
            (cls._meta.get_field("expire_date"), dt.datetime(2001, 2, 3, 4, 5, 6, 7008, dt.UTC)),
        )

    @classmethod
    def get_session_store_class(cls):
        """For `get_decoded`: Django's own store reads the same data format."""
        from django.contrib.sessions.backends.db import SessionStore

        return SessionStore

    @classmethod
    def connection_of(cls, data: dict) -> uuid.UUID | None:
        """The Link connection a session's data is bound to, if any."""
        link = data.get(cls.DATA_KEY)
        try:
            return uuid.UUID(str(link["connection"])) if link else None
        except (KeyError, TypeError, ValueError):
            return None


class LinkSession(models.Model):
    """What QBO holds between verifying a credential set and linking its feeds (30 minutes)."""

    id = models.CharField(primary_key=True, max_length=40, default=new_link_session_id)
    credential_set = models.OneToOneField(
        CredentialSet, models.CASCADE, related_name="link_session", verbose_name=_("credential set")
    )
    connection = models.ForeignKey(
        Connection, models.CASCADE, related_name="link_sessions", verbose_name=_("connection")
    )
    created = models.DateTimeField(_("created"), default=timezone.now)
    expires = models.DateTimeField(_("expires"), db_index=True)
    completed = models.DateTimeField(_("completed"), null=True, blank=True)

    class Meta:
        verbose_name = _("QBO link session")
        verbose_name_plural = _("QBO link sessions")
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.connection_id} {self.created:%Y-%m-%d %H:%M}"


class PushStatus(models.TextChoices):
    PENDING = "Pending", _("Pending")
    SUCCESS = "Success", _("Success")
    FAILED = "Failed", _("Failed")


def empty_validation() -> dict:
    return {"errors": [], "warnings": []}


class PushOperation(models.Model):
    """One write request of bank transactions, as the API reports it."""

    key = models.UUIDField(
        _("push operation key"), primary_key=True, default=uuid.uuid4, editable=False
    )
    company = models.ForeignKey(
        Company, models.CASCADE, related_name="push_operations", verbose_name=_("company")
    )
    connection = models.ForeignKey(
        Connection, models.CASCADE, related_name="push_operations", verbose_name=_("connection")
    )
    source_account = models.ForeignKey(
        SourceAccount,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="push_operations",
        verbose_name=_("source account"),
    )
    account_id = models.CharField(_("account id"), max_length=100)
    status = models.CharField(
        _("status"), max_length=8, choices=PushStatus.choices, default=PushStatus.PENDING
    )
    requested_on_utc = models.DateTimeField(_("requested"), default=timezone.now)
    completed_on_utc = models.DateTimeField(_("completed"), null=True, blank=True)
    validation = models.JSONField(_("validation"), default=empty_validation)
    error_message = models.TextField(_("error message"), blank=True, default="")
    transaction_count = models.PositiveIntegerField(_("transactions"), default=0)

    class Meta:
        verbose_name = _("push operation")
        verbose_name_plural = _("push operations")
        ordering = ["-requested_on_utc"]
        indexes = [
            models.Index(fields=["company", "-requested_on_utc"], name="pushop_company_requested")
        ]
        constraints = [_choices_check("status", PushStatus, "pushoperation_status_valid")]

    def __str__(self) -> str:
        return str(self.key)


class FeedPushLock(models.Model):
    """A row per feed that a pusher holds locked (`SELECT ... FOR UPDATE SKIP LOCKED`, on
    PostgreSQL) for as long as it pushes: a second pusher skips the feed, and a crashed one
    frees it when its connection drops. A table of its own, with no foreign key, so that the
    lock never blocks a write to the feed or its deletion."""

    feed_id = models.CharField(_("feed id"), primary_key=True, max_length=40)

    class Meta:
        verbose_name = _("feed push lock")
        verbose_name_plural = _("feed push locks")

    def __str__(self) -> str:
        return self.feed_id


class DeliveryTrigger(models.TextChoices):
    SCHEDULE = "schedule", _("daily schedule")
    UPDATE = "update", _("Update in QBO")
    ADMIN = "admin", _("operator")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    DELIVERED = "delivered", _("delivered")
    FAILED = "failed", _("failed, will retry")
    REJECTED = "rejected", _("rejected by QBO")


class DeliveryBatch(models.Model):
    """Up to 1000 transactions sent to QBO in one request. Recorded before it is sent, so that
    after a crash it is re-sent with the same `batch_id` and QBO drops the copy."""

    batch_id = models.UUIDField(_("batch id"), unique=True, default=uuid.uuid4, editable=False)
    feed = models.ForeignKey(
        Feed, models.CASCADE, related_name="delivery_batches", verbose_name=_("feed")
    )
    trigger = models.CharField(_("trigger"), max_length=8, choices=DeliveryTrigger.choices)
    status = models.CharField(
        _("status"), max_length=9, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    # The feed's batches go to QBO in this order, each after the one before was delivered.
    sequence = models.PositiveIntegerField(_("sequence"), default=0, editable=False)
    transaction_count = models.PositiveIntegerField(_("transactions"), default=0)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True, default="")
    created = models.DateTimeField(_("created"), default=timezone.now)
    last_attempt = models.DateTimeField(_("last attempt"), null=True, blank=True)
    next_attempt = models.DateTimeField(_("next attempt"), null=True, blank=True)
    delivered = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery batch")
        verbose_name_plural = _("delivery batches")
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["status", "next_attempt"], name="batch_status_next"),
            models.Index(fields=["feed", "status"], name="batch_feed_status"),
        ]
        constraints = [
            _choices_check("trigger", DeliveryTrigger, "deliverybatch_trigger_valid"),
            _choices_check("status", DeliveryStatus, "deliverybatch_status_valid"),
            # A feed's batches are sent in sequence, which keeps delivery in clearedOnDate
            # order; two pushers can never record the same place in it.
            models.UniqueConstraint(
                fields=["feed", "sequence"], name="deliverybatch_sequence_unique_per_feed"
            ),
        ]

    def __str__(self) -> str:
        return str(self.batch_id)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding and not self.sequence:
            last = DeliveryBatch.objects.filter(feed_id=self.feed_id).aggregate(
                last=models.Max("sequence")
            )["last"]
            self.sequence = (last or 0) + 1
        super().save(*args, **kwargs)


class TransactionType(models.TextChoices):
    CREDIT = "Credit", _("Credit")
    DEBIT = "Debit", _("Debit")
    UNKNOWN = "Unknown", _("Unknown")


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("pending")
    DELIVERED = "delivered", _("delivered")


# Still pending, among rows another index finds (a batch's, a pull's page): the same rows as
# delivery_state="pending" (the check constraint "banktransaction_delivered_has_time"), said so
# that PostgreSQL cannot answer it from the partial index of every pending row. With stale
# statistics (a big backlog just delivered, not yet analyzed) it ANDed that whole index into
# each batch's mark: 6.6 ms instead of 0.3 for 100 rows beside 200,000 pending elsewhere.
STILL_PENDING = Q(delivered__isnull=True)


class BankTransaction(models.Model):
    # Indexed by the composite unique constraint and indexes below, which all lead with it.
    source_account = models.ForeignKey(
        SourceAccount,
        models.CASCADE,
        related_name="transactions",
        verbose_name=_("source account"),
        db_index=False,
    )
    transaction_id = models.CharField(_("transaction id"), max_length=100)
    date = models.DateField(_("date"), null=True, blank=True)
    cleared_on_date = models.DateField(_("cleared on"))
    amount = models.DecimalField(_("amount"), **MONEY)
    description = models.CharField(_("description"), max_length=1000)
    transaction_type = models.CharField(
        _("transaction type"), max_length=7, choices=TransactionType.choices
    )
    balance = models.DecimalField(_("balance"), **MONEY, null=True, blank=True)
    created = models.DateTimeField(_("written"), default=timezone.now)
    push_operation = models.ForeignKey(
        PushOperation,
        models.RESTRICT,
        related_name="transactions",
        verbose_name=_("push operation"),
    )
    delivery_state = models.CharField(
        _("delivery state"),
        max_length=9,
        choices=DeliveryState.choices,
        default=DeliveryState.PENDING,
    )
    delivered = models.DateTimeField(_("delivered"), null=True, blank=True)
    delivery_batch = models.ForeignKey(
        DeliveryBatch,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="transactions",
        verbose_name=_("delivery batch"),
    )

    class Meta:
        verbose_name = _("bank transaction")
        verbose_name_plural = _("bank transactions")
        ordering = ["source_account_id", "cleared_on_date", "id"]
        indexes = [
            # History listing, newest clearedOnDate, and the window checks of a write.
            models.Index(
                fields=["source_account", "cleared_on_date", "id"], name="txn_account_cleared"
            ),
            # The daily push reads each feed's pending rows in clearedOnDate, then write, order.
            models.Index(
                fields=["source_account", "cleared_on_date", "id"],
                condition=Q(delivery_state="pending"),
                name="txn_pending",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source_account", "transaction_id"],
                name="banktransaction_id_unique_per_account",
            ),
            models.CheckConstraint(
                condition=~Q(transaction_id=""), name="banktransaction_id_not_empty"
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="banktransaction_amount_nonzero"),
            _choices_check("transaction_type", TransactionType, "banktransaction_type_valid"),
            _choices_check("delivery_state", DeliveryState, "banktransaction_state_valid"),
            models.CheckConstraint(
                condition=Q(delivery_state="pending", delivered__isnull=True)
                | Q(delivery_state="delivered", delivered__isnull=False),
                name="banktransaction_delivered_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.transaction_id


class IdempotencyKey(models.Model):
    """An `Idempotency-Key` sent with a transaction write (`product.md` §8). The row is taken
    before the write and completed in the same database transaction as the write, so a retried
    request either replays the first push operation or waits for it, never writes twice."""

    client = models.ForeignKey(
        "accounts.ApiClient",
        models.CASCADE,
        related_name="idempotency_keys",
        verbose_name=_("API client"),
    )
    key = models.CharField(_("key"), max_length=128)
    request_hash = models.CharField(_("request fingerprint"), max_length=64)
    created = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    # While the first request runs, a retry gets 409; a lease that runs out (a crashed process)
    # lets the next retry take the key over.
    lease_expires = models.DateTimeField(_("lease expires"), null=True, blank=True)
    completed = models.DateTimeField(_("completed"), null=True, blank=True)
    push_operation = models.ForeignKey(
        PushOperation,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("push operation"),
    )

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="idempotencykey_unique"),
        ]

    def __str__(self) -> str:
        return self.key


class ReplayGuard(models.Model):
    """QBO requests already accepted, by request id (a hash of the partner key and the
    `X-Request-Id`, `signing.replay_key`): within the 5-minute window a request id is accepted
    once. Rows older than the window can match nothing; the daily maintenance purges them."""

    request_key = models.CharField(max_length=64, primary_key=True)
    seen = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("accepted QBO request")
        verbose_name_plural = _("accepted QBO requests")

    def __str__(self) -> str:
        return self.request_key


# Webhooks (`product.md` §13) ------------------------------------------------------------------


class WebhookEndpoint(models.Model):
    """A URL of an API client's that receives the events it subscribed to (the hosted service's
    "webhook consumer"), signed with the endpoint's secret."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(
        "accounts.ApiClient",
        models.CASCADE,
        related_name="webhook_endpoints",
        verbose_name=_("API client"),
    )
    url = models.URLField(_("URL"), max_length=2000)
    # Empty: every event type. Otherwise the names in `feeds.webhooks.catalogue.EVENT_TYPES`.
    event_types = models.JSONField(_("event types"), default=list, blank=True)
    # Empty: every company. Otherwise "key:value" strings; an event of a company that has one of
    # these tags is sent, others not.
    company_tags = models.JSONField(_("company tags"), default=list, blank=True)
    disabled = models.BooleanField(_("disabled"), default=False)
    # Why linksite disabled it (empty when the client or an operator did, or it is enabled).
    disabled_reason = models.CharField(_("why disabled"), max_length=200, blank=True, default="")
    # Since when every attempt at this endpoint has failed (None: its last attempt succeeded).
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    created = models.DateTimeField(_("created"), default=timezone.now)
    modified = models.DateTimeField(_("modified"), auto_now=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["client_id", "created", "id"]

    def __str__(self) -> str:
        return self.url


class WebhookSecret(models.Model):
    """A signing secret of an endpoint. Only its seed is stored: the secret is derived from the
    seed and the deployment's key (`feeds.webhooks.signing`), so the database alone does not
    give it away. The newest is current; one replaced by a rotation signs until `expires`."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, models.CASCADE, related_name="secrets", verbose_name=_("endpoint")
    )
    seed = models.CharField(max_length=64, editable=False)
    created = models.DateTimeField(_("created"), default=timezone.now)
    expires = models.DateTimeField(_("expires"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook signing secret")
        verbose_name_plural = _("webhook signing secrets")
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.endpoint_id} {self.created:%Y-%m-%d %H:%M}"


class WebhookEvent(models.Model):
    """Something that happened, recorded in the same database transaction as the change it
    reports (an outbox); `body` is the exact JSON every delivery of it sends."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(
        "accounts.ApiClient",
        models.CASCADE,
        related_name="webhook_events",
        verbose_name=_("API client"),
    )
    # Not a foreign key: the event outlives a company the client deletes.
    company_id = models.UUIDField(_("company"), null=True, blank=True, db_index=True)
    event_type = models.CharField(_("event type"), max_length=60)
    generated = models.DateTimeField(_("generated"), default=timezone.now, db_index=True)
    body = models.TextField(_("body"))

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-generated", "-id"]

    def __str__(self) -> str:
        return f"{self.event_type} {self.id}"


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    DELIVERED = "delivered", _("delivered")
    FAILED = "failed", _("failed")


class WebhookDelivery(models.Model):
    """One event to one endpoint: attempted until a 2xx, a final answer, or its retries end."""

    event = models.ForeignKey(
        WebhookEvent, models.CASCADE, related_name="deliveries", verbose_name=_("webhook event")
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, models.CASCADE, related_name="deliveries", verbose_name=_("endpoint")
    )
    status = models.CharField(
        _("status"),
        max_length=9,
        choices=WebhookDeliveryStatus.choices,
        default=WebhookDeliveryStatus.PENDING,
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    created = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    next_attempt = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_attempt = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(
        _("last HTTP status"), null=True, blank=True
    )
    last_error = models.TextField(_("last error"), blank=True, default="")
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), null=True, blank=True)
    delivered = models.DateTimeField(_("delivered"), null=True, blank=True)
    # Who is sending it, until when: a crashed sender's claim runs out and another sends it.
    lease_owner = models.CharField(max_length=64, blank=True, default="", editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(
                fields=["endpoint", "next_attempt"],
                condition=Q(status="pending"),
                name="webhookdelivery_due",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="webhookdelivery_unique"),
            _choices_check("status", WebhookDeliveryStatus, "webhookdelivery_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id}"


# The operator's dashboard (issue 19) ---------------------------------------------------------


class WorkerHeartbeat(models.Model):
    """When the worker cluster last ran its heartbeat task (a schedule every minute): the
    dashboard says so when it has not been seen for longer than that schedule allows."""

    name = models.CharField(_("name"), max_length=40, primary_key=True)
    last_seen = models.DateTimeField(_("last seen"))
    # How often the heartbeat is scheduled, in seconds, as the cluster last knew it.
    every_seconds = models.PositiveIntegerField(_("every (seconds)"))
    host = models.CharField(_("host"), max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")

    def __str__(self) -> str:
        return self.name


class DeliveryDay(models.Model):
    """One day's delivery figures (a day in TIME_ZONE), computed by the worker from the
    transactions, batches and audit trail (`feeds.dashboard.refresh_days`), so that the
    dashboard reads thirty rows instead of every transaction. `final`: computed after the day
    ended, never computed again."""

    day = models.DateField(_("day"), primary_key=True)
    written = models.PositiveIntegerField(_("transactions written"), default=0)
    delivered = models.PositiveIntegerField(_("transactions delivered"), default=0)
    failures = models.PositiveIntegerField(_("delivery failures"), default=0)
    # From write to delivery, in seconds, over the transactions delivered that day (nearest
    # rank); none on a day nothing was delivered.
    latency_p50 = models.FloatField(_("median time to delivery (s)"), null=True, blank=True)
    latency_p95 = models.FloatField(
        _("95th percentile time to delivery (s)"), null=True, blank=True
    )
    computed = models.DateTimeField(_("computed"))
    final = models.BooleanField(_("final"), default=False)

    class Meta:
        verbose_name = _("delivery day")
        verbose_name_plural = _("delivery days")
        ordering = ["-day"]

    def __str__(self) -> str:
        return self.day.isoformat()
