"""Our OpenAPI 3.1 description of what QBO calls on linksite (`product.md` §6), written from the
code (`views.py`, `feed_rules`), served at `/qbo/v1/openapi.json` (no signature needed)."""

from __future__ import annotations

from typing import Any

from feeds.qbo import signing

REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


SIGNING = (
    'X-Signature is "t=<unix seconds>,v1=<hex HMAC-SHA256>" of '
    '"<t>.<METHOD>.<path>.<request id>.<raw body>" with the shared secret: <path> is the URL '
    "path as sent, without the query string, <METHOD> upper case, <request id> the X-Request-Id "
    "(the raw body is empty for a GET). A request more than 5 minutes off, with a wrong key or "
    "signature, or with a request id already accepted within the window gets 401 and changes "
    "nothing."
)

HEADERS = [
    {
        "name": "X-Partner-Key",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "The partner key configured on both sides (QBO_PARTNER_KEY).",
    },
    {
        "name": "X-Request-Id",
        "in": "header",
        "required": True,
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": signing.MAX_REQUEST_ID,
            "pattern": "^[ -~]+$",
        },
        "description": "Unique per request: 1 to 128 printable ASCII characters. Accepted "
        "once within the 5-minute window.",
    },
    {
        "name": "X-Signature",
        "in": "header",
        "required": True,
        "schema": {"type": "string", "pattern": "^t=[0-9]{1,12},v1=[0-9a-f]{64}$"},
        "description": SIGNING,
    },
]

FEED_ID = {
    "name": "feedId",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "linksite's identifier of one linked source account (opaque).",
}

ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "A code, e.g. unauthorized, bad_request."},
        "message": {"type": "string", "description": "What is wrong, in English."},
    },
}
INSTITUTION = {
    "type": "object",
    "required": ["name", "logoUrl"],
    "properties": {
        "name": {"type": "string"},
        "logoUrl": {"type": ["string", "null"]},
    },
}
ACCOUNT = {
    "type": "object",
    "required": ["id", "displayName", "accountType", "currency", "balance"],
    "properties": {
        "id": {"type": "string"},
        "displayName": {"type": "string"},
        "accountType": {"type": "string"},
        "currency": {"type": "string"},
        "balance": {"type": "string", "description": "A decimal string, e.g. 1234.56."},
    },
}
VERIFY_BODY = {
    "type": "object",
    "required": ["username", "password"],
    "properties": {
        "username": {"type": "string"},
        "password": {"type": "string"},
    },
}
VERIFIED = {
    "type": "object",
    "required": ["linkSessionId", "institution", "accounts"],
    "properties": {
        "linkSessionId": {"type": "string", "description": "Lives 30 minutes."},
        "institution": _ref("Institution"),
        "accounts": {"type": "array", "items": _ref("Account")},
    },
}
PLANNED_FEED = {
    "type": "object",
    "required": [
        "sourceAccountId",
        "targetAccountId",
        "targetAccountName",
        "targetAccountType",
        "feedStartDate",
    ],
    "properties": {
        "sourceAccountId": {"type": "string"},
        "targetAccountId": {"type": "string", "minLength": 1, "maxLength": 100},
        "targetAccountName": {"type": "string", "minLength": 1, "maxLength": 200},
        "targetAccountType": {"type": "string", "enum": ["Bank", "CreditCard"]},
        "feedStartDate": {
            "type": "string",
            "format": "date",
            "description": "Within the last 7 days, today included.",
        },
    },
}
LINK_BODY = {
    "type": "object",
    "required": ["linkSessionId", "feeds"],
    "properties": {
        "linkSessionId": {"type": "string"},
        "feeds": {"type": "array", "minItems": 1, "items": _ref("PlannedFeed")},
    },
}
LINKED = {
    "type": "object",
    "required": ["feeds"],
    "properties": {
        "feeds": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["feedId", "sourceAccountId", "status", "feedStartDate"],
                "properties": {
                    "feedId": {"type": "string"},
                    "sourceAccountId": {"type": "string"},
                    "status": {"type": "string", "enum": ["connected"]},
                    "feedStartDate": {"type": "string", "format": "date"},
                },
            },
        }
    },
}
FEED_BODY = {
    "type": "object",
    "description": "Optional; a feedId, if sent, must be the path's.",
    "properties": {"feedId": {"type": "string"}},
}
QUEUED = {
    "type": "object",
    "required": ["feedId", "queued"],
    "properties": {"feedId": {"type": "string"}, "queued": {"type": "boolean"}},
}
DISCONNECTED = {
    "type": "object",
    "required": ["feedId", "disabledAt"],
    "properties": {
        "feedId": {"type": "string"},
        "disabledAt": {"type": "string", "format": "date-time"},
    },
}

ERRORS = {
    "400": "The body is not a JSON object of text a database can store (not UTF-8, NaN, an "
    "unpaired surrogate or NUL in a string, nested too deep), or a field is missing or wrong.",
    "401": "Not authenticated: a missing or wrong partner key, request id or signature, a "
    "timestamp more than 5 minutes off, a request id already used; for credentials/verify also "
    "credentials that are wrong, expired, spent, revoked or locked (never saying which); for "
    "feeds an unknown or expired link session.",
    "403": "The institution does not offer bank feeds now.",
    "404": "No such feed.",
    "409": "The link session was used already, or an account is linked already.",
    "410": "The bank closed the connection, or the feed is no longer active.",
    "413": "The body is larger than the limit (4 MiB).",
    "429": "Too many requests: beyond RATE_LIMIT_QBO for the partner key (or, for "
    "credentials/verify, RATE_LIMIT_QBO_USERNAME for the username); wait `Retry-After` seconds.",
}


def _json(schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": schema}}}


def _responses(ok: str, schema: str, text: str, *errors: str) -> dict[str, Any]:
    return {
        ok: _json(_ref(schema), text),
        **{status: _json(_ref("Error"), ERRORS[status]) for status in ("401", "429", *errors)},
    }


def _post(
    operation_id: str, summary: str, body: dict[str, Any], responses: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": [*extra.pop("parameters", []), *HEADERS],
            "requestBody": {
                "required": extra.pop("required", True),
                "content": {"application/json": {"schema": body}},
            },
            "responses": responses,
            **extra,
        }
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "linksite QBO wire protocol",
            "version": "1.0.0",
            "description": "What QuickBooks Online calls on linksite (product.md §6): the "
            "institution, one-time credentials, linking feeds, Update and disconnect. Every "
            "request is signed with X-Partner-Key, X-Request-Id and X-Signature. "
            + SIGNING
            + " Every answer is JSON; a failure is {error, message}.",
        },
        "servers": [{"url": "/qbo/v1"}],
        "paths": {
            "/institution": {
                "get": {
                    "operationId": "institution",
                    "summary": "What QBO lists in its institution search",
                    "parameters": HEADERS,
                    "responses": _responses("200", "Institution", "The institution."),
                }
            },
            "/credentials/verify": _post(
                "verify-credentials",
                "Spend a one-time credential set and open a link session",
                _ref("VerifyBody"),
                _responses("200", "Verified", "A link session.", "400", "403", "413"),
            ),
            "/feeds": _post(
                "link-feeds",
                "Link the session's accounts to QBO accounts",
                _ref("LinkBody"),
                _responses("201", "Linked", "The feeds.", "400", "409", "410", "413"),
            ),
            "/feeds/{feedId}/refresh": _post(
                "refresh-feed",
                "Update: queue a push of the feed",
                _ref("FeedBody"),
                _responses("202", "Queued", "A push is queued.", "400", "404", "410", "413"),
                parameters=[FEED_ID],
                required=False,
            ),
            "/feeds/{feedId}/disconnect": _post(
                "disconnect-feed",
                "Disconnect the feed",
                _ref("FeedBody"),
                _responses("200", "Disconnected", "The feed is disabled.", "400", "404", "413"),
                parameters=[FEED_ID],
                required=False,
            ),
        },
        "components": {
            "schemas": {
                "Error": ERROR,
                "Institution": INSTITUTION,
                "Account": ACCOUNT,
                "VerifyBody": VERIFY_BODY,
                "Verified": VERIFIED,
                "PlannedFeed": PLANNED_FEED,
                "LinkBody": LINK_BODY,
                "Linked": LINKED,
                "FeedBody": FEED_BODY,
                "Queued": QUEUED,
                "Disconnected": DISCONNECTED,
            },
        },
    }
