"""The client API under `/api/v1` (`product.md` §9), built with django-ninja: the OpenAPI
document at `/api/v1/openapi.json` and the docs page at `/api/v1/docs` are generated from the
typed schemas in `schemas.py`, so they cannot drift from the code."""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from feeds.api import errors, json_body, openapi
from feeds.api.auth import BasicKey, BearerKey
from feeds.api.validation import problems_from_pydantic

logger = logging.getLogger("linksite.api")

DESCRIPTION = """
The JSON API a fintech's backend uses to feed its SMB customers' bank accounts into QuickBooks
Online: companies, a data connection per company (its `linkUrl` is where the SMB user chooses
accounts and gets one-time credentials for QBO), source accounts, credentials, and bank
transactions, which a worker delivers to QBO every day and when the SMB user presses Update.

**Authentication**: `Authorization: Bearer <API key>` (or `Basic <base64 of the key>`). Keys are
created in the admin and shown once. A missing or wrong key gets 401.

**Errors** all have the same shape: `{statusCode, service, error, correlationId, validation:
{errors, warnings}, canBeRetried, detailedErrorCode}`; each validation item is `{itemId, message,
validatorName}`; `canBeRetried` is `"True"` for 408, 429 and 5xx, else `"False"`;
`detailedErrorCode` is the status times 100. Unknown ids and other clients' ids get 404. Bodies
are JSON (`Content-Type: application/json`, else 415), at most 4 MiB (else 413). A database that
is unavailable or busy gets 503.

**Rate limit**: each API client may make `RATE_LIMIT_API` requests (by default 1200 a minute,
all its keys together); beyond it, 429 with `Retry-After` (seconds).

**Availability**: only companies in the US and Canada (any other `country` is a 400 naming it). A
company may be created without a country: the Link pages then ask the SMB user, and credentials
answer 400 naming `country` until it is known. While the operator has not switched the
integration on, creating connections and credentials and writing transactions get 403.

**Updates** (PATCH) accept the whole object as read: fields they cannot change are fine when
unchanged and a 400 naming the field when not; unknown fields are ignored, as in every body.
A company's `redirect` is its entry to the Link pages (signed, valid one hour, fresh on every
read), leading to its current connection's Link URL; one is opened if it has none. Deleting a
connection answers 200; the API answers 404 for it from then on.

**Dates** are calendar dates (`YYYY-MM-DD`); "today" is the deployment's local date. Timestamps are
UTC. **Money** is a decimal with at most 2 places, sent and received as a JSON number (a numeric
string is accepted too).

**Lists** are paged with `page` (from 1) and `pageSize` (1 to 5000, default 100), except the
source accounts of a connection, which come as one array. A page's `_links` hold `self`,
`current`, and `next`/`previous` where those pages exist, each `{href}`.

**Compatibility with the hosted bank-feeds service**: operation ids, paths and field names are
those of the hosted service's client API, so its clients find their way. What linksite adds
(operations, parameters, schema properties) carries `x-linksite-extension: true` in this
document; a client that must also work against the hosted service should not rely on those.
Operations list every status the hosted service lists; the ones linksite never returns say so.
"""


class ExactJsonParser(Parser):
    """Decimals in bodies stay exact (no float on the way)."""

    def parse_body(self, request: HttpRequest) -> Any:
        return json_body.load_json(request.body)


class LinksiteApi(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        from feeds.api.schemas import CreateBankTransactions

        schema = super().get_openapi_schema(*args, **kwargs)
        # The write endpoint validates its body itself (to report every problem as its own item),
        # so its body model is published here.
        extra = CreateBankTransactions.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(extra.pop("$defs", {}))
        components["CreateBankTransactions"] = extra
        return openapi.post_process(schema)


api = LinksiteApi(
    title="linksite API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    auth=[BearerKey(), BasicKey()],
    parser=ExactJsonParser(),
    docs=Swagger(settings={"validatorUrl": None, "defaultModelsExpandDepth": 0}),
)


@api.exception_handler(errors.ApiError)
def _api_error(request: HttpRequest, exc: errors.ApiError) -> HttpResponse:
    return errors.from_api_error(request, exc)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return errors.response(
        request,
        401,
        "Missing or invalid API key. Send it as 'Authorization: Bearer <key>'.",
        headers={"WWW-Authenticate": 'Bearer realm="linksite", charset="UTF-8"'},
    )


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    problems = []
    for error in exc.errors:
        loc = list(error.get("loc", ()))
        where = loc.pop(0) if loc else "body"
        if where == "path":
            return errors.response(
                request, 404, f"Nothing at {request.path}: {loc[-1]} is not valid."
            )
        if where == "body" and loc:
            loc.pop(0)  # the view's parameter name
        elif where == "query" and len(loc) > 1:
            loc.pop(0)
        error = {**error, "loc": loc}
        problems.extend(problems_from_pydantic([error]))
    message = (
        problems[0].message
        if len(problems) == 1
        else f"{len(problems)} problems found in the request."
    )
    return errors.response(request, 400, message, problems)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400 and "parse" in str(exc):
        return errors.response(request, 400, json_body.describe_json_error(exc.__cause__))
    return errors.response(request, exc.status_code, str(exc))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return errors.response(request, 404, "Not found.")


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def _database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.warning(
        "API database unavailable %s on %s %s: %s",
        errors.correlation_id(request),
        request.method,
        request.path,
        exc,
    )
    return errors.response(
        request, 503, "The service is unavailable for a moment; try again shortly."
    )


@api.exception_handler(Exception)
def _crash(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception(
        "API error %s on %s %s", errors.correlation_id(request), request.method, request.path
    )
    return errors.response(
        request,
        500,
        "Something went wrong on our side. Quote the correlationId to support if it happens again.",
    )


from feeds.api import companies, push, source_accounts, webhooks  # noqa: E402

api.add_router("", companies.router)
api.add_router("", source_accounts.router)
api.add_router("", push.router)
api.add_router("", webhooks.router)
