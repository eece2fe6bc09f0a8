"""The write services: their invariants, their permission rules and their bad inputs."""

import hashlib

import pytest

from conversations import services
from conversations.exceptions import (
    Conflict,
    IdempotencyConflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from conversations.models import (
    Agent,
    Conversation,
    Message,
    MessagePart,
    Participant,
)

pytestmark = pytest.mark.django_db


def table_counts():
    return (
        Conversation.objects.count(),
        Participant.objects.count(),
        Message.objects.count(),
        MessagePart.objects.count(),
    )


# --- users and workspaces ---------------------------------------------------------------------


def test_new_user_gets_personal_workspace_and_owner_membership(alice):
    workspace = alice.default_workspace
    assert workspace is not None and workspace.is_personal
    assert workspace.memberships.get().user == alice
    assert workspace.memberships.get().role == "owner"


def test_workspace_create_rejects_taken_slug(alice, team):
    with pytest.raises(InvalidInput) as error:
        services.workspace_create(name="Other", slug="team", owner=alice)
    assert error.value.field == "slug"


def test_nobody_joins_a_personal_workspace(alice, bob):
    with pytest.raises(InvalidInput):
        services.membership_add(workspace=alice.default_workspace, user=bob)


# --- conversation_create ------------------------------------------------------------------


def test_conversation_create_makes_creator_owner(alice):
    conversation, created = services.conversation_create(creator=alice, kind="assistant")
    assert created
    assert conversation.workspace == alice.default_workspace
    assert conversation.participants.get().role == "owner"


def test_direct_conversation_is_found_not_duplicated(alice, bob, team):
    first, created = services.conversation_create(
        creator=alice, kind="direct", workspace=team, participants=[bob]
    )
    again, created_again = services.conversation_create(
        creator=bob, kind="direct", workspace=team, participants=[alice]
    )
    assert created and not created_again
    assert again.pk == first.pk
    assert Conversation.objects.filter(kind="direct").count() == 1


def test_direct_conversation_after_delete_is_new(alice, bob, team):
    first, _ = services.conversation_create(
        creator=alice, kind="direct", workspace=team, participants=[bob]
    )
    services.conversation_delete(conversation=first, actor=alice)
    second, created = services.conversation_create(
        creator=alice, kind="direct", workspace=team, participants=[bob]
    )
    assert created and second.pk != first.pk
    # The old one cannot come back beside the new one.
    with pytest.raises(InvalidInput):
        services.conversation_restore(conversation=first, actor=alice)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "group"}, "title"),
        ({"kind": "group", "title": "   "}, "title"),
        ({"kind": "chat"}, "kind"),
        ({"kind": "assistant", "title": "x" * 201}, "title"),
        ({"kind": "direct"}, "participants"),
        ({"kind": "assistant", "metadata": ["not", "an", "object"]}, "metadata"),
        ({"kind": "assistant", "subject_type": "t" * 51}, "subject_type"),
    ],
)
def test_conversation_create_rejects_bad_input(alice, team, kwargs, field):
    before = table_counts()
    with pytest.raises(InvalidInput) as error:
        services.conversation_create(creator=alice, workspace=team, **kwargs)
    assert error.value.field == field
    assert table_counts() == before


def test_conversation_create_rejects_people_outside_the_workspace(alice, make_user, settings):
    settings.SHARED_WORKSPACE = False  # the stranger joins no workspace of alice's
    stranger = make_user("stranger")
    before = table_counts()
    with pytest.raises(InvalidInput) as error:
        services.conversation_create(
            creator=alice, kind="group", title="x", participants=[stranger]
        )
    assert error.value.field == "participants"
    assert table_counts() == before


def test_conversation_create_in_someone_elses_workspace_is_not_found(bob, make_user):
    stranger = make_user("stranger")
    with pytest.raises(NotFound):
        services.conversation_create(
            creator=bob, kind="assistant", workspace=stranger.default_workspace
        )


def test_conversation_create_rejects_agent_of_another_workspace(alice, bob, team):
    foreign_agent = Agent.objects.create(workspace=bob.default_workspace, name="B", slug="b")
    with pytest.raises(InvalidInput) as error:
        services.conversation_create(creator=alice, kind="assistant", agent=foreign_agent)
    assert error.value.field == "agent_id"


# --- participants ---------------------------------------------------------------------------


def test_owner_adds_and_removes_participants(alice, charlie, group):
    participant = services.participant_add(conversation=group, actor=alice, user=charlie)
    assert participant.is_active
    services.participant_remove(conversation=group, actor=alice, user=charlie)
    participant.refresh_from_db()
    assert participant.left_at is not None
    # Added again, the same row comes back.
    again = services.participant_add(conversation=group, actor=alice, user=charlie)
    assert again.pk == participant.pk and again.left_at is None


def test_member_cannot_add_or_remove(alice, bob, charlie, group):
    with pytest.raises(PermissionDenied):
        services.participant_add(conversation=group, actor=bob, user=charlie)
    with pytest.raises(PermissionDenied):
        services.participant_remove(conversation=group, actor=bob, user=alice)


def test_outsider_cannot_touch_participants(alice, charlie, group):
    with pytest.raises(NotFound):
        services.participant_add(conversation=group, actor=charlie, user=charlie)


def test_cannot_add_someone_outside_the_workspace(alice, group, make_user):
    stranger = make_user("stranger")
    with pytest.raises(InvalidInput):
        services.participant_add(conversation=group, actor=alice, user=stranger)


def test_owner_leaving_hands_ownership_on(alice, bob, group):
    services.participant_remove(conversation=group, actor=alice, user=alice)
    assert Participant.objects.get(conversation=group, user=bob).role == "owner"


def test_direct_conversation_takes_no_third_person(alice, bob, charlie, team):
    direct, _ = services.conversation_create(
        creator=alice, kind="direct", workspace=team, participants=[bob]
    )
    with pytest.raises(InvalidInput):
        services.participant_add(conversation=direct, actor=alice, user=charlie)


# --- message_post -------------------------------------------------------------------------


def test_message_post_numbers_messages_and_moves_counters(alice, bob, group, post):
    before = Conversation.objects.get(pk=group.pk).last_activity_at
    first = post(group, "one")
    second = post(group, "two", sender=bob)
    group.refresh_from_db()
    assert (first.seq, second.seq) == (1, 2)
    assert group.message_count == 2
    assert group.last_activity_at >= second.created_at >= before
    # One's own message counts as read.
    assert Participant.objects.get(conversation=group, user=bob).last_read_seq == 2
    assert Participant.objects.get(conversation=group, user=alice).last_read_seq == 1


def test_empty_title_is_derived_from_the_first_message(alice, post):
    conversation, _ = services.conversation_create(creator=alice, kind="assistant")
    post(conversation, "\n  How do I   sort a list?\nIn Python.")
    post(conversation, "Second message does not rename.")
    conversation.refresh_from_db()
    assert conversation.title == "How do I sort a list?"


def test_long_first_message_title_is_cut_at_a_word(alice, post):
    conversation, _ = services.conversation_create(creator=alice, kind="assistant")
    post(conversation, "word " * 100)
    conversation.refresh_from_db()
    assert len(conversation.title) <= 200 and conversation.title.endswith("…")


def test_same_client_message_id_returns_the_same_message(alice, group):
    first, created = services.message_post(
        conversation=group, sender=alice, content="hi", client_message_id="c-1"
    )
    again, created_again = services.message_post(
        conversation=group, sender=alice, content="hi", client_message_id="c-1"
    )
    assert created and not created_again and again.pk == first.pk
    group.refresh_from_db()
    assert group.message_count == 1


def test_same_client_message_id_with_other_content_conflicts(alice, group):
    services.message_post(conversation=group, sender=alice, content="hi", client_message_id="c-1")
    with pytest.raises(IdempotencyConflict) as error:
        services.message_post(
            conversation=group, sender=alice, content="changed", client_message_id="c-1"
        )
    assert error.value.details["field"] == "client_message_id"


def test_client_message_id_is_per_sender(alice, bob, group):
    services.message_post(conversation=group, sender=alice, content="hi", client_message_id="k")
    message, created = services.message_post(
        conversation=group, sender=bob, content="hi", client_message_id="k"
    )
    assert created and message.seq == 2


def test_message_post_rejects_outsider(charlie, group):
    with pytest.raises(NotFound):
        services.message_post(conversation=group, sender=charlie, content="let me in")
    assert Message.objects.count() == 0


def test_message_post_to_deleted_conversation_is_not_found(alice, group, post):
    services.conversation_delete(conversation=group, actor=alice)
    with pytest.raises(NotFound):
        post(group, "anyone?")


def test_message_post_to_completed_conversation_conflicts(alice, group, post):
    services.conversation_update(conversation=group, actor=alice, status="completed")
    with pytest.raises(Conflict):
        post(group, "late")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"content": ""}, "content"),
        ({"content": "   \n\t"}, "content"),
        ({"content": "x" * 100_001}, "content"),
        ({"content": 42}, "content"),
        ({"content": "nul \x00 byte"}, "content"),
        ({"content": "ok", "client_message_id": "x" * 101}, "client_message_id"),
        ({"content": "ok", "client_message_id": "tab\there"}, "client_message_id"),
        ({"content": "ok", "meta": "not an object"}, "meta"),
        ({"content": "ok", "meta": {"tokens": -1}}, "meta.tokens"),
        ({"content": "ok", "meta": {"model": 7}}, "meta.model"),
        ({"content": "ok", "meta": {"latency_ms": "fast"}}, "meta.latency_ms"),
        (
            {"content": "ok", "meta": {"extractions": [{"type": "", "value": 1}]}},
            "meta.extractions.0.type",
        ),
        ({"content": "ok", "meta": {"extractions": [{"value": 1}]}}, "meta.extractions.0.type"),
        ({"content": "ok", "meta": {"extractions": "nope"}}, "meta.extractions"),
    ],
)
def test_message_post_rejects_bad_input_and_writes_nothing(alice, group, post, kwargs, field):
    post(group, "already here")
    before = table_counts()
    with pytest.raises(InvalidInput) as error:
        services.message_post(conversation=group, sender=alice, **kwargs)
    assert error.value.field == field
    assert table_counts() == before
    group.refresh_from_db()
    assert group.message_count == 1


def test_message_meta_keeps_unknown_keys(alice, group, post):
    meta = {
        "tokens": {"input": 3, "output": 5},
        "model": "m",
        "latency_ms": 12.5,
        "extractions": [{"type": "email", "value": "a@example.com"}],
        "custom": {"anything": [1, 2]},
    }
    message = post(group, "with meta", meta=meta)
    message.refresh_from_db()
    assert message.meta == meta


def test_reply_to_must_be_in_the_same_conversation(alice, group, post):
    other, _ = services.conversation_create(creator=alice, kind="assistant")
    elsewhere = post(other, "elsewhere")
    with pytest.raises(InvalidInput) as error:
        post(group, "reply", reply_to=elsewhere)
    assert error.value.field == "reply_to_id"


# --- assistant turns: parts, usage -----------------------------------------------------------


@pytest.fixture
def assistant_chat(alice):
    agent = Agent.objects.create(
        workspace=alice.default_workspace, name="Helper", slug="helper", model="m-1"
    )
    conversation, _ = services.conversation_create(creator=alice, kind="assistant", agent=agent)
    return conversation


def test_assistant_turn_records_parts_usage_and_totals(alice, assistant_chat, post):
    question = post(assistant_chat, "What's the weather?")
    turn = services.assistant_message_start(
        conversation=assistant_chat, agent=assistant_chat.agent, reply_to=question
    )
    assert (turn.seq, turn.status, turn.model) == (2, "streaming", "m-1")
    services.message_part_add(
        message=turn, type="tool_call", tool_name="weather", content={"arguments": {"city": "Oslo"}}
    )
    services.message_part_add(
        message=turn,
        type="tool_result",
        tool_name="weather",
        content={"result": "rain"},
        tool_duration_ms=120,
    )
    services.message_part_add(message=turn, type="text", content={"text": "Rain in Oslo."})
    services.message_record_usage(
        message=turn, usage=services.Usage(prompt_tokens=10, completion_tokens=4)
    )
    # Recording again replaces, it does not add twice.
    services.message_record_usage(
        message=turn,
        usage=services.Usage(prompt_tokens=12, completion_tokens=5, cached_input_tokens=2),
    )
    services.assistant_message_finish(
        message=turn, content="Rain in Oslo.", latency_ms=900, ttft_ms=80
    )
    turn.refresh_from_db()
    assistant_chat.refresh_from_db()
    assert [part.index for part in turn.parts.all()] == [0, 1, 2]
    assert (turn.prompt_tokens, turn.completion_tokens, turn.total_tokens) == (12, 5, 17)
    assert turn.status == "complete" and turn.completed_at is not None
    assert assistant_chat.total_input_tokens == 12
    assert assistant_chat.total_output_tokens == 5
    assert assistant_chat.total_cached_tokens == 2
    assert assistant_chat.total_tool_time_ms == 120
    assert assistant_chat.tool_counts == {"weather": 1}
    assert assistant_chat.message_count == 2


def test_errored_assistant_turn_keeps_partial_text(assistant_chat):
    turn = services.assistant_message_start(conversation=assistant_chat, agent=None)
    services.assistant_message_finish(
        message=turn,
        content="Half an ans",
        status="error",
        error="upstream answered 500",
        error_type="upstream_error",
        error_details={"status": 500},
    )
    turn.refresh_from_db()
    assert (turn.status, turn.error_type, turn.content) == (
        "error",
        "upstream_error",
        "Half an ans",
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"status": "error"}, "error_type"),
        ({"status": "streaming"}, "status"),
        ({"latency_ms": -5}, "latency_ms"),
    ],
)
def test_assistant_message_finish_rejects_bad_input(assistant_chat, kwargs, field):
    turn = services.assistant_message_start(conversation=assistant_chat, agent=None)
    with pytest.raises(InvalidInput) as error:
        services.assistant_message_finish(message=turn, content="x", **kwargs)
    assert error.value.field == field
    turn.refresh_from_db()
    assert turn.status == "streaming" and turn.content == ""


def test_usage_rejects_negative_counts():
    with pytest.raises(InvalidInput) as error:
        services.Usage(prompt_tokens=-1)
    assert error.value.field == "prompt_tokens"


def test_usage_only_on_assistant_turns(group, post):
    message = post(group, "I am a person")
    with pytest.raises(InvalidInput):
        services.message_record_usage(message=message, usage=services.Usage(prompt_tokens=1))
    group.refresh_from_db()
    assert group.total_input_tokens == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"type": "video"}, "type"),
        ({"type": "text", "content": "plain"}, "content"),
        ({"type": "tool_call"}, "tool_name"),
        ({"type": "tool_result", "tool_name": "t", "tool_duration_ms": -1}, "tool_duration_ms"),
    ],
)
def test_message_part_add_rejects_bad_input(assistant_chat, kwargs, field):
    turn = services.assistant_message_start(conversation=assistant_chat, agent=None)
    with pytest.raises(InvalidInput) as error:
        services.message_part_add(message=turn, **kwargs)
    assert error.value.field == field
    assert MessagePart.objects.count() == 0


def test_artifact_create_stores_file_with_hash(assistant_chat, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    turn = services.assistant_message_start(conversation=assistant_chat, agent=None)
    part = services.message_part_add(message=turn, type="file", content={"path": "a.py"})
    artifact = services.artifact_create(part=part, kind="file", data=b"print(1)\n", path="src/a.py")
    assert artifact.size == 9
    assert artifact.sha256 == hashlib.sha256(b"print(1)\n").hexdigest()
    with artifact.file.open("rb") as stored:
        assert stored.read() == b"print(1)\n"
    with pytest.raises(InvalidInput):
        services.artifact_create(part=part, kind="movie", data=b"x")


# --- edit, delete, restore, read -------------------------------------------------------------


def test_author_edits_and_deletes_own_message(alice, group, post):
    message = post(group, "tyop")
    services.message_edit(message=message, actor=alice, content="typo")
    message.refresh_from_db()
    assert message.content == "typo" and message.edited_at is not None
    services.message_delete(message=message, actor=alice)
    message.refresh_from_db()
    assert message.deleted_at is not None and message.visible_content == ""
    # It keeps its place; editing a deleted message is not possible.
    assert message.seq == 1
    with pytest.raises(NotFound):
        services.message_edit(message=message, actor=alice, content="back")


def test_others_cannot_edit_or_delete(alice, bob, charlie, group, post):
    message = post(group, "mine")
    with pytest.raises(PermissionDenied):
        services.message_edit(message=message, actor=bob, content="yours now")
    with pytest.raises(NotFound):
        services.message_delete(message=message, actor=charlie)
    message.refresh_from_db()
    assert message.content == "mine" and message.deleted_at is None


def test_edit_rejects_empty_content(alice, group, post):
    message = post(group, "keep me")
    with pytest.raises(InvalidInput):
        services.message_edit(message=message, actor=alice, content=" ")
    message.refresh_from_db()
    assert message.content == "keep me"


def test_delete_and_restore_need_owner_or_admin(alice, bob, group):
    with pytest.raises(PermissionDenied):
        services.conversation_delete(conversation=group, actor=bob)
    services.conversation_delete(conversation=group, actor=alice)
    group.refresh_from_db()
    assert group.deleted_at is not None and group.deleted_by == alice
    with pytest.raises(PermissionDenied):
        services.conversation_restore(conversation=group, actor=bob)
    services.conversation_restore(conversation=group, actor=alice)
    group.refresh_from_db()
    assert group.deleted_at is None


def test_deleting_twice_is_not_found(alice, group):
    services.conversation_delete(conversation=group, actor=alice)
    with pytest.raises(NotFound):
        services.conversation_delete(conversation=group, actor=alice)


def test_mark_read_moves_forward_only_and_stops_at_the_end(alice, bob, group, post):
    for text in ("a", "b", "c"):
        post(group, text)
    participant = services.conversation_mark_read(conversation=group, user=bob, up_to_seq=2)
    assert participant.last_read_seq == 2
    assert (
        services.conversation_mark_read(conversation=group, user=bob, up_to_seq=1).last_read_seq
        == 2
    )
    assert (
        services.conversation_mark_read(conversation=group, user=bob, up_to_seq=99).last_read_seq
        == 3
    )
    with pytest.raises(InvalidInput):
        services.conversation_mark_read(conversation=group, user=bob, up_to_seq=-1)


def test_mark_read_by_outsider_is_not_found(charlie, group):
    with pytest.raises(NotFound):
        services.conversation_mark_read(conversation=group, user=charlie)


def test_pin_and_archive_are_per_person(alice, bob, group):
    services.participant_set_flags(conversation=group, user=alice, pinned=True, archived=True)
    mine = Participant.objects.get(conversation=group, user=alice)
    theirs = Participant.objects.get(conversation=group, user=bob)
    assert mine.pinned_at and mine.archived_at
    assert theirs.pinned_at is None and theirs.archived_at is None


def test_member_cannot_rename_a_group(bob, group):
    with pytest.raises(PermissionDenied):
        services.conversation_update(conversation=group, actor=bob, title="Mine")


def test_rename_rejects_bad_status_and_empty_group_title(alice, group):
    with pytest.raises(InvalidInput):
        services.conversation_update(conversation=group, actor=alice, status="paused")
    with pytest.raises(InvalidInput):
        services.conversation_update(conversation=group, actor=alice, title="")
    group.refresh_from_db()
    assert group.title == "Plans" and group.status == "active"


def test_read_marker_and_flags_of_a_deleted_conversation_are_not_found(alice, group):
    services.conversation_delete(conversation=group, actor=alice)
    with pytest.raises(NotFound):
        services.conversation_mark_read(conversation=group, user=alice)
    with pytest.raises(NotFound):
        services.participant_set_flags(conversation=group, user=alice, pinned=True)


def test_assistant_turn_ends_once(assistant_chat):
    turn = services.assistant_message_start(conversation=assistant_chat, agent=None)
    services.assistant_message_finish(
        message=turn, content="stopped", status="error", error_type="aborted", is_aborted=True
    )
    with pytest.raises(Conflict):
        services.assistant_message_finish(message=turn, content="overwritten")
    turn.refresh_from_db()
    assert (turn.content, turn.status, turn.is_aborted) == ("stopped", "error", True)


def test_assistant_text_with_nul_characters_is_stored_without_them(assistant_chat):
    turn = services.assistant_message_start(conversation=assistant_chat, agent=None)
    services.assistant_message_finish(message=turn, content="a\x00b")
    turn.refresh_from_db()
    assert turn.content == "ab"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"error_type": "oops"}, "error_type"),
        ({"latency_ms": True}, "latency_ms"),
        ({"content": None}, "content"),
    ],
)
def test_assistant_message_finish_rejects_more_bad_input(assistant_chat, kwargs, field):
    turn = services.assistant_message_start(conversation=assistant_chat, agent=None)
    with pytest.raises(InvalidInput) as error:
        services.assistant_message_finish(message=turn, **{"content": "x", **kwargs})
    assert error.value.field == field


def test_only_tool_results_carry_tool_time(assistant_chat):
    turn = services.assistant_message_start(conversation=assistant_chat, agent=None)
    with pytest.raises(InvalidInput) as error:
        services.message_part_add(message=turn, type="text", tool_duration_ms=500)
    assert error.value.field == "tool_duration_ms"
    assistant_chat.refresh_from_db()
    assert assistant_chat.total_tool_time_ms == 0


def test_artifact_create_rejects_long_mime_and_second_artifact(assistant_chat):
    turn = services.assistant_message_start(conversation=assistant_chat, agent=None)
    part = services.message_part_add(message=turn, type="file")
    with pytest.raises(InvalidInput) as error:
        services.artifact_create(part=part, kind="file", data=b"x", mime="a/" + "b" * 100)
    assert error.value.field == "mime"
    services.artifact_create(part=part, kind="file", data=b"x", path="x.txt")
    with pytest.raises(Conflict):
        services.artifact_create(part=part, kind="file", data=b"y", path="y.txt")


def test_long_username_still_gets_a_workspace(make_user):
    user = make_user("u" * 150)
    assert user.default_workspace.is_personal


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "n" * 101}, "name"),
        ({"name": "Fine", "slug": "Not A Slug"}, "slug"),
    ],
)
def test_workspace_create_rejects_bad_input(alice, kwargs, field):
    with pytest.raises(InvalidInput) as error:
        services.workspace_create(owner=alice, **kwargs)
    assert error.value.field == field


def test_membership_and_participant_roles_are_checked(alice, bob, charlie, team, group):
    with pytest.raises(InvalidInput):
        services.membership_add(workspace=team, user=bob, role="emperor")
    with pytest.raises(InvalidInput):
        services.participant_add(conversation=group, actor=alice, user=charlie, role="owner")
    assert not Participant.objects.filter(conversation=group, user=charlie).exists()


def test_only_the_owner_makes_admins(alice, bob, charlie, group):
    services.participant_add(conversation=group, actor=alice, user=bob, role="admin")
    with pytest.raises(PermissionDenied):
        services.participant_add(conversation=group, actor=bob, user=charlie, role="admin")
    member = services.participant_add(conversation=group, actor=bob, user=charlie)
    assert member.role == "member"


def test_owner_cannot_restore_what_a_moderator_removed(alice, group, make_user):
    moderator = make_user("mod", is_staff=True)
    from django.utils import timezone

    Conversation.objects.filter(pk=group.pk).update(deleted_at=timezone.now(), deleted_by=moderator)
    with pytest.raises(PermissionDenied):
        services.conversation_restore(conversation=group, actor=alice)
