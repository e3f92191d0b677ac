"""Our OpenAPI 3.1 description of the IDX API as linksite serves it, written from the code (the
shapes in `shapes.py`, the checks in `views.py`), served at `openapi.json` in pull mode."""

from __future__ import annotations

from typing import Any

from feeds.idx import shapes

REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def _title(name: str) -> str:
    return name[0].upper() + name[1:]


def _nullable(name: str) -> dict[str, Any]:
    return {"oneOf": [_ref(name), {"type": "null"}]}


MONEY = {
    "type": "object",
    "required": ["currency", "amount"],
    "properties": {
        "currency": {"type": "string", "enum": ["USD", "CAD"]},
        "amount": {"type": "string", "description": "A signed decimal, e.g. -12.50."},
    },
}
BALANCE = {
    "type": "object",
    "required": ["balanceAsOf", "currentBalance", "availableBalance"],
    "properties": {
        "balanceAsOf": {"type": "string", "format": "date"},
        "currentBalance": _ref("Money"),
        "availableBalance": _ref("Money"),
    },
}


def _info_block(sub_types: list[str], balance_key: str, balance: dict[str, Any]) -> dict:
    return {
        "type": "object",
        "required": ["accountSubType", balance_key],
        "properties": {
            "accountSubType": {"type": "string", "enum": sub_types},
            balance_key: balance,
        },
    }


def _sub_types(block: str) -> list[str]:
    return sorted({sub for _k, b, sub, _bal in shapes.ACCOUNT_KINDS.values() if b == block})


ACCOUNT_BLOCKS = {
    "depositAccountInfo": _info_block(
        _sub_types("depositAccountInfo"), "depositBalance", _ref("Balance")
    ),
    "creditCardAccountInfo": _info_block(
        _sub_types("creditCardAccountInfo"), "creditCardBalance", _ref("Balance")
    ),
    "cashCardAccountInfo": _info_block(
        _sub_types("cashCardAccountInfo"), "cashCardBalance", _ref("Balance")
    ),
    "loanAccountInfo": _info_block(_sub_types("loanAccountInfo"), "loanBalance", _ref("Money")),
}
KINDS = sorted({kind for kind, *_rest in shapes.ACCOUNT_KINDS.values()})
BUSINESS = {"type": "string", "enum": [shapes.BUSINESS]}

ACCOUNT = {
    "type": "object",
    "description": "A source account, as QBO reads it. Exactly one of the *AccountInfo blocks "
    "is filled, the one of its accountType; the others are null.",
    "required": [
        "id",
        "accountDisplayInfo",
        "accountType",
        "primaryCurrency",
        *shapes.ACCOUNT_INFO_BLOCKS,
        "lineOfBusiness",
        "bankRoutingInfo",
        "accountHolderInfo",
        "status",
        "modifiedDate",
    ],
    "properties": {
        "id": {"type": "string", "description": "The client's id of the source account."},
        "accountDisplayInfo": {
            "type": "object",
            "required": ["displayName", "description", "nickname"],
            "properties": {
                "displayName": {
                    "type": "string",
                    "description": "The account name and the masked number (last 4 digits).",
                },
                "description": {"type": "string"},
                "nickname": {"type": "string"},
            },
        },
        "accountType": {"type": "string", "enum": KINDS},
        "primaryCurrency": {"type": "string", "enum": ["USD", "CAD"]},
        **{
            name: _nullable(name[0].upper() + name[1:])
            if name in ACCOUNT_BLOCKS
            else {"type": "null"}
            for name in shapes.ACCOUNT_INFO_BLOCKS
        },
        "lineOfBusiness": BUSINESS,
        "accountOpenDate": {"type": "string", "format": "date"},
        "bankRoutingInfo": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "type"],
                "properties": {"id": {"type": "string"}, "type": {"type": "string"}},
            },
        },
        "accountHolderInfo": {
            "type": "object",
            "required": ["holderType", "governmentIdDetails", "relationshipType"],
            "properties": {
                "holderType": BUSINESS,
                "governmentIdDetails": BUSINESS,
                "relationshipType": BUSINESS,
            },
        },
        "status": {"type": "string", "enum": ["open"]},
        "modifiedDate": {"type": "string", "format": "date-time"},
    },
}

TRANSACTION_BLOCKS = {
    block: {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "string", "enum": ["credit", "debit"]}},
    }
    for block, key in shapes.TRANSACTION_INFO.values()
}
TRANSACTION = {
    "type": "object",
    "description": "A stored bank transaction, as QBO reads it. The *TransactionInfo block of "
    "the account's type is filled; the others are null.",
    "required": [
        "transactionId",
        "accountId",
        "accountType",
        "transactionDate",
        "postedDate",
        "transactionDescription",
        "amount",
        "transactionValueType",
        "transactionMutability",
        "status",
        *TRANSACTION_BLOCKS,
        "modifiedDate",
    ],
    "properties": {
        "transactionId": {"type": "string", "description": "The client's transaction id."},
        "accountId": {"type": "string"},
        "accountType": {"type": "string", "enum": KINDS},
        "transactionDate": {"type": "string", "format": "date"},
        "postedDate": {"type": "string", "format": "date", "description": "The cleared date."},
        "transactionDescription": {"type": "string"},
        "amount": _ref("Money"),
        "transactionValueType": {"type": "string", "enum": ["CREDIT", "DEBIT"]},
        "transactionMutability": {"type": "boolean", "enum": [False]},
        "status": {"type": "string", "enum": ["POSTED"]},
        **{
            block: {"oneOf": [schema, {"type": "null"}]}
            for block, schema in TRANSACTION_BLOCKS.items()
        },
        "modifiedDate": {
            "type": "string",
            "format": "date-time",
            "description": "When linksite stored it (UTC): what the date window filters on.",
        },
    },
}


def _page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["results", "pageNumber", "pageSize", "totalResults"],
        "properties": {
            "results": {"type": "array", "items": _ref(item)},
            "pageNumber": {"type": "integer", "minimum": 1},
            "pageSize": {"type": "integer", "minimum": 1, "maximum": shapes.MAX_PAGE_SIZE},
            "totalResults": {"type": "integer", "minimum": 0},
        },
    }


PROBLEM = {
    "type": "object",
    "required": ["itemId", "message", "validatorName"],
    "properties": {
        "itemId": {"type": ["string", "null"]},
        "message": {"type": "string"},
        "validatorName": {"type": ["string", "null"]},
    },
}
ERROR = {
    "type": "object",
    "required": [
        "statusCode",
        "service",
        "error",
        "correlationId",
        "validation",
        "canBeRetried",
        "detailedErrorCode",
    ],
    "properties": {
        "statusCode": {"type": "integer"},
        "service": {"type": "string", "enum": [shapes.SERVICE]},
        "error": {"type": "string"},
        "correlationId": {"type": "string"},
        "validation": {
            "type": "object",
            "required": ["errors", "warnings"],
            "properties": {
                "errors": {"type": "array", "items": _ref("Problem")},
                "warnings": {"type": "array", "items": _ref("Problem")},
            },
        },
        "canBeRetried": {"type": "string", "enum": ["True", "False"]},
        "detailedErrorCode": {"type": "integer"},
    },
}

ERRORS = {
    "400": "A query parameter is not valid; validation.errors names it.",
    "401": "The partner key or the credentials are wrong, expired, revoked or locked (the "
    "answer never says which).",
    "403": "The institution does not offer bank feeds now.",
    "404": "Not found (for an account: the credentials do not cover it).",
    "429": "Too many requests for this partner key; wait Retry-After seconds.",
}


def _responses(page: str) -> dict[str, Any]:
    ok = {"description": "A page.", "content": {"application/json": {"schema": _ref(page)}}}
    errors = {
        status: {
            "description": text,
            "content": {"application/json": {"schema": _ref("Error")}},
            **(
                {"headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}}
                if status == "429"
                else {}
            ),
        }
        for status, text in ERRORS.items()
    }
    return {"200": ok, **errors}


def _int_query(name: str, default: int, maximum: int | None, text: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": 1, "default": default}
    if maximum is not None:
        schema["maximum"] = maximum
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": text}


PAGING = [
    _int_query("page", 1, None, "The page, from 1."),
    _int_query("pageSize", shapes.PAGE_SIZE, shapes.MAX_PAGE_SIZE, "Items per page."),
]


def _date_query(name: str, text: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string", "format": "date"},
        "description": text,
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "linksite IDX API",
            "version": "1.0.0",
            "description": "What QuickBooks Online pulls from linksite in pull mode "
            "(QBO_DELIVERY=pull): the source accounts a set of one-time credentials covers, "
            "and their stored transactions. Every call sends both the credentials (HTTP Basic) "
            "and the operator's partner key, base64-encoded, in X-Partner-Key.",
        },
        "servers": [{"url": "/partners/intuit/idx"}],
        "security": [{"credentials": [], "partnerKey": []}],
        "paths": {
            "/accounts": {
                "get": {
                    "operationId": "list-accounts",
                    "summary": "The accounts the credentials cover",
                    "parameters": PAGING,
                    "responses": _responses("AccountPage"),
                }
            },
            "/accounts/{accountId}/transactions": {
                "get": {
                    "operationId": "list-transactions",
                    "summary": "An account's transactions stored in a window of UTC days",
                    "description": "The first call for an account links it (connected); every "
                    "transaction served is marked delivered. Ordered by when linksite stored "
                    "them, so pages neither skip nor repeat while writes go on.",
                    "parameters": [
                        {
                            "name": "accountId",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        _date_query("startDate", "First UTC day included (YYYY-MM-DD)."),
                        _date_query("endDate", "First UTC day no longer included."),
                        *PAGING,
                    ],
                    "responses": _responses("TransactionPage"),
                }
            },
        },
        "components": {
            "securitySchemes": {
                "credentials": {"type": "http", "scheme": "basic"},
                "partnerKey": {"type": "apiKey", "in": "header", "name": "X-Partner-Key"},
            },
            "schemas": {
                "Money": MONEY,
                "Balance": BALANCE,
                **{_title(name): block for name, block in ACCOUNT_BLOCKS.items()},
                "Account": ACCOUNT,
                "Transaction": TRANSACTION,
                "AccountPage": _page("Account"),
                "TransactionPage": _page("Transaction"),
                "Problem": PROBLEM,
                "Error": ERROR,
            },
        },
    }
