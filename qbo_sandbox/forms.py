"""Validation for the sandbox pages (plain forms; the HTML is written by hand).

Update, Cancel and the institution's Select button post nothing but the CSRF token, so they
have no form."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from qbo_sandbox.models import (
    ChartAccount,
    ChartAccountType,
    FaultSettings,
    LinkedFeed,
    SandboxCompany,
)

# The value of "+ Add new" in the target account select.
NEW = "new"
CHOOSE_TARGET = _("Choose the QuickBooks account for this bank account.")
CHOOSE_TYPE = _("Choose Bank or Credit Card.")
CHOOSE_DATE = _("Choose a date from the list.")


def clean_new_account_name(company: SandboxCompany, name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise forms.ValidationError(_("Enter a name for the account."))
    if ChartAccount.objects.filter(company=company, name__iexact=name).exists():
        raise forms.ValidationError(_("An account with this name already exists."))
    return name


class NewAccountForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, required=False)
    account_type = forms.ChoiceField(label=_("Type"), choices=ChartAccountType.choices)

    def __init__(self, *args, company: SandboxCompany, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.company = company

    def clean_name(self) -> str:
        return clean_new_account_name(self.company, self.cleaned_data.get("name", ""))


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), max_length=200, required=False)


class TermsForm(forms.Form):
    accept = forms.BooleanField(
        required=True,
        error_messages={"required": _("Accept the terms and conditions to continue.")},
    )


class CredentialsForm(forms.Form):
    username = forms.CharField(
        max_length=200, error_messages={"required": _("Enter your username.")}
    )
    password = forms.CharField(
        max_length=200, strip=False, error_messages={"required": _("Enter your password.")}
    )


class EditFeedForm(forms.Form):
    disconnect = forms.BooleanField(required=False)


class FaultSettingsForm(forms.ModelForm):
    """The fault settings, and the feeds that answer 410 Gone (`force_410`, one checkbox per
    feed)."""

    force_410 = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        error_messages={"invalid_choice": _("Choose feeds from the list.")},
    )

    def __init__(self, *args: Any, feeds: Sequence[LinkedFeed], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["force_410"].choices = [(str(feed.pk), str(feed.pk)) for feed in feeds]

    def settings_fields(self) -> list[forms.BoundField]:
        """The fields of the settings row, which the page shows as text inputs."""
        return [self[name] for name in self._meta.fields]

    class Meta:
        model = FaultSettings
        fields = [
            "rate_503",
            "rate_429",
            "retry_after_seconds",
            "latency_ms",
            "rate_timeout",
            "timeout_seconds",
            "rate_drop",
            "seed",
        ]


class LinkAccountsForm(forms.Form):
    """The wizard's last step. For each account the bank offered (numbered from 0 on the page):
    whether to link it (`link-<i>`), to which QuickBooks account (`target-<i>`: one without an
    active feed, or "new" with `new_name-<i>` and `new_type-<i>`) and from which date
    (`start-<i>`). Only ticked accounts must be complete; `cleaned_data["mappings"]` lists them,
    the target a ChartAccount or None for a new one."""

    ROW_FIELDS = ("link", "target", "new_name", "new_type", "start")

    def __init__(
        self,
        data: Any = None,
        *,
        company: SandboxCompany,
        offered: Sequence[dict[str, str]],
        targets: Sequence[ChartAccount],
        dates: Sequence[dt.date],
    ) -> None:
        super().__init__(data)
        self.company = company
        self.offered = list(offered)
        self.targets = {str(target.pk): target for target in targets}
        target_choices = [("", ""), *((pk, pk) for pk in self.targets), (NEW, NEW)]
        date_choices = [(day.isoformat(), day.isoformat()) for day in dates]
        for i in range(len(self.offered)):
            # Nothing is required field by field: an unticked account may leave its row as is.
            self.fields[f"link-{i}"] = forms.BooleanField(required=False, initial=True)
            self.fields[f"target-{i}"] = forms.ChoiceField(
                choices=target_choices,
                required=False,
                initial="",
                error_messages={"invalid_choice": CHOOSE_TARGET},
            )
            self.fields[f"new_name-{i}"] = forms.CharField(
                max_length=100, required=False, initial=""
            )
            self.fields[f"new_type-{i}"] = forms.ChoiceField(
                choices=ChartAccountType.choices,
                required=False,
                initial=ChartAccountType.BANK,
                error_messages={"invalid_choice": CHOOSE_TYPE},
            )
            self.fields[f"start-{i}"] = forms.TypedChoiceField(
                choices=date_choices,
                coerce=dt.date.fromisoformat,
                empty_value=None,
                required=False,
                initial=dates[-1].isoformat(),
                error_messages={"invalid_choice": CHOOSE_DATE},
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        ticked = [i for i in range(len(self.offered)) if cleaned.get(f"link-{i}")]
        if not ticked:
            raise forms.ValidationError(_("Select at least one account to link."))
        # The rows above's targets and new names (casefolded): each may be used once.
        targets: set[str] = set()
        new_names: set[str] = set()
        mappings = [self._mapping(i, targets, new_names) for i in ticked]
        if self.errors:
            raise forms.ValidationError(_("Fix the highlighted fields."))
        cleaned["mappings"] = mappings
        return cleaned

    def _mapping(self, i: int, targets: set[str], new_names: set[str]) -> dict[str, Any]:
        """Row i's mapping, its errors put next to their fields. A field missing from
        cleaned_data failed on its own and already has its error."""
        cleaned = self.cleaned_data
        target = cleaned.get(f"target-{i}")
        new_name = ""
        if target == NEW:
            if f"new_name-{i}" in cleaned:
                try:
                    new_name = clean_new_account_name(self.company, cleaned[f"new_name-{i}"])
                except forms.ValidationError as exc:
                    self.add_error(f"new_name-{i}", exc)
                else:
                    if new_name.casefold() in new_names:
                        self.add_error(
                            f"new_name-{i}", _("An account with this name already exists.")
                        )
                    new_names.add(new_name.casefold())
            if cleaned.get(f"new_type-{i}") == "":
                self.add_error(f"new_type-{i}", CHOOSE_TYPE)
        elif target:
            if target in targets:
                self.add_error(f"target-{i}", _("Each account can receive only one bank feed."))
            targets.add(target)
        elif target == "":
            self.add_error(f"target-{i}", CHOOSE_TARGET)
        if f"start-{i}" in cleaned and cleaned[f"start-{i}"] is None:
            self.add_error(f"start-{i}", CHOOSE_DATE)
        return {
            "account": self.offered[i],
            "target": self.targets.get(target or ""),  # None for a new account
            "new_name": new_name,
            "new_type": cleaned.get(f"new_type-{i}"),
            "start": cleaned.get(f"start-{i}"),
        }

    def rows(self) -> list[dict[str, Any]]:
        """Each offered account with what its row shows: the values as sent (or the defaults)
        and the errors of each field."""
        rows = []
        for i, account in enumerate(self.offered):
            fields = {name: self[f"{name}-{i}"] for name in self.ROW_FIELDS}
            values = {name: field.value() for name, field in fields.items()}
            errors = {name: field.errors for name, field in fields.items() if field.errors}
            rows.append(
                {
                    "index": i,
                    "account": account,
                    "checked": bool(values["link"]),
                    **{name: values[name] or "" for name in self.ROW_FIELDS[1:]},
                    "errors": errors,
                }
            )
        return rows
