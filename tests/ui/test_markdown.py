"""Markdown is rendered on the server and cannot carry script."""

import json
from html.parser import HTMLParser

import pytest

from conversations.templatetags.chat import pretty_json, render_markdown


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


# --- GFM task lists ---------------------------------------------------------------------------


def test_task_lists_render_as_disabled_checkboxes():
    html = render_markdown("- [ ] write the tests\n- [x] ship it\n- plain item")
    assert "[ ]" not in html and "[x]" not in html
    assert '<ul class="contains-task-list">' in html
    boxes = [attrs for tag, attrs in checkbox_tags(html)]
    # Named for screen readers (a form element needs a label).
    assert boxes == [
        {"type": "checkbox", "disabled": "", "aria-label": "Not done"},
        {"type": "checkbox", "disabled": "", "checked": "", "aria-label": "Done"},
    ]
    assert '<li class="task-list-item"><input' in html and " write the tests</li>" in html
    assert "<li>plain item</li>" in html


def checkbox_tags(html: str) -> list[tuple[str, dict]]:
    class Inputs(HTMLParser):
        found: list = []

        def handle_starttag(self, tag, attrs):
            if tag == "input":
                self.found.append((tag, {name: value or "" for name, value in attrs}))

    parser = Inputs()
    parser.found = []
    parser.feed(html)
    return parser.found


def test_only_a_disabled_checkbox_survives_of_an_input():
    """Raw HTML never renders (html=False), so an <input> can only come from a task list;
    and even one that reached nh3 keeps nothing but a disabled checkbox."""
    from conversations import markdown

    cleaned = markdown.nh3.clean(
        '<input type="text" name="q" value="x" onfocus="alert(1)" class="a" autofocus>',
        tags=markdown._ALLOWED_TAGS,
        attributes=markdown._ALLOWED_ATTRIBUTES,
        allowed_classes=markdown._ALLOWED_CLASSES,
        tag_attribute_values=markdown._INPUT_VALUES,
        set_tag_attribute_values=markdown._INPUT_SET,
    )
    assert checkbox_tags(cleaned) == [("input", {"type": "checkbox", "disabled": ""})]
    assert "<input" not in render_markdown('<input type="text" autofocus>')


# --- code blocks ------------------------------------------------------------------------------


def test_fenced_code_is_a_figure_named_by_its_language():
    html = render_markdown("```python\nprint('hi')\n```")
    assert html.startswith(
        '<figure class="code-block" data-language="python">'
        '<figcaption class="code-head"><span class="code-lang">python</span></figcaption>'
        '<pre tabindex="0"><code class="language-python">'
    )
    assert '<span class="nb">print</span>' in html  # still highlighted
    assert html.rstrip().endswith("</code></pre></figure>")


def test_the_language_is_as_written_and_text_when_none():
    assert 'data-language="JavaScript"' in render_markdown("```JavaScript\nlet a\n```")
    labelled = render_markdown("```rust title=x\nfn a(){}\n```")
    assert '<span class="code-lang">rust</span>' in labelled
    for untagged in ("```\nplain\n```", "    indented code"):
        html = render_markdown(untagged)
        assert 'data-language="text"' in html and '<span class="code-lang">text</span>' in html


def test_a_hostile_fence_language_stays_text():
    html = render_markdown('```"><script>alert(1)</script>\nx\n```')
    parts = live_parts(html)
    assert "script" not in parts.tags
    assert not [name for name, _ in parts.attributes if name.startswith("on")]
    assert "&lt;script&gt;" in html


def test_classes_of_our_own_are_the_only_ones_on_our_tags():
    html = render_markdown("- [ ] a\n\n```py\nx\n```")
    classes = {value for name, value in live_parts(html).attributes if name == "class"}
    # Ours, and Pygments' token classes on <span> and the language on <code>.
    assert {"contains-task-list", "task-list-item", "code-block", "code-head", "code-lang"} <= (
        classes
    )


# --- tool calls and results -------------------------------------------------------------------


def test_tool_json_is_indented_with_real_line_breaks():
    arguments = json.dumps({"path": "notes.md", "content": "first line\nsecond line"})
    assert pretty_json(arguments) == (
        '{\n  "path": "notes.md",\n  "content": "first line\nsecond line"\n}'
    )
    assert "\\n" not in pretty_json(arguments)


def test_json_inside_a_json_string_is_decoded_in_place():
    result = {"output": json.dumps({"passed": 3, "failed": []}), "exit_code": 0}
    assert pretty_json(result) == (
        '{\n  "output": {\n    "passed": 3,\n    "failed": []\n  },\n  "exit_code": 0\n}'
    )


@pytest.mark.parametrize("text", ["not json at all", "{broken", "", "[1, 2"])
def test_tool_text_that_is_not_json_is_shown_as_it_is(text):
    assert pretty_json(text) == text


def test_deep_tool_json_is_shown_as_it_came():
    deep = "[" * 5000 + "]" * 5000
    assert pretty_json(deep) == deep
