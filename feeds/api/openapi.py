"""What the generated OpenAPI document gets on top of what django-ninja derives from the routes:
the hosted service's operationIds, the error statuses its clients expect (with what each means
here), and the `x-linksite-extension` marker on what the hosted service does not have.

Kept apart from the routes so that the route modules stay about behaviour; `tests/openapi_diff.py`
checks the result against the published document, including that no extension goes unmarked."""

from __future__ import annotations

from typing import Any

MARKER = "x-linksite-extension"
PREFIX = "/api/v1"

_COMPANY = "/companies/{companyId}"
_CONNECTION = _COMPANY + "/connections/{connectionId}"
_ACCOUNTS = _CONNECTION + "/connectionInfo/bankFeedAccounts"
_ACCOUNT = _ACCOUNTS + "/{accountId}"

# (method, path below /api/v1) -> operationId: the hosted service's where it has the operation.
OPERATION_IDS = {
    ("post", "/companies"): "create-company",
    ("get", "/companies"): "list-companies",
    ("get", _COMPANY): "get-company",
    ("put", _COMPANY): "replace-company",
    ("patch", _COMPANY): "update-company",
    ("delete", _COMPANY): "delete-company",
    ("post", _COMPANY + "/connections"): "create-connection",
    ("get", _COMPANY + "/connections"): "list-connections",
    ("get", _CONNECTION): "get-connection",
    ("patch", _CONNECTION): "unlink-connection",
    ("delete", _CONNECTION): "delete-connection",
    ("post", _ACCOUNTS): "create-source-account",
    ("get", _ACCOUNTS): "list-source-accounts",
    ("post", _ACCOUNTS + "/batch"): "create-batch-source-account",
    ("post", _ACCOUNTS + "/credentials"): "generate-credentials",
    ("delete", _ACCOUNTS + "/credentials"): "delete-bank-feed-credentials",
    ("patch", _ACCOUNT): "update-source-account",
    ("delete", _ACCOUNT): "delete-source-account",
    ("post", _CONNECTION + "/push/bankAccounts/{accountId}/bankTransactions"): (
        "create-bank-transactions"
    ),
    ("get", _COMPANY + "/push"): "list-create-operations",
    ("get", _COMPANY + "/push/{pushOperationKey}"): "get-create-operation",
    # The hosted service's webhook consumers (its platform API).
    ("post", "/webhooks"): "create-webhook-consumer",
    ("get", "/webhooks"): "list-webhook-consumers",
    ("delete", "/webhooks/{webhookId}"): "delete-webhook-consumer",
}

# Operations the hosted service does not have, with ids of our own.
EXTENSION_OPERATIONS = {
    ("get", _ACCOUNT): "get-source-account",
    ("get", _ACCOUNT + "/bankTransactions"): "list-bank-transactions",
    ("get", "/webhooks/{webhookId}"): "get-webhook-consumer",
    ("patch", "/webhooks/{webhookId}"): "update-webhook-consumer",
    ("post", "/webhooks/{webhookId}/secret/rotate"): "rotate-webhook-consumer-secret",
    ("post", "/webhooks/{webhookId}/test"): "test-webhook-consumer",
}

# Parameters of the hosted service's operations that it does not have, by `in` and name.
EXTENSION_PARAMETERS = {("header", "Idempotency-Key")}

# Properties of our schemas (components) that the hosted service's do not have.
EXTENSION_PROPERTIES = {
    "CompanyIn": {"country"},
    "CompanyPatch": {"country"},
    "CompanyOut": {"country"},
    "ConnectionOut": {"companyId", "platformKey"},
    "SourceAccountIn": {"routingNumber"},
    # routingInfo and accountInfo are the v2 account's: an extension only where the hosted
    # service answers with the v1 shape (updates).
    "SourceAccountOut": {
        "routingNumber",
        "targetAccountName",
        "feedDisabledOnUtc",
        "routingInfo",
        "accountInfo",
    },
    "BatchResult": {"validation"},
    "CredentialsOut": {"expiresOnUtc", "sourceAccountIds"},
    "BankTransactionIn": {"clearedOnDate"},
    "PushOperationOut": {"accountId", "transactionCount"},
    "WebhookOut": {"disabledReason", "failingSince", "created"},
    "WebhookCreated": {"disabledReason", "failingSince", "created", "secret"},
}

NOT_RETURNED = (
    "Never returned by this operation in linksite; listed for compatibility with clients of the "
    "hosted service."
)

# What each error status means here. Those in COMPATIBILITY are added to every operation the
# hosted service has, as its document lists them on all of them.
ERROR_DESCRIPTIONS = {
    400: "A parameter or the body is not valid; `validation.errors` has one item per problem.",
    401: "The API key is missing, unknown or revoked.",
    402: NOT_RETURNED,
    403: "The operator has not switched the QBO integration on.",
    404: "No such path, or an id that is unknown or belongs to another client.",
    409: "The request conflicts with the current state (the error says how).",
    413: "The body is larger than the limit (4 MiB).",
    415: "The body is not sent as `application/json`.",
    422: "The `Idempotency-Key` was used before with a different body.",
    429: "Too many requests for this API client (RATE_LIMIT_API, by default 1200 a minute); "
    "retry after the `Retry-After` header's seconds.",
    500: "An unexpected failure on our side; quote the correlationId to support.",
    503: 'The database is unavailable or busy; retry later (`canBeRetried` is "True").',
}
COMPATIBILITY = (401, 402, 403, 429, 500, 503)
ALWAYS = (401, 429, 500, 503)  # on our own operations too

ERROR_SCHEMA = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def post_process(schema: dict[str, Any]) -> dict[str, Any]:
    """The generated document, changed in place: ids, error statuses, extension markers, and
    the page links' real shape."""
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            key = (method, path.removeprefix(PREFIX))
            if key in OPERATION_IDS:
                operation["operationId"] = OPERATION_IDS[key]
                _document_errors(operation, COMPATIBILITY)
            elif key in EXTENSION_OPERATIONS:
                operation["operationId"] = EXTENSION_OPERATIONS[key]
                operation[MARKER] = True
                _document_errors(operation, ALWAYS)
            for parameter in operation.get("parameters", []):
                if (parameter.get("in"), parameter.get("name")) in EXTENSION_PARAMETERS:
                    parameter[MARKER] = True
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    _page_links(components)
    # A name no longer there is skipped rather than breaking the document; the contract test
    # then reports the property (renamed or new) as an unmarked extension.
    for name, properties in EXTENSION_PROPERTIES.items():
        documented = components.get(name, {}).get("properties", {})
        for property_name in properties & documented.keys():
            documented[property_name][MARKER] = True
    return schema


def _document_errors(operation: dict[str, Any], codes: tuple[int, ...]) -> None:
    responses = operation.setdefault("responses", {})
    present = {int(code) for code in responses}
    for code in codes:
        if code not in present:
            description = NOT_RETURNED if code == 403 else ERROR_DESCRIPTIONS[code]
            responses[code] = {"description": description, **ERROR_SCHEMA}
    for code, response in responses.items():
        if int(code) >= 400 and response.get("description") != NOT_RETURNED:
            response["description"] = ERROR_DESCRIPTIONS.get(int(code), response["description"])


def _page_links(components: dict[str, Any]) -> None:
    """`PageLinks` serializes through a function (to leave out absent links), so pydantic
    documents it as any object; document what that function returns: `self` and `current`
    always, `next` and `previous` only where those pages exist (never null)."""
    from feeds.api.schemas import PageLinks

    links = PageLinks.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    components.update(links.pop("$defs", {}))
    for name in ("next", "previous"):
        link = links["properties"][name]
        links["properties"][name] = {
            "$ref": "#/components/schemas/Href",
            "description": link["description"],
        }
    components["PageLinks"] = links
