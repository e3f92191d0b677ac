"""The sandbox's pages (`product.md` §7): a QBO company with a chart of accounts, Transactions >
Bank Transactions with the Link account wizard, Update, Edit account info, and the fault
settings. Everything that concerns linksite goes through `qbo_sandbox.linksite` (HTTP only)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.db import IntegrityError
from django.db.models import Count, Prefetch, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from qbo_sandbox import idx_client, linksite, pulling
from qbo_sandbox.forms import (
    CredentialsForm,
    EditFeedForm,
    FaultSettingsForm,
    LinkAccountsForm,
    NewAccountForm,
    SearchForm,
    TermsForm,
)
from qbo_sandbox.models import (
    ChartAccount,
    ChartAccountType,
    FaultSettings,
    FeedStatus,
    LinkedFeed,
    PullCredential,
    PullError,
    ReceivedTransaction,
    SandboxCompany,
    sandbox_atomic,
)

WIZARD = "qbo_sandbox_link"
HISTORY_DAYS = 7
TRANSACTIONS_SHOWN = 200


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200):
    context.setdefault("company", SandboxCompany.current())
    return render(request, f"qbo_sandbox/{template}", context, status=status)


def _unreachable_message() -> str:
    return _("QuickBooks couldn't reach your bank right now. Wait a few minutes, then try again.")


def _credentials_refused_message() -> str:
    return _(
        "We couldn't verify these credentials. Check them, or get new ones from "
        "your bank, and try again."
    )


FAILED_SIGN_INS = "qbo_sandbox_failed_sign_ins"
# linksite locks a credential set after this many wrong passwords (`product.md` §5), and its 401
# never says why a sign-in failed, so as not to tell whether the username exists. QBO can still
# count what it saw, and so does the sandbox: the refusals of each username typed in this
# browser session (tries made elsewhere are not seen, so the count left is at most that).
LOCK_AFTER = 5
USERNAMES_COUNTED = 20


def _refused_sign_in(request: HttpRequest, username: str) -> str:
    """Count one refused sign-in for `username` in this session; the error for the page, with
    the tries left before linksite locks the credentials."""
    counts = dict(request.session.get(FAILED_SIGN_INS) or {})
    key = username.strip().upper()
    counts[key] = failed = int(counts.pop(key, 0)) + 1  # re-inserted: the newest
    while len(counts) > USERNAMES_COUNTED:
        counts.pop(next(iter(counts)))
    request.session[FAILED_SIGN_INS] = counts
    left = LOCK_AFTER - failed
    if left <= 0:
        return ngettext(
            "After %(count)s failed try, these credentials are locked. Get new ones from "
            "your bank.",
            "After %(count)s failed tries, these credentials are locked. Get new ones from "
            "your bank.",
            LOCK_AFTER,
        ) % {"count": LOCK_AFTER}
    tries = ngettext(
        "%(count)s try left before these credentials are locked.",
        "%(count)s tries left before these credentials are locked.",
        left,
    ) % {"count": left}
    return f"{_credentials_refused_message()} {tries}"


def _forget_failed_sign_ins(request: HttpRequest, username: str) -> None:
    counts = dict(request.session.get(FAILED_SIGN_INS) or {})
    if counts.pop(username.strip().upper(), None) is not None:
        request.session[FAILED_SIGN_INS] = counts


def pull_error_message(kind: str) -> str:
    """A pull's error (a PullError value) in the reader's language."""
    if kind == PullError.UNAUTHORIZED:
        return _(
            "Your bank no longer accepts the credentials QuickBooks uses for this account. "
            "Disconnect it, then link it again with new credentials from your bank."
        )
    if kind == PullError.RATE_LIMITED:
        return _(
            "Your bank is busy right now. QuickBooks will try again; you can also press "
            "Update in a few minutes."
        )
    if kind == PullError.UNREACHABLE:
        return _unreachable_message()
    return _("Your bank refused the update.")


def _pulled_message(request: HttpRequest, result: pulling.PullResult) -> None:
    if result.error:
        messages.error(request, pull_error_message(result.error))
    else:
        messages.success(
            request,
            ngettext(
                "Update done: %(count)s new transaction received.",
                "Update done: %(count)s new transactions received.",
                result.received,
            )
            % {"count": result.received},
        )


# Dashboard and chart of accounts -----------------------------------------------------------


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    company = SandboxCompany.current()
    feeds = LinkedFeed.objects.filter(chart_account__company=company)
    return _render(
        request,
        "dashboard.html",
        {
            "nav": "dashboard",
            "company": company,
            "account_count": company.chart_accounts.count(),
            "active_feeds": feeds.filter(status=FeedStatus.ACTIVE).count(),
            "transaction_count": ReceivedTransaction.objects.filter(
                feed__chart_account__company=company
            ).count(),
        },
    )


@require_http_methods(["GET", "POST"])
def chart_of_accounts(request: HttpRequest) -> HttpResponse:
    company = SandboxCompany.current()
    form = NewAccountForm(request.POST if request.method == "POST" else None, company=company)
    if request.method == "POST" and form.is_valid():
        try:
            ChartAccount.objects.create(
                company=company,
                name=form.cleaned_data["name"],
                account_type=form.cleaned_data["account_type"],
            )
        except IntegrityError:
            form.add_error("name", _("An account with this name already exists."))
        else:
            messages.success(request, _("Account created."))
            return redirect("qbo_sandbox:chart")
    accounts = company.chart_accounts.annotate(
        active_feeds=Count("linked_feeds", filter=Q(linked_feeds__status=FeedStatus.ACTIVE))
    ).order_by("name")
    return _render(
        request,
        "chart.html",
        {
            "nav": "chart",
            "accounts": accounts,
            "form": form,
            "types": ChartAccountType.choices,
            "show_form": request.method == "POST" or "new" in request.GET,
        },
        status=400 if request.method == "POST" else 200,
    )


# Bank transactions ------------------------------------------------------------------------


@require_GET
def bank_transactions(request: HttpRequest) -> HttpResponse:
    company = SandboxCompany.current()
    recent = ReceivedTransaction.objects.order_by("-cleared_on_date", "-pk")[:TRANSACTIONS_SHOWN]
    feeds = (
        LinkedFeed.objects.filter(chart_account__company=company)
        .select_related("chart_account")
        .annotate(received=Count("transactions"))
        .with_update_progress()
        .prefetch_related(Prefetch("transactions", queryset=recent, to_attr="recent"))
        .order_by("status", "chart_account__name", "pk")
    )
    feeds = list(feeds)
    now = timezone.now()
    for feed in feeds:
        feed.pull_error_text = pull_error_message(feed.pull_error) if feed.pull_error else ""
        feed.updating = feed.update_pending(now)
    return _render(
        request,
        "bank_transactions.html",
        {"nav": "banking", "feeds": feeds, "shown": TRANSACTIONS_SHOWN},
    )


@require_POST
def feed_update(request: HttpRequest, pk: int) -> HttpResponse:
    feed = get_object_or_404(LinkedFeed, pk=pk)
    if not feed.is_active:
        messages.error(request, _("This account is disconnected."))
        return redirect("qbo_sandbox:banking")
    if feed.is_pulled:
        _pulled_message(request, pulling.pull_feed(feed))
        return redirect("qbo_sandbox:banking")
    # Taken before asking: the push may arrive before linksite's answer does.
    requested = timezone.now()
    try:
        linksite.refresh(feed.feed_id)
    except linksite.LinksiteRefused as exc:
        messages.error(request, exc.message or _("The bank refused the update."))
    except linksite.LinksiteUnavailable:
        messages.error(request, _unreachable_message())
    else:
        # linksite pushes a moment later (its worker): the page waits for it (`updates`).
        LinkedFeed.objects.filter(pk=feed.pk).update(update_requested_at=requested)
        messages.success(request, _("Update requested"))
    return redirect("qbo_sandbox:banking")


@require_GET
@never_cache
def updates(request: HttpRequest) -> JsonResponse:
    """The feeds whose Update may still bring transactions (`LinkedFeed.update_pending`): Bank
    Transactions' script asks this while it shows one waiting, and reloads once none is."""
    now = timezone.now()
    feeds = LinkedFeed.objects.filter(
        chart_account__company=SandboxCompany.current(), update_requested_at__isnull=False
    ).with_update_progress()
    return JsonResponse({"pending": [feed.pk for feed in feeds if feed.update_pending(now)]})


@require_http_methods(["GET", "POST"])
def feed_edit(request: HttpRequest, pk: int) -> HttpResponse:
    feed = get_object_or_404(LinkedFeed.objects.select_related("chart_account"), pk=pk)
    if request.method == "POST":
        form = EditFeedForm(request.POST)
        if (
            form.is_valid()
            and form.cleaned_data["disconnect"]
            and feed.is_active
            and feed.is_pulled
        ):
            # QBO does not tell the bank: it stops pulling and forgets the credentials.
            with sandbox_atomic():
                LinkedFeed.objects.filter(pk=feed.pk).update(
                    status=FeedStatus.DISCONNECTED, disconnected_at=timezone.now(), credential=None
                )
                PullCredential.forget_unused()
            messages.success(request, _("Account disconnected."))
        elif form.is_valid() and form.cleaned_data["disconnect"] and feed.is_active:
            try:
                linksite.disconnect(feed.feed_id)
            except linksite.LinksiteUnavailable:
                messages.error(request, _unreachable_message())
                return redirect("qbo_sandbox:feed-edit", pk=feed.pk)
            except linksite.LinksiteRefused as exc:
                # QuickBooks stops the feed on its side whatever the bank says.
                messages.warning(request, exc.message or _("The bank did not confirm."))
            LinkedFeed.objects.filter(pk=feed.pk).update(
                status=FeedStatus.DISCONNECTED, disconnected_at=timezone.now()
            )
            messages.success(request, _("Account disconnected."))
        else:
            messages.success(request, _("Account info saved."))
        return redirect("qbo_sandbox:banking")
    return _render(request, "feed_edit.html", {"nav": "banking", "feed": feed})


# Link account wizard ----------------------------------------------------------------------


def _wizard(request: HttpRequest) -> dict[str, Any]:
    return request.session.get(WIZARD) or {}


def _save_wizard(request: HttpRequest, state: dict[str, Any]) -> None:
    request.session[WIZARD] = state


def _safe_logo(url: Any) -> str:
    if isinstance(url, str) and urlsplit(url).scheme in ("http", "https", ""):
        return url
    return ""


@require_http_methods(["GET", "POST"])
def link_search(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if not _wizard(request).get("institution"):
            return redirect("qbo_sandbox:link")
        return redirect("qbo_sandbox:link-terms")
    form = SearchForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    context: dict[str, Any] = {"nav": "banking", "query": query, "searched": bool(query)}
    if query and pulling.pull_mode():
        # In pull mode the directory is Intuit's: the listing's name, not a call to the bank.
        name = settings.QBO_SANDBOX_INSTITUTION
        if name and query.casefold() in name.casefold():
            institution = {"name": name, "logoUrl": ""}
            context["institution"] = institution
            _save_wizard(request, {"institution": institution})
    elif query:
        try:
            found = linksite.institution()
        except (linksite.LinksiteRefused, linksite.LinksiteUnavailable):
            context["error"] = _("Search isn't available right now. Try again in a few minutes.")
        else:
            name = str(found.get("name") or "")
            if name and query.casefold() in name.casefold():
                institution = {"name": name, "logoUrl": _safe_logo(found.get("logoUrl"))}
                context["institution"] = institution
                _save_wizard(request, {"institution": institution})
    return _render(request, "link_search.html", context)


@require_http_methods(["GET", "POST"])
def link_terms(request: HttpRequest) -> HttpResponse:
    state = _wizard(request)
    if not state.get("institution"):
        return redirect("qbo_sandbox:link")
    form = TermsForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        state["terms"] = True
        _save_wizard(request, state)
        return redirect("qbo_sandbox:link-sign-in")
    return _render(
        request,
        "link_terms.html",
        {"nav": "banking", "institution": state["institution"], "form": form},
        status=400 if request.method == "POST" else 200,
    )


@require_http_methods(["GET", "POST"])
def link_sign_in(request: HttpRequest) -> HttpResponse:
    state = _wizard(request)
    if not state.get("institution"):
        return redirect("qbo_sandbox:link")
    if not state.get("terms"):
        return redirect("qbo_sandbox:link-terms")
    form = CredentialsForm(request.POST if request.method == "POST" else None)
    error = ""
    if request.method == "POST" and form.is_valid() and pulling.pull_mode():
        error = _sign_in_for_pulls(request, state, form)
        if not error:
            return redirect("qbo_sandbox:link-accounts")
    elif request.method == "POST" and form.is_valid():
        try:
            answer = linksite.verify_credentials(
                form.cleaned_data["username"].strip(), form.cleaned_data["password"]
            )
        except linksite.LinksiteRefused as exc:
            if exc.status == 401:
                error = _refused_sign_in(request, form.cleaned_data["username"])
            else:
                error = exc.message or _("Your bank refused the connection.")
        except linksite.LinksiteUnavailable:
            error = _unreachable_message()
        else:
            _forget_failed_sign_ins(request, form.cleaned_data["username"])
            accounts = [a for a in answer.get("accounts") or [] if isinstance(a, dict)]
            state.update(
                link_session_id=str(answer.get("linkSessionId", "")),
                accounts=[
                    {
                        "id": str(a.get("id", "")),
                        "displayName": str(a.get("displayName", "")),
                        "accountType": str(a.get("accountType", "")),
                        "currency": str(a.get("currency", "")),
                        "balance": str(a.get("balance", "")),
                    }
                    for a in accounts
                ],
            )
            institution = answer.get("institution")
            if isinstance(institution, dict) and institution.get("name"):
                state["institution"] = {
                    "name": str(institution["name"]),
                    "logoUrl": _safe_logo(institution.get("logoUrl")),
                }
            _save_wizard(request, state)
            return redirect("qbo_sandbox:link-accounts")
    return _render(
        request,
        "link_sign_in.html",
        {"nav": "banking", "institution": state["institution"], "form": form, "error": error},
        status=400 if request.method == "POST" else 200,
    )


# What the IDX API's account types are in the sandbox's words (the push protocol's).
IDX_ACCOUNT_TYPES = {"creditcard": "creditCard", "loan": "loan", "cashcard": "prepaidCard"}


def _idx_account(account: dict[str, Any]) -> dict[str, str]:
    kind = str(account.get("accountType", ""))
    info = account.get(f"{kind}AccountInfo") or {}
    if kind == "deposit":
        kind = str(info.get("accountSubType", "") if isinstance(info, dict) else "") or kind
    balance = ""
    if isinstance(info, dict):
        for value in info.values():
            if isinstance(value, dict) and isinstance(value.get("currentBalance"), dict):
                balance = str(value["currentBalance"].get("amount", ""))
    display = account.get("accountDisplayInfo") or {}
    return {
        "id": str(account.get("id", "")),
        "displayName": str(display.get("displayName", "") if isinstance(display, dict) else ""),
        "accountType": IDX_ACCOUNT_TYPES.get(kind, kind),
        "currency": str(account.get("primaryCurrency", "")),
        "balance": balance,
    }


def _sign_in_for_pulls(request: HttpRequest, state: dict[str, Any], form) -> str:
    """Pull mode: list the accounts the credentials cover through the IDX API and keep the
    credentials (QBO pulls with them). Returns an error for the page, or "" on success."""
    username, password = form.cleaned_data["username"].strip(), form.cleaned_data["password"]
    try:
        found = idx_client.accounts(username, password)
    except idx_client.IdxRefused as exc:
        if exc.status == 401:
            return _refused_sign_in(request, username)
        return pull_error_message(pulling.error_kind(exc))
    except idx_client.IdxUnavailable:
        return _unreachable_message()
    _forget_failed_sign_ins(request, username)
    accounts = [_idx_account(a) for a in found]
    if not accounts:
        return _("Your bank offers no account to link with these credentials.")
    _forget_wizard_credential(state)
    credential = PullCredential.objects.create(username=username, password=password)
    state.update(pull_credential=credential.pk, accounts=accounts)
    state.pop("link_session_id", None)
    _save_wizard(request, state)
    return ""


def _forget_wizard_credential(state: dict[str, Any]) -> None:
    """The credentials a wizard kept, deleted unless a linked feed uses them."""
    if state.get("pull_credential"):
        PullCredential.objects.filter(
            pk=state["pull_credential"], linked_feeds__isnull=True
        ).delete()


def start_date_choices(today: dt.date | None = None) -> list[dt.date]:
    """Today back to seven days ago, in the deployment's local time (settings.TIME_ZONE)."""
    today = today or timezone.localdate()
    return [today - dt.timedelta(days=days) for days in range(HISTORY_DAYS + 1)]


def _free_targets(company: SandboxCompany):
    return (
        company.chart_accounts.filter(
            account_type__in=[ChartAccountType.BANK, ChartAccountType.CREDIT_CARD]
        )
        .exclude(linked_feeds__status=FeedStatus.ACTIVE)
        .order_by("name")
    )


@require_http_methods(["GET", "POST"])
def link_accounts(request: HttpRequest) -> HttpResponse:
    state = _wizard(request)
    if not state.get("link_session_id") and not state.get("pull_credential"):
        return redirect("qbo_sandbox:link-sign-in" if state.get("terms") else "qbo_sandbox:link")
    company = SandboxCompany.current()
    offered = state.get("accounts", [])
    dates = start_date_choices()
    targets = list(_free_targets(company))
    form = LinkAccountsForm(
        request.POST if request.method == "POST" else None,
        company=company,
        offered=offered,
        targets=targets,
        dates=dates,
    )
    error = ""
    if form.is_valid():
        error = _connect(request, company, form.cleaned_data["mappings"], state)
        if not error:
            return redirect("qbo_sandbox:banking")
    return _render(
        request,
        "link_accounts.html",
        {
            "nav": "banking",
            "institution": state.get("institution", {}),
            "form": form,
            "rows": form.rows(),
            "targets": targets,
            "dates": dates,
            "types": ChartAccountType.choices,
            "error": error,
        },
        status=400 if request.method == "POST" else 200,
    )


def _connect(request, company, mappings, state) -> str:
    """Create the new chart accounts, ask linksite to link the feeds, and record them.
    Returns an error message for the page, or "" on success."""
    created: list[ChartAccount] = []
    try:
        with sandbox_atomic():
            for mapping in mappings:
                if mapping["target"] is None:
                    mapping["target"] = ChartAccount.objects.create(
                        company=company,
                        name=mapping["new_name"],
                        account_type=mapping["new_type"],
                    )
                    created.append(mapping["target"])
    except IntegrityError:
        return _("An account with this name already exists.")
    if state.get("pull_credential"):
        return _connect_for_pulls(request, mappings, state, created)

    payload = [
        {
            "sourceAccountId": mapping["account"]["id"],
            "targetAccountId": str(mapping["target"].pk),
            "targetAccountName": mapping["target"].name,
            "targetAccountType": mapping["target"].account_type,
            "feedStartDate": mapping["start"].isoformat(),
        }
        for mapping in mappings
    ]
    try:
        answer = linksite.link_feeds(state["link_session_id"], payload)
        linked = {
            str(f.get("sourceAccountId")): f
            for f in answer.get("feeds") or []
            if isinstance(f, dict) and f.get("feedId")
        }
        if len(linked) != len(mappings):
            raise linksite.LinksiteUnavailable("the answer does not list every feed")
    except (linksite.LinksiteRefused, linksite.LinksiteUnavailable) as exc:
        # The new accounts were made for this link only: undo them, so a retry starts clean.
        ChartAccount.objects.filter(pk__in=[a.pk for a in created]).delete()
        if isinstance(exc, linksite.LinksiteRefused):
            return exc.message or _("Your bank refused the connection.")
        return _unreachable_message()

    institution = state.get("institution", {}).get("name", "")
    with sandbox_atomic():
        for mapping in mappings:
            feed = linked[mapping["account"]["id"]]
            try:
                start = dt.date.fromisoformat(str(feed.get("feedStartDate")))
            except ValueError:
                start = mapping["start"]
            LinkedFeed.record(
                str(feed["feedId"]),
                mapping["target"],
                source_account_id=mapping["account"]["id"],
                display_name=mapping["account"]["displayName"],
                account_type=mapping["account"]["accountType"],
                currency=mapping["account"]["currency"],
                institution_name=institution,
                feed_start_date=start,
            )
    request.session.pop(WIZARD, None)
    messages.success(
        request,
        ngettext(
            "%(count)s account linked. New transactions will appear here after each update.",
            "%(count)s accounts linked. New transactions will appear here after each update.",
            len(mappings),
        )
        % {"count": len(mappings)},
    )
    return ""


def _connect_for_pulls(request, mappings, state, created) -> str:
    """Pull mode: record the feeds (QBO tells the bank nothing), then pull each at once from
    its start date."""
    credential = PullCredential.objects.filter(pk=state["pull_credential"]).first()
    if credential is None:
        ChartAccount.objects.filter(pk__in=[a.pk for a in created]).delete()
        request.session.pop(WIZARD, None)
        return _("This sign-in has expired. Start again.")
    institution = state.get("institution", {}).get("name", "")
    with sandbox_atomic():
        feeds = [
            LinkedFeed.record(
                f"idx-{uuid.uuid4().hex}",
                mapping["target"],
                source_account_id=mapping["account"]["id"],
                display_name=mapping["account"]["displayName"],
                account_type=mapping["account"]["accountType"],
                currency=mapping["account"]["currency"],
                institution_name=institution,
                feed_start_date=mapping["start"],
                credential=credential,
            )
            for mapping in mappings
        ]
    request.session.pop(WIZARD, None)
    messages.success(
        request,
        ngettext("%(count)s account linked.", "%(count)s accounts linked.", len(mappings))
        % {"count": len(mappings)},
    )
    for feed in feeds:
        result = pulling.pull_feed(feed)
        if result.error:
            messages.error(request, pull_error_message(result.error))
            break
    return ""


@require_POST
def link_cancel(request: HttpRequest) -> HttpResponse:
    _forget_wizard_credential(_wizard(request))
    request.session.pop(WIZARD, None)
    return redirect("qbo_sandbox:banking")


# Fault injection --------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def faults(request: HttpRequest) -> HttpResponse:
    settings_row = FaultSettings.load()
    feeds = list(LinkedFeed.objects.select_related("chart_account").order_by("pk"))
    form = FaultSettingsForm(
        request.POST if request.method == "POST" else None, instance=settings_row, feeds=feeds
    )
    if request.method == "POST" and form.is_valid():
        forced = set(form.cleaned_data["force_410"])
        with sandbox_atomic():
            form.save()
            for feed in feeds:
                should = feed.pk in forced
                if feed.force_410 != should:
                    LinkedFeed.objects.filter(pk=feed.pk).update(force_410=should)
        messages.success(request, _("Fault settings saved."))
        return redirect("qbo_sandbox:faults")
    return _render(
        request,
        "faults.html",
        {"nav": "faults", "form": form, "feeds": feeds},
        status=400 if request.method == "POST" else 200,
    )
