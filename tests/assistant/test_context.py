"""The context sent to the model: the system prompt, then the newest turns that fit."""

import io
import json
from pathlib import Path

import pytest
from django.utils import timezone

from conversations import services
from conversations.assistant.context import (
    MESSAGE_OVERHEAD_TOKENS,
    NO_TOOL_RESULT,
    build_messages,
    estimate_message_tokens,
    estimate_tokens,
)
from conversations.models import Agent, Conversation, Message

BIG = 1_000_000


@pytest.fixture
def chat(alice):
    agent = Agent.objects.create(
        workspace=alice.default_workspace, name="Helper", slug="helper", model="m-1"
    )
    conversation, _ = services.conversation_create(creator=alice, kind="assistant", agent=agent)
    return conversation


@pytest.fixture
def answer(chat):
    """answer(text, parts=[(type, content, extra)], status="complete", **finish) -> Message"""

    def make(text="", *, parts=(), status="complete", **finish):
        turn = services.assistant_message_start(conversation=chat, agent=chat.agent)
        for type, content, extra in parts:
            services.message_part_add(message=turn, type=type, content=content, **extra)
        if status == "streaming":
            return turn
        if status == "error":
            finish.setdefault("error_type", "upstream_error")
        return services.assistant_message_finish(
            message=turn, content=text, status=status, **finish
        )

    return make


def history_of(conversation) -> list[Message]:
    return list(Message.objects.filter(conversation=conversation).order_by("seq"))


def test_estimate_is_a_quarter_of_the_utf8_bytes_rounded_up():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("日本") == 2  # 6 bytes: CJK counts more per character
    assert estimate_message_tokens({"role": "user", "content": "abcd"}) == (
        1 + MESSAGE_OVERHEAD_TOKENS
    )


def test_roles_map_and_the_system_prompt_comes_first(chat, post, answer):
    post(chat, "What is 2+2?")
    answer("4.")
    post(chat, "And 3+3?")
    messages = build_messages(
        system_prompt="You are terse.", history=history_of(chat), budget_tokens=BIG
    )
    assert messages == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": "And 3+3?"},
    ]


def test_no_system_message_without_a_prompt(chat, post):
    post(chat, "Hi")
    messages = build_messages(system_prompt="  ", history=history_of(chat), budget_tokens=BIG)
    assert messages == [{"role": "user", "content": "Hi"}]


def test_the_budget_drops_the_oldest_turns_first_and_keeps_the_system_prompt(chat, post, answer):
    for number in range(1, 6):
        post(chat, f"question {number} " + "x" * 40)  # 13 + 4 = 17 tokens each with overhead
        answer(f"answer {number} " + "y" * 40)
    history = history_of(chat)
    system = "Be kind."  # 2 + 4 = 6 tokens
    per_message = estimate_message_tokens({"content": history[0].content})
    budget = 6 + 4 * per_message  # the system prompt and the last four messages
    messages = build_messages(system_prompt=system, history=history, budget_tokens=budget)
    assert messages[0] == {"role": "system", "content": system}
    assert [message["content"][:10] for message in messages[1:]] == [
        "question 4",
        "answer 4 y",
        "question 5",
        "answer 5 y",
    ]
    assert sum(estimate_message_tokens(message) for message in messages) <= budget
    # One token less and the oldest kept turn goes too.
    fewer = build_messages(system_prompt=system, history=history, budget_tokens=budget - 1)
    assert [message["content"][:10] for message in fewer[1:]] == [
        "answer 4 y",
        "question 5",
        "answer 5 y",
    ]


def test_the_newest_turn_is_kept_even_over_the_budget(chat, post):
    post(chat, "old")
    post(chat, "z" * 4000)
    messages = build_messages(system_prompt="System.", history=history_of(chat), budget_tokens=10)
    assert messages == [
        {"role": "system", "content": "System."},
        {"role": "user", "content": "z" * 4000},
    ]


def test_deleted_and_hidden_messages_are_skipped(alice, chat, post, answer):
    deleted = post(chat, "I take this back")
    services.message_delete(message=deleted, actor=alice)
    hidden = post(chat, "something abusive")
    # No moderation service hides messages yet; the admin action will set these fields.
    Message.objects.filter(pk=hidden.pk).update(hidden_at=timezone.now())
    post(chat, "A fair question")
    answer("A fair answer")
    messages = build_messages(system_prompt="", history=history_of(chat), budget_tokens=BIG)
    assert [message["content"] for message in messages] == ["A fair question", "A fair answer"]


def test_empty_errored_and_in_progress_turns_are_skipped(chat, post, answer):
    post(chat, "first")
    answer("", status="error", error="down")
    post(chat, "second")
    answer("Half an ans", status="error", error_type="aborted", is_aborted=True)
    post(chat, "third")
    answer(status="streaming")  # this very reply, being generated
    messages = build_messages(system_prompt="", history=history_of(chat), budget_tokens=BIG)
    assert messages == [
        {"role": "user", "content": "first"},
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "Half an ans"},
        {"role": "user", "content": "third"},
    ]


def test_tool_calls_and_results_become_openai_tool_messages(chat, post, answer):
    post(chat, "Fix the tests")
    answer(
        "Fixed: the loop was off by one.",
        parts=[
            ("reasoning", {"text": "Read first."}, {}),
            (
                "tool_call",
                {"arguments": {"path": "app.py"}},
                {"tool_name": "read_file", "tool_call_id": "call_1"},
            ),
            (
                "tool_result",
                {"output": "def f(): ...", "is_error": False},
                {"tool_name": "read_file", "tool_call_id": "call_1"},
            ),
            ("text", {"text": "Now the tests."}, {"step_index": 1}),
            (
                "tool_call",
                {"arguments": '{"path": "tests"}'},
                {"tool_name": "run_tests", "tool_call_id": "call_2", "step_index": 1},
            ),
            (
                "tool_result",
                {"output": "1 failed", "is_error": True},
                {"tool_name": "run_tests", "tool_call_id": "call_2", "step_index": 1},
            ),
            ("text", {"text": "Fixed: the loop was off by one."}, {"step_index": 2}),
        ],
    )
    messages = build_messages(system_prompt="", history=history_of(chat), budget_tokens=BIG)
    assert messages == [
        {"role": "user", "content": "Fix the tests"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path": "app.py"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "def f(): ..."},
        {
            "role": "assistant",
            "content": "Now the tests.",
            "tool_calls": [
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "run_tests", "arguments": '{"path": "tests"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_2", "content": "Error: 1 failed"},
        {"role": "assistant", "content": "Fixed: the loop was off by one."},
    ]


def test_a_call_without_result_gets_a_placeholder_and_ids_are_made_up(chat, post, answer):
    post(chat, "Weather?")
    turn = answer(
        "It rains.",  # no text parts: the content is the final answer
        parts=[
            ("tool_call", {"arguments": {"city": "Oslo"}}, {"tool_name": "weather"}),
            ("tool_result", {"result": {"rain": True}}, {"tool_name": "weather"}),
            ("tool_call", {}, {"tool_name": "radar"}),
        ],
    )
    messages = build_messages(system_prompt="", history=history_of(chat), budget_tokens=BIG)
    first_id, second_id = f"call_{turn.seq}_0", f"call_{turn.seq}_2"
    assert [call["id"] for call in messages[1]["tool_calls"]] == [first_id, second_id]
    assert messages[1]["tool_calls"][1]["function"]["arguments"] == "{}"
    assert messages[2:] == [
        {"role": "tool", "tool_call_id": first_id, "content": json.dumps({"rain": True})},
        {"role": "tool", "tool_call_id": second_id, "content": NO_TOOL_RESULT},
        {"role": "assistant", "content": "It rains."},
    ]


def test_a_tool_turn_is_kept_or_dropped_whole(chat, post, answer):
    post(chat, "q" * 400)
    answer(
        "done",
        parts=[
            ("tool_call", {"arguments": {}}, {"tool_name": "t", "tool_call_id": "c1"}),
            ("tool_result", {"output": "r" * 400}, {"tool_name": "t", "tool_call_id": "c1"}),
        ],
    )
    post(chat, "last")
    history = history_of(chat)
    everything = build_messages(system_prompt="", history=history, budget_tokens=BIG)
    tool_turn_cost = sum(estimate_message_tokens(message) for message in everything[1:4])
    last_cost = estimate_message_tokens(everything[-1])
    kept = build_messages(
        system_prompt="", history=history, budget_tokens=tool_turn_cost + last_cost
    )
    assert [message["role"] for message in kept] == ["assistant", "tool", "assistant", "user"]
    kept = build_messages(
        system_prompt="", history=history, budget_tokens=tool_turn_cost + last_cost - 1
    )
    assert kept == [{"role": "user", "content": "last"}]


def test_parts_are_loaded_in_one_query(chat, post, answer, django_assert_num_queries):
    for number in range(4):
        post(chat, f"q{number}")
        answer(
            f"a{number}",
            parts=[("tool_call", {}, {"tool_name": "t", "tool_call_id": f"c{number}"})],
        )
    history = history_of(chat)
    with django_assert_num_queries(1):  # the parts of every assistant turn
        messages = build_messages(system_prompt="", history=history, budget_tokens=BIG)
    assert len(messages) == 4 * 4


def test_an_imported_chatgpt_tool_conversation_gives_a_valid_request(alice):
    """ChatGPT exports keep tool output as tool-role messages without call ids: each answers
    the call of the assistant turn before it; reasoning-only turns are left out."""
    data = (Path(__file__).parent.parent / "fixtures" / "chatgpt" / "tools.json").read_bytes()
    services.conversation_import(user=alice, file=io.BytesIO(data), name="conversations.json")
    conversation = Conversation.objects.get(workspace=alice.default_workspace)
    messages = build_messages(
        system_prompt="Be brief.", history=history_of(conversation), budget_tokens=BIG
    )
    roles = [message["role"] for message in messages]
    assert roles == ["system", "system", "user", "assistant", "tool", "assistant"]
    call_id = messages[3]["tool_calls"][0]["id"]
    assert messages[3]["tool_calls"][0]["function"]["name"] == "python"
    assert messages[4] == {"role": "tool", "tool_call_id": call_id, "content": "<<ImageDisplayed>>"}
    assert messages[5] == {"role": "assistant", "content": "Here is the plot of sin(x)."}


def test_a_tool_result_with_no_call_before_it_is_left_out(chat, post, answer):
    post(chat, "Hi")
    answer(
        "Hello",
        parts=[("tool_result", {"output": "stray"}, {"tool_name": "t", "tool_call_id": "x"})],
    )
    messages = build_messages(system_prompt="", history=history_of(chat), budget_tokens=BIG)
    assert messages == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
