"""The Link pages (`product.md` §4): where the SMB user picks the source accounts to feed and gets
one-time credentials for QuickBooks Online.

The signed Link URL opens `/link/start?token=…`, which binds the browser session to the
connection and redirects at once, so the token leaves the address bar. Every other page reads the
connection from the session and checks it again (revoked URLs, integration switched off,
deauthorized connection). While the company's country is unknown, the user is asked where the
business is located before the accounts screen. Secrets are shown once, in the response to the
POST that made them."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial, wraps
from html import escape
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db.models import (
    Aggregate,
    Case,
    CharField,
    Exists,
    F,
    OuterRef,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast, Concat
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import companies, link_markup
from accounts.audit import Actor, record
from accounts.branding import callout_parts, link_branding
from accounts.link_markup import account_items
from accounts.models import Company, OrganizationSettings
from feeds import availability, connection_rules, credentials, formatting, link_urls
from feeds.link.csrf import csrf_protect_no_referrer
from feeds.link.forms import ChooseAccountsForm, CountryForm
from feeds.models import (
    MONEY,
    AccountType,
    BrowserSession,
    Connection,
    Feed,
    SourceAccount,
    SourceAccountStatus,
)
from feeds.prepared import Prepared, columns

SESSION_KEY = BrowserSession.DATA_KEY
# The browser session outlives the one-hour Link URL a little, so that a user who got
# credentials near the end of the hour can still watch the accounts connect.
SESSION_SECONDS = 2 * 3600


@dataclass
class LinkContext:
    connection: Connection
    org: OrganizationSettings
    chosen: list[int]
    accounts: list[AccountRow] | list[AccountState]  # the connection's, read with it

    @property
    def actor(self) -> Actor:
        return Actor.smb(self.connection.pk)


def _secure(response: HttpResponse) -> HttpResponse:
    # Nothing on these pages may be cached or leak through a Referer to another site.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


def problem(
    request: HttpRequest, kind: str, status: int, org=None, back: str | None = None
) -> HttpResponse:
    """A page that says what went wrong and what to do, in the user's language; `back`: where
    a Back link goes, when the user can still change the answer that led here."""
    org = org or OrganizationSettings.current()
    institution = org.institution(request.LANGUAGE_CODE)
    pages = {
        "expired": (
            _("This link has expired"),
            _(
                "For your security, links to this page work for one hour. Go back to "
                "%(institution)s and open the QuickBooks Online connection again to get a new "
                "link."
            ),
        ),
        "invalid": (
            _("This link is not valid"),
            _(
                "The link may be incomplete or altered. Go back to %(institution)s and open the "
                "QuickBooks Online connection again to get a new link."
            ),
        ),
        "revoked": (
            _("This link is no longer valid"),
            _(
                "It was replaced or cancelled. Go back to %(institution)s and open the "
                "QuickBooks Online connection again to get a new link."
            ),
        ),
        "missing": (
            _("Your session has ended"),
            _(
                "Open the QuickBooks Online connection again from %(institution)s to get a new "
                "link."
            ),
        ),
        "unavailable": (
            _("Not available yet"),
            _(
                "Connecting your accounts to QuickBooks Online is not available at the moment. "
                "Please contact %(institution)s."
            ),
        ),
        "country": (
            _("Not available for your company"),
            _(
                "QuickBooks Online bank feeds are available only to companies in Canada and the "
                "United States. Please contact %(institution)s."
            ),
        ),
        "busy": (
            _("Too many requests"),
            _(
                "Too many requests came from your network in a short time. Wait a minute, then "
                "try again."
            ),
        ),
        "deauthorized": (
            _("This connection was closed"),
            _(
                "%(institution)s closed this connection to QuickBooks Online. Contact them if you "
                "want to connect your accounts again."
            ),
        ),
    }
    title, message = pages[kind]
    context = {
        **_branding(request, org),
        "title": title,
        "message": message % {"institution": institution},
        "kind": kind,
        # The language toggle comes back to this page, never to a URL with a token in it.
        "next_path": reverse("link:problem", args=[kind]),
        "back": back,
    }
    return _secure(render(request, "link/problem.html", context, status=status))


def _branding(request: HttpRequest, org: OrganizationSettings) -> dict[str, Any]:
    return link_branding(org, request.LANGUAGE_CODE)


PROBLEM_STATUS = {
    "expired": 401,
    "invalid": 401,
    "revoked": 401,
    "missing": 401,
    "unavailable": 403,
    "country": 403,
    "deauthorized": 410,
    "busy": 429,
}


@require_GET
def problem_page(request: HttpRequest, kind: str) -> HttpResponse:
    """A problem page again, e.g. after switching its language."""
    if kind not in PROBLEM_STATUS:
        kind = "missing"
    return problem(request, kind, PROBLEM_STATUS[kind])


def link_view(
    view: Callable[..., HttpResponse] | None = None,
    *,
    needs_country: bool = True,
    states_only: bool = False,
) -> Any:
    """Resolve the session's connection and refuse what may not go on. While the company's
    country is unknown, a page that `needs_country` sends the user to the question first.
    `states_only`: the view reads only its accounts' ids and link states (`AccountState`)."""
    if view is None:
        return partial(link_view, needs_country=needs_country, states_only=states_only)

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        data, connection, accounts = _read_link(request, states_only=states_only)
        if not data:
            return problem(request, "missing", 401)
        if connection is None or connection.link_generation != data.get("generation"):
            return problem(request, "revoked", 401)
        org = OrganizationSettings.current()
        refusal = availability.refusal(connection, org)
        if refusal == availability.COUNTRY_UNKNOWN:
            if needs_country:
                return _secure(redirect("link:country"))
        elif refusal:
            return problem(request, refusal, PROBLEM_STATUS[refusal], org=org)
        context = LinkContext(connection, org, list(data.get("chosen", [])), accounts)
        return _secure(view(request, context, *args, **kwargs))

    return wrapper


# The completion screen: every step of the progress indicator done (`linkformat.progress`).
DONE_STEP = 5


def _page(request: HttpRequest, link: LinkContext, template: str, status: int = 200, **extra):
    step = extra.pop("step", None)
    context = {
        **_branding(request, link.org),
        "company": link.connection.company,
        "country": link.connection.company.country,
        "step": step,
        **extra,
    }
    return render(request, template, context, status=status)


@dataclass(slots=True)
class AccountState:
    """An account's id and link state: all the status poll reads of it."""

    pk: int
    link_state: str


@dataclass(slots=True)
class AccountRow:
    """What the Link pages show of a source account (read as plain values: with 50 accounts,
    building model instances was most of a screen's cost). `link_state`: connected only while a
    feed is active (an account QBO disconnected stays `connected` in the API for the grace
    period, but the SMB user can link it again at once)."""

    pk: int
    account_name: str
    account_type: str
    account_number: str
    currency: str
    balance: Any
    link_state: str

    FIELDS = ("pk", "account_name", "account_type", "account_number", "currency", "balance")

    @property
    def masked_number(self) -> str:
        return SourceAccount.mask(self.account_number)


STATE_LABELS = dict(SourceAccountStatus.choices)


def _state_labels() -> dict[str, str]:
    """The status labels in the request's language, translated once for all the accounts."""
    return {state: str(label) for state, label in STATE_LABELS.items()}


# Every Link request reads its session with its connection, company and accounts in one
# statement compiled once per process (`feeds.prepared`), as the ORM writes it: the connection
# and company are columns of the session's row (`BrowserSession.connection`), the accounts one
# JSON array in a column (`PackedAccounts`). (Joining the accounts as rows cost twice as much on
# PostgreSQL: the other columns came again with each of 50 accounts; a second statement for them
# cost a round trip.) The status poll reads only what it needs, in one statement too.
ANY_ID = uuid.UUID(int=0xC0FFEE)


def _link_state(account: str = "") -> Case:
    """An account's state on the Link pages, computed in the read (`account`: the path to the
    account from the queried model): connected only while a feed of it is active, disconnected
    if it was connected and its feed stopped, else its own status."""
    status = f"{account}status"
    return Case(
        When(
            Exists(Feed.objects.active().filter(source_account=OuterRef(f"{account}pk"))),
            then=Value(SourceAccountStatus.CONNECTED),
        ),
        When(
            **{status: SourceAccountStatus.CONNECTED},
            then=Value(SourceAccountStatus.DISCONNECTED),
        ),
        default=F(status),
        output_field=CharField(),
    )


class PackedAccounts(Aggregate):
    """Each account's `AccountRow` values as a JSON array, all of them in one JSON array (text):
    the Link screens read one row however many accounts. In no particular order (SQLite before
    3.44 orders no aggregate): `_unpack_accounts` sorts them."""

    function = "JSON_AGG"
    template = "%(function)s(JSON_BUILD_ARRAY(%(expressions)s))::text"
    output_field = TextField()

    def __init__(self) -> None:
        super().__init__(*AccountRow.FIELDS, _link_state())

    def as_sqlite(self, compiler, connection, **extra):
        template = "%(function)s(JSON_ARRAY(%(expressions)s))"
        return self.as_sql(
            compiler, connection, function="JSON_GROUP_ARRAY", template=template, **extra
        )


SESSION_READ = Prepared(
    lambda key, now: (
        BrowserSession.unexpired(key, now)
        .annotate(
            accounts=Subquery(
                SourceAccount.objects.filter(connection=OuterRef("connection"))
                .order_by()
                .values("connection")
                .annotate(packed=PackedAccounts())
                .values("packed")
            )
        )
        .values_list(
            "session_data",
            *(f"connection__{name}" for name in columns(Connection)),
            *(f"connection__company__{name}" for name in columns(Company)),
            "accounts",
        )
    ),
    *BrowserSession.read_parameters(),
)

CENTS = Decimal(1).scaleb(-MONEY["decimal_places"])


def _unpack_accounts(packed: str | None) -> list[AccountRow]:
    """`PackedAccounts`' value, by id: the order the accounts were added in (as the status
    poll's, `_unpack_states`)."""
    items = json.loads(packed, parse_float=Decimal) if packed else []
    items.sort(key=lambda item: item[0])
    return [
        AccountRow(pk, name, kind, number, currency, Decimal(balance).quantize(CENTS), state)
        for pk, name, kind, number, currency, balance, state in items
    ]


class PackedStates(Aggregate):
    """Each account's "id:state" (`state`: an expression), comma-separated, in one value: the
    status poll reads one row however many accounts (fifty rows repeating the session's data
    cost it a quarter of its time on PostgreSQL). Ids and states hold neither separator."""

    function = "STRING_AGG"
    output_field = CharField()

    def __init__(self, state: Any) -> None:
        super().__init__(Concat(Cast("pk", CharField()), Value(":"), state), Value(","))

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function="GROUP_CONCAT", **extra)


# The status poll's one statement: its session, only what its checks and answer need of the
# connection and company, and its accounts' ids and link states packed in one column (null for
# a connection without accounts).
STATUS_CONNECTION = ("id", "company_id", "status", "link_generation")  # in the model's order
STATUS_COMPANY = ("id", "country")
STATUS_READ = Prepared(
    lambda key, now: (
        BrowserSession.unexpired(key, now)
        .annotate(
            states=Subquery(
                SourceAccount.objects.filter(connection=OuterRef("connection"))
                .order_by()
                .values("connection")
                .annotate(packed=PackedStates(_link_state()))
                .values("packed")
            )
        )
        .values_list(
            "session_data",
            *(f"connection__{name}" for name in STATUS_CONNECTION),
            "connection__company__country",
            "states",
        )
    ),
    *BrowserSession.read_parameters(),
)


def _unpack_states(packed: str | None) -> list[AccountState]:
    """`PackedStates`' value, by id: the order the accounts were added in."""
    states = [item.split(":", 1) for item in packed.split(",")] if packed else []
    return sorted((AccountState(int(pk), state) for pk, state in states), key=lambda a: a.pk)


def _read_link(
    request: HttpRequest, *, states_only: bool = False
) -> tuple[dict, Connection | None, list[AccountRow] | list[AccountState]]:
    """The request's session (read now, and handed to the session store), its Link data and
    connection with the company and accounts (in the order they were added): ({}, None, [])
    without a session, None for the connection if the session's has gone. `states_only`: the
    accounts' ids and link states only."""
    key = request.session.session_key
    rows = []
    if key and states_only:  # one row: the session, connection, company and packed states
        rows = STATUS_READ.rows(key, timezone.now())
    elif key:
        rows = SESSION_READ.rows(key, timezone.now())
    request.session.prime(rows[0][0] if rows else None)
    data = request.session.get(SESSION_KEY) or {}
    if not data:
        return {}, None, []
    first = rows[0]
    if states_only:
        width = 1 + len(STATUS_CONNECTION)
        # Instances with only these columns loaded: reading any other would cost a query (the
        # status poll's query count is pinned by a test).
        connection = Connection.from_db("default", STATUS_CONNECTION, first[1:width])
        connection.company = Company.from_db("default", STATUS_COMPANY, (first[2], first[width]))
    else:
        fields = columns(Connection)
        connection = Connection.from_db("default", fields, first[1 : 1 + len(fields)])
        company = first[1 + len(fields) : -1]
        connection.company = Company.from_db("default", columns(Company), company)
    # The session's column names a connection; only its data is trusted, and a connection
    # deleted since joins nothing (the id is the session's own column, the company's is not).
    if connection.company_id is None or str(connection.pk) != data.get("connection"):
        return data, None, []
    if states_only:
        return data, connection, _unpack_states(first[-1])
    return data, connection, _unpack_accounts(first[-1])


def _accounts(link: LinkContext, *, chosen_only: bool = False) -> list[AccountRow]:
    """The connection's accounts (or only the chosen ones), as read with the connection."""
    if not chosen_only:
        return link.accounts
    chosen = set(link.chosen)
    return [a for a in link.accounts if a.pk in chosen]


def _chosen(link: LinkContext) -> list[AccountRow]:
    return _accounts(link, chosen_only=True) if link.chosen else []


def _items(template: str, accounts: list[AccountRow]) -> str:
    labels = _state_labels()
    return account_items(template, accounts, labels, connected=_("Connected"))


def _save_chosen(request: HttpRequest, ids: list[int]) -> None:
    data = dict(request.session[SESSION_KEY])
    data["chosen"] = ids
    request.session[SESSION_KEY] = data


# Views -------------------------------------------------------------------------------------------


@require_GET
def start(request: HttpRequest) -> HttpResponse:
    """The Link URL: check the token, bind the session, and drop the token from the address."""
    try:
        connection = link_urls.read_token(request.GET.get("token", ""))
    except link_urls.LinkTokenError as exc:
        return problem(request, exc.reason, 401)
    org = OrganizationSettings.current()
    refusal = availability.refusal(connection, org)
    # An unknown country is asked on the way (link_view), not refused.
    if refusal and refusal != availability.COUNTRY_UNKNOWN:
        return problem(request, refusal, PROBLEM_STATUS[refusal], org=org)
    request.session.cycle_key()
    request.session[SESSION_KEY] = {
        "connection": str(connection.pk),
        "generation": connection.link_generation,
        "chosen": [],
    }
    request.session.set_expiry(SESSION_SECONDS)
    record(Actor.smb(connection.pk), "link.opened", connection)
    return _secure(redirect("link:connect"))


def _country_unknown(link: LinkContext) -> bool:
    return availability.country_refusal(link.connection.company) == availability.COUNTRY_UNKNOWN


@require_GET
def company_start(request: HttpRequest) -> HttpResponse:
    """A company's `redirect`: on to the Link URL of its current connection (opened now if it
    has none), where the usual checks run."""
    try:
        company = link_urls.read_company_token(request.GET.get("token", ""))
    except link_urls.LinkTokenError as exc:
        return problem(request, exc.reason, 401)
    org = OrganizationSettings.current()
    refusal = availability.company_refusal(company, org)
    if refusal:
        return problem(request, refusal, PROBLEM_STATUS[refusal], org=org)
    connection = connection_rules.connection_for_link(company, actor=Actor.smb(company.pk))
    return _secure(redirect(link_urls.link_url(connection)))


def _leave_url(org: OrganizationSettings) -> str:
    """Back to the operator's app: its return address, else a page that says the user can
    close this one."""
    return org.return_url or reverse("link:leave")


def _connected(accounts: list[AccountRow]) -> list[AccountRow]:
    return [a for a in accounts if a.link_state == SourceAccountStatus.CONNECTED]


@require_GET
@link_view(needs_country=False)
def connect(request: HttpRequest, link: LinkContext) -> HttpResponse:
    """Screen 1: what will be shared, with whom, and what stays protected; the accounts already
    connected when the user comes back."""
    accounts = _accounts(link)
    connected = _connected(accounts)
    following = "link:country" if _country_unknown(link) else "link:choose"
    return _page(
        request,
        link,
        "link/connect.html",
        step=1,
        next_url=reverse(following),
        connected=_items(link_markup.CONNECTED_ITEM, connected),
        all_connected=bool(accounts) and len(connected) == len(accounts),
        leave_url=_leave_url(link.org),
    )


@csrf_protect_no_referrer
@require_http_methods(["GET", "POST"])
@link_view(needs_country=False)
def country(request: HttpRequest, link: LinkContext) -> HttpResponse:
    """Between screens 1 and 2, only while the company's country is unknown: where the business
    is located. US or CA is stored; elsewhere is not available (and nothing is stored)."""
    if not _country_unknown(link):  # answered meanwhile, in another tab or by the client
        return redirect("link:choose")
    form = CountryForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        answer = form.cleaned_data["country"]
        if answer == CountryForm.ELSEWHERE:
            return problem(request, "country", 403, org=link.org, back=reverse("link:country"))
        companies.set_country(link.connection.company, answer, actor=link.actor, note="via Link")
        return redirect("link:choose")
    return _page(
        request,
        link,
        "link/country.html",
        status=400 if form.is_bound else 200,
        step=1,
        form=form,
    )


@csrf_protect_no_referrer
@require_http_methods(["GET", "POST"])
@link_view
def choose(request: HttpRequest, link: LinkContext) -> HttpResponse:
    """Screen 2: tick the accounts to feed; those already connected are listed apart.
    `?select=all` ticks every offered account (Select all, without JavaScript)."""
    accounts = _accounts(link)
    selectable = {a.pk for a in accounts if a.link_state != SourceAccountStatus.CONNECTED}
    form = ChooseAccountsForm(
        request.POST if request.method == "POST" else None, selectable=selectable
    )
    if form.is_valid():
        _save_chosen(request, form.cleaned_data["accounts"])
        return redirect("link:setup")
    # A refused choice had no offered account in it: the boxes come back unticked.
    if form.is_bound:
        selected: set[int] = set()
    elif request.GET.get("select") == "all":
        selected = selectable
    else:
        selected = set(link.chosen)
    rows = _account_rows(link, accounts, selectable, selected)
    return _page(
        request,
        link,
        "link/choose.html",
        status=400 if form.is_bound else 200,
        step=2,
        rows=_joined(row for row in rows if not row["disabled"]),
        several=len(selectable) > 1,
        connected_rows=_joined(row for row in rows if row["disabled"]),
        any_accounts=bool(rows),
        form=form,
        all_connected=bool(accounts) and not selectable,
        all_selected=bool(selectable) and selected >= selectable,
    )


# The rows of "choose accounts": built here with str.format on escaped values, rather
# than in a template, where 50 rows of nested spans, a dozen lookups each, were most of the
# screen's cost (issue 18). An account's details stay on one line: type · last digits ·
# currency, never cut inside a piece (the digits read as "ending in 1234").
ACCOUNT_META = (
    '<span class="nowrap">{type}</span> <span aria-hidden="true">·</span> <span class="nowrap">'
    '<span aria-hidden="true">{masked}</span><span class="visually-hidden">{ending_in}</span> '
    '<span aria-hidden="true">·</span> {currency}</span>'
)
ACCOUNT_BODY = (
    '<span class="name">{name}</span><span class="meta">{meta}</span>'
    '<span class="balance nowrap">{balance}</span>{badge}'
)
CHOOSABLE_ROW = (
    '<li class="account"><input type="checkbox" name="accounts" value="{pk}" id="account-{pk}"'
    '{checked}><label class="account-body" for="account-{pk}">{body}</label></li>'
)
CONNECTED_ROW = '<li class="account is-connected"><span class="account-body">{body}</span></li>'
BADGE = '<span class="badge badge-{state}">{label}</span>'


def _account_rows(
    link: LinkContext, accounts: list[AccountRow], selectable: set[int], selected: set[int]
) -> list[dict[str, Any]]:
    """Each row of "choose accounts", as HTML, with whether it can be chosen. Every value is
    escaped with `html.escape` (what Django's `escape` does, without its per-call wrapping)."""
    country = link.connection.company.country
    types = {value: escape(str(label)) for value, label in AccountType.choices}
    labels = {state: escape(label) for state, label in _state_labels().items()}
    ending_in = _("ending in %(last4)s")
    locale = formatting.babel_locale(country)
    rows = []
    for account in accounts:
        choosable = account.pk in selectable
        # A badge on what is connected, or disconnected in QBO; none on what is not chosen yet.
        state = account.link_state
        badge = (
            BADGE.format(state=escape(state), label=labels[state])
            if state != SourceAccountStatus.PENDING
            else ""
        )
        body = ACCOUNT_BODY.format(
            name=escape(account.account_name),
            meta=ACCOUNT_META.format(
                type=types.get(account.account_type) or escape(account.account_type),
                masked=escape(account.masked_number),
                ending_in=escape(ending_in % {"last4": account.account_number[-4:]}),
                currency=escape(account.currency),
            ),
            balance=escape(
                formatting.balance(
                    account.balance, account.currency, account.account_type, locale=locale
                )
            ),
            badge=badge,
        )
        if choosable:
            row = CHOOSABLE_ROW.format(
                pk=account.pk, checked=" checked" if account.pk in selected else "", body=body
            )
        else:
            row = CONNECTED_ROW.format(body=body)
        rows.append({"html": row, "disabled": not choosable})  # escaped; marked safe once joined
    return rows


def _joined(rows: Iterable[dict[str, Any]]) -> str:
    return mark_safe("".join(row["html"] for row in rows))  # noqa: S308 - rows made escaped


def _all_connected(accounts: list[AccountRow]) -> bool:
    return bool(accounts) and all(a.link_state == SourceAccountStatus.CONNECTED for a in accounts)


@require_GET
@link_view
def setup(request: HttpRequest, link: LinkContext) -> HttpResponse:
    """Screen 3: the steps in QuickBooks, the callout, and Get credentials."""
    chosen = _chosen(link)
    if not chosen:
        return redirect("link:choose")
    if _all_connected(chosen):  # connected meanwhile: nothing left to set up
        return redirect("link:done")
    return _page(
        request,
        link,
        "link/setup.html",
        step=3,
        chips=_items(link_markup.CHIP, chosen),
        callout=callout_parts(link.org, request.LANGUAGE_CODE),
        qbo_url=settings.QBO_APP_URL,
    )


@csrf_protect_no_referrer
@require_http_methods(["GET", "POST"])
@link_view
def credentials_page(request: HttpRequest, link: LinkContext) -> HttpResponse:
    """Screen 4. A POST makes a new set (the earlier unused ones stop working) and is the only
    response that ever shows its password; a GET (a reload, or coming back) shows the same steps
    and the status, and offers new credentials; once every chosen account is connected, the
    completion screen."""
    chosen = _chosen(link)
    if not chosen:
        return redirect("link:choose")
    issued = password = expires = None
    if request.method == "POST":
        # issue_from_link() hashes before its own transaction (no write lock held meanwhile).
        issued, password, replaced = credentials.issue_from_link(
            link.connection,
            SourceAccount.objects.filter(pk__in=[a.pk for a in chosen]),
            actor=link.actor,
        )
        expires = formatting.short_time(issued.expires, link.connection.company.country, zone=True)
        if replaced:
            messages.info(
                request, _("The credentials you got before no longer work: use these ones.")
            )
    elif _all_connected(chosen):
        return redirect("link:done")
    return _page(
        request,
        link,
        "link/credentials.html",
        step=4,
        status_items=_items(link_markup.STATUS_ITEM, chosen),
        qbo_url=settings.QBO_APP_URL,
        issued=issued,
        password=password,
        expires=expires,
        minutes=int(credentials.LIFETIME / dt.timedelta(minutes=1)),
        all_connected=_all_connected(chosen),
    )


@csrf_protect_no_referrer
@require_http_methods(["GET", "POST"])
@link_view
def revoke(request: HttpRequest, link: LinkContext) -> HttpResponse:
    """Revoke every credential set of the connection (its feeds stop), after a confirmation."""
    if request.method == "POST":
        count = credentials.revoke_all(link.connection, actor=link.actor)
        messages.success(
            request,
            _("Your credentials were revoked. They can no longer be used in QuickBooks.")
            if count
            else _("There were no credentials to revoke."),
        )
        return redirect("link:setup" if _chosen(link) else "link:choose")
    return _page(request, link, "link/revoke.html", step=4)


@require_GET
@link_view(needs_country=False)
def done(request: HttpRequest, link: LinkContext) -> HttpResponse:
    """The completion screen: what is connected now, and the way back to the operator's app."""
    accounts = _accounts(link)
    connected = _connected(accounts)
    if not connected:
        return redirect("link:connect")
    return _page(
        request,
        link,
        "link/done.html",
        step=DONE_STEP,
        connected=_items(link_markup.CONNECTED_ITEM, connected),
        more=len(connected) < len(accounts),
    )


@require_GET
def leave(request: HttpRequest) -> HttpResponse:
    """Cancel or Done without a return address: the user may close the page."""
    return _secure(
        render(request, "link/leave.html", _branding(request, OrganizationSettings.current()))
    )


@require_GET
@link_view(needs_country=False, states_only=True)
def status(request: HttpRequest, link: LinkContext) -> HttpResponse:
    """The chosen accounts' status, for the status panel's polling."""
    chosen = _chosen(link)
    done = _all_connected(chosen)
    labels = _state_labels()
    return JsonResponse(
        {
            "accounts": [
                {"id": a.pk, "status": a.link_state, "label": labels[a.link_state]} for a in chosen
            ],
            "done": done,
            "message": _("All set! Your accounts are connected to QuickBooks Online.")
            if done
            else "",
            "next": reverse("link:done") if done else "",
            "checked": timezone.now().isoformat(),
        }
    )


@csrf_protect_no_referrer
@require_POST
def language(request: HttpRequest) -> HttpResponse:
    """The language toggle of the Link pages (Django's set_language, kept under /link/ so that
    its CSRF check knows these pages send no Referer)."""
    from django.views.i18n import set_language

    return _secure(set_language(request))
