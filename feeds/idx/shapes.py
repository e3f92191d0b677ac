"""The JSON of the IDX API: our source accounts and bank transactions in the shapes QBO reads
(`IntuitAccount`, `IntuitTransaction` of the published document), and the page around them.

Amounts are decimal strings with the account's currency; timestamps are UTC with a `Z`; the
full account number never appears (the display name carries the masked form)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from feeds.models import AccountType, BankTransaction, SourceAccount

# Our account type → (IDX accountType, the *AccountInfo block, its sub-type, its balance key).
ACCOUNT_KINDS: dict[str, tuple[str, str, str, str]] = {
    AccountType.CHECKING: ("deposit", "depositAccountInfo", "checking", "depositBalance"),
    AccountType.SAVINGS: ("deposit", "depositAccountInfo", "savings", "depositBalance"),
    AccountType.CREDIT_CARD: (
        "creditcard",
        "creditCardAccountInfo",
        "creditcard",
        "creditCardBalance",
    ),
    AccountType.LOAN: ("loan", "loanAccountInfo", "loan", "loanBalance"),
    AccountType.PREPAID_CARD: ("cashcard", "cashCardAccountInfo", "prepaidcard", "cashCardBalance"),
}
ACCOUNT_INFO_BLOCKS = (
    "depositAccountInfo",
    "cashCardAccountInfo",
    "creditCardAccountInfo",
    "lineOfCreditAccountInfo",
    "loanAccountInfo",
)
# IDX accountType → its *TransactionInfo block and the key of the type inside it.
TRANSACTION_INFO: dict[str, tuple[str, str]] = {
    "deposit": ("depositTransactionInfo", "depositTransactionType"),
    "cashcard": ("cashCardTransactionInfo", "cashCardTransactionType"),
    "creditcard": ("creditCardTransactionInfo", "creditCardTransactionType"),
    "lineofcredit": ("lineOfCreditTransactionInfo", "lineOfCreditTransactionType"),
    "loan": ("loanTransactionInfo", "loanTransactionType"),
}
NO_TRANSACTION_INFO = {name: None for name, _key in TRANSACTION_INFO.values()}
BUSINESS = "business"
SERVICE = "LinksiteIdxApi"  # `service` in the error shape
MAX_PAGE_SIZE = 2000
PAGE_SIZE = 100  # the default


def timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"currency": currency, "amount": str(amount)}


def _masked(text: str, account: SourceAccount) -> str:
    """The text with the full account number, should a client have put it there, masked."""
    number = account.account_number
    return text.replace(number, account.masked_number) if number and len(number) > 4 else text


def _available(account: SourceAccount) -> Decimal:
    """The v2 body's accountInfo.availableBalance when the client sent one, else the balance."""
    value = (account.account_info or {}).get("availableBalance")
    try:
        return Decimal(str(value)) if value is not None else account.balance
    except InvalidOperation:
        return account.balance


def routing(account: SourceAccount) -> list[dict[str, str]]:
    """bankRoutingInfo: the v2 routingInfo as sent, else the routing number (`rtn`) and the
    sort code (`sortcode`) that are set."""
    info = account.routing_info or {}
    if info.get("bankCode"):
        return [{"id": str(info["bankCode"]), "type": str(info.get("type") or "bankcode")}]
    found = []
    if account.routing_number:
        found.append({"id": account.routing_number, "type": "rtn"})
    if account.sort_code:
        found.append({"id": account.sort_code, "type": "sortcode"})
    return found


def account_json(account: SourceAccount) -> dict[str, Any]:
    kind, block, sub_type, balance_key = ACCOUNT_KINDS[account.account_type]
    currency = account.currency
    if kind == "loan":
        # The document gives a loan's balance as a bare amount, not the as-of triple.
        balance: dict[str, Any] = money(account.balance, currency)
    else:
        balance = {
            "balanceAsOf": account.modified.astimezone(dt.UTC).date().isoformat(),
            "currentBalance": money(account.balance, currency),
            "availableBalance": money(_available(account), currency),
        }
    extra = account.account_info or {}
    result: dict[str, Any] = {
        "id": account.account_id,
        "accountDisplayInfo": {
            "displayName": _masked(f"{account.account_name} {account.masked_number}", account),
            "description": _masked(str(extra.get("description") or account.account_name), account),
            "nickname": _masked(str(extra.get("nickname") or account.account_name), account),
        },
        "accountType": kind,
        "primaryCurrency": currency,
        **{name: None for name in ACCOUNT_INFO_BLOCKS},
        block: {"accountSubType": sub_type, balance_key: balance},
        "lineOfBusiness": BUSINESS,
        "bankRoutingInfo": routing(account),
        "accountHolderInfo": {
            "holderType": BUSINESS,
            "governmentIdDetails": BUSINESS,
            "relationshipType": BUSINESS,
        },
        "status": "open",
        "modifiedDate": timestamp(account.modified),
    }
    if extra.get("accountOpenDate"):
        result["accountOpenDate"] = str(extra["accountOpenDate"])
    return result


def transaction_json(row: BankTransaction | Any, account: SourceAccount) -> dict[str, Any]:
    """A transaction in IDX's shape; `row`: a model or a row of `pulls.served_page`."""
    kind = ACCOUNT_KINDS[account.account_type][0]
    block, type_key = TRANSACTION_INFO[kind]
    credit = row.amount > 0
    cleared = row.cleared_on_date.isoformat()
    return {
        "transactionId": row.transaction_id,
        "accountId": account.account_id,
        "accountType": kind,
        # Both the cleared date, as issue 14 says: a transaction is served once it cleared.
        "transactionDate": cleared,
        "postedDate": cleared,
        "transactionDescription": row.description,
        "amount": money(row.amount, account.currency),
        "transactionValueType": "CREDIT" if credit else "DEBIT",
        "transactionMutability": False,
        "status": "POSTED",
        **NO_TRANSACTION_INFO,
        block: {type_key: "credit" if credit else "debit"},
        "modifiedDate": timestamp(row.created),
    }


def page(results: list[dict[str, Any]], number: int, size: int, total: int) -> dict[str, Any]:
    return {"results": results, "pageNumber": number, "pageSize": size, "totalResults": total}
