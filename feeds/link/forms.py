"""Validation of the Link pages' POSTs (plain forms; the HTML is written by hand).

Only the location question and the account choice send anything to validate. Get credentials
and Revoke send nothing but the CSRF token (what they act on is in the session), so they have no
form; the language toggle is Django's set_language, which checks its own two fields."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Country


class OfferedChoicesField(forms.TypedMultipleChoiceField):
    """Checkboxes from a list the page offered. A value the page did not offer (an account
    connected meanwhile from another tab, another connection's id, a mangled one) is dropped
    rather than refused, so `required` means "at least one offered value". Values are compared
    with the offered ones as strings: no hostile value is ever parsed as a number."""

    def clean(self, value: Any) -> list[Any]:
        offered = {str(key) for key, _label in self.choices}
        return super().clean([v for v in self.to_python(value) if v in offered])


class ChooseAccountsForm(forms.Form):
    """Screen 2: the accounts to feed, among the connection's accounts not connected yet."""

    accounts = OfferedChoicesField(
        coerce=int, error_messages={"required": _("Choose at least one account to connect.")}
    )

    def __init__(self, *args: Any, selectable: Iterable[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.is_bound:  # only a POST is checked against them (the page writes its own HTML)
            self.fields["accounts"].choices = [(str(pk), str(pk)) for pk in sorted(selectable)]

    def clean_accounts(self) -> list[int]:
        return sorted(set(self.cleaned_data["accounts"]))


class CountryForm(forms.Form):
    """Before screen 2, while the company's country is unknown: where the business is located.
    ELSEWHERE is an answer too (not available), distinct from no answer (an error)."""

    ELSEWHERE = "elsewhere"

    country = forms.ChoiceField(
        choices=[*Country.choices, (ELSEWHERE, _("Elsewhere"))],
        error_messages={
            "required": _("Choose where your business is located."),
            "invalid_choice": _("Choose where your business is located."),
        },
    )
