"""Markdown is rendered on the server and cannot carry script."""

from html.parser import HTMLParser

import pytest

from conversations.templatetags.chat import render_markdown


class LiveParts(HTMLParser):
    """The elements and attributes a browser would act on (text is inert)."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]


def live_parts(html: str) -> LiveParts:
    parser = LiveParts()
    parser.feed(html)
    return parser


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[click](javascript:alert(1))",
        "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        '<a href="javascript:alert(1)">x</a>',
        "![x](javascript:alert(1))",
        '![x" onerror="alert(1)](data:image/png;base64,AAAA)',
        "![<img src=x onerror=alert(1)>](https://example.com/a.png)",
        '<svg onload="alert(1)">',
        "<iframe src=//evil></iframe>",
        '[x](" onmouseover="alert(1))',
    ],
)
def test_hostile_markdown_renders_inert(hostile):
    parts = live_parts(render_markdown(hostile))
    assert not {"script", "iframe", "svg", "object", "embed"} & set(parts.tags)
    assert not [name for name, _ in parts.attributes if name.startswith("on")]
    for name, value in parts.attributes:
        if name in ("href", "src"):
            assert not value.strip().lower().startswith(("javascript:", "data:", "vbscript:"))


def test_raw_html_is_shown_as_text():
    assert "&lt;script&gt;" in render_markdown("<script>alert(1)</script>")


def test_markdown_features_render():
    html = render_markdown(
        "# Title\n\n**bold** and `code`\n\n```python\nprint('hi')\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n[link](https://example.com)"
    )
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert '<span class="nb">print</span>' in html  # Pygments highlighted it
    assert "<table>" in html
    assert 'href="https://example.com"' in html and 'rel="noopener noreferrer nofollow"' in html


def test_unknown_language_code_is_escaped():
    html = render_markdown("```nosuchlanguage\n<b>x</b>\n```")
    assert "&lt;b&gt;" in html


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "![a cat](https://example.com/cat.png)",
            '<a href="https://example.com/cat.png" rel="noopener noreferrer nofollow">'
            "Image: a cat</a>",
        ),
        ("![](https://example.com/x.png)", ">Image</a>"),
        ("![**bold** alt](https://example.com/b.png)", ">Image: bold alt</a>"),
        # An image inside a link (a badge) is that link's text, not a link within a link.
        (
            "[![build](https://ci.example/badge.svg)](https://ci.example/)",
            '<a href="https://ci.example/" rel="noopener noreferrer nofollow">Image: build</a>',
        ),
    ],
)
def test_images_are_links_named_by_their_alt_text(source, expected):
    html = render_markdown(source)
    assert expected in html
    assert "<img" not in html  # the CSP would refuse it and show nothing
