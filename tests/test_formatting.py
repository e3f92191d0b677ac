"""Money, dates and times for people, per language and company country (Babel, CLDR)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import translation

from feeds import formatting

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("language", "country", "currency", "expected"),
    [
        ("en-ca", "US", "USD", "$1,234.56"),
        ("en-ca", "CA", "CAD", "$1,234.56"),
        ("en-ca", "CA", "USD", "US$1,234.56"),
        ("fr-ca", "CA", "CAD", f"1{NBSP}234,56{NBSP}$"),
        ("fr-ca", "US", "USD", f"1{NBSP}234,56{NBSP}${NBSP}US"),
        ("en-ca", "US", "USD", "$1,234.56"),
    ],
)
def test_money_follows_the_language_and_the_companys_country(language, country, currency, expected):
    with translation.override(language):
        assert formatting.money(Decimal("1234.56"), currency, country) == expected


def test_negative_amounts_keep_their_sign():
    with translation.override("fr-ca"):
        assert formatting.money(Decimal("-12.5"), "CAD") == f"-12,50{NBSP}$"


def test_dates_are_written_out_in_each_language():
    day = dt.date(2026, 3, 7)
    with translation.override("fr-ca"):
        assert formatting.long_date(day) == "7 mars 2026"
    with translation.override("en-ca"):
        assert formatting.long_date(day, "US") == "March 7, 2026"


def test_times_are_local_and_french_has_no_leading_zero():
    noon_utc = dt.datetime(2026, 11, 25, 12, 5, tzinfo=dt.UTC)  # 07:05 in Toronto
    with translation.override("fr-ca"):
        assert formatting.short_time(noon_utc) == "7 h 05"
    with translation.override("en-ca"):
        assert formatting.short_time(noon_utc, "CA").replace("\u202f", " ") == "7:05 a.m."
