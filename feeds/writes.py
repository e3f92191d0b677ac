"""Writing bank transactions (`product.md` §8): validate a whole request, then store all of it or
none of it, and record the outcome as a push operation.

Every problem is reported as its own item `{itemId, message, validatorName}`; `validatorName`
values are stable and listed in `VALIDATORS` (the OpenAPI document publishes them). A request of
1000 transactions costs a fixed number of queries: one read of the ids already stored, one of the
newest stored date, and a bulk insert."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.audit import Actor
from feeds import lifecycle, numbers
from feeds.models import (
    HISTORY_DAYS,
    BankTransaction,
    Feed,
    PushOperation,
    PushStatus,
    SourceAccount,
    SourceAccountStatus,
    TransactionType,
)

MAX_TRANSACTIONS = 1000
# Read once; a tuple, not a set: a client may send any JSON value (a dict is unhashable).
TRANSACTION_TYPES = tuple(TransactionType.values)
MAX_ID_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 1000
# Amounts and balances have at most 15 significant digits, so they are exact as JSON numbers.
MAX_ABS_AMOUNT = Decimal("10000000000000")  # 10^13
MAX_INTEGER_DIGITS = 13
IGNORED_FIELDS = ("counterparty", "reference", "reconciled")
KNOWN_FIELDS = {
    "id",
    "date",
    "clearedOnDate",
    "amount",
    "description",
    "transactionType",
    "balance",
    *IGNORED_FIELDS,
}

# validatorName → what it checks. Errors unless marked (warning).
VALIDATORS = {
    "accountIdRequired": "the body's accountId is present and equals the account id in the path",
    "transactionsRequired": "the body has a transactions array",
    "transactionCount": f"1 to {MAX_TRANSACTIONS} transactions per request",
    "accountNotConnected": "the source account is connected to QBO",
    "feedDisconnected": "the account's feed was not disconnected in QuickBooks",
    "transactionObject": "each transaction is a JSON object",
    "transactionId": f"id is a string of 1 to {MAX_ID_LENGTH} characters, without NUL",
    "duplicateId": "an id appears once in a request",
    "amount": "amount is a non-zero decimal with at most 2 decimal places",
    "description": f"description has 1 to {MAX_DESCRIPTION_LENGTH} characters after trimming",
    "clearedOnDate": "clearedOnDate (or date) is a calendar date, YYYY-MM-DD",
    "futureDate": "clearedOnDate is on or before today in the deployment's time zone",
    "beforeFeedStartDate": "clearedOnDate is not before the account's feedStartDate",
    "historyWindow": f"clearedOnDate is at most {HISTORY_DAYS} days before today",
    "chronologicalOrder": "transactions are in ascending clearedOnDate order",
    "olderThanStored": "clearedOnDate is not before the newest one already written",
    "transactionType": "transactionType is Credit, Debit or Unknown",
    "balance": "balance is a decimal with at most 2 decimal places",
    "idConflict": "an id already written has the same content (written transactions cannot change)",
    "alreadyWritten": "(warning) the same transaction was already written; it was skipped",
    "signMismatch": "(warning) the amount's sign agrees with transactionType",
    "ignoredField": "(warning) counterparty, reference and reconciled are not sent to QBO",
    "unknownField": "(warning) fields linksite does not know are ignored",
}

_DATE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?"
    r"(?:Z|[+-](\d{2}):?(\d{2}))?)?$"
)
# The bounds of each part of a time of day and its offset: hours, minutes, seconds (a leap
# second allowed), offset hours and minutes.
_TIME_BOUNDS = (23, 59, 60, 23, 59)


@dataclass(frozen=True)
class Problem:
    item_id: str
    message: str
    validator: str

    def as_json(self) -> dict[str, str]:
        return {"itemId": self.item_id, "message": self.message, "validatorName": self.validator}


@dataclass
class Parsed:
    id: str  # the transaction id, or its position when the id is unusable
    cleared_on_date: dt.date | None
    date: dt.date | None
    amount: Decimal | None
    description: Any
    transaction_type: Any
    balance: Decimal | None
    ok: bool = True

    def same_as(self, row: BankTransaction) -> bool:
        return (
            row.cleared_on_date == self.cleared_on_date
            and row.date == self.date
            and row.amount == self.amount
            and row.description == self.description
            and row.transaction_type == self.transaction_type
            and row.balance == self.balance
        )


@dataclass
class Report:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def error(self, item_id: str, validator: str, message: str) -> None:
        self.errors.append(Problem(storable(item_id), storable(message), validator))

    def warn(self, item_id: str, validator: str, message: str) -> None:
        self.warnings.append(Problem(storable(item_id), storable(message), validator))

    def as_json(self) -> dict[str, list[dict[str, str]]]:
        return {
            "errors": [p.as_json() for p in self.errors],
            "warnings": [p.as_json() for p in self.warnings],
        }


def storable(text: str) -> str:
    """Client text echoed in a report, made safe for any database: NUL spelled out."""
    return text.replace("\x00", "\\x00")


def parse_date(value: Any) -> dt.date | None:
    """A calendar date from `YYYY-MM-DD`, ignoring any time of day and offset after it."""
    if not isinstance(value, str):
        return None
    match = _DATE.match(value.strip())
    if not match:
        return None
    parts = match.groups()[1:]
    if any(p is not None and int(p) > most for p, most in zip(parts, _TIME_BOUNDS, strict=True)):
        return None  # a time of day that cannot be (T25:99, +99:99)
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def parse_money(value: Any) -> Decimal | None:
    """A finite decimal from a JSON number or a numeric string; None if it is neither."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal | int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() else None


def _money_problem(number: Decimal | None, name: str) -> str | None:
    """Checked on digits and exponent alone (`feeds.numbers`), before any arithmetic."""
    if number is None:
        return f"{name} must be a decimal number (a JSON number or a numeric string)."
    if numbers.integer_digits(number) > MAX_INTEGER_DIGITS:
        return f"{name} is too large; the limit is ±{MAX_ABS_AMOUNT - Decimal('0.01')}."
    if numbers.decimal_places(number) > 2:
        return f"{name} has more than 2 decimal places."
    if number.copy_abs() >= MAX_ABS_AMOUNT:
        return f"{name} {number} is too large; the limit is ±{MAX_ABS_AMOUNT - Decimal('0.01')}."
    return None


def _parse_one(index: int, raw: Any, report: Report) -> Parsed | None:
    """Check one transaction on its own. None if it is not even an object; else what could be
    read of it, with `ok` false if it has an error (its date is still checked against the
    window and the order, so that every problem is reported at once)."""
    position = f"transactions[{index}]"
    if not isinstance(raw, dict):
        report.error(position, "transactionObject", f"{position} must be a JSON object.")
        return None
    before = len(report.errors)

    tid = raw.get("id")
    if not isinstance(tid, str) or not 1 <= len(tid) <= MAX_ID_LENGTH or "\x00" in tid:
        report.error(
            position,
            "transactionId",
            f"{position}.id must be a string of 1 to {MAX_ID_LENGTH} characters, without NUL.",
        )
        item = position
    else:
        item = tid

    amount = parse_money(raw.get("amount"))
    problem = _money_problem(amount, "amount")
    if "amount" not in raw:
        report.error(item, "amount", "amount is required.")
    elif problem:
        report.error(item, "amount", problem)
    elif amount == 0:
        report.error(item, "amount", "amount must not be zero.")

    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        report.error(item, "description", "description is required and must not be blank.")
    else:
        description = description.strip()
        if "\x00" in description:
            report.error(item, "description", "description must not contain the NUL character.")
        elif len(description) > MAX_DESCRIPTION_LENGTH:
            report.error(
                item,
                "description",
                f"description has {len(description)} characters; the limit is "
                f"{MAX_DESCRIPTION_LENGTH}.",
            )

    date = None
    if raw.get("date") is not None:
        date = parse_date(raw["date"])
        if date is None:
            report.error(item, "clearedOnDate", f"date {raw['date']!r} is not a date (YYYY-MM-DD).")
    if raw.get("clearedOnDate") is not None:
        cleared = parse_date(raw["clearedOnDate"])
        if cleared is None:
            report.error(
                item,
                "clearedOnDate",
                f"clearedOnDate {raw['clearedOnDate']!r} is not a date (YYYY-MM-DD).",
            )
    elif raw.get("date") is not None:
        cleared = date
    else:
        cleared = None
        report.error(
            item,
            "clearedOnDate",
            "clearedOnDate is required (or date, for clients that send only the date).",
        )

    kind = raw.get("transactionType")
    if kind is not None and kind not in TRANSACTION_TYPES:
        report.error(
            item,
            "transactionType",
            f"transactionType {kind!r} is not one of Credit, Debit, Unknown.",
        )

    balance = None
    if raw.get("balance") is not None:
        balance = parse_money(raw["balance"])
        problem = _money_problem(balance, "balance")
        if problem:
            report.error(item, "balance", problem)

    for name in IGNORED_FIELDS:
        if name in raw:
            report.warn(
                item,
                "ignoredField",
                f"{name} is not supported by QuickBooks Online bank feeds and was ignored.",
            )
    for name in sorted(set(raw) - KNOWN_FIELDS):
        report.warn(item, "unknownField", f"{name} is not a known transaction field; ignored.")

    ok = len(report.errors) == before
    if ok and kind is None:
        kind = TransactionType.CREDIT if amount > 0 else TransactionType.DEBIT
    elif ok and (
        (kind == TransactionType.CREDIT and amount < 0)
        or (kind == TransactionType.DEBIT and amount > 0)
    ):
        report.warn(
            item,
            "signMismatch",
            f"amount {amount} has a sign that contradicts transactionType {kind} "
            "(credits are positive, debits negative); stored as sent.",
        )
    return Parsed(item, cleared, date, amount, description, kind, balance, ok)


def _feed_state(account: SourceAccount) -> tuple[Feed | None, Feed | None]:
    """(active feed, newest feed) of an account."""
    feeds = list(account.feeds.order_by("-created")[:1])
    newest = feeds[0] if feeds else None
    active = newest if newest is not None and newest.is_active else None
    return active, newest


def write_transactions(
    account: SourceAccount,
    body: dict[str, Any],
    *,
    path_account_id: str,
    actor: Actor,
    today: dt.date | None = None,
) -> PushOperation:
    """Validate and store one write request; the push operation says `Success` (all stored) or
    `Failed` (nothing stored, every problem listed)."""
    requested = timezone.now()
    today = today or timezone.localdate()
    report = Report()

    if body.get("accountId") != path_account_id:
        report.error(
            "accountId",
            "accountIdRequired",
            f"accountId in the body must equal the account id in the path ({path_account_id!r}).",
        )
    raw_items = body.get("transactions")
    items: list[Any] = []
    if not isinstance(raw_items, list):
        report.error(
            "transactions", "transactionsRequired", "transactions must be an array of objects."
        )
    elif not 1 <= len(raw_items) <= MAX_TRANSACTIONS:
        report.error(
            "transactions",
            "transactionCount",
            f"A request carries 1 to {MAX_TRANSACTIONS} transactions; this one has "
            f"{len(raw_items)}. Split larger sets into several requests, oldest first.",
        )
    else:
        items = raw_items

    parsed: list[Parsed] = []
    seen: set[str] = set()
    for index, raw in enumerate(items):
        one = _parse_one(index, raw, report)
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            if raw["id"] in seen:
                report.error(raw["id"], "duplicateId", f"id {raw['id']!r} appears more than once.")
                if one is not None:
                    one.ok = False
            seen.add(raw["id"])
        if one is not None:
            parsed.append(one)

    dated = [p for p in parsed if p.cleared_on_date is not None]
    previous: Parsed | None = None
    for one in dated:
        if previous is not None and one.cleared_on_date < previous.cleared_on_date:
            report.error(
                one.id,
                "chronologicalOrder",
                f"Transactions must be in ascending clearedOnDate order: {one.id!r} "
                f"({one.cleared_on_date}) comes after {previous.id!r} "
                f"({previous.cleared_on_date}).",
            )
        previous = one
        if one.cleared_on_date > today:
            report.error(
                one.id,
                "futureDate",
                f"clearedOnDate {one.cleared_on_date} is in the future (today is {today} in "
                "the deployment's time zone); only cleared transactions can be written.",
            )

    with transaction.atomic():
        # Writers of one account queue here (PostgreSQL row lock; SQLite takes its write lock at
        # BEGIN), so the order and duplicate checks below see every earlier write.
        account = (
            SourceAccount.objects.select_for_update(of=("self",))
            .select_related("connection")
            .get(pk=account.pk)
        )
        active, newest = _feed_state(account)
        if account.status != SourceAccountStatus.CONNECTED or newest is None:
            report.error(
                "accountId",
                "accountNotConnected",
                f"Source account {account.account_id!r} is {account.status}, not connected: the "
                "SMB user must link it in QuickBooks Online before transactions can be written.",
            )
        elif active is None and newest.disabled_on_utc is None:
            report.error(
                "accountId",
                "accountNotConnected",
                f"Feeds of account {account.account_id!r} are stopped: its connection is "
                f"{account.connection.status}. The SMB user must link it again in QuickBooks "
                "Online before transactions can be written.",
            )
        elif active is None:
            report.error(
                "accountId",
                "feedDisconnected",
                f"The feed for account {account.account_id!r} was disconnected in QuickBooks; "
                "the SMB user must link it again before transactions can be written.",
            )
        if active is not None:
            start = active.feed_start_date
            window = today - dt.timedelta(days=HISTORY_DAYS)
            for one in dated:
                if one.cleared_on_date < start:
                    report.error(
                        one.id,
                        "beforeFeedStartDate",
                        f"clearedOnDate {one.cleared_on_date} is before the account's "
                        f"feedStartDate {start}.",
                    )
                elif one.cleared_on_date < window:
                    report.error(
                        one.id,
                        "historyWindow",
                        f"clearedOnDate {one.cleared_on_date} is more than {HISTORY_DAYS} days "
                        f"before today ({today}); QBO accepts at most {HISTORY_DAYS} days of "
                        "history.",
                    )

        valid = [p for p in parsed if p.ok]
        stored = {
            row.transaction_id: row
            for row in BankTransaction.objects.filter(
                source_account=account, transaction_id__in=[p.id for p in valid]
            )
        }
        newest_stored = BankTransaction.objects.filter(source_account=account).aggregate(
            newest=Max("cleared_on_date")
        )["newest"]
        new: list[Parsed] = []
        for one in valid:
            row = stored.get(one.id)
            if row is None:
                if newest_stored is not None and one.cleared_on_date < newest_stored:
                    report.error(
                        one.id,
                        "olderThanStored",
                        f"clearedOnDate {one.cleared_on_date} is before {newest_stored}, the "
                        "newest clearedOnDate already written to this account (the same day is "
                        "allowed).",
                    )
                new.append(one)
            elif one.same_as(row):
                report.warn(
                    one.id,
                    "alreadyWritten",
                    f"Transaction {one.id!r} was already written with the same content; skipped.",
                )
            else:
                report.error(
                    one.id,
                    "idConflict",
                    f"Transaction {one.id!r} was already written with different content; "
                    "written transactions cannot change.",
                )

        operation = PushOperation(
            company_id=account.connection.company_id,
            connection_id=account.connection_id,
            source_account=account,
            account_id=account.account_id,
            requested_on_utc=requested,
            validation=report.as_json(),
        )
        if report.errors:
            count = len(report.errors)
            operation.error_message = (
                f"{count} problem{'s' if count > 1 else ''} found; no transaction was stored. "
                f"First: {report.errors[0].message}"
            )
            final = PushStatus.FAILED
        else:
            final = PushStatus.SUCCESS
        operation.save()
        if not report.errors:
            BankTransaction.objects.bulk_create(
                [
                    BankTransaction(
                        source_account=account,
                        transaction_id=one.id,
                        date=one.date,
                        cleared_on_date=one.cleared_on_date,
                        amount=one.amount,
                        description=one.description,
                        transaction_type=one.transaction_type,
                        balance=one.balance,
                        created=requested,
                        push_operation=operation,
                    )
                    for one in new
                ],
                batch_size=500,
            )
            last = parsed[-1] if parsed else None
            if last is not None and last.balance is not None and last.balance != account.balance:
                SourceAccount.objects.filter(pk=account.pk).update(
                    balance=last.balance, modified=timezone.now()
                )
        lifecycle.transition(
            operation,
            final,
            actor=actor,
            updates={
                "completed_on_utc": timezone.now(),
                "transaction_count": 0 if report.errors else len(new),
            },
            errors=len(report.errors),
            warnings=len(report.warnings),
        )
    return operation
