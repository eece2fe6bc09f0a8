"""Versions of a turn (issue 16, docs/data-model.md): a resent prompt or a regenerated reply
is a new version of its turn on a new line forking there; the earlier version keeps its text
and everything after it. Each person is shown one path through the versions (kept on the
server, per person), pages read that path as position ranges, and the assistant is sent
that path only."""

import itertools

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from conversations import selectors, services
from conversations.assistant.generation import prepare_reply
from conversations.exceptions import (
    Conflict,
    IdempotencyConflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from conversations.models import Conversation, Line, Message, MessageStatus, Participant
from conversations.selectors.paths import line_path
from conversations.services.conversations import lock_participation
from tests.conversations.test_concurrency import run_in_threads

pytestmark = pytest.mark.django_db


# --- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def chat(alice, bob, team):
    """alice's assistant conversation in the team workspace, bob taking part too."""
    conversation, _ = services.conversation_create(
        creator=alice, kind="assistant", workspace=team, participants=[bob]
    )
    return conversation


@pytest.fixture
def configured(settings):
    """An endpoint named, so that prepare_reply builds the request (nothing is sent)."""
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.OPENAI_MODEL = "fake-model"


def ask(conversation, text, user):
    """A prompt at the end of the path `user` is shown."""
    message, created = services.message_post(conversation=conversation, sender=user, content=text)
    assert created
    return message


def answer(conversation, text, user):
    """An assistant reply at the end of the path `user` is shown, finished."""
    line = Participant.objects.get(conversation=conversation, user=user).line
    started = services.assistant_message_start(
        conversation=conversation, agent=None, line=line, status=MessageStatus.STREAMING
    )
    return services.assistant_message_finish(message=started, content=text)


def regenerate(conversation, reply, text, user):
    """A new version of `reply` (any reply), finished with `text`; `user` is shown it."""
    with transaction.atomic():
        participant = lock_participation(conversation, user)
        started = services.reply_version_start(
            participant=participant, reply=reply, agent=None, model=""
        )
    return services.assistant_message_finish(message=started, content=text)


def resend(message, text, user=None, **kwargs):
    resent, _created = services.message_resend(
        message=message, actor=user or message.sender, content=text, **kwargs
    )
    return resent


def show(message, user):
    return services.version_show(message=message, actor=user)


def exchange(conversation, user, count, prefix=""):
    """`count` prompts each with its reply, at the end of `user`'s path: 2 x count turns."""
    made = []
    for number in range(1, count + 1):
        made.append(ask(conversation, f"{prefix}q{number}", user))
        made.append(answer(conversation, f"{prefix}a{number}", user))
    return made


def page(user, conversation, **kwargs):
    return selectors.message_page(user=user, conversation_id=conversation.pk, **kwargs)


def rows(user, conversation, **kwargs):
    return selectors.message_page_rows(user=user, conversation_id=conversation.pk, **kwargs)


def contents(user, conversation, **kwargs) -> list[str]:
    return [item.content for item in page(user, conversation, limit=100, **kwargs).items]


def turns(user, conversation) -> list[tuple[int, str, int, int]]:
    """(position, content, version, versions) of the whole path `user` is shown."""
    return [
        (item.position, item.content, item.version, item.versions)
        for item in page(user, conversation, limit=100).items
    ]


def shown_line(conversation, user) -> int:
    return Participant.objects.get(conversation=conversation, user=user).line


def refreshed(message) -> Message:
    return Message.objects.get(pk=message.pk)


def assert_consistent(conversation):
    """The invariants of the design: seqs 1..count; one message per (line, position); every
    line's path has positions 1..tail, each message's parent the one before it there; every
    turn's versions numbered 1..n with n = 1 + the parent's next_turn_forks."""
    conversation = Conversation.objects.get(pk=conversation.pk)
    messages = list(Message.objects.filter(conversation=conversation))
    assert sorted(m.seq for m in messages) == list(range(1, len(messages) + 1))
    assert conversation.message_count == len(messages)
    assert len({(m.line, m.position) for m in messages}) == len(messages)
    by_pk = {m.pk: m for m in messages}
    lines = {0, *Line.objects.filter(conversation=conversation).values_list("number", flat=True)}
    assert conversation.line_count == len(lines) - 1
    for line in lines:
        path = line_path(conversation.pk, line)
        on_path = sorted(
            (m for m in messages if path.line_at(m.position) == m.line and m.position <= path.tail),
            key=lambda m: m.position,
        )
        assert [m.position for m in on_path] == list(range(1, path.tail + 1)), line
        for before, after in itertools.pairwise(on_path):
            assert after.parent_id == before.pk, (line, after.position)
        if on_path:
            assert on_path[0].parent_id is None
    by_turn: dict = {}
    for m in messages:
        by_turn.setdefault(m.parent_id, []).append(m)
    for parent_id, versions in by_turn.items():
        assert sorted(v.version for v in versions) == list(range(1, len(versions) + 1))
        forks = (
            conversation.first_turn_forks if parent_id is None else by_pk[parent_id].next_turn_forks
        )
        assert forks == len(versions) - 1, parent_id


# --- resend -------------------------------------------------------------------------------------


def test_resend_makes_a_new_version_on_a_new_line(alice, bob, chat):
    _q1, a1, q2, _a2, _q3, _a3 = exchange(chat, alice, 3)
    resent = resend(q2, "q2 again")

    assert (resent.position, resent.version, resent.parent_id) == (3, 2, a1.pk)
    assert resent.line == 1 and resent.seq == 7
    line = Line.objects.get(conversation=chat, number=1)
    assert (line.parent_line, line.fork_position, line.ancestry) == (0, 3, [[0, 1], [1, 3]])
    chat.refresh_from_db()
    assert (chat.line_count, chat.message_count, chat.first_turn_forks) == (1, 7, 0)
    assert refreshed(a1).next_turn_forks == 1
    # The old version keeps its text and everything after it.
    assert refreshed(q2).content == "q2" and refreshed(q2).version == 1
    assert [m.content for m in Message.objects.filter(conversation=chat, line=0)] == [
        "q1",
        "a1",
        "q2",
        "a2",
        "q3",
        "a3",
    ]
    # The resender is shown the new path, read up to it.
    assert shown_line(chat, alice) == 1
    assert turns(alice, chat) == [(1, "q1", 1, 1), (2, "a1", 1, 1), (3, "q2 again", 2, 2)]
    assert Participant.objects.get(conversation=chat, user=alice).last_read_seq == 7
    assert_consistent(chat)


def test_another_participant_still_sees_the_old_path(alice, bob, chat):
    exchange(chat, alice, 3)
    before = [(m.pk, m.content) for m in page(bob, chat).items]
    before_rows = [(r.id, r.content) for r in rows(bob, chat).items]
    q2 = Message.objects.get(conversation=chat, position=3, line=0)
    resend(q2, "q2 again")

    assert shown_line(chat, bob) == 0
    assert [(m.pk, m.content) for m in page(bob, chat).items] == before
    assert [(r.id, r.content) for r in rows(bob, chat).items] == before_rows
    # Only the count of the turn's versions says there is another one.
    assert [m.versions for m in page(bob, chat).items] == [1, 1, 2, 1, 1, 1]
    assert [r.versions for r in rows(bob, chat).items] == [1, 1, 2, 1, 1, 1]
    # bob's next prompt goes on his path, after a3, not after alice's new version.
    q4 = ask(chat, "bob asks", bob)
    assert (q4.line, q4.position, q4.parent_id) == (0, 7, before[-1][0])
    assert contents(alice, chat) == ["q1", "a1", "q2 again"]
    assert_consistent(chat)


def test_the_sidebar_shows_the_end_of_each_person_s_own_path(alice, bob, chat):
    _q1, _a1, q2, _a2, _q3, _a3 = exchange(chat, alice, 3)
    resent = resend(q2, "q2 again")

    def last_for(user):
        (item,) = selectors.conversation_list_for_user(user=user).items
        return item.last_message

    assert (last_for(alice).id, last_for(alice).excerpt) == (resent.pk, "q2 again")
    assert last_for(bob).excerpt == "a3"
    show(q2, alice)
    assert last_for(alice).excerpt == "a3"


def test_the_versions_of_a_turn_list_each_with_shown_for_its_reader(alice, bob, chat):
    _q1, _a1, q2, _a2 = exchange(chat, alice, 2)
    second = resend(q2, "second")
    third = resend(q2, "third")
    assert (second.version, third.version) == (2, 3)

    for_alice = selectors.message_versions(user=alice, message_id=q2.pk)
    assert [(v.content, v.version, v.versions, v.shown) for v in for_alice] == [
        ("q2", 1, 3, False),
        ("second", 2, 3, False),
        ("third", 3, 3, True),
    ]
    for_bob = selectors.message_versions(user=bob, message_id=third.pk)
    assert [(v.content, v.shown) for v in for_bob] == [
        ("q2", True),
        ("second", False),
        ("third", False),
    ]
    # Asked for by any of them, the same list.
    assert [v.id for v in selectors.message_versions(user=bob, message_id=second.pk)] == [
        v.id for v in for_bob
    ]


def test_resending_the_first_prompt_counts_its_versions_on_the_conversation(alice, bob, chat):
    q1, _a1 = exchange(chat, alice, 1)
    first = resend(q1, "again")
    second = resend(first, "and again")
    assert (first.version, second.version) == (2, 3)
    assert first.parent_id is None and second.parent_id is None
    assert (first.position, second.position) == (1, 1)
    chat.refresh_from_db()
    assert (chat.first_turn_forks, chat.line_count) == (2, 2)
    assert turns(alice, chat) == [(1, "and again", 3, 3)]
    assert turns(bob, chat) == [(1, "q1", 1, 3), (2, "a1", 1, 1)]
    assert [r.versions for r in rows(bob, chat).items] == [3, 1]
    listed = selectors.message_versions(user=alice, message_id=q1.pk)
    assert [(v.content, v.shown) for v in listed] == [
        ("q1", False),
        ("again", False),
        ("and again", True),
    ]
    # Resent from a line that forked at the first turn, it is a version of that turn still.
    line = Line.objects.get(conversation=chat, number=2)
    assert line.ancestry == [[2, 1]] or line.ancestry == [[0, 1], [2, 1]]
    assert line_path(chat.pk, 2).line_at(1) == 2
    assert_consistent(chat)


def test_the_first_row_of_a_page_counts_versions_from_the_previous_page(alice, chat):
    made = exchange(chat, alice, 5)  # positions 1..10
    resend(made[4], "q3 again")  # position 5, version 2, on line 1
    show(made[4], alice)  # back to line 0, where position 5 has 2 versions
    assert shown_line(chat, alice) == 0
    # A page starting at position 5: its parent, position 4, is on the page before.
    for reader in (page, rows):
        older = reader(alice, chat, before=9, limit=4)
        assert [item.position for item in older.items] == [5, 6, 7, 8]
        assert [item.versions for item in older.items] == [2, 1, 1, 1]
        newer = reader(alice, chat, after=4, limit=3)
        assert [item.versions for item in newer.items] == [2, 1, 1]
        # And the last page ends with it counted the same.
        upto = reader(alice, chat, before=6, limit=2)
        assert [(item.position, item.versions) for item in upto.items] == [(4, 1), (5, 2)]


def test_resend_refusals(alice, bob, chat, group, post):
    q1, a1 = exchange(chat, alice, 1)
    with pytest.raises(PermissionDenied):
        resend(q1, "not mine", user=bob)
    with pytest.raises(PermissionDenied):  # a reply is regenerated, not resent
        resend(a1, "an answer", user=alice)
    with pytest.raises(InvalidInput):
        resend(q1, "   ")
    with pytest.raises(InvalidInput):
        resend(q1, "nul \x00 inside")
    in_group = post(group, "in a group")
    with pytest.raises(Conflict):
        resend(in_group, "again")
    services.message_delete(message=q1, actor=alice)
    with pytest.raises(NotFound):
        resend(refreshed(q1), "deleted")
    chat.refresh_from_db()
    assert (chat.line_count, chat.message_count) == (0, 2)
    assert not Line.objects.exists()


def test_resend_with_the_same_client_message_id_makes_one_version(alice, chat):
    _q1, _a1, q2, _a2 = exchange(chat, alice, 2)
    first, created = services.message_resend(
        message=q2, actor=alice, content="again", client_message_id="resend-1"
    )
    assert created
    again, created = services.message_resend(
        message=q2, actor=alice, content="again", client_message_id="resend-1"
    )
    assert not created and again.pk == first.pk
    with pytest.raises(IdempotencyConflict):
        services.message_resend(
            message=q2, actor=alice, content="other", client_message_id="resend-1"
        )
    chat.refresh_from_db()
    assert (chat.line_count, chat.message_count) == (1, 5)


def test_resending_a_version_again_forks_from_the_path_before_its_turn(alice, chat):
    _q1, a1, q2, _a2 = exchange(chat, alice, 2)
    second = resend(q2, "second")  # line 1
    answer(chat, "answer to second", alice)
    third = resend(second, "third")  # a version of the same turn, made from line 1
    assert (third.version, third.parent_id, third.line) == (3, a1.pk, 2)
    line = Line.objects.get(conversation=chat, number=2)
    assert (line.parent_line, line.fork_position, line.ancestry) == (1, 3, [[0, 1], [2, 3]])
    assert contents(alice, chat) == ["q1", "a1", "third"]
    assert refreshed(a1).next_turn_forks == 2
    # Back to the second version: its answer is still below it.
    assert show(second, alice) == 1
    assert contents(alice, chat) == ["q1", "a1", "second", "answer to second"]
    assert_consistent(chat)


def test_picking_a_version_tells_the_picker_s_other_tabs_only(alice, bob, chat):
    from conversations.models import Event

    _q1, _a1, q2, _a2 = exchange(chat, alice, 2)
    second = resend(q2, "second")

    def changed():
        return list(Event.objects.filter(conversation=chat, type="path.changed").order_by("id"))

    assert [(e.user_id, e.data["line"], e.data["position"]) for e in changed()] == [
        (alice.pk, 1, 3)
    ]
    assert changed()[0].data["message_id"] == str(second.pk)
    show(q2, alice)
    show(q2, alice)  # already shown: nothing to tell
    assert [(e.user_id, e.data["line"]) for e in changed()] == [(alice.pk, 1), (alice.pk, 0)]
    show(second, bob)
    assert [e.user_id for e in changed()] == [alice.pk, alice.pk, bob.pk]


def test_no_version_is_made_in_a_completed_conversation_or_by_someone_who_left(alice, bob, chat):
    _q1, a1, q2, _a2 = exchange(chat, alice, 2)
    ask(chat, "bob's", bob)
    bobs = Message.objects.get(conversation=chat, content="bob's")
    services.participant_remove(conversation=chat, actor=alice, user=bob)
    with pytest.raises(NotFound):
        resend(bobs, "again", user=bob)
    with pytest.raises(NotFound):
        show(q2, bob)
    Conversation.objects.filter(pk=chat.pk).update(status=Conversation.Status.COMPLETED)
    with pytest.raises(Conflict):
        resend(q2, "again")
    with pytest.raises(Conflict):
        regenerate(chat, a1, "again", alice)
    assert not Line.objects.filter(conversation=chat).exists()


# --- regenerate ---------------------------------------------------------------------------------


def test_regenerating_a_reply_in_the_middle_forks_there(alice, bob, chat):
    _q1, _a1, q2, a2, _q3, _a3 = exchange(chat, alice, 3)
    second = regenerate(chat, a2, "a2 second", alice)
    assert (second.position, second.version, second.parent_id, second.line) == (4, 2, q2.pk, 1)
    assert refreshed(q2).next_turn_forks == 1
    assert turns(alice, chat) == [
        (1, "q1", 1, 1),
        (2, "a1", 1, 1),
        (3, "q2", 1, 1),
        (4, "a2 second", 2, 2),
    ]
    # Everything after the first version is kept, on its line.
    assert contents(bob, chat) == ["q1", "a1", "q2", "a2", "q3", "a3"]

    third = regenerate(chat, a2, "a2 third", alice)
    assert (third.version, third.line) == (3, 2)
    assert turns(alice, chat)[-1] == (4, "a2 third", 3, 3)  # shown as 3/3
    assert [
        (v.content, v.version, v.versions)
        for v in selectors.message_versions(user=alice, message_id=a2.pk)
    ] == [("a2", 1, 3), ("a2 second", 2, 3), ("a2 third", 3, 3)]

    # Switching between all three.
    assert show(a2, alice) == 0
    assert contents(alice, chat) == ["q1", "a1", "q2", "a2", "q3", "a3"]
    assert turns(alice, chat)[3] == (4, "a2", 1, 3)  # shown as 1/3
    assert show(second, alice) == 1
    assert contents(alice, chat) == ["q1", "a1", "q2", "a2 second"]
    assert show(third, alice) == 2
    assert contents(alice, chat) == ["q1", "a1", "q2", "a2 third"]
    assert show(second, alice) == 1
    # The pick persists (a fresh read from the database) and is alice's only.
    assert Participant.objects.get(conversation=chat, user=alice).line == 1
    assert contents(alice, chat) == ["q1", "a1", "q2", "a2 second"]
    assert shown_line(chat, bob) == 0
    assert contents(bob, chat) == ["q1", "a1", "q2", "a2", "q3", "a3"]
    assert_consistent(chat)


def test_showing_a_version_is_per_person(alice, bob, chat):
    _q1, _a1, _q2, a2 = exchange(chat, alice, 2)
    second = regenerate(chat, a2, "alice's", alice)
    # bob makes his own version and is shown it; alice is not moved.
    third = regenerate(chat, a2, "bob's", bob)
    assert third.version == 3
    assert contents(alice, chat)[-1] == "alice's"
    assert contents(bob, chat)[-1] == "bob's"
    show(a2, bob)
    assert contents(bob, chat)[-1] == "a2"
    assert contents(alice, chat)[-1] == "alice's"
    show(third, alice)
    assert contents(alice, chat)[-1] == "bob's"
    assert contents(bob, chat)[-1] == "a2"
    assert second.line != third.line


def test_picking_a_version_again_returns_to_the_one_picked_below_it(alice, chat):
    _q1, _a1, _q2, a2, _q3, _a3 = exchange(chat, alice, 3)  # positions 1..6 on line 0
    a2b = regenerate(chat, a2, "a2 b", alice)  # line 1, position 4
    q3b = ask(chat, "q3 b", alice)  # line 1, position 5
    a3b = answer(chat, "a3 b", alice)  # line 1, position 6
    a3c = regenerate(chat, a3b, "a3 c", alice)  # line 2, position 6 under a2 b
    assert (a2b.line, q3b.line, a3b.line, a3c.line) == (1, 1, 1, 2)
    assert contents(alice, chat) == ["q1", "a1", "q2", "a2 b", "q3 b", "a3 c"]

    # Away at the upper turn, and back: below it, the sub-version last picked there.
    assert show(a2, alice) == 0
    assert contents(alice, chat) == ["q1", "a1", "q2", "a2", "q3", "a3"]
    assert show(a2b, alice) == 2
    assert contents(alice, chat) == ["q1", "a1", "q2", "a2 b", "q3 b", "a3 c"]

    # Having picked the other sub-version, that one is returned to.
    assert show(a3b, alice) == 1
    assert show(a2, alice) == 0
    assert show(a2b, alice) == 1
    assert contents(alice, chat) == ["q1", "a1", "q2", "a2 b", "q3 b", "a3 b"]
    recent = Participant.objects.get(conversation=chat, user=alice).recent_lines
    assert recent[0] == 1 and len(recent) == len(set(recent))

    # Someone who never went below it is shown that version's own line.
    assert a3c.pk not in [m.pk for m in page(alice, chat).items]
    assert_consistent(chat)


def test_showing_the_version_already_shown_changes_nothing(alice, chat):
    _q1, a1 = exchange(chat, alice, 1)
    before = Participant.objects.get(conversation=chat, user=alice)
    assert show(a1, alice) == 0
    after = Participant.objects.get(conversation=chat, user=alice)
    assert (after.line, after.recent_lines) == (before.line, before.recent_lines)


def test_showing_needs_a_participant(alice, charlie, chat):
    _q1, a1 = exchange(chat, alice, 1)
    with pytest.raises(NotFound):
        show(a1, charlie)


# --- pages across versions ----------------------------------------------------------------------


@pytest.fixture
def forked(alice, chat):
    """A path through several nested forks, 14 positions long: alice is shown line 4."""
    made = exchange(chat, alice, 4)  # line 0: positions 1..8
    regenerate(chat, made[3], "a2 v2", alice)  # line 1 at 4
    exchange(chat, alice, 2, prefix="L1")  # line 1: 5..8
    resend(Message.objects.get(conversation=chat, line=1, position=7), "L1q2 v2")  # line 2 at 7
    answer(chat, "L2a", alice)  # 8
    exchange(chat, alice, 2, prefix="L2")  # 9..12
    regenerate(chat, Message.objects.get(conversation=chat, line=2, position=10), "x", alice)
    regenerate(chat, Message.objects.get(conversation=chat, line=2, position=10), "L4a", alice)
    exchange(chat, alice, 2, prefix="L4")  # line 4: 11..14
    assert shown_line(chat, alice) == 4
    return chat


def expected_path(conversation, user) -> dict[int, Message]:
    """Position -> message of the path `user` is shown, worked out from the lines' rows."""
    participant = Participant.objects.get(conversation=conversation, user=user)
    path = line_path(conversation.pk, participant.line)
    shown = {}
    for message in Message.objects.filter(conversation=conversation):
        if message.position <= path.tail and path.line_at(message.position) == message.line:
            assert message.position not in shown
            shown[message.position] = message
    assert sorted(shown) == list(range(1, path.tail + 1))
    return shown


def ident(item):
    """The id of a page's item: a Message (message_page) or a MessageRow (the API's)."""
    return item.pk if isinstance(item, Message) else item.id


def test_every_page_of_a_forked_path_gives_each_position_once(alice, forked):
    expected = expected_path(forked, alice)
    tail = len(expected)
    assert tail == 14
    assert Line.objects.get(conversation=forked, number=4).ancestry == [
        [0, 1],
        [1, 4],
        [2, 7],
        [4, 10],
    ]
    for reader in (page, rows):
        for limit in (1, 3, 5, 14, 20):
            newest = reader(alice, forked, limit=limit)
            assert [i.position for i in newest.items] == list(
                range(max(tail - limit + 1, 1), tail + 1)
            )
            assert newest.has_more_before == (tail > limit) and not newest.has_more_after
            # Walking back with `before` and forward with `after` covers 1..tail once.
            seen, anchor = [], None
            while True:
                got = reader(alice, forked, before=anchor, limit=limit) if anchor else newest
                seen = [i.position for i in got.items] + seen
                if not got.has_more_before:
                    break
                anchor = got.items[0].position
            assert seen == list(range(1, tail + 1))
            seen, anchor = [], 0
            while True:
                got = reader(alice, forked, after=anchor, limit=limit)
                seen += [i.position for i in got.items]
                if not got.has_more_after:
                    break
                anchor = got.items[-1].position
            assert seen == list(range(1, tail + 1))
        for anchor in range(0, tail + 3):
            for name in ("before", "after"):
                got = reader(alice, forked, limit=4, **{name: anchor})
                if name == "before":
                    last = min(anchor - 1, tail)
                    want = list(range(max(last - 3, 1), last + 1)) if last >= 1 else []
                else:
                    want = list(range(anchor + 1, min(anchor + 4, tail) + 1))
                positions = [i.position for i in got.items]
                assert positions == want, (name, anchor)
                for item in got.items:
                    assert ident(item) == expected[item.position].pk, (name, anchor)
                if want:
                    assert got.has_more_before == (want[0] > 1), (name, anchor)
                    assert got.has_more_after == (want[-1] < tail), (name, anchor)


def test_every_page_counts_the_versions_of_each_turn(alice, forked):
    expected = expected_path(forked, alice)
    forks = {m.pk: m.next_turn_forks for m in Message.objects.filter(conversation=forked)}
    want = {
        position: 1 + (forks[m.parent_id] if m.parent_id else 0) for position, m in expected.items()
    }
    assert want[4] == 2 and want[7] == 2 and want[10] == 3
    for reader in (page, rows):
        for anchor in range(0, 15):
            got = reader(alice, forked, after=anchor, limit=3)
            assert {i.position: i.versions for i in got.items} == {
                p: want[p] for p in range(anchor + 1, min(anchor + 3, 14) + 1)
            }


def test_the_other_participant_pages_the_first_line(alice, bob, forked):
    assert [i.content for i in page(bob, forked, limit=100).items] == [
        "q1",
        "a1",
        "q2",
        "a2",
        "q3",
        "a3",
        "q4",
        "a4",
    ]
    assert_consistent(forked)


def test_a_page_costs_the_same_queries_with_no_version_and_with_many(alice, bob, team):
    def build(versions: bool):
        conversation, _ = services.conversation_create(
            creator=alice, kind="assistant", workspace=team
        )
        made = exchange(conversation, alice, 6)
        if versions:
            for index in (1, 3, 5, 7, 9):
                regenerate(conversation, made[index], f"v{index}", alice)
                show(made[index], alice)
            resend(made[4], "again")
            show(made[4], alice)
        return conversation

    plain, many = build(False), build(True)
    assert Line.objects.filter(conversation=many).count() == 6

    def count(reader, conversation, **kwargs):
        with CaptureQueriesContext(connection) as queries:
            reader(alice, conversation, **kwargs)
        return len(queries)

    for reader in (page, rows):
        for kwargs in ({}, {"before": 8, "limit": 3}, {"after": 2, "limit": 5}):
            assert count(reader, plain, **kwargs) == count(reader, many, **kwargs), (
                reader,
                kwargs,
            )
    assert count(page, many, limit=5) <= 3
    assert count(rows, many, limit=5) <= 2


# --- what the assistant is sent -----------------------------------------------------------------


def sent(prepared) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in prepared.request.messages if m["role"] != "system"]


def test_after_a_resend_the_assistant_is_sent_the_shown_path_only(alice, bob, chat, configured):
    _q1, _a1, q2, _a2, _q3, _a3 = exchange(chat, alice, 3)
    resend(q2, "q2 again")
    prepared = prepare_reply(user=alice, conversation_id=chat.pk)
    assert prepared.request is not None
    assert sent(prepared) == [("user", "q1"), ("assistant", "a1"), ("user", "q2 again")]
    reply = prepared.message
    assert (reply.line, reply.position, reply.version) == (1, 4, 1)
    assert reply.parent_id == Message.objects.get(conversation=chat, line=1, position=3).pk
    services.assistant_message_finish(message=reply, content="a2 again")
    # bob, on the first line, is sent his path.
    ask(chat, "q4", bob)
    for_bob = prepare_reply(user=bob, conversation_id=chat.pk)
    assert sent(for_bob) == [
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
        ("assistant", "a2"),
        ("user", "q3"),
        ("assistant", "a3"),
        ("user", "q4"),
    ]
    assert for_bob.message.line == 0 and for_bob.message.position == 8
    assert_consistent(chat)


def test_regenerating_a_middle_reply_sends_the_path_up_to_its_prompt(alice, chat, configured):
    _q1, _a1, q2, a2, _q3, _a3 = exchange(chat, alice, 3)
    prepared = prepare_reply(
        user=alice, conversation_id=chat.pk, regenerate=True, message_id=str(a2.pk)
    )
    assert sent(prepared) == [("user", "q1"), ("assistant", "a1"), ("user", "q2")]
    message = prepared.message
    assert (message.position, message.version, message.parent_id) == (4, 2, q2.pk)
    assert message.status == MessageStatus.STREAMING
    assert shown_line(chat, alice) == message.line == 1
    services.assistant_message_finish(message=message, content="a2 again")

    # The default target is the last reply of the path shown: now the new version.
    again = prepare_reply(user=alice, conversation_id=chat.pk, regenerate=True)
    assert sent(again) == [("user", "q1"), ("assistant", "a1"), ("user", "q2")]
    assert (again.message.position, again.message.version) == (4, 3)
    services.assistant_message_finish(message=again.message, content="a2 third")
    assert turns(alice, chat)[-1] == (4, "a2 third", 3, 3)


def test_regenerating_a_reply_on_a_deeper_line_sends_that_line_s_path(alice, forked, configured):
    target = Message.objects.get(conversation=forked, line=2, position=8)  # "L2a"
    prepared = prepare_reply(
        user=alice, conversation_id=forked.pk, regenerate=True, message_id=target.pk
    )
    assert sent(prepared) == [
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
        ("assistant", "a2 v2"),
        ("user", "L1q1"),
        ("assistant", "L1a1"),
        ("user", "L1q2 v2"),
    ]
    assert prepared.message.position == 8 and prepared.message.version == 2


def test_regenerate_refusals(alice, charlie, chat, configured):
    q1, a1 = exchange(chat, alice, 1)
    with pytest.raises(Conflict):  # a prompt is resent, not regenerated
        prepare_reply(user=alice, conversation_id=chat.pk, regenerate=True, message_id=q1.pk)
    with pytest.raises(NotFound):
        prepare_reply(
            user=alice,
            conversation_id=chat.pk,
            regenerate=True,
            message_id="00000000-0000-0000-0000-000000000000",
        )
    with pytest.raises(NotFound):
        prepare_reply(user=charlie, conversation_id=chat.pk, regenerate=True, message_id=a1.pk)
    streaming = prepare_reply(user=alice, conversation_id=chat.pk, regenerate=True)
    with pytest.raises(Conflict):  # still being written
        prepare_reply(
            user=alice, conversation_id=chat.pk, regenerate=True, message_id=streaming.message.pk
        )
    chat.refresh_from_db()
    assert chat.line_count == 1


# --- concurrent writers (PostgreSQL) ------------------------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_resends_with_one_client_message_id_make_one_version(alice, chat):
    _q1, _a1, q2, _a2 = exchange(chat, alice, 2)

    def resend_once(number: int):
        return services.message_resend(
            message=q2, actor=alice, content="once", client_message_id="resend-once"
        )

    results = run_in_threads(6, resend_once)
    assert all(isinstance(result, tuple) for result in results), results
    assert len({message.pk for message, _created in results}) == 1
    assert sum(created for _message, created in results) == 1
    chat.refresh_from_db()
    assert (chat.line_count, chat.message_count) == (1, 5)
    assert Message.objects.filter(conversation=chat, position=3).count() == 2
    assert_consistent(chat)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_appending_on_two_lines_at_once_duplicates_no_position_and_leaves_no_gap(alice, bob, chat):
    # Once failed: the one-statement post read the line's end with the snapshot taken before
    # the lock's wait, and two posts took one position (IntegrityError).
    _q1, _a1, q2, _a2 = exchange(chat, alice, 2)
    resend(q2, "alice's line")  # alice: line 1 from position 3; bob: line 0
    people = [alice, bob] * 4

    def post_many(number: int) -> int:
        for index in range(15):
            services.message_post(
                conversation=chat, sender=people[number], content=f"{number}/{index}"
            )
        return 15

    results = run_in_threads(len(people), post_many)
    assert results == [15] * len(people), results
    assert Message.objects.filter(conversation=chat, line=1).count() == 1 + 60
    assert Message.objects.filter(conversation=chat, line=0).count() == 4 + 60
    assert [m.position for m in page(alice, chat, limit=100).items] == list(range(1, 64))
    assert [m.position for m in page(bob, chat, limit=100).items] == list(range(1, 65))
    assert_consistent(chat)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_assistant_turns_and_posts_on_one_line_at_once_take_distinct_positions(alice, chat):
    # An assistant turn appended by the ORM and a one-statement post race for one line's end.
    exchange(chat, alice, 1)

    def work(number: int) -> int:
        for index in range(10):
            if number % 2:
                ask(chat, f"{number}/{index}", alice)
            else:
                answer(chat, f"{number}/{index}", alice)
        return 10

    results = run_in_threads(6, work)
    assert results == [10] * 6, results
    assert [m.position for m in page(alice, chat, limit=100).items] == list(range(1, 63))
    assert_consistent(chat)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("turn", ["first prompt", "middle prompt", "middle reply"])
def test_versions_made_at_once_at_one_turn_are_numbered_1_to_n(alice, chat, turn):
    made = exchange(chat, alice, 3)
    target = {"first prompt": made[0], "middle prompt": made[2], "middle reply": made[3]}[turn]
    threads = 6

    def make_version(number: int) -> int:
        if target.role == "user":
            return resend(target, f"version from thread {number}").version
        return regenerate(chat, target, f"version from thread {number}", alice).version

    results = run_in_threads(threads, make_version)
    assert sorted(results) == list(range(2, threads + 2)), results
    versions = Message.objects.filter(
        conversation=chat, parent_id=target.parent_id, position=target.position
    )
    assert sorted(versions.values_list("version", flat=True)) == list(range(1, threads + 2))
    chat.refresh_from_db()
    if target.parent_id is None:
        assert chat.first_turn_forks == threads
    else:
        assert Message.objects.get(pk=target.parent_id).next_turn_forks == threads
    assert chat.line_count == threads
    assert sorted(Line.objects.filter(conversation=chat).values_list("number", flat=True)) == (
        list(range(1, threads + 1))
    )
    listed = selectors.message_versions(user=alice, message_id=target.pk)
    assert [v.version for v in listed] == list(range(1, threads + 2))
    assert all(v.versions == threads + 1 for v in listed)
    assert_consistent(chat)
