"""Every edit is kept (docs/data-model.md): an edit stores the text it replaces as the
message's next revision, and participants read the history — the text now and the earlier
ones, newest first — from the API and from the page the "edited" marker links to. Charlie,
outside the conversation, gets the same 404 as for an id that does not exist."""

import uuid

import pytest
from django.test import Client

from conversations import selectors, services
from conversations.exceptions import InvalidInput, NotFound, PermissionDenied
from conversations.models import MessageRevision

pytestmark = pytest.mark.django_db


def edit(message, content, actor=None):
    return services.message_edit(message=message, actor=actor or message.sender, content=content)


def texts(message) -> list[tuple[int, str]]:
    return list(
        MessageRevision.objects.filter(message=message)
        .order_by("number")
        .values_list("number", "content")
    )


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- the service -------------------------------------------------------------------------------


def test_an_edit_keeps_the_text_it_replaces(alice, group, post):
    message = post(group, "teh first")
    edited = edit(message, "the first")
    (revision,) = MessageRevision.objects.filter(message=message)
    assert (revision.number, revision.content) == (1, "teh first")
    # The revision is dated by the edit that replaced its text.
    assert revision.created_at == edited.edited_at
    message.refresh_from_db()
    assert message.content == "the first"


def test_revisions_are_numbered_in_order(alice, group, post):
    message = post(group, "one")
    for text in ("two", "three", "four"):
        edit(message, text)
    assert texts(message) == [(1, "one"), (2, "two"), (3, "three")]
    message.refresh_from_db()
    assert message.content == "four"


def test_the_same_text_again_keeps_nothing_and_changes_nothing(alice, group, post):
    message = post(group, "as it is")
    edit(message, "as it is")
    message.refresh_from_db()
    assert texts(message) == [] and message.edited_at is None
    edit(message, "changed")
    edit(message, "changed")
    assert texts(message) == [(1, "as it is")]


def test_a_refused_edit_keeps_nothing(alice, bob, group, post):
    message = post(group, "mine")
    with pytest.raises(InvalidInput):
        edit(message, "   ")
    with pytest.raises(PermissionDenied):  # only its author edits it
        services.message_edit(message=message, actor=bob, content="yours")
    assert texts(message) == []


def test_revisions_of_each_message_are_numbered_on_their_own(alice, bob, group, post):
    first, second = post(group, "a"), post(group, "b", sender=bob)
    edit(first, "a2")
    edit(second, "b2")
    edit(first, "a3")
    assert texts(first) == [(1, "a"), (2, "a2")]
    assert texts(second) == [(1, "b")]


def test_purging_the_conversation_removes_its_revisions(alice, group, post, make_user):
    boss = make_user("boss", is_staff=True, is_superuser=True)
    message = post(group, "one")
    edit(message, "two")
    services.conversation_delete(conversation=group, actor=alice)
    group.refresh_from_db()
    assert services.conversation_purge_preview(conversation=group).revisions == 1
    result = services.conversation_purge(conversation=group, actor=boss, reason="gone")
    assert result.counts.revisions == 1
    assert not MessageRevision.objects.exists()


# --- the selector ------------------------------------------------------------------------------


def test_the_history_is_the_text_now_then_earlier_ones_newest_first(alice, bob, group, post):
    message = post(group, "one")
    edit(message, "two")
    edit(message, "three")
    message.refresh_from_db()
    revisions = {revision.number: revision for revision in message.revisions.all()}

    history = selectors.message_history_for_user(user=bob, message_id=message.pk)

    assert history.current.content == "three" and history.current.number is None
    assert history.current.written_at == message.edited_at
    assert history.current.replaced_at is None
    assert [(text.number, text.content) for text in history.items] == [(2, "two"), (1, "one")]
    # Each text was written when the one before it was replaced; the first when posted.
    assert history.items[0].written_at == revisions[1].created_at
    assert history.items[0].replaced_at == revisions[2].created_at
    assert history.items[1].written_at == message.created_at
    assert history.has_more is False


def test_an_unedited_message_has_only_its_text(alice, group, post):
    message = post(group, "never edited")
    history = selectors.message_history_for_user(user=alice, message_id=message.pk)
    assert history.current.content == "never edited"
    assert history.current.written_at == message.created_at
    assert history.items == [] and not history.has_more


def test_the_history_pages_by_revision_number(alice, group, post):
    message = post(group, "text 1")
    for number in range(2, 8):
        edit(message, f"text {number}")  # revisions 1..6, text 7 now
    first = selectors.message_history_for_user(user=alice, message_id=message.pk, limit=4)
    assert [text.number for text in first.items] == [6, 5, 4, 3]
    assert first.has_more and first.next_before == 3
    # The page's oldest text was written when revision 2 was replaced (read as the row past
    # the page, no other query).
    assert first.items[-1].written_at == message.revisions.get(number=2).created_at
    second = selectors.message_history_for_user(
        user=alice, message_id=message.pk, limit=4, before=first.next_before
    )
    assert [text.number for text in second.items] == [2, 1]
    assert not second.has_more and second.items[-1].written_at == message.created_at


@pytest.mark.parametrize("before", [0, -1, True, "3"])
def test_a_bad_before_is_refused(alice, group, post, before):
    message = post(group, "x")
    with pytest.raises(InvalidInput):
        selectors.message_history_for_user(user=alice, message_id=message.pk, before=before)


def test_outsiders_and_missing_ids_get_the_same_not_found(alice, charlie, group, post):
    message = post(group, "secret")
    edit(message, "still secret")
    for user, message_id in [
        (charlie, message.pk),
        (alice, uuid.uuid4()),
        (alice, "not-an-id"),
    ]:
        with pytest.raises(NotFound, match=r"No such message\."):
            selectors.message_history_for_user(user=user, message_id=message_id)


def test_who_left_the_conversation_no_longer_reads_the_history(alice, bob, group, post):
    message = post(group, "before bob left")
    edit(message, "edited")
    services.participant_remove(conversation=group, actor=bob, user=bob)
    with pytest.raises(NotFound):
        selectors.message_history_for_user(user=bob, message_id=message.pk)


def test_a_deleted_or_hidden_message_shows_no_text(alice, bob, group, post, make_user):
    from django.contrib.auth.models import Group

    moderator = make_user("mod", is_staff=True)
    moderator.groups.add(Group.objects.get(name="Moderators"))
    deleted, hidden = post(group, "gone"), post(group, "rude", sender=bob)
    edit(deleted, "gone, edited")
    edit(hidden, "rude, edited")
    services.message_delete(message=deleted, actor=alice)
    services.message_hide(message=hidden, moderator=moderator, reason="rude")
    for message in (deleted, hidden):
        history = selectors.message_history_for_user(user=alice, message_id=message.pk)
        assert history.current is None and history.items == [] and not history.has_more
    assert selectors.message_history_for_user(user=bob, message_id=hidden.pk).is_hidden
    assert selectors.message_history_for_user(user=bob, message_id=deleted.pk).is_deleted
    # The texts are kept for the moderators (docs/moderation.md).
    assert MessageRevision.objects.filter(message__in=[deleted, hidden]).count() == 2


def test_the_history_is_two_queries_however_many_edits(
    alice, group, post, django_assert_num_queries
):
    message = post(group, "one")
    for number in range(30):
        edit(message, f"edit {number}")
    # The message with the participation check; one page of its revisions.
    with django_assert_num_queries(2):
        history = selectors.message_history_for_user(user=alice, message_id=message.pk)
    assert len(history.items) == 30


# --- the API -----------------------------------------------------------------------------------


def revisions_url(message_id) -> str:
    return f"/api/v1/messages/{message_id}/revisions"


def test_the_api_lists_the_history(alice, bob, group, post, api):
    message = post(group, "one")
    edit(message, "two")
    edit(message, "three")
    body = api(bob).get(revisions_url(message.pk)).json()
    assert body["message_id"] == str(message.pk)
    assert body["is_deleted"] is False and body["is_hidden"] is False
    assert body["edited_at"] is not None
    assert body["current"]["content"] == "three" and body["current"]["number"] is None
    assert body["current"]["replaced_at"] is None
    assert [(item["number"], item["content"]) for item in body["items"]] == [
        (2, "two"),
        (1, "one"),
    ]
    assert all(item["written_at"] and item["replaced_at"] for item in body["items"])
    assert body["has_more"] is False and body["next_cursor"] is None


def test_the_api_pages_with_a_cursor(alice, group, post, api):
    message = post(group, "text 0")
    for number in range(1, 6):
        edit(message, f"text {number}")
    client = api(alice)
    first = client.get(revisions_url(message.pk), {"limit": 3}).json()
    assert [item["number"] for item in first["items"]] == [5, 4, 3]
    assert first["has_more"] is True
    second = client.get(
        revisions_url(message.pk), {"limit": 3, "cursor": first["next_cursor"]}
    ).json()
    assert [item["number"] for item in second["items"]] == [2, 1]
    assert second["has_more"] is False and second["next_cursor"] is None
    assert second["current"]["content"] == "text 5"


def test_the_api_refuses_a_forged_cursor_and_a_bad_limit(alice, group, post, api):
    message = post(group, "x")
    client = api(alice)
    forged = client.get(revisions_url(message.pk), {"cursor": "nope"})
    assert forged.status_code == 400 and forged.json()["error"]["code"] == "invalid_cursor"
    assert client.get(revisions_url(message.pk), {"limit": 0}).status_code == 422
    assert client.get(revisions_url(message.pk), {"limit": 101}).status_code == 422


def test_the_api_answers_404_to_an_outsider_and_for_a_missing_id(alice, charlie, group, post, api):
    message = post(group, "secret")
    edit(message, "still secret")
    for user, message_id in [(charlie, message.pk), (alice, uuid.uuid4())]:
        response = api(user).get(revisions_url(message_id))
        assert response.status_code == 404
        assert response.json()["error"] == {
            "code": "not_found",
            "message": "No such message.",
            "details": {},
        }
    assert Client().get(revisions_url(message.pk)).status_code == 401


def test_the_api_shows_no_text_of_a_deleted_message(alice, bob, group, post, api):
    message = post(group, "oops")
    edit(message, "oops, edited")
    services.message_delete(message=message, actor=alice)
    body = api(bob).get(revisions_url(message.pk)).json()
    assert body["is_deleted"] is True
    assert body["current"] is None and body["items"] == [] and body["has_more"] is False
    assert "oops" not in str(body)


def test_the_endpoint_is_documented():
    from chatapp.api import api as ninja_api

    operation = ninja_api.get_openapi_schema()["paths"]["/api/v1/messages/{message_id}/revisions"]
    assert set(operation) == {"get"}
    assert 404 in operation["get"]["responses"]
    assert "edit history" in operation["get"]["description"]


# --- the page ----------------------------------------------------------------------------------


def history_url(message_id) -> str:
    return f"/m/{message_id}/history"


def test_the_edited_marker_links_to_the_history_page(alice, bob, group, post):
    message = post(group, "teh text")
    edit(message, "the text")
    thread = signed_in(bob).get(f"/c/{group.pk}/").content.decode()
    assert f'<a class="edited" href="{history_url(message.pk)}">edited</a>' in thread
    unedited = post(group, "plain")
    assert (
        f'href="{history_url(unedited.pk)}"'
        not in signed_in(bob).get(f"/c/{group.pk}/").content.decode()
    )


def test_the_page_shows_the_text_now_and_the_earlier_ones(alice, bob, group, post):
    message = post(group, "the **first** text")
    edit(message, "the second text")
    edit(message, "the third text")
    response = signed_in(bob).get(history_url(message.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Edit history" in page
    # Newest first: the text now, then the second, then the first (rendered as Markdown).
    now, second, first = (
        page.index("the third text"),
        page.index("the second text"),
        page.index("the <strong>first</strong> text"),
    )
    assert now < second < first
    assert f'href="/c/{group.pk}/#m{message.seq}"' in page  # back to the conversation


def test_the_page_of_an_unedited_message_says_so(alice, group, post):
    message = post(group, "as written")
    page = signed_in(alice).get(history_url(message.pk)).content.decode()
    assert "as written" in page and "This message has not been edited." in page


def test_the_page_links_to_older_edits(alice, group, post):
    message = post(group, "text 0")
    for number in range(1, 53):  # 52 revisions: more than one page of 50
        edit(message, f"text {number}")
    client = signed_in(alice)
    page = client.get(history_url(message.pk))
    older = page.context["older_query"]
    assert older and "text 2</p>" in page.content.decode()
    assert "text 1</p>" not in page.content.decode()
    rest = client.get(f"{history_url(message.pk)}?{older}").content.decode()
    assert "text 1</p>" in rest and "text 0</p>" in rest and "text 52</p>" not in rest
    # A forged cursor is the newest page, as for the sidebar's.
    assert client.get(f"{history_url(message.pk)}?cursor=forged").status_code == 200


def test_the_page_is_404_for_an_outsider_and_a_missing_id(alice, charlie, group, post):
    message = post(group, "secret")
    edit(message, "still secret")
    assert signed_in(charlie).get(history_url(message.pk)).status_code == 404
    assert signed_in(alice).get(history_url(uuid.uuid4())).status_code == 404
    # Not signed in: to the sign-in page, as every page.
    assert Client().get(history_url(message.pk)).status_code == 302


def test_the_page_of_a_hidden_message_shows_no_text(alice, bob, group, post, make_user):
    from django.contrib.auth.models import Group

    moderator = make_user("mod", is_staff=True)
    moderator.groups.add(Group.objects.get(name="Moderators"))
    message = post(group, "rude words", sender=bob)
    edit(message, "ruder words")
    services.message_hide(message=message, moderator=moderator, reason="rude")
    response = signed_in(alice).get(history_url(message.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Removed by a moderator." in page
    assert "rude words" not in page and "ruder words" not in page


def test_the_page_is_translated(alice, group, post):
    message = post(group, "eins")
    edit(message, "zwei")
    alice.language = "de"
    alice.save(update_fields=["language"])
    page = signed_in(alice).get(history_url(message.pk)).content.decode()
    assert "Bearbeitungsverlauf" in page and "Frühere Texte" in page
