"""``compilemessages`` for Blazon's own catalogs, on a machine with only Python.

Django's command runs GNU ``msgfmt`` over every ``locale`` directory under the current one (the
virtualenv's too); the embedded mode (``./bin/run``) must start on a fresh machine without
gettext. This one compiles the project's catalogs (``LOCALE_PATHS``) with polib, next to their
``.po``, after the check ``msgfmt --check-format`` makes: a translation must use the same
``%(name)s`` / ``{name}`` placeholders as its English text, or a page would fail at render time.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polib
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

PLACEHOLDER = re.compile(r"%\([A-Za-z_]\w*\)[sdfr]|%[sdfr]|\{[A-Za-z_]\w*\}")


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


class Command(BaseCommand):
    help = "Compile the translation catalogs of LOCALE_PATHS (locale/<lang>/LC_MESSAGES/*.po) to .mo."

    def handle(self, *args: Any, **options: Any) -> None:
        compiled, problems = 0, []
        for base in settings.LOCALE_PATHS:
            for po_path in sorted(Path(base).glob("*/LC_MESSAGES/*.po")):
                catalog = polib.pofile(str(po_path))
                for entry in catalog.translated_entries():
                    want = placeholders(entry.msgid)
                    forms = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
                    for form in forms:
                        if placeholders(form) != want and not (entry.msgid_plural and not want):
                            problems.append(f"{po_path}:{entry.linenum}: {entry.msgid!r} -> {form!r}")
                catalog.save_as_mofile(str(po_path.with_suffix(".mo")))
                compiled += 1
        if problems:
            raise CommandError(
                "translations whose placeholders differ from the English:\n" + "\n".join(problems)
            )
        if options["verbosity"] > 0:
            self.stdout.write(f"compiled {compiled} catalog(s)")
