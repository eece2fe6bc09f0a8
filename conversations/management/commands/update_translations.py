"""manage.py update_translations: bring every catalogue up to date with the sources, for
translators (docs/i18n.md), and check that none lacks a word.

    manage.py update_translations          # makemessages for every language and both
                                           # domains (django: templates and Python;
                                           # djangojs: static/js), then compilemessages
    manage.py update_translations --check  # the same extraction into a temporary copy;
                                           # lists what is untranslated, fuzzy, broken or
                                           # not compiled, and fails if anything is

The check is what tests/i18n/test_catalogues.py runs. It needs GNU gettext (xgettext,
msgmerge, msgfmt), as makemessages does.
"""

import gettext
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings
from django.utils.translation import to_locale

DOMAINS = ("django", "djangojs")
# What makemessages reads: our Python, templates and JavaScript, not the tests, the
# benchmarks, the vendored libraries or the collected static files.
SOURCES = ("chatapp", "conversations", "templates", "static/js")
IGNORE = [
    "static/vendor/*",
    "staticfiles/*",
    "tests/*",
    "bench/*",
    "docs/*",
    "data/*",
    "build/*",
    "node_modules/*",
    "*/migrations/*",
]


def translated_locales() -> list[str]:
    """The locale folder of each language but the source one: de, es, fr, zh_Hans."""
    return [to_locale(code) for code, _ in settings.LANGUAGES if code != settings.LANGUAGE_CODE]


def locale_dir() -> Path:
    return Path(settings.LOCALE_PATHS[0])


# --- reading .po files -------------------------------------------------------------------------


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False

    @property
    def label(self) -> str:
        return f"{self.msgctxt}|{self.msgid}" if self.msgctxt else self.msgid


_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}


def _unquote(line: str) -> str:
    text = "".join(_STRING.findall(line))
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), text)


def read_po(path: Path) -> list[Entry]:
    """The entries of a .po file (the header, msgid "", left out)."""
    entries: list[Entry] = []
    entry = Entry()
    key = None

    def finish():
        nonlocal entry, key
        if key is not None and entry.msgid:
            entries.append(entry)
        entry, key = Entry(), None

    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].strip()
        if not line:
            finish()
            continue
        if line.startswith("#,") and not obsolete:
            if key is not None:
                finish()
            entry.flags.update(flag.strip() for flag in line[2:].split(","))
            continue
        if line.startswith("#"):
            continue
        entry.obsolete = entry.obsolete or obsolete
        if line.startswith(("msgctxt", "msgid", "msgstr")):
            word = line.split(None, 1)[0]
            if word in ("msgctxt", "msgid") and key is not None and key.startswith("msgstr"):
                finish()
                entry.obsolete = obsolete
            key = word
            text = _unquote(line[len(word) :])
        else:
            text = _unquote(line)
        if key == "msgctxt":
            entry.msgctxt = (entry.msgctxt or "") + text
        elif key == "msgid":
            entry.msgid += text
        elif key == "msgid_plural":
            entry.msgid_plural = (entry.msgid_plural or "") + text
        elif key and key.startswith("msgstr"):
            index = int(key[7:-1]) if key.startswith("msgstr[") else 0
            entry.msgstr[index] = entry.msgstr.get(index, "") + text
    return entries


# --- what a translation must keep ----------------------------------------------------------------

# %(name)s and %s (Python, and interpolate() in static/js), {name} (str.format), HTML tags.
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}|</?[a-z][^>]*>")


def entry_problems(entry: Entry) -> list[str]:
    """What is wrong with one entry of a catalogue: untranslated, fuzzy, a placeholder or an
    HTML tag lost or added, or a straight double quote (which would end the attribute a
    translation is written into, e.g. data-confirm="…")."""
    if entry.obsolete:
        return []
    if "fuzzy" in entry.flags:
        return [f"fuzzy: {entry.label!r}"]
    if not entry.msgstr or not all(entry.msgstr.values()):
        return [f"untranslated: {entry.label!r}"]
    problems = []
    source = entry.msgid_plural if entry.msgid_plural is not None else entry.msgid
    wanted = sorted(_PLACEHOLDER.findall(source))
    for text in entry.msgstr.values():
        if sorted(_PLACEHOLDER.findall(text)) != wanted:
            problems.append(f"placeholders or tags differ: {entry.label!r} -> {text!r}")
        if '"' in text and '"' not in source:
            problems.append(f'a straight " in: {entry.label!r} -> {text!r}')
    return problems


# --- the check -----------------------------------------------------------------------------------


def _compiled_catalog(path: Path) -> dict:
    with path.open("rb") as mo:
        return dict(gettext.GNUTranslations(mo)._catalog)


def catalogue_problems() -> list[str]:
    """Every problem of every catalogue, as one line each: a word makemessages would extract
    that is missing, untranslated or fuzzy in a language; a broken entry (entry_problems);
    a .po that msgfmt --check refuses; a .mo that is not the .po compiled."""
    if shutil.which("xgettext") is None or shutil.which("msgfmt") is None:
        raise CommandError("GNU gettext is not installed (apt-get install gettext).")
    problems: list[str] = []
    root = Path(settings.BASE_DIR)
    with tempfile.TemporaryDirectory() as temporary:
        copy = Path(temporary)
        for source in SOURCES:
            if (root / source).is_dir():
                shutil.copytree(
                    root / source,
                    copy / source,
                    ignore=shutil.ignore_patterns("__pycache__", "vendor", "migrations"),
                )
        shutil.copytree(locale_dir(), copy / "locale")
        _extract(copy, copy / "locale", verbosity=0)
        for language in translated_locales():
            for domain in DOMAINS:
                name = f"{language}/LC_MESSAGES/{domain}"
                po = copy / "locale" / f"{name}.po"
                committed_po = locale_dir() / f"{name}.po"
                if not committed_po.exists():
                    problems.append(f"{name}.po: missing")
                    continue
                problems += [f"{name}.po: {p}" for p in _po_problems(po)]
                problems += [f"{name}.po: {p}" for p in _compile_problems(committed_po, copy)]
    return problems


def _po_problems(po: Path) -> list[str]:
    return [problem for entry in read_po(po) for problem in entry_problems(entry)]


def _compile_problems(po: Path, scratch: Path) -> list[str]:
    """msgfmt --check on the committed .po (formats, header), and the committed .mo the
    same catalogue as that .po compiled (compared as catalogues: gettext versions lay the
    file out differently)."""
    compiled = scratch / "check.mo"
    result = subprocess.run(  # noqa: S603 (a fixed program on our own files)
        ["msgfmt", "--check", "-o", str(compiled), str(po)],  # noqa: S607
        capture_output=True,
        text=True,
    )
    if result.returncode:
        return [f"msgfmt --check: {result.stderr.strip()}"]
    mo = po.with_suffix(".mo")
    if not mo.exists():
        return ["not compiled (no .mo): run manage.py update_translations"]
    if _compiled_catalog(mo) != _compiled_catalog(compiled):
        return [".mo is out of date: run manage.py update_translations"]
    return []


def _extract(root: Path, locale: Path, *, verbosity: int) -> None:
    """makemessages for every language and domain, run in `root`, writing into `locale`."""
    here = Path.cwd()
    os.chdir(root)
    try:
        with override_settings(LOCALE_PATHS=[locale]):
            for domain in DOMAINS:
                call_command(
                    "makemessages",
                    locale=translated_locales(),
                    domain=domain,
                    ignore_patterns=IGNORE,
                    no_obsolete=True,
                    verbosity=verbosity,
                )
    finally:
        os.chdir(here)


class Command(BaseCommand):
    help = "Update the .po catalogues from the sources and compile them; --check only checks."

    def add_arguments(self, parser):
        parser.add_argument(
            "--check",
            action="store_true",
            help="Extract into a temporary copy; list what is missing and fail if anything is.",
        )

    def handle(self, *args, check: bool, verbosity: int, **options):
        if check:
            problems = catalogue_problems()
            for problem in problems:
                self.stdout.write(problem)
            if problems:
                raise CommandError(f"{len(problems)} problems in the catalogues.")
            self.stdout.write("Every catalogue is complete and compiled.")
            return
        _extract(Path(settings.BASE_DIR), locale_dir(), verbosity=verbosity)
        with override_settings(LOCALE_PATHS=[locale_dir()]):
            here = Path.cwd()
            os.chdir(locale_dir())
            try:
                call_command("compilemessages", verbosity=verbosity)
            finally:
                os.chdir(here)
        problems = catalogue_problems()
        for problem in problems:
            self.stdout.write(problem)
        self.stdout.write(f"{len(problems)} entries need a translator (docs/i18n.md).")
