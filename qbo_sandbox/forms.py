"""Validation for the sandbox pages (plain forms; the HTML is written by hand)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from qbo_sandbox.models import ChartAccount, ChartAccountType, FaultSettings, SandboxCompany


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
        max_length=200, error_messages={"required": _("Enter your user ID.")}
    )
    password = forms.CharField(
        max_length=200, strip=False, error_messages={"required": _("Enter your password.")}
    )


class EditFeedForm(forms.Form):
    disconnect = forms.BooleanField(required=False)


class FaultSettingsForm(forms.ModelForm):
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
