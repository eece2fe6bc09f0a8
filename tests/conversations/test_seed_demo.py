"""`manage.py seed_demo`: every kind of content, through the services, and idempotent."""

import hashlib
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from conversations import selectors
from conversations.models import (
    Agent,
    Artifact,
    AuditEvent,
    Conversation,
    Membership,
    Message,
    MessagePart,
    Participant,
    Workspace,
)

User = get_user_model()

SEEDED_MODELS = [
    User,
    Workspace,
    Membership,
    Agent,
    Conversation,
    Participant,
    Message,
    MessagePart,
    Artifact,
    AuditEvent,
]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Artifacts write files: keep them out of the data directory."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def seeded(key: str) -> Conversation:
    return Conversation.objects.get(subject_type="seed_demo", subject_id=key)


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in SEEDED_MODELS}


@pytest.mark.django_db
def test_seed_demo_creates_people_who_can_sign_in(monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    output = seed()

    for username in ("demo", "ada", "grace"):
        user = User.objects.get(username=username)
        assert user.check_password("demo-password-1")
        assert user.default_workspace is not None
    assert "username 'demo'" in output
    assert "password 'demo-password-1'" in output


@pytest.mark.django_db
def test_seed_demo_takes_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "Another-secret-7")
    output = seed()

    assert User.objects.get(username="demo").check_password("Another-secret-7")
    assert "Another-secret-7" in output


@pytest.mark.django_db
def test_seed_demo_marks_every_conversation_with_a_stable_subject():
    seed()

    keys = set(
        Conversation.objects.filter(subject_type="seed_demo").values_list("subject_id", flat=True)
    )
    assert keys == {"welcome", "tool-use", "upstream-error", "team-release"}
    demo = User.objects.get(username="demo")
    page = selectors.conversation_list_for_user(user=demo)
    assert len(page.items) == 4


@pytest.mark.django_db
def test_seed_demo_has_plain_text_markdown_and_usage():
    seed()
    conversation = seeded("welcome")
    question, answer, thanks = conversation.messages.order_by("seq")

    assert question.role == "user" and "```" not in question.content
    assert answer.role == "assistant" and answer.status == "complete"
    assert "```python\n" in answer.content
    assert [part.type for part in answer.parts.all()] == ["text"]
    assert answer.agent is not None and answer.model
    assert answer.reply_to_id == question.pk
    # Usage on the turn and in the conversation's totals.
    assert (answer.prompt_tokens, answer.completion_tokens) == (412, 118)
    assert answer.total_tokens == 530
    assert conversation.total_input_tokens == 412
    assert conversation.total_output_tokens == 118
    assert conversation.total_cached_tokens == 256
    assert thanks.seq == 3 == conversation.message_count


@pytest.mark.django_db
def test_seed_demo_has_tool_calls_results_and_artifacts():
    seed()
    conversation = seeded("tool-use")
    answer = conversation.messages.get(role="assistant")
    parts = list(answer.parts.order_by("index"))
    types = [part.type for part in parts]

    assert types[0] == "reasoning"
    assert types.count("tool_call") == types.count("tool_result") == 4
    assert types.count("file") == 2
    assert types[-1] == "text"
    assert [part.index for part in parts] == list(range(len(parts)))
    # Every call is followed by its result, and results carry their duration.
    for call, result in zip(parts[1:9:2], parts[2:9:2], strict=True):
        assert call.type == "tool_call" and result.type == "tool_result"
        assert call.tool_call_id == result.tool_call_id and call.tool_name == result.tool_name
        assert result.tool_duration_ms is not None and result.tool_duration_ms > 0
    durations = sum(part.tool_duration_ms or 0 for part in parts)
    assert conversation.total_tool_time_ms == durations == 12 + 840 + 5 + 910
    assert conversation.tool_counts == {"read_file": 1, "run_tests": 2, "write_file": 1}
    assert answer.reasoning_tokens == 128
    assert conversation.total_reasoning_tokens == 128


@pytest.mark.django_db
def test_seed_demo_artifacts_store_real_bytes_with_their_hash():
    seed()
    artifacts = Artifact.objects.filter(
        part__message__conversation=seeded("tool-use")
    ).select_related("part")

    assert {artifact.kind for artifact in artifacts} == {"file", "file_diff"}
    for artifact in artifacts:
        assert artifact.part.type == "file"
        with artifact.file.open("rb") as stored:
            data = stored.read()
        assert data
        assert artifact.size == len(data)
        assert artifact.sha256 == hashlib.sha256(data).hexdigest()
        assert artifact.path == "app/pagination.py"
    diff = artifacts.get(kind="file_diff")
    assert diff.mime == "text/x-diff"
    assert diff.file.open("rb").read().startswith(b"--- a/app/pagination.py")


@pytest.mark.django_db
def test_seed_demo_has_an_assistant_turn_that_failed_upstream():
    seed()
    conversation = seeded("upstream-error")
    answer = conversation.messages.get(role="assistant")

    assert answer.status == "error"
    assert answer.error_type == "upstream_error"
    assert answer.error
    assert answer.content.startswith("Sure.")  # the partial answer is kept
    assert answer.completed_at is not None
    assert answer.error_details["status_code"] == 502
    assert [part.type for part in answer.parts.order_by("index")] == ["text", "error"]


@pytest.mark.django_db
def test_seed_demo_has_a_group_in_a_shared_workspace():
    seed()
    conversation = seeded("team-release")
    people = {"demo", "ada", "grace"}

    assert conversation.kind == "group"
    assert conversation.title
    assert conversation.workspace.slug == "demo-team"
    assert not conversation.workspace.is_personal
    assert set(conversation.workspace.memberships.values_list("user__username", flat=True)) == (
        people
    )
    participants = conversation.participants.filter(left_at__isnull=True)
    assert set(participants.values_list("user__username", flat=True)) == people
    assert participants.get(role="owner").user.username == "demo"
    senders = set(conversation.messages.values_list("sender__username", flat=True))
    assert senders == people
    # ada sees the group and none of demo's assistant conversations.
    ada = User.objects.get(username="ada")
    page = selectors.conversation_list_for_user(user=ada)
    assert [item.id for item in page.items] == [conversation.pk]


@pytest.mark.django_db
def test_seed_demo_counters_match_the_messages():
    seed()
    for conversation in Conversation.objects.filter(subject_type="seed_demo"):
        seqs = list(conversation.messages.order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1))
        assert conversation.message_count == len(seqs)


@pytest.mark.django_db
def test_seed_demo_twice_creates_nothing_new(media_root):
    seed()
    before = row_counts()
    files_before = sorted(media_root.rglob("*"))

    output = seed()

    assert row_counts() == before
    assert sorted(media_root.rglob("*")) == files_before
    assert "Everything already existed" in output


@pytest.mark.django_db
def test_seed_demo_keeps_existing_users_and_fills_in_the_rest(make_user):
    ada = make_user("ada")

    seed()

    ada.refresh_from_db()
    assert ada.check_password("Correct-horse-9")  # not reset by the seed
    assert User.objects.filter(username__in=["demo", "ada", "grace"]).count() == 3
    assert seeded("team-release").participants.filter(user=ada).exists()


# --- the demo assistant is on the server's default endpoint ------------------------------


def demo_agent() -> Agent:
    return Agent.objects.get(slug="demo", workspace__memberships__user__username="demo")


@pytest.mark.django_db
def test_seed_demo_agent_uses_the_endpoint_configured_later(settings):
    from conversations.assistant.generation import resolve_endpoint

    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_MODEL = ""
    seed()
    agent = demo_agent()
    # Empty means the server's default, read when a reply starts: nothing copied.
    assert (agent.base_url, agent.model, agent.max_tokens) == ("", "", None)
    settings.OPENAI_BASE_URL = "http://models.example:8080/v1"
    settings.OPENAI_MODEL = "llama3.1"
    assert resolve_endpoint(agent)[:2] == ("http://models.example:8080/v1", "llama3.1")


@pytest.mark.django_db
def test_seed_demo_copies_no_setting_even_when_one_is_set(settings):
    settings.OPENAI_BASE_URL = "http://models.example:8080/v1"
    settings.OPENAI_MODEL = "llama3.1"
    seed()
    assert (demo_agent().base_url, demo_agent().model) == ("", "")
    # The seeded turns say they were written by no real model.
    assert seeded("welcome").messages.get(role="assistant").model == "demo-model"


@pytest.mark.django_db
def test_seed_demo_again_moves_an_agent_left_on_the_placeholder_to_the_default(settings):
    settings.OPENAI_BASE_URL = "http://models.example:8080/v1"
    seed()
    # As an earlier seed_demo left it: a copy of the base URL and the placeholder model.
    Agent.objects.filter(pk=demo_agent().pk).update(
        base_url="http://models.example:8080/v1", model="demo-model"
    )
    output = seed()
    assert (demo_agent().base_url, demo_agent().model) == ("", "")
    assert "moved to the default model" in output


@pytest.mark.django_db
def test_seed_demo_again_keeps_a_model_staff_chose(settings):
    seed()
    Agent.objects.filter(pk=demo_agent().pk).update(base_url="http://gpu.example/v1", model="qwen3")
    seed()
    assert (demo_agent().base_url, demo_agent().model) == ("http://gpu.example/v1", "qwen3")
