"""Who is who: the deployment's organization, API clients and their keys, SMB companies, audit."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.branding import check_web_address


class OrganizationSettings(models.Model):
    """The operator's settings; exactly one row (pk 1) per deployment."""

    institution_name = models.CharField(
        _("institution name"),
        max_length=100,
        default="Your bank",
        help_text=_("Shown to SMB users on the Link pages and in QuickBooks' institution search."),
    )
    institution_name_fr = models.CharField(
        _("institution name (French)"),
        max_length=100,
        blank=True,
        help_text=_("Shown on the Link pages in French; the name above when left blank."),
    )
    logo = models.BinaryField(_("logo"), blank=True, default=b"", editable=True)
    logo_content_type = models.CharField(max_length=20, blank=True, default="")
    logo_updated = models.DateTimeField(null=True, blank=True)
    integration_enabled = models.BooleanField(
        _("integration enabled"),
        default=False,
        help_text=_(
            "While off, new connections and credentials are refused and the Link pages say the "
            "service is not available."
        ),
    )
    callout_title_en = models.CharField(_("callout title (English)"), max_length=50, blank=True)
    callout_body_en = models.CharField(_("callout body (English)"), max_length=150, blank=True)
    callout_title_fr = models.CharField(_("callout title (French)"), max_length=50, blank=True)
    callout_body_fr = models.CharField(_("callout body (French)"), max_length=150, blank=True)
    support_contact = models.CharField(
        _("support contact"),
        max_length=200,
        blank=True,
        help_text=_("An e-mail address, phone number or web address shown to SMB users."),
    )
    return_url = models.URLField(
        _("return address"),
        max_length=500,
        blank=True,
        validators=[check_web_address],
        help_text=_(
            "Where the Link pages send SMB users when they are done or cancel: a page of your "
            "app (https). Without one, they are told they can close the page."
        ),
    )
    privacy_url = models.URLField(
        _("privacy policy address"),
        max_length=500,
        blank=True,
        validators=[check_web_address],
        help_text=_("Linked from every Link page when given."),
    )
    terms_url = models.URLField(
        _("terms of use address"),
        max_length=500,
        blank=True,
        validators=[check_web_address],
        help_text=_("Linked from every Link page when given."),
    )
    modified = models.DateTimeField(_("modified"), auto_now=True)

    class Meta:
        verbose_name = _("organization settings")
        verbose_name_plural = _("organization settings")
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="organizationsettings_singleton"),
        ]

    def __str__(self) -> str:
        return self.institution_name

    @classmethod
    def get(cls) -> OrganizationSettings:
        """The row, made if missing (admin's change page)."""
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj

    CACHE_KEY = "organization-settings:1"

    @classmethod
    def current(cls, *, logo: bool = False) -> OrganizationSettings:
        """The settings as they stand, for reading on every request: the row (without the logo's
        bytes unless `logo`), or the defaults, unsaved, while the operator has saved none.

        Without the logo they are kept in Django's cache for ORG_SETTINGS_CACHE_SECONDS: every
        Link page and status poll reads them, and they change a few times a year. Saving drops
        the cached copy (in Redis, for every process at once; in a process's own memory, the
        others see the change within those seconds)."""
        if logo:
            return cls.objects.filter(pk=1).first() or cls()
        seconds = settings.ORG_SETTINGS_CACHE_SECONDS
        if seconds:
            cached = cache.get(cls.CACHE_KEY)
            if cached is not None:
                return cached
        org = cls.objects.filter(pk=1).defer("logo").first() or cls()
        if seconds:
            cache.set(cls.CACHE_KEY, org, seconds)
        return org

    @classmethod
    def forget_cached(cls) -> None:
        cache.delete(cls.CACHE_KEY)

    @classmethod
    def integration_is_enabled(cls) -> bool:
        return cls.objects.filter(pk=1, integration_enabled=True).exists()

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)
        self.forget_cached()

    def institution(self, language: str) -> str:
        """The institution's name in a language: the French one when entered, else the name."""
        if language.startswith("fr") and self.institution_name_fr:
            return self.institution_name_fr
        return self.institution_name

    def callout(self, language: str) -> tuple[str, str] | None:
        """The callout (title, body) for a language: French when entered, else English."""
        if language.startswith("fr") and (self.callout_title_fr or self.callout_body_fr):
            return self.callout_title_fr, self.callout_body_fr
        if self.callout_title_en or self.callout_body_en:
            return self.callout_title_en, self.callout_body_en
        return None


class ApiClient(models.Model):
    """An application of the operator's that calls the JSON API; it owns the companies it
    creates. Keys belong to a client, so a key can be rotated without losing the companies."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    created = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


KEY_PREFIX = "lsk_"


def hash_api_key(key: str) -> str:
    # A key carries 256 random bits, so a fast hash is enough (OWASP ASVS 6.5.2: >= 112 bits).
    return hashlib.sha256(key.encode()).hexdigest()


class HashedKey(models.Model):
    """A secret shown once and stored only as its SHA-256, with a visible prefix to tell keys
    apart; revoked, it stops working for good."""

    KEY_PREFIX = ""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(_("created"), default=timezone.now)
    last_used = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def set_new_key(self) -> str:
        """Give this key a fresh secret and return it: the only time the plain key exists."""
        key = self.KEY_PREFIX + secrets.token_urlsafe(32)
        self.prefix = key[:12]
        self.key_hash = hash_api_key(key)
        return key

    @property
    def is_active(self) -> bool:
        return self.revoked is None


class ApiKey(HashedKey):
    KEY_PREFIX = KEY_PREFIX

    client = models.ForeignKey(
        ApiClient, models.CASCADE, related_name="keys", verbose_name=_("API client")
    )

    class Meta(HashedKey.Meta):
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    @classmethod
    def issue(cls, client: ApiClient, name: str) -> tuple[ApiKey, str]:
        obj = cls(client=client, name=name)
        key = obj.set_new_key()
        obj.save()
        return obj, key

    @classmethod
    def authenticate(cls, key: str) -> ApiKey | None:
        return (
            cls.objects.select_related("client")
            .filter(key_hash=hash_api_key(key), revoked__isnull=True)
            .first()
        )


PARTNER_KEY_PREFIX = "lpk_"


class PartnerKey(HashedKey):
    """A key Intuit sends (base64) in `X-Partner-Key` when QBO pulls through the IDX API. Keys
    also come from the `IDX_PARTNER_KEYS` setting; these are the ones an operator adds and
    revokes in admin. Only the SHA-256 is stored, as for API keys; the key is shown once."""

    KEY_PREFIX = PARTNER_KEY_PREFIX

    class Meta(HashedKey.Meta):
        verbose_name = _("partner key")
        verbose_name_plural = _("partner keys")

    @classmethod
    def issue(cls, name: str) -> tuple[PartnerKey, str]:
        obj = cls(name=name)
        key = obj.set_new_key()
        obj.save()
        return obj, key

    @classmethod
    def identify(cls, key: str, configured: Iterable[str]) -> str | None:
        """Which partner key `key` is, or None: "setting:<n>" for the n-th key of `configured`
        (the setting), "admin:<pk>" for an active key made in admin. The setting's keys are
        compared by hash, every one of them, in constant time; admin keys are looked up by
        hash (the index sees only the hash)."""
        presented = hash_api_key(key).encode()
        found = None
        for index, candidate in enumerate(configured):
            if hmac.compare_digest(presented, hash_api_key(candidate).encode()) and found is None:
                found = f"setting:{index}"
        if found is not None:
            return found
        pk = (
            cls.objects.filter(key_hash=presented.decode(), revoked__isnull=True)
            .values_list("pk", flat=True)
            .first()
        )
        return None if pk is None else f"admin:{pk}"


class Country(models.TextChoices):
    US = "US", _("United States")
    CA = "CA", _("Canada")


class Company(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(
        ApiClient, models.PROTECT, related_name="companies", verbose_name=_("API client")
    )
    name = models.CharField(_("name"), max_length=200)
    # Empty until known: a company may be created without one (the hosted service's body has
    # none); the Link pages then ask the SMB user, and credentials wait for it.
    country = models.CharField(
        _("country"), max_length=2, choices=Country.choices, blank=True, default=""
    )
    description = models.TextField(_("description"), blank=True, default="")
    # The client's own key-value metadata (at most 10 pairs), as the hosted service keeps it.
    tags = models.JSONField(_("tags"), default=dict, blank=True)
    created = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        ordering = ["-created"]
        indexes = [models.Index(fields=["client", "-created"], name="company_client_created")]
        constraints = [
            models.CheckConstraint(
                condition=Q(country__in=[*Country.values, ""]), name="company_country_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_supported(self) -> bool:
        return self.country in Country.values

    @property
    def country_known(self) -> bool:
        return self.country != ""


class ActorType(models.TextChoices):
    OPERATOR = "operator", _("operator")
    API_KEY = "api_key", _("API key")
    SMB = "smb", _("SMB user (Link)")
    QBO = "qbo", _("QuickBooks Online")
    WORKER = "worker", _("worker")
    SYSTEM = "system", _("system")


class AuditEvent(models.Model):
    """Append-only record of who did what to which object. Objects are referenced by type and id,
    not by foreign key, so the trail outlives what it describes."""

    created = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    actor_type = models.CharField(_("actor type"), max_length=10, choices=ActorType.choices)
    actor_id = models.CharField(_("actor id"), max_length=100, blank=True, default="")
    actor_label = models.CharField(_("actor"), max_length=200, blank=True, default="")
    action = models.CharField(_("action"), max_length=60)
    object_type = models.CharField(_("object type"), max_length=40, blank=True, default="")
    object_id = models.CharField(_("object id"), max_length=100, blank=True, default="")
    company_id = models.UUIDField(_("company id"), null=True, blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["company_id", "-created"], name="audit_company"),
            models.Index(fields=["action", "-created"], name="audit_action"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(actor_type__in=ActorType.values), name="auditevent_actor_type_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id}"


class RefusalTally(models.Model):
    """Requests refused before anyone was authenticated (a bad signature, a replayed request
    id), counted per action, source address and minute rather than recorded one by one: no amount
    of junk grows this table by more than `accounts.audit.MAX_SOURCES_PER_MINUTE` + 1 rows an
    action a minute, and the daily maintenance keeps REFUSAL_RETENTION_DAYS of them."""

    action = models.CharField(_("action"), max_length=60)
    source = models.CharField(_("source address"), max_length=64)
    minute = models.DateTimeField(_("minute"))
    count = models.PositiveIntegerField(_("count"), default=0)
    # The first refusal of the minute from this source, its caller's strings cut short.
    first = models.JSONField(_("first refusal"), default=dict, blank=True)

    class Meta:
        verbose_name = _("refused request tally")
        verbose_name_plural = _("refused request tallies")
        ordering = ["-minute", "action", "source"]
        constraints = [
            models.UniqueConstraint(
                fields=["action", "source", "minute"], name="refusaltally_one_row_a_minute"
            ),
        ]
        indexes = [models.Index(fields=["minute"], name="refusaltally_minute")]

    def __str__(self) -> str:
        return f"{self.action} {self.source} {self.minute:%Y-%m-%d %H:%M} ×{self.count}"
