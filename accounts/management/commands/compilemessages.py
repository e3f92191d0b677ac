"""Compile the project's .po catalogs to .mo with Babel, so no GNU gettext is needed.

It replaces Django's command of the same name (app commands take precedence), checks every
catalog's placeholders the way `msgfmt --check-format` does, and fails on any error."""

from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Compile locale/*/LC_MESSAGES/*.po into .mo files with Babel."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--locale", "-l", action="append", default=[], help="only this locale")
        parser.add_argument("--use-fuzzy", "-f", action="store_true", help="include fuzzy entries")

    def handle(self, *args: Any, locale: list[str], use_fuzzy: bool, **options: Any) -> None:
        compiled = 0
        for base in map(Path, settings.LOCALE_PATHS):
            for po_path in sorted(base.glob("*/LC_MESSAGES/*.po")):
                lang = po_path.parent.parent.name
                if locale and lang not in locale:
                    continue
                with po_path.open("rb") as f:
                    catalog = read_po(f, locale=lang)
                problems = [
                    f"{po_path}:{message.lineno}: {error}"
                    for message, errors in catalog.check()
                    for error in errors
                ]
                if problems:
                    raise CommandError("Catalog errors:\n" + "\n".join(problems))
                mo_path = po_path.with_suffix(".mo")
                tmp_path = mo_path.with_suffix(".mo.tmp")
                with tmp_path.open("wb") as f:
                    write_mo(f, catalog, use_fuzzy=use_fuzzy)
                tmp_path.replace(mo_path)
                compiled += 1
                if options["verbosity"] > 0:
                    self.stdout.write(f"Compiled {po_path} -> {mo_path.name}")
        if not compiled:
            raise CommandError("No .po catalog found under LOCALE_PATHS.")
