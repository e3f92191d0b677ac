"""The QBO emulator's own data: one sandbox company, its chart of accounts, the feeds linked to
linksite, what linksite pushed, and the faults to inject. It never imports feeds or accounts."""

from __future__ import annotations

import datetime as dt

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, router, transaction
from django.db.models import Count, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

DEFAULT_ACCOUNTS = [("Checking", "Bank"), ("Savings", "Bank"), ("Visa", "CreditCard")]


def sandbox_atomic() -> transaction.Atomic:
    """A transaction on the sandbox's database: linksite's own, or its own one when
    QBO_SANDBOX_DATABASE_URL gives it one (`linksite.routers`)."""
    return transaction.atomic(using=router.db_for_write(SandboxCompany))


class ChartAccountType(models.TextChoices):
    # The values are the wire protocol's `targetAccountType`.
    BANK = "Bank", _("Bank")
    CREDIT_CARD = "CreditCard", _("Credit Card")


class SandboxCompany(models.Model):
    name = models.CharField(_("name"), max_length=100, default="Sandbox Company")
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("sandbox company")
        verbose_name_plural = _("sandbox companies")

    def __str__(self) -> str:
        return self.name

    @classmethod
    def current(cls) -> SandboxCompany:
        """The one sandbox company, with the default chart of accounts (created idempotently)."""
        company = cls.objects.filter(pk=1).first()
        if company is not None:
            return company
        with sandbox_atomic():
            company, _created = cls.objects.get_or_create(pk=1)
            for name, account_type in DEFAULT_ACCOUNTS:
                ChartAccount.objects.get_or_create(
                    company=company, name=name, defaults={"account_type": account_type}
                )
        return company


class ChartAccount(models.Model):
    company = models.ForeignKey(
        SandboxCompany, on_delete=models.CASCADE, related_name="chart_accounts"
    )
    name = models.CharField(_("name"), max_length=100)
    account_type = models.CharField(_("type"), max_length=20, choices=ChartAccountType.choices)
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("chart account")
        verbose_name_plural = _("chart of accounts")
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="sandbox_account_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class FeedStatus(models.TextChoices):
    ACTIVE = "active", _("Connected")
    DISCONNECTED = "disconnected", _("Disconnected")


class Delivery(models.TextChoices):
    PUSH = "push", _("Pushed by the bank")
    PULL = "pull", _("Pulled by QuickBooks")


class PullError(models.TextChoices):
    # What went wrong in a feed's last pull; the page words it in the reader's language.
    UNAUTHORIZED = "unauthorized", _("Refused")
    RATE_LIMITED = "rate_limited", _("Too many requests")
    UNREACHABLE = "unreachable", _("Unreachable")
    REFUSED = "refused", _("Error")


class PullCredential(models.Model):
    """The credentials the SMB typed in the Link account wizard in pull mode, which QBO keeps to
    pull with. Stored as typed: the sandbox is an emulator on the operator's own database, and a
    puller needs the password itself, not a hash. Deleted once no linked feed uses them."""

    username = models.CharField(_("username"), max_length=200)
    password = models.CharField(_("password"), max_length=200)
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("pull credential")
        verbose_name_plural = _("pull credentials")

    def __str__(self) -> str:
        return self.username

    @classmethod
    def forget_unused(cls) -> None:
        cls.objects.filter(linked_feeds__isnull=True).delete()


# After Update on a pushed feed, how long the page waits for linksite's push (which comes only
# when linksite has something to deliver), and how long after a batch it waits for the next
# one of the same push (a push sends its batches back to back).
UPDATE_WAIT = dt.timedelta(seconds=30)
UPDATE_QUIET = dt.timedelta(seconds=2)


class LinkedFeedQuerySet(models.QuerySet):
    def pulled(self) -> LinkedFeedQuerySet:
        """Active feeds QBO pulls, with their credentials."""
        return self.filter(
            status=FeedStatus.ACTIVE, delivery=Delivery.PULL, credential__isnull=False
        ).select_related("credential")

    def with_update_progress(self) -> LinkedFeedQuerySet:
        """Each feed with what came since its last Update: `last_batch_since_update` (when the
        newest batch since arrived, or None) and `received_since_update` (transactions)."""
        since = {"feed": OuterRef("pk"), "received_at__gte": OuterRef("update_requested_at")}
        last_batch = (
            ReceivedBatch.objects.filter(**since)
            .order_by()
            .values("feed")
            .annotate(last=Max("received_at"))
            .values("last")
        )
        received = (
            ReceivedTransaction.objects.filter(**since)
            .order_by()
            .values("feed")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return self.annotate(
            last_batch_since_update=Subquery(last_batch),
            received_since_update=Coalesce(Subquery(received), 0),
        )


class LinkedFeed(models.Model):
    """One source account of linksite linked to one chart account (linksite's `feedId`)."""

    feed_id = models.CharField(_("feed id"), max_length=100, unique=True)
    chart_account = models.ForeignKey(
        ChartAccount, on_delete=models.PROTECT, related_name="linked_feeds"
    )
    source_account_id = models.CharField(_("source account id"), max_length=100)
    source_display_name = models.CharField(_("source account name"), max_length=200)
    source_account_type = models.CharField(_("source account type"), max_length=40, blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    institution_name = models.CharField(_("institution"), max_length=200, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=FeedStatus.choices, default=FeedStatus.ACTIVE
    )
    feed_start_date = models.DateField(_("feed start date"))
    linked_at = models.DateTimeField(_("linked at"), auto_now_add=True)
    disconnected_at = models.DateTimeField(_("disconnected at"), null=True, blank=True)
    duplicates = models.PositiveIntegerField(_("duplicates received"), default=0)
    force_410 = models.BooleanField(
        _("force 410"), default=False, help_text=_("Answer 410 Gone to every push for this feed.")
    )
    delivery = models.CharField(
        _("delivery"), max_length=10, choices=Delivery.choices, default=Delivery.PUSH
    )
    credential = models.ForeignKey(
        PullCredential,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="linked_feeds",
        verbose_name=_("pull credential"),
    )
    last_pulled_at = models.DateTimeField(_("last pulled at"), null=True, blank=True)
    pull_error = models.CharField(
        _("last pull error"), max_length=20, choices=PullError.choices, blank=True
    )
    pull_error_at = models.DateTimeField(_("last pull error at"), null=True, blank=True)
    # When the SMB last pressed Update on this pushed feed and linksite queued the push.
    update_requested_at = models.DateTimeField(_("update requested at"), null=True, blank=True)

    objects = LinkedFeedQuerySet.as_manager()

    class Meta:
        ordering = ["chart_account__name", "pk"]
        verbose_name = _("linked feed")
        verbose_name_plural = _("linked feeds")
        constraints = [
            # A chart account receives at most one active bank feed.
            models.UniqueConstraint(
                fields=["chart_account"],
                condition=models.Q(status="active"),
                name="sandbox_one_active_feed_per_account",
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_display_name} → {self.chart_account}"

    @property
    def is_active(self) -> bool:
        return self.status == FeedStatus.ACTIVE

    @property
    def is_pulled(self) -> bool:
        return self.delivery == Delivery.PULL

    def update_pending(self, now: dt.datetime | None = None) -> bool:
        """Whether the push an Update asked for may still be on its way: nothing came yet and
        UPDATE_WAIT has not passed, or a batch came less than UPDATE_QUIET ago. Needs
        `with_update_progress`."""
        if self.update_requested_at is None or not self.is_active or self.is_pulled:
            return False
        now = now or timezone.now()
        last_batch = self.last_batch_since_update
        if last_batch is None:
            return now < self.update_requested_at + UPDATE_WAIT
        return now < last_batch + UPDATE_QUIET

    @classmethod
    def record(
        cls,
        feed_id: str,
        chart_account: ChartAccount,
        *,
        source_account_id: str,
        display_name: str,
        feed_start_date: dt.date,
        account_type: str = "",
        currency: str = "",
        institution_name: str = "",
        credential: PullCredential | None = None,
    ) -> LinkedFeed:
        """The sandbox's record of a feed linksite linked (its `feedId`), active, on
        `chart_account`: what the Link account wizard writes once linksite has answered.

        Tests and benchmarks that link an account in linksite's own domain, without the wizard
        (thousands of feeds, or no web server), tell the sandbox about it through this and
        nothing else, so the sandbox's tables stay the sandbox's business.

        With `credential` the feed is one QBO pulls (pull mode) with those credentials."""
        feed, _created = cls.objects.update_or_create(
            feed_id=feed_id,
            defaults={
                "chart_account": chart_account,
                "source_account_id": source_account_id,
                "source_display_name": display_name,
                "source_account_type": account_type,
                "currency": currency[:3],
                "institution_name": institution_name,
                "status": FeedStatus.ACTIVE,
                "feed_start_date": feed_start_date,
                "disconnected_at": None,
                "delivery": Delivery.PULL if credential is not None else Delivery.PUSH,
                "credential": credential,
                "pull_error": "",
                "pull_error_at": None,
            },
        )
        return feed


class ReceivedBatch(models.Model):
    batch_id = models.CharField(_("batch id"), max_length=100, unique=True)
    feed = models.ForeignKey(LinkedFeed, on_delete=models.CASCADE, related_name="batches")
    accepted = models.PositiveIntegerField(_("accepted"), default=0)
    # Transactions of this batch already stored for the feed from another batch.
    duplicates = models.PositiveIntegerField(_("duplicates"), default=0)
    # Times the same batch id came again (a retry after a lost answer), dropped whole.
    resends = models.PositiveIntegerField(_("re-sent"), default=0)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("received batch")
        verbose_name_plural = _("received batches")

    def __str__(self) -> str:
        return self.batch_id


class ReceivedTransaction(models.Model):
    feed = models.ForeignKey(LinkedFeed, on_delete=models.CASCADE, related_name="transactions")
    batch = models.ForeignKey(
        ReceivedBatch, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    txn_id = models.CharField(_("transaction id"), max_length=100)
    date = models.DateField(_("date"))
    cleared_on_date = models.DateField(_("cleared on"))
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    description = models.TextField(_("description"), blank=True)
    transaction_type = models.CharField(_("type"), max_length=20, blank=True)
    balance = models.DecimalField(
        _("balance"), max_digits=18, decimal_places=2, null=True, blank=True
    )
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        ordering = ["-cleared_on_date", "-pk"]
        verbose_name = _("received transaction")
        verbose_name_plural = _("received transactions")
        constraints = [
            models.UniqueConstraint(fields=["feed", "txn_id"], name="sandbox_txn_unique_per_feed")
        ]

    def __str__(self) -> str:
        return self.txn_id


def _rate_validators():
    return [MinValueValidator(0.0), MaxValueValidator(1.0)]


class FaultSettings(models.Model):
    """Faults the receiving endpoint injects (a singleton, pk=1). Rates are probabilities 0..1,
    drawn from a `random.Random` seeded with `seed`, so a run can be reproduced."""

    rate_503 = models.FloatField(
        _("rate of 503 answers"), default=0.0, validators=_rate_validators()
    )
    rate_429 = models.FloatField(
        _("rate of 429 answers"), default=0.0, validators=_rate_validators()
    )
    retry_after_seconds = models.PositiveIntegerField(_("Retry-After (seconds)"), default=1)
    latency_ms = models.PositiveIntegerField(
        _("added latency (ms)"), default=0, validators=[MaxValueValidator(120_000)]
    )
    rate_timeout = models.FloatField(
        _("rate of forced timeouts"), default=0.0, validators=_rate_validators()
    )
    timeout_seconds = models.FloatField(
        _("forced timeout (seconds)"),
        default=35.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(600.0)],
        help_text=_("How long a forced timeout sleeps before answering; longer than the client's."),
    )
    rate_drop = models.FloatField(
        _("rate of dropped connections"), default=0.0, validators=_rate_validators()
    )
    seed = models.IntegerField(_("random seed"), default=0)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("fault settings")
        verbose_name_plural = _("fault settings")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> FaultSettings:
        return cls.objects.get_or_create(pk=1)[0]


class SeenRequest(models.Model):
    """Requests from linksite already accepted, by a hash of partner key and X-Request-Id: a
    request id is accepted once within the 5-minute window (`signing.accept_once`)."""

    request_key = models.CharField(_("request key"), max_length=64, primary_key=True)
    seen = models.DateTimeField(_("seen"), db_index=True)

    class Meta:
        verbose_name = _("accepted request")
        verbose_name_plural = _("accepted requests")

    def __str__(self) -> str:
        return self.request_key
