"""GET /api/v1/search, full stack through Django's test client: what is found, who may find
it, the excerpt, cursor pages, hostile queries and the query count.

PostgreSQL ranks with full text; SQLite matches a substring, newest first. Tests that hold
on both say so by not being marked; the rest are marked or check the database."""

import re

import pytest
from django.db import connection
from django.utils import timezone

from conversations import services
from conversations.models import Message
from conversations.pagination import encode_cursor

pytestmark = pytest.mark.django_db

URL = "/api/v1/search"
on_postgresql = connection.vendor == "postgresql"


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def search(client, q, **params):
    response = client.get(URL, {"q": q, **params})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"items", "next_cursor", "has_more"}
    return body


def found(client, q, **params) -> list[str]:
    return [item["id"] for item in search(client, q, **params)["items"]]


def plain(excerpt_html: str) -> str:
    return excerpt_html.replace("<mark>", "").replace("</mark>", "")


# --- what is found, and how it looks -----------------------------------------------------------


def test_search_answers_items_with_conversation_sender_and_highlight(
    alice, bob, group, client_for, post
):
    message = post(group, "Deploy the staging server tonight", sender=bob)
    post(group, "Something else entirely")

    body = search(client_for(alice), "staging")

    assert body["has_more"] is False and body["next_cursor"] is None
    [item] = body["items"]
    assert set(item) == {
        "id",
        "conversation",
        "seq",
        "role",
        "sender",
        "created_at",
        "rank",
        "excerpt_html",
    }
    assert item["id"] == str(message.pk)
    assert item["conversation"] == {"id": str(group.pk), "title": "Plans", "display_title": "Plans"}
    assert (item["seq"], item["role"]) == (1, "user")
    assert item["sender"]["username"] == "bob"
    assert item["created_at"].startswith(message.created_at.date().isoformat())
    assert "<mark>staging</mark>" in item["excerpt_html"]
    assert plain(item["excerpt_html"]) == "Deploy the staging server tonight"
    if on_postgresql:
        assert 0 < item["rank"] < 1
    else:
        assert item["rank"] is None


def test_excerpt_is_safe_html_with_only_mark_tags(alice, group, client_for, post):
    post(group, 'staging <script>alert("x")</script> & <img src=x onerror=alert(1)> "staging"')

    [item] = search(client_for(alice), "staging")["items"]

    excerpt = item["excerpt_html"]
    assert "<mark>" in excerpt
    # Nothing but <mark> and </mark> is a tag; the rest of the text is escaped.
    assert "<" not in re.sub(r"</?mark>", "", excerpt) and ">" not in re.sub(
        r"</?mark>", "", excerpt
    )
    assert "&amp;" in excerpt


def test_excerpt_is_one_line_around_the_match(alice, group, client_for, post):
    filler = " ".join(f"word{number}" for number in range(200))
    post(group, f"{filler}\n\nthe deployment window\nopens {filler}")

    [item] = search(client_for(alice), "window")["items"]

    excerpt = item["excerpt_html"]
    assert "<mark>window</mark>" in excerpt
    assert "\n" not in excerpt
    assert len(plain(excerpt)) < 400


@pytest.mark.postgres_only
def test_better_matches_rank_first(alice, group, client_for, post):
    far = post(group, "deploy " + " ".join(["filler"] * 40) + " staging")
    close = post(group, "deploy staging")
    post(group, "staging only")  # lacks "deploy": not a match at all

    items = search(client_for(alice), "deploy staging")["items"]

    assert [item["id"] for item in items] == [str(close.pk), str(far.pk)]
    assert items[0]["rank"] > items[1]["rank"] > 0


@pytest.mark.postgres_only
def test_english_stemming_finds_other_forms_of_a_word(alice, group, client_for, post):
    run = post(group, "I run every morning")
    runs = post(group, "She runs the tests")
    post(group, "The runway is closed")

    items = search(client_for(alice), "running")["items"]

    assert {item["id"] for item in items} == {str(run.pk), str(runs.pk)}
    by_id = {item["id"]: item["excerpt_html"] for item in items}
    assert "<mark>run</mark>" in by_id[str(run.pk)]
    assert "<mark>runs</mark>" in by_id[str(runs.pk)]


@pytest.mark.postgres_only
def test_web_search_syntax_phrase_or_and_exclusion(alice, group, client_for, post):
    red_car = post(group, "a red car")
    car_red = post(group, "the car is red")
    blue_car = post(group, "a blue car")
    client = client_for(alice)

    assert set(found(client, '"red car"')) == {str(red_car.pk)}
    assert set(found(client, "red or blue")) == {str(red_car.pk), str(car_red.pk), str(blue_car.pk)}
    assert set(found(client, "car -red")) == {str(blue_car.pk)}


def test_sqlite_fallback_matches_a_substring_case_insensitively_newest_first(
    alice, group, client_for, post
):
    if on_postgresql:
        pytest.skip("the SQLite fallback")
    older = post(group, "Deployment went fine")
    newer = post(group, "redeploy tomorrow")
    post(group, "nothing to see")

    items = search(client_for(alice), "DEPLOY")["items"]

    assert [item["id"] for item in items] == [str(newer.pk), str(older.pk)]
    assert items[0]["excerpt_html"] == "re<mark>deploy</mark> tomorrow"
    assert items[1]["excerpt_html"] == "<mark>Deploy</mark>ment went fine"


def test_like_wildcards_are_literal(alice, group, client_for, post):
    percent = post(group, "100% sure")
    post(group, "nothing at all")
    client = client_for(alice)

    assert found(client, "%") in ([str(percent.pk)], [])  # [] on PostgreSQL: no word in "%"
    assert found(client, "_") == []


# --- who may find what -------------------------------------------------------------------------


def test_hidden_and_deleted_messages_are_never_found(alice, bob, group, client_for, post):
    shown = post(group, "the secret plan, shown")
    hidden = post(group, "the secret plan, hidden")
    deleted = post(group, "the secret plan, deleted", sender=bob)
    Message.objects.filter(pk=hidden.pk).update(hidden_at=timezone.now())
    services.message_delete(message=deleted, actor=bob)

    for user in (alice, bob):
        assert found(client_for(user), "secret plan") == [str(shown.pk)]


def test_outsider_never_finds_other_peoples_messages(
    alice, bob, charlie, team, group, client_for, post
):
    post(group, "the launch code is 1234")
    own, _ = services.conversation_create(creator=charlie, kind="assistant", workspace=team)
    charlies = post(own, "my own launch notes", sender=charlie)

    assert found(client_for(charlie), "launch") == [str(charlies.pk)]
    assert str(charlies.pk) not in found(client_for(alice), "launch")
    assert_error(
        client_for(charlie).get(URL, {"q": "launch", "conversation_id": str(group.pk)}),
        404,
        "not_found",
    )


def test_conversation_in_the_trash_is_not_searched(alice, bob, group, client_for, post):
    post(group, "quarterly numbers")
    services.conversation_delete(conversation=group, actor=alice)

    for user in (alice, bob):
        assert found(client_for(user), "quarterly") == []
    assert_error(
        client_for(alice).get(URL, {"q": "quarterly", "conversation_id": str(group.pk)}),
        404,
        "not_found",
    )


def test_participant_who_left_no_longer_searches_the_conversation(
    alice, bob, group, client_for, post
):
    post(group, "quarterly numbers")
    services.participant_remove(conversation=group, actor=bob, user=bob)

    assert found(client_for(bob), "quarterly") == []
    assert len(found(client_for(alice), "quarterly")) == 1


def test_conversation_filter_limits_the_search_to_it(alice, bob, team, group, client_for, post):
    in_group = post(group, "budget review")
    other, _ = services.conversation_create(
        creator=alice, kind="group", title="Other", workspace=team, participants=[bob]
    )
    post(other, "budget review too")
    client = client_for(alice)

    assert len(found(client, "budget")) == 2
    assert found(client, "budget", conversation_id=str(group.pk)) == [str(in_group.pk)]


def test_anonymous_gets_401(client_for):
    assert_error(client_for().get(URL, {"q": "anything"}), 401, "not_authenticated")


# --- pages ---------------------------------------------------------------------------------------


def post_numbered_matches(conversation, post, count):
    """Matches of "alpha" whose ranks differ (on PostgreSQL) and tie in pairs."""
    return [
        post(conversation, " ".join(["alpha"] * (1 + number // 2) + ["beta"] * (10 - number)))
        for number in range(count)
    ]


def test_pages_through_every_match_once_with_cursors(alice, group, client_for, post):
    messages = post_numbered_matches(group, post, 7)
    client = client_for(alice)
    everything = found(client, "alpha", limit=100)
    assert sorted(everything) == sorted(str(message.pk) for message in messages)

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = search(client, "alpha", **params)
        pages += 1
        seen += [item["id"] for item in body["items"]]
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        cursor = body["next_cursor"]
        assert isinstance(cursor, str) and cursor

    assert pages == 3
    assert seen == everything


def test_tampered_cursor_is_400(alice, group, client_for, post):
    post_numbered_matches(group, post, 3)
    client = client_for(alice)
    cursor = search(client, "alpha", limit=1)["next_cursor"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")

    for bad in (tampered, "garbage", "x" * 500):
        error = assert_error(client.get(URL, {"q": "alpha", "cursor": bad}), 400, "invalid_cursor")
        assert "cursor" in error["message"]


def test_cursor_of_another_list_or_search_is_400(alice, group, client_for, post):
    post_numbered_matches(group, post, 3)
    post(group, "gamma alpha")
    client = client_for(alice)
    cursor = search(client, "alpha", limit=1)["next_cursor"]
    sidebar_cursor = encode_cursor("conversations", ["2025-01-01T00:00:00+00:00", str(group.pk)])

    assert_error(client.get(URL, {"q": "gamma", "cursor": cursor}), 400, "invalid_cursor")
    assert_error(
        client.get(URL, {"q": "alpha", "cursor": cursor, "conversation_id": str(group.pk)}),
        400,
        "invalid_cursor",
    )
    assert_error(client.get(URL, {"q": "alpha", "cursor": sidebar_cursor}), 400, "invalid_cursor")
    # The same search again takes it.
    assert search(client, "alpha", cursor=cursor)["items"]


# --- input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "q",
    [
        "'",
        '"',
        "&|!():*",
        "a & b | !c",
        "<->",
        "\\",
        "'; DROP TABLE conversations_message; --",
        '"unclosed phrase',
        "-",
        "or",
        "the and of",  # stop words only
        "日本語のテキスト",
        "emoji 🙂 ünïcödé",
        "a:* | b:*",
        "%_%",
        "\x01\x7f\u200b",
        "x" * 500,
    ],
)
def test_hostile_queries_answer_200(alice, group, client_for, post, q):
    post(group, "ordinary text with 日本語のテキスト and emoji 🙂")
    body = search(client_for(alice), q)
    assert isinstance(body["items"], list)


def test_unicode_query_finds_unicode_text(alice, group, client_for, post):
    message = post(group, "日本語 テキスト and ünïcödé")
    assert found(client_for(alice), "ünïcödé") == [str(message.pk)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   \t\n "}, "q"),
        ({"q": "x" * 501}, "q"),
        ({"q": "nul\x00byte"}, "q"),
        ({"q": "\x00"}, "q"),
        ({"q": "ok", "limit": 0}, "limit"),
        ({"q": "ok", "limit": 101}, "limit"),
        ({"q": "ok", "conversation_id": "not-a-uuid"}, "conversation_id"),
    ],
)
def test_bad_parameters_get_422_naming_the_field(alice, client_for, params, field):
    error = assert_error(client_for(alice).get(URL, params), 422, "invalid")
    assert error["details"]["field"] == field


def test_query_is_trimmed(alice, group, client_for, post):
    message = post(group, "trimmed words")
    assert found(client_for(alice), "   trimmed   ") == [str(message.pk)]


# --- cost ----------------------------------------------------------------------------------------


def test_query_count_does_not_grow_with_the_page(
    alice, bob, charlie, team, group, client_for, post, django_assert_num_queries
):
    other, _ = services.conversation_create(
        creator=bob, kind="group", title="Other", workspace=team, participants=[alice, charlie]
    )
    for number in range(30):
        post(group, f"release note {number}", sender=alice if number % 2 else bob)
        post(other, f"release plan {number}", sender=charlie if number % 2 else bob)
    client = client_for(alice)

    # The session, the user, then one search query (messages with conversation and sender).
    with django_assert_num_queries(3):
        assert len(search(client, "release", limit=5)["items"]) == 5
    with django_assert_num_queries(3):
        assert len(search(client, "release", limit=50)["items"]) == 50
    # A conversation filter adds the participation check.
    with django_assert_num_queries(4):
        assert (
            len(search(client, "release", limit=50, conversation_id=str(group.pk))["items"]) == 30
        )
