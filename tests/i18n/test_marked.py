"""Every word a template shows goes through the translation machinery: each template under
templates/ is read with Django's own Lexer, and any text outside {% translate %} and
{% blocktranslate %}, or any user-facing attribute written as words, fails the test with
where it is. (The catalogues' completeness is tests/i18n/test_catalogues.py.)"""

import re
from html.parser import HTMLParser
from pathlib import Path

from django.conf import settings
from django.template.base import Lexer, TokenType

TEMPLATES = Path(settings.BASE_DIR) / "templates"
# Attributes people read (or hear): their words must be translated too.
USER_FACING_ATTRIBUTES = {
    "aria-label",
    "title",
    "placeholder",
    "alt",
    "data-confirm",
    "data-confirm-detail",
    "data-confirm-button",
}
# The product's name is not translated.
NOT_WORDS = {"chatapp"}
LETTER = re.compile(r"[^\W\d_]+")
# Blocks whose text is no words to read: comments, what is translated already, and the
# blocks that fill in the <body>'s class names.
BLOCKS_WITHOUT_WORDS = {
    "comment": "endcomment",
    "blocktranslate": "endblocktranslate",
    "blocktrans": "endblocktrans",
}
CLASS_BLOCKS = {"body_class", "bodyclass"}


def words(text: str) -> list[str]:
    return [word for word in LETTER.findall(text) if word.lower() not in NOT_WORDS]


def unmarked_html(source: str) -> str:
    """The template's HTML with every tag and variable taken out, and the text of comment
    and blocktranslate blocks too: what is left is what the template writes as it is."""
    kept = []
    closing = None
    for token in Lexer(source).tokenize():
        if closing:
            if token.token_type == TokenType.BLOCK and token.contents.split()[0] == closing:
                closing = None
            continue
        if token.token_type == TokenType.TEXT:
            kept.append(token.contents)
        elif token.token_type == TokenType.BLOCK:
            name, *arguments = token.contents.split()
            closing = BLOCKS_WITHOUT_WORDS.get(name)
            if name == "block" and arguments[0] in CLASS_BLOCKS:
                closing = "endblock"
    return "".join(kept)


class _Finder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skipping: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skipping.append(tag)
        values = dict(attrs)
        for name, value in attrs:
            if name in USER_FACING_ATTRIBUTES and value and words(value):
                self.found.append(f'<{tag} {name}="{value.strip()}">')
        is_button = tag == "input" and values.get("type") in ("submit", "button")
        if is_button and words(values.get("value") or ""):
            self.found.append(f'<input value="{values["value"]}">')

    def handle_endtag(self, tag):
        if self._skipping and self._skipping[-1] == tag:
            self._skipping.pop()

    def handle_data(self, data):
        if not self._skipping and words(data):
            self.found.append(" ".join(data.split()))


def unmarked_strings(source: str) -> list[str]:
    finder = _Finder()
    finder.feed(unmarked_html(source))
    finder.close()
    return finder.found


def test_scanner_finds_text_and_attributes():
    found = unmarked_strings(
        '{% load i18n %}<p>Hello {{ name }}</p><b>{% translate "Fine" %}</b>'
        '<button aria-label="{{ count }} unread" title="{% translate "Fine" %}">·</button>'
        "{% blocktranslate %}Fine {{ x }}{% endblocktranslate %}{# Fine #}"
        "{% comment %}Fine too{% endcomment %}<style>p { color: red }</style>"
        "{% block body_class %}app{% endblock %}"
        '<input type="submit" value="Go"><img alt="A cat">'
    )
    assert found == [
        "Hello",
        '<button aria-label="unread">',
        '<input value="Go">',
        '<img alt="A cat">',
    ]


def test_every_template_string_is_marked_for_translation():
    problems = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        for text in unmarked_strings(path.read_text(encoding="utf-8")):
            problems.append(f"{path.relative_to(TEMPLATES)}: {text}")
    assert not problems, "Not marked for translation:\n" + "\n".join(problems)
