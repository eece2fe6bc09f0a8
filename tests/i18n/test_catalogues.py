"""The catalogues are complete: every word that makemessages extracts from the templates, the
Python and static/js (run into a temporary copy, as `manage.py update_translations --check`
does) is translated, not fuzzy, keeps its placeholders and tags, in German, French, Spanish
and Simplified Chinese, in the django and djangojs domains, and the committed .mo files are
those .po files compiled. Needs GNU gettext (xgettext, msgmerge, msgfmt); .ci/run installs it."""

from pathlib import Path

from django.conf import settings

from conversations.management.commands.update_translations import (
    DOMAINS,
    Entry,
    catalogue_problems,
    entry_problems,
    read_po,
    translated_locales,
)

LOCALE = Path(settings.LOCALE_PATHS[0])


def test_the_four_languages_are_translated():
    assert sorted(translated_locales()) == ["de", "es", "fr", "zh_Hans"]


def test_every_extracted_string_is_translated_in_every_language():
    problems = catalogue_problems()
    assert not problems, "\n".join(problems)


def test_a_word_in_both_domains_is_translated_the_same_way():
    """The pages and their JavaScript say "Untitled", "Assistant" … alike (app.js writes the
    header's title where the server wrote it)."""
    differing = []
    for language in translated_locales():
        catalogues = [
            {
                (e.msgctxt, e.msgid): e.msgstr
                for e in read_po(LOCALE / language / "LC_MESSAGES" / f"{d}.po")
            }
            for d in DOMAINS
        ]
        server, javascript = catalogues
        for key in server.keys() & javascript.keys():
            if server[key] != javascript[key]:
                differing.append(f"{language}: {key[1]!r}: {server[key]} / {javascript[key]}")
    assert not differing, "\n".join(differing)


def test_entry_problems_catch_what_breaks_a_page():
    def entry(msgid, *msgstr, flags=()):
        return Entry(msgid=msgid, msgstr=dict(enumerate(msgstr)), flags=set(flags))

    assert entry_problems(entry("Hello %(name)s", "Hallo %(name)s")) == []
    assert entry_problems(entry("Hello", "")) == ["untranslated: 'Hello'"]
    assert entry_problems(entry("Hello", "Hallo", flags=["fuzzy"])) == ["fuzzy: 'Hello'"]
    assert entry_problems(entry("Hello %(name)s", "Hallo %(nom)s"))[0].startswith("placeholders")
    assert entry_problems(entry("<code>%(x)s</code>", "%(x)s"))[0].startswith("placeholders")
    # A straight double quote would end the attribute it is written into (data-confirm="…").
    assert entry_problems(entry("Delete?", 'Löschen "jetzt"?'))[0].startswith("a straight")
