"""A fast stream does not freeze the page: 3,000 tokens as fast as the fake server sends
them, with no long task (PerformanceObserver `longtask`) over 100 ms while they arrive, the
whole text shown at the end, and Stop answered during a long fast stream.

Against a real llama.cpp server at about 500 tokens/s, appending each delta and then reading
the scroll position forced a layout per token: the page was blocked for seconds and Stop
could not be clicked. The deltas are now painted once per animation frame (docs/ui.md)."""

import json
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import make_users
from tests.browser.test_chat import start_assistant_conversation
from tests.fake_openai import many_tokens, text_reply

LONG_TASK_MS = 100  # what the page may be blocked for in one stretch while a reply streams
STOP_ANSWERED_S = 3.0  # from the click on Stop to the reply shown as stopped


@pytest.fixture(scope="module")
def people(database):
    make_users(database, "alice")


def send(page, text: str) -> None:
    composer = page.locator("#composer-text")
    composer.fill(text)
    composer.press("Enter")


def watch_long_tasks(page) -> None:
    """Record the page's long tasks from now on (buffered: also one already running)."""
    page.evaluate(
        """() => {
            window.watchedFrom = performance.now();
            window.longTasks = [];
            new PerformanceObserver((list) => {
                for (const task of list.getEntries()) {
                    window.longTasks.push({start: task.startTime, duration: task.duration});
                }
            }).observe({type: "longtask", buffered: true});
        }"""
    )


def long_tasks(page) -> list[dict]:
    """The long tasks since watch_long_tasks, in ms, after letting the observer report."""
    page.wait_for_timeout(200)
    return page.evaluate(
        "() => window.longTasks.filter((task) => task.start + task.duration >= window.watchedFrom)"
    )


def saved_reply(database, conversation_id: str) -> dict:
    return json.loads(
        database.shell(
            "import json\n"
            "from conversations.models import Message\n"
            f"m = Message.objects.filter(conversation_id='{conversation_id}')"
            ".order_by('seq').last()\n"
            "print(json.dumps({'status': m.status, 'error_type': m.error_type, "
            "'content': m.content}))"
        )
    )


def test_3000_fast_tokens_stream_without_a_long_task(open_page, people, fake):
    pieces = many_tokens(3000)
    answer = "".join(pieces).strip()
    fake.script(text_reply(pieces))  # no delay: as fast as the fake server writes
    page = open_page("alice")
    start_assistant_conversation(page)
    watch_long_tasks(page)

    send(page, "Count to three thousand, fast.")
    reply = page.locator(".message.role-assistant").last
    expect(reply.locator(".usage")).to_contain_text("fake-model", timeout=60_000)  # saved
    expect(reply.locator(".md.body")).to_have_text(answer)
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()

    tasks = long_tasks(page)
    longest = max((task["duration"] for task in tasks), default=0)
    assert longest <= LONG_TASK_MS, (
        f"{len(tasks)} long tasks while 3,000 tokens streamed, the longest {longest:.0f} ms: "
        f"{tasks}"
    )


def test_stop_answers_during_a_long_fast_stream(open_page, people, fake, database):
    # Twice the rate of the llama.cpp server that froze the page, for about 20 s. (As fast as
    # the fake server can, the app's server falls behind on this machine: the text already
    # queued for the page keeps coming for seconds after Stop, whatever the page does.)
    pieces = many_tokens(20_000)
    fake.script(text_reply(pieces, tokens_per_second=1000))
    page = open_page("alice")
    conversation_id = start_assistant_conversation(page)

    send(page, "Count to twenty thousand, fast.")
    reply = page.locator(".message.role-assistant").last
    expect(reply.locator(".streaming-text")).to_contain_text("tok1500 ", timeout=30_000)
    stop = page.get_by_role("button", name="Stop")
    clicked = time.monotonic()
    stop.click(timeout=30_000)
    expect(reply.locator(".error-note")).to_have_text("Stopped.", timeout=30_000)
    answered = time.monotonic() - clicked
    expect(stop).to_be_hidden()
    assert answered < STOP_ANSWERED_S, f"Stop took {answered:.1f} s to show the reply stopped"

    shown = reply.locator(".md.body").inner_text()
    saved = saved_reply(database, conversation_id)
    assert (saved["status"], saved["error_type"]) == ("error", "aborted")
    assert shown.startswith("tok0 tok1 tok2")
    assert len(saved["content"]) < len("".join(pieces)) // 2  # it stopped, well before the end
