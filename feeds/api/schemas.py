"""The API's JSON shapes. Field names are the wire names (camelCase, as `product.md` §3 and the
hosted service use them); the OpenAPI document is generated from these classes.

Money is a decimal with at most 2 places and at most 15 significant digits, so it travels as a
plain JSON number without loss; requests may also send it as a numeric string."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from django.db.models import TextChoices
from ninja import Schema
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StringConstraints,
    field_validator,
    model_serializer,
)

from accounts import companies
from accounts import models as accounts_models
from feeds import models, writes

Money = Annotated[Decimal, PlainSerializer(float, return_type=float)]
MoneyIn = Annotated[
    Decimal,
    Field(
        max_digits=15,
        decimal_places=2,
        description="A decimal with at most 2 decimal places (JSON number or numeric string).",
    ),
]


def _one_of(choices: type[TextChoices]) -> Any:
    """The model's choices as a Literal: the document lists exactly what the database allows."""
    return Literal[tuple(choices.values)]


Country = _one_of(accounts_models.Country)
# "" as the model stores an unknown country; one Literal, so an error names just `country`.
CountryOrUnknown = Literal[(*accounts_models.Country.values, "")]
AccountType = _one_of(models.AccountType)
Currency = _one_of(models.Currency)
ConnectionStatus = _one_of(models.ConnectionStatus)
AccountStatus = _one_of(models.SourceAccountStatus)
PushStatus = _one_of(models.PushStatus)
TransactionType = _one_of(models.TransactionType)
DeliveryState = _one_of(models.DeliveryState)
PlatformKey = Literal[models.Connection.PLATFORM_KEY]

# No control characters in names and codes, and no NUL anywhere: PostgreSQL cannot store it.
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
_NO_NUL = r"^[^\x00]*$"
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_PRINTABLE),
]
Description = Annotated[str, StringConstraints(max_length=2000, pattern=_NO_NUL)]
AccountId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[^/\x00-\x1f\x7f-\x9f]+$"),
    Field(
        description="The client's id of the account, unique per connection; no '/' and no "
        "control character."
    ),
]
RESERVED_ACCOUNT_IDS = ("batch", "credentials")
Code = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50, pattern=_PRINTABLE)]


class Lenient(Schema):
    """Request bodies ignore fields they do not know, like the hosted service."""

    model_config = ConfigDict(extra="ignore")


# Errors ---------------------------------------------------------------------------------------


class ValidationItem(Schema):
    itemId: str = Field(description="The field path or the transaction id the item is about.")
    message: str
    validatorName: str = Field(description="A stable name for the rule, for programs.")


class Validation(Schema):
    errors: list[ValidationItem]
    warnings: list[ValidationItem]


class Error(Schema):
    statusCode: int
    service: Literal["LinksiteApi"] = Field(description="The service that answered.")
    error: str = Field(description="What went wrong, in a sentence.")
    correlationId: str = Field(description="Quote it to support; also in X-Correlation-Id.")
    validation: Validation
    canBeRetried: Literal["True", "False"] = Field(
        description='"True" for a transient failure (408, 429, 5xx): the same request may '
        'succeed later; "False" when the request must change.'
    )
    detailedErrorCode: int = Field(description="The HTTP status times 100, e.g. 40400.")


# Companies ------------------------------------------------------------------------------------


TagKey = Annotated[
    str, StringConstraints(min_length=1, max_length=companies.MAX_TAG_KEY, pattern=_PRINTABLE)
]
TagValue = Annotated[str, StringConstraints(max_length=companies.MAX_TAG_VALUE, pattern=_NO_NUL)]
Tags = Annotated[
    dict[TagKey, TagValue],
    Field(
        max_length=companies.MAX_TAGS,
        description="The client's own key-value metadata: at most 10 pairs, keys of 1 to 27 "
        "characters, values of at most 100.",
    ),
]


class CompanyIn(Lenient):
    name: Name
    description: Description | None = None
    tags: Tags | None = None
    # The hosted service's body has no country: absent, null or "" means unknown until the
    # client PATCHes it or the SMB user answers on the Link pages.
    country: CountryOrUnknown | None = Field(
        default=None,
        description="linksite extension. US or CA: only companies in the US or Canada are "
        'supported. Absent, null or "" while unknown: the Link pages then ask the SMB user, and '
        "credentials wait for it.",
    )


class CompanyPatch(Lenient):
    """The fields to change; the whole company as read may be sent back (read-only fields
    unchanged)."""

    name: Name | None = None
    description: Description | None = None
    tags: Tags | None = None
    country: Country | None = Field(
        default=None,
        description="linksite extension: US or CA; a known country cannot become unknown again.",
    )


class CompanyOut(Schema):
    id: uuid.UUID
    name: str
    description: str
    tags: dict[str, str]
    redirect: str = Field(
        description="Where to send the SMB user to start linking: the company's entry to the "
        "Link pages, leading to its current QuickBooks Online connection (one is opened if it "
        "has none). Signed, valid for one hour; every read returns a fresh one."
    )
    created: dt.datetime
    country: Country | None = Field(description="linksite extension: null until known.")


class Href(Schema):
    href: str


class PageLinks(Schema):
    self_: Href = Field(alias="self", description="This request.")
    current: Href = Field(description="This page, with its page number.")
    next: Href | None = Field(default=None, description="Only when there is a next page.")
    previous: Href | None = Field(default=None, description="Only after the first page.")

    @model_serializer(mode="wrap")
    def _without_absent(self, handler: Any) -> dict[str, Any]:
        return {name: link for name, link in handler(self).items() if link is not None}


class Page(Schema):
    pageNumber: int
    pageSize: int
    totalResults: int
    links: PageLinks = Field(alias="_links")


class CompanyPage(Page):
    results: list[CompanyOut]


# Connections ----------------------------------------------------------------------------------


class ConnectionIn(Lenient):
    platformKey: PlatformKey = Field(
        default=models.Connection.PLATFORM_KEY,
        description='Always "hcws" (QuickBooks Online), also when left out.',
    )


class ConnectionPatch(Lenient):
    """The whole connection as read may be sent back (read-only fields unchanged)."""

    status: Literal[models.ConnectionStatus.UNLINKED.value] = Field(
        default=models.ConnectionStatus.UNLINKED.value,
        description="Unlinked, also when left out: only Linked connections can be unlinked; an "
        "Unlinked one stays as it is.",
    )


class ConnectionOut(Schema):
    id: uuid.UUID
    companyId: uuid.UUID
    integrationId: uuid.UUID = Field(
        description="The QBO bank-feeds integration; the same for all."
    )
    integrationKey: Literal[models.Connection.INTEGRATION_KEY]
    sourceId: uuid.UUID = Field(description="The QBO bank-feeds source; the same for all.")
    platformKey: PlatformKey
    platformName: str
    sourceType: Literal[models.Connection.SOURCE_TYPE]
    status: ConnectionStatus
    created: dt.datetime
    linkUrl: str = Field(
        description="Send the SMB user here. Signed, bound to this connection, valid for one "
        "hour; every read returns a fresh one."
    )


class ConnectionPage(Page):
    results: list[ConnectionOut]


# Source accounts ------------------------------------------------------------------------------


ROUTING_TYPES = (
    "rtn", "aba", "swift", "bsb", "iban", "nz2", "trno", "sortcode", "blz", "ifsc", "bankcode",
    "apca", "clabe",
)  # fmt: skip


class Nested(BaseModel):
    """A nested request object: a JSON object only (ninja's Schema would read attributes of
    any value, a string included)."""

    model_config = ConfigDict(extra="ignore")


class RoutingInfo(Nested):
    bankCode: Code | None = Field(default=None, description="The bank's routing code.")
    type: Literal[ROUTING_TYPES] | None = Field(default="bankcode", description="Its kind.")


class AccountInfo(Nested):
    description: Description | None = None
    nickname: Annotated[str, StringConstraints(max_length=200, pattern=_PRINTABLE)] | None = None
    accountOpenDate: dt.date | None = None
    availableBalance: MoneyIn | None = None


class SourceAccountIn(Lenient):
    """The v1 and the v2 body of the hosted service in one: v2 adds `routingInfo` and
    `accountInfo`."""

    id: AccountId
    accountName: Name
    accountType: AccountType
    accountNumber: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=_PRINTABLE),
    ]
    routingNumber: Code | None = Field(
        default=None,
        description="linksite extension; taken from routingInfo.bankCode (types rtn, aba) "
        "when left out.",
    )
    sortCode: Code | None = None
    routingInfo: RoutingInfo | None = None
    currency: Currency
    balance: MoneyIn
    accountInfo: AccountInfo | None = None
    modifiedDate: dt.datetime | None = Field(
        default=None,
        description="Accepted and not kept: linksite records when it last changed the account.",
    )

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_ACCOUNT_IDS:
            raise ValueError(f"{value!r} is reserved (it names an endpoint); choose another id")
        return value


class SourceAccountPatch(Lenient):
    """The fields to change; the whole account as read may be sent back (read-only fields
    unchanged)."""

    accountName: Name | None = None
    balance: MoneyIn | None = Field(
        default=None, description="Only while the account is not connected."
    )
    status: AccountStatus | None = Field(
        default=None,
        description="Only `disconnected`, from connected: the client stops feeding the account; "
        "its feed stops at once. The current status sent back is no change.",
    )
    # The rest of the account as read, accepted when unchanged (a 400 naming the field if not).
    id: str | None = Field(default=None, description="Unchanged: the id in the path.")
    accountType: str | None = Field(default=None, description="Unchanged.")
    accountNumber: str | None = Field(default=None, description="Unchanged.")
    sortCode: str | None = Field(default=None, description="Unchanged.")
    currency: str | None = Field(default=None, description="Unchanged.")
    feedStartDate: str | None = Field(default=None, description="Unchanged; set in QBO.")
    modifiedDate: str | None = Field(default=None, description="Ignored.")

    WRITABLE: ClassVar[set[str]] = {"accountName", "balance", "status"}


class RoutingInfoOut(Schema):
    bankCode: str | None
    type: str | None


class AccountInfoOut(Schema):
    description: str | None
    nickname: str | None
    accountOpenDate: dt.date | None
    availableBalance: Money | None


class SourceAccountOut(Schema):
    id: str
    accountName: str
    accountType: AccountType
    accountNumber: str
    routingNumber: str | None
    sortCode: str | None
    routingInfo: RoutingInfoOut | None
    currency: Currency
    balance: Money
    accountInfo: AccountInfoOut | None
    status: AccountStatus
    feedStartDate: dt.date | None
    modifiedDate: dt.datetime
    targetAccountName: str | None = Field(description="The QBO account it feeds, once linked.")
    feedDisabledOnUtc: dt.datetime | None = Field(
        description="When the feed was disconnected in QBO; the status turns disconnected "
        "10 days later."
    )


class BatchResult(Schema):
    statusCode: int
    error: str | None
    account: SourceAccountOut | None
    validation: Validation | None = None


class BatchItem(Schema):
    sourceAccountId: str | None
    result: BatchResult


# Credentials ----------------------------------------------------------------------------------


class CredentialsIn(Lenient):
    pass


class CredentialsOut(Schema):
    username: str = Field(description="3 groups of 4 characters, e.g. K7QM-3XTA-P9WD.")
    password: str = Field(description="16 characters; shown this once, stored only hashed.")
    expiresOnUtc: dt.datetime = Field(description="60 minutes after creation, unless used.")
    sourceAccountIds: list[str]


# Transactions and push operations -------------------------------------------------------------


class BankTransactionIn(Lenient):
    """One transaction of a write (documentation of the body; see §8 rules in the description).
    `id`, `amount` and `description` are optional in the schema, as in the hosted service's, but
    a transaction without one of them fails the write with an item naming it (200, `Failed`)."""

    id: (
        Annotated[
            str,
            StringConstraints(min_length=1, max_length=writes.MAX_ID_LENGTH, pattern=_NO_NUL),
        ]
        | None
    ) = Field(default=None, description="Needed: the client's id, unique per account.")
    clearedOnDate: dt.date | None = Field(
        default=None,
        description="The day it cleared, in the account's local calendar. Required unless "
        "date is given. A time of day and an offset after the date are ignored.",
    )
    date: dt.date | None = Field(
        default=None, description="Accepted in place of clearedOnDate for date-only clients."
    )
    amount: MoneyIn | None = Field(
        default=None, description="Needed. Non-zero; credits positive, debits negative."
    )
    description: (
        Annotated[
            str,
            StringConstraints(
                min_length=1, max_length=writes.MAX_DESCRIPTION_LENGTH, pattern=_NO_NUL
            ),
        ]
        | None
    ) = Field(default=None, description="Needed.")
    transactionType: TransactionType | None = Field(
        default=None, description="Defaults from the sign of amount."
    )
    balance: MoneyIn | None = Field(
        default=None, description="Balance after this transaction; the last one's is kept."
    )
    counterparty: Any = Field(default=None, description="Accepted and ignored, with a warning.")
    reference: Any = Field(default=None, description="Accepted and ignored, with a warning.")
    reconciled: Any = Field(default=None, description="Accepted and ignored, with a warning.")


class CreateBankTransactions(Lenient):
    accountId: str = Field(description="The same account id as in the path.")
    transactions: list[BankTransactionIn] = Field(min_length=1, max_length=writes.MAX_TRANSACTIONS)


class PushOperationOut(Schema):
    pushOperationKey: uuid.UUID
    companyId: uuid.UUID
    dataConnectionKey: uuid.UUID = Field(description="The connection id.")
    accountId: str
    dataType: Literal["bankTransactions"]
    status: PushStatus
    statusCode: int = Field(description="200 for Success, 400 for Failed, 202 while Pending.")
    requestedOnUtc: dt.datetime
    completedOnUtc: dt.datetime | None
    errorMessage: str | None
    validation: Validation
    transactionCount: int = Field(description="Transactions stored by this operation.")


class PushOperationPage(Page):
    results: list[PushOperationOut]


class BankTransactionOut(Schema):
    id: str
    date: dt.date | None
    clearedOnDate: dt.date
    amount: Money
    description: str
    transactionType: TransactionType
    balance: Money | None
    createdOnUtc: dt.datetime = Field(description="When it was written through the API.")
    pushOperationKey: uuid.UUID
    deliveryState: DeliveryState
    deliveredOnUtc: dt.datetime | None


class BankTransactionPage(Page):
    results: list[BankTransactionOut]


# Webhooks -------------------------------------------------------------------------------------


class WebhookIn(Lenient):
    # Not required in the schema (the hosted service's is not), but a request without it is a
    # 400 naming `url`.
    url: str | None = Field(
        default=None,
        description="Where events are POSTed (needed): https (plain http only where the operator "
        "allows it), on a public address.",
    )
    eventTypes: list[str] | None = Field(
        default=None, description="The event types to receive; empty or absent: all of them."
    )
    disabled: StrictBool | None = Field(default=None, description="true: no events are sent to it.")
    companyTags: list[str] | None = Field(
        default=None,
        description="Only events of companies with one of these tags (`key:value`, at most 10, "
        "case-sensitive); empty or absent: every company.",
    )


class WebhookPatch(Lenient):
    url: str | None = None
    eventTypes: list[str] | None = None
    disabled: StrictBool | None = None
    companyTags: list[str] | None = None


class WebhookOut(Schema):
    id: uuid.UUID
    url: str
    disabled: bool
    eventTypes: list[str]
    companyTags: list[str]
    disabledReason: str | None = Field(
        description="Why linksite disabled it (after failing for five days); null otherwise."
    )
    failingSince: dt.datetime | None = Field(
        description="Since when every attempt at this endpoint has failed; null when its last "
        "attempt succeeded."
    )
    created: dt.datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="The signing secret (`whsec_…`), shown this once: configure your Standard "
        "Webhooks or Svix verifier with it."
    )


class WebhookList(Schema):
    results: list[WebhookOut]


class WebhookSecretOut(Schema):
    secret: str = Field(description="The new signing secret, shown this once.")
    previousSecretExpiresOnUtc: dt.datetime = Field(
        description="Until then deliveries are signed with the previous secret as well."
    )


class WebhookTestOut(Schema):
    eventId: uuid.UUID = Field(description="The test event's id: its `webhook-id` header.")
