"""What the thread page shows of an assistant turn's content: tool calls and results as
indented JSON inside folded <details>, code in labelled figures, task lists as checkboxes."""

import json
import re

import pytest
from django.test import Client

from conversations import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def turn(alice, post):
    conversation, _ = services.conversation_create(creator=alice, kind="assistant")
    question = post(conversation, "Fix the tests, please.")
    answer = services.assistant_message_start(
        conversation=conversation, agent=None, reply_to=question
    )
    services.message_part_add(
        message=answer,
        type="tool_call",
        tool_name="write_file",
        tool_call_id="call_1",
        content={"arguments": json.dumps({"path": "a.py", "content": "x = 1\ny = 2\n"})},
    )
    services.message_part_add(
        message=answer,
        type="tool_result",
        tool_name="write_file",
        tool_call_id="call_1",
        content={"output": json.dumps({"written": 12, "path": "a.py"})},
    )
    services.assistant_message_finish(
        message=answer, content="Done:\n\n- [x] fixed\n- [ ] released\n\n```python\nx = 1\n```"
    )
    return answer


def thread_page(user, conversation_id) -> str:
    client = Client()
    client.force_login(user)
    return client.get(f"/c/{conversation_id}/").content.decode()


def test_tool_calls_and_results_are_folded_pretty_json(alice, turn):
    page = thread_page(alice, turn.conversation_id)
    folded = re.findall(r'<details class="part tool"( open)?>.*?<pre[^>]*>(.*?)</pre>', page, re.S)
    assert len(folded) == 2
    assert all(not is_open for is_open, _ in folded)  # folded by default
    call, result = (text for _, text in folded)
    assert call == (
        "{\n  &quot;path&quot;: &quot;a.py&quot;,\n"
        "  &quot;content&quot;: &quot;x = 1\ny = 2\n&quot;\n}"
    )
    assert "\\n" not in call
    assert result == (
        "{\n  &quot;output&quot;: {\n    &quot;written&quot;: 12,\n"
        "    &quot;path&quot;: &quot;a.py&quot;\n  }\n}"
    )


def test_task_lists_and_code_figures_reach_the_page(alice, turn):
    page = thread_page(alice, turn.conversation_id)
    assert '<input checked type="checkbox" disabled aria-label="Done">' in page
    assert '<input type="checkbox" disabled aria-label="Not done">' in page
    assert '<figure class="code-block" data-language="python">' in page
    assert '<span class="code-lang">python</span>' in page
