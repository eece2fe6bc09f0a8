"""Previews and excerpts are plain text: the sidebar's last message, the search results
(page and API) and the API's conversation list show a message's words without its Markdown,
and search still marks the words that matched."""

import re

import pytest
from django.test import Client

from chatapp.accounts.services import personal_token_create
from conversations.markdown import markdown_to_text

MARKDOWN = (
    "# Paging\n\nCall `paginate()` with **care**, see [the docs](https://example.com/p).\n\n"
    "- [ ] write tests\n- [x] ship\n\n```python\npaginate(rows)\n```"
)
PLAIN = "Paging Call paginate() with care, see the docs. write tests ship paginate(rows)"
MARKUP = ("`", "**", "- [", "[x]", "# ", "](", "```", "https://example.com")


@pytest.mark.parametrize(
    ("source", "plain"),
    [
        (MARKDOWN, PLAIN),
        ("plain words,\n  on two lines", "plain words, on two lines"),
        ("1. first\n2. second", "first second"),
        ("> quoted _words_", "quoted words"),
        ("a &amp; b &lt;tag&gt;", "a & b <tag>"),
        ("![a **cat**](cat.png) and <b>raw</b>", "a cat and <b>raw</b>"),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "a b 1 2"),
        ("Title\n=====\n\n---\n\nafter", "Title after"),
        ("", ""),
    ],
)
def test_markdown_to_text(source, plain):
    assert markdown_to_text(source) == plain


def excerpt_of(page: str) -> str:
    return re.search(r'class="excerpt">(.*?)</(?:p|span)>', page, re.S).group(1)


@pytest.fixture
def browser(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.mark.django_db
def test_sidebar_preview_is_plain_text(browser, group, post):
    post(group, MARKDOWN)
    page = browser.get("/").content.decode()
    assert "Paging Call paginate() with care, see the docs" in page
    sidebar = page[page.index('id="sidebar"') :]
    assert not [sign for sign in MARKUP if sign in sidebar.split("</aside>")[0]]


@pytest.mark.django_db
def test_api_conversation_list_excerpt_is_plain_text(alice, group, post):
    post(group, MARKDOWN)
    token = personal_token_create(user=alice, name="t").raw
    items = (
        Client()
        .get("/api/v1/conversations", headers={"Authorization": f"Bearer {token}"})
        .json()["items"]
    )
    assert items[0]["last_message"]["excerpt"] == PLAIN


@pytest.mark.django_db
def test_search_excerpt_is_plain_text_with_the_match_marked(browser, alice, group, post):
    post(group, MARKDOWN)
    page = browser.get("/search", {"q": "paginate"}).content.decode()
    excerpt = excerpt_of(page)
    assert "<mark>paginate</mark>" in excerpt
    assert not [sign for sign in MARKUP if sign in excerpt]
    assert "care" in excerpt and "**" not in excerpt

    token = personal_token_create(user=alice, name="t").raw
    [hit] = (
        Client()
        .get("/api/v1/search", {"q": "paginate"}, headers={"Authorization": f"Bearer {token}"})
        .json()["items"]
    )
    assert "<mark>paginate</mark>" in hit["excerpt_html"]
    assert not [sign for sign in MARKUP if sign in hit["excerpt_html"]]


@pytest.mark.django_db
def test_a_match_inside_markup_is_still_marked(browser, group, post):
    post(group, "Use **bold words** and `inline_code` here.")
    # (PostgreSQL's parser reads inline_code as two words, and marks each.)
    for query, marked in (("bold", "<mark>bold</mark>"), ("inline_code", "<mark>inline")):
        page = browser.get("/search", {"q": query}).content.decode()
        excerpt = excerpt_of(page)
        assert marked in excerpt, excerpt
        assert "**" not in excerpt and "`" not in excerpt


@pytest.mark.parametrize(
    ("fragment", "plain"),
    [
        # Cut out of "Use **bold words** and [the docs](https://example.com) …"
        ("bold words** and [the docs](https://exa", "bold words and the docs"),
        ("see the docs](https://example.com) and `code", "see the docs and code"),
        ("- [ ] open task and # not a heading", "open task and not a heading"),
        ("a * b, rows[0], snake_case and C#", "a * b, rows[0], snake_case and C#"),
    ],
)
def test_a_cut_fragment_loses_the_markup_it_cut(fragment, plain):
    from conversations.markdown import markdown_fragment_to_text

    assert markdown_fragment_to_text(fragment) == plain
