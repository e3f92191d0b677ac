"""The French catalog: compiled and found, complete, and in step with the source."""

from __future__ import annotations

import io
import re
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir, extract_python
from babel.messages.pofile import read_po
from django.utils import translation
from django.utils.translation.template import templatize

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "gettext_lazy": None,
    "ngettext_lazy": (1, 2),
    "pgettext_lazy": ((1, "c"), 2),
    "gettext_noop": None,
}
SOURCES = ("accounts", "feeds", "qbo_sandbox", "linksite", "templates")


def extract_django_template(fileobj, keywords, comment_tags, options):
    # Django's own converter (what makemessages uses) turns template tags into Python calls.
    python = templatize(fileobj.read().decode("utf-8"))
    return extract_python(io.BytesIO(python.encode("utf-8")), keywords, comment_tags, options)


def source_msgids() -> set[str]:
    method_map = [
        ("**/migrations/**", "ignore"),
        ("**.py", "python"),
        ("**.html", "tests.test_locale:extract_django_template"),
    ]
    ids: set[str] = set()
    for folder in SOURCES:
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map, keywords=KEYWORDS
        ):
            ids.add(message[0] if isinstance(message, tuple) else message)
    return ids


def catalog():
    with PO.open("rb") as f:
        return read_po(f, locale="fr")


def test_a_known_string_is_served_in_french(db):
    with translation.override("fr-ca"):
        assert translation.gettext("source account") == "compte source"
        assert str(translation.gettext_lazy("Bank feeds")) == "Flux bancaires"
        assert translation.get_language() == "fr-ca"


def test_every_entry_of_the_french_catalog_is_translated():
    missing = [
        m.id
        for m in catalog()
        if m.id and (m.fuzzy or not (all(m.string) if isinstance(m.string, tuple) else m.string))
    ]
    assert missing == []


def test_french_punctuation_uses_no_break_spaces():
    for message in catalog():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            assert " :" not in text, f"ordinary space before ':' in {text!r}"
            assert "« " not in text and " »" not in text, f"ordinary space in guillemets: {text!r}"


def test_french_apostrophes_are_typographic():
    # "Compte d’épargne", never "Compte d'épargne": one apostrophe throughout (issue 17, item 13).
    straight = [
        text
        for message in catalog()
        for text in (message.string if isinstance(message.string, tuple) else (message.string,))
        if re.search(r"\w'\w", text)
    ]
    assert straight == []


def test_every_translatable_string_in_the_source_is_in_the_catalog():
    in_catalog = {m.id[0] if isinstance(m.id, tuple) else m.id for m in catalog() if m.id}
    in_source = source_msgids()
    assert len(in_source) > 100
    assert sorted(in_source - in_catalog) == [], "run `make messages` and translate the new strings"


def test_french_times_read_13_h_40():
    import datetime as dt

    from django.utils.formats import date_format

    moment = dt.datetime(2024, 1, 31, 13, 40)
    with translation.override("fr-ca"):
        assert date_format(moment, "DATETIME_FORMAT") == "31 janvier 2024, 13\u00a0h\u00a040"
        assert date_format(moment, "TIME_FORMAT") == "13\u00a0h\u00a040"
        assert date_format(moment, "SHORT_DATE_FORMAT") == "2024-01-31"
