"""Assistant replies and live events end to end: the real server (uvicorn) streaming from the
fake OpenAI server, over real HTTP."""

import contextlib
import json
import threading
import time

import httpx
import pytest

from tests.fake_openai import (
    FakeOpenAI,
    Scenario,
    error_reply,
    refused_base_url,
    text_reply,
    tool_call_reply,
)
from tests.live_server import Server, ServerDatabase

API_KEY = "sk-test-secret-key-0123456789abcdef"


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def database(tmp_path_factory, fake):
    database = ServerDatabase(
        tmp_path_factory.mktemp("assistant-server"),
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_MODEL="fake-model",
        OPENAI_API_KEY=API_KEY,
        ASSISTANT_FIRST_TOKEN_TIMEOUT="2",
        ASSISTANT_IDLE_TIMEOUT="2",
        STREAM_SAVE_INTERVAL_MS="50",
        LOG_LEVEL="DEBUG",
    )
    database.shell(
        "from chatapp.accounts.services import user_create\n"
        "from conversations.services import workspace_create, membership_add\n"
        "alice = user_create(username='alice', password='x')\n"
        "bob = user_create(username='bob', password='x')\n"
        "charlie = user_create(username='charlie', password='x')\n"
        "team = workspace_create(name='Team', slug='team', owner=alice)\n"
        "membership_add(workspace=team, user=bob)\n"
        "membership_add(workspace=team, user=charlie)\n"
        "print('ok')"
    )
    yield database
    database.drop()


@pytest.fixture(scope="module")
def server(database, tmp_path_factory):
    log = tmp_path_factory.mktemp("logs") / "server.log"
    server = Server(database.env, log_path=log).start()
    server.log = log
    yield server
    server.kill()


def token_for(database: ServerDatabase, username: str) -> str:
    return database.shell(
        "from chatapp.accounts.models import User\n"
        "from chatapp.accounts.services import personal_token_create\n"
        f"print(personal_token_create(user=User.objects.get(username='{username}'), "
        "name='t').raw)"
    )


@pytest.fixture(scope="module")
def tokens(database):
    return {name: token_for(database, name) for name in ("alice", "bob", "charlie")}


def client(server: Server, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def new_conversation(server, token, *, agent_base_url: str | None = None, **body) -> str:
    """A conversation with one user message in it, ready for a reply."""
    with client(server, token) as api:
        conversation = api.post("/api/v1/conversations", json={"kind": "assistant", **body})
        assert conversation.status_code == 201, conversation.text
        conversation_id = conversation.json()["id"]
        posted = api.post(
            f"/api/v1/conversations/{conversation_id}/messages", json={"content": "Hello?"}
        )
        assert posted.status_code == 201
    return conversation_id


def read_sse(response: httpx.Response, *, stop_after: int | None = None, lines=None):
    """Parse an SSE response (or the rest of its `lines` iterator) into (event, data) pairs."""
    events, name, data = [], None, []
    for line in lines if lines is not None else response.iter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and name:
            events.append((name, json.loads("".join(data))))
            name, data = None, []
            if stop_after and len(events) >= stop_after:
                break
    return events


def reply(server, token, conversation_id, **body):
    with (
        client(server, token) as api,
        api.stream(
            "POST", f"/api/v1/conversations/{conversation_id}/reply", json=body or None
        ) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return read_sse(response)


def last_message(server, token, conversation_id) -> dict:
    with client(server, token) as api:
        return api.get(f"/api/v1/conversations/{conversation_id}/messages").json()["items"][-1]


def test_a_streamed_reply_is_saved_with_parts_and_usage(server, tokens, fake):
    fake.script(
        text_reply(
            "The answer is forty-two.",
            reasoning="Think it over.",
            usage_body={"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
        )
    )
    conversation_id = new_conversation(server, tokens["alice"])
    events = reply(server, tokens["alice"], conversation_id)
    names = [name for name, _ in events]
    assert names[0] == "message.created" and names[-1] == "message.completed"
    assert set(names[1:-1]) == {"delta"}
    text = "".join(data.get("text", "") for name, data in events if name == "delta")
    assert text == "The answer is forty-two."
    assert "".join(data.get("reasoning", "") for _, data in events) == "Think it over."
    completed = events[-1][1]
    assert completed["usage"] == {"prompt_tokens": 12, "completion_tokens": 7}
    assert completed["ttft_ms"] is not None and completed["latency_ms"] >= completed["ttft_ms"]

    saved = last_message(server, tokens["alice"], conversation_id)
    assert saved["role"] == "assistant" and saved["status"] == "complete"
    assert saved["content"] == "The answer is forty-two."
    assert [part["type"] for part in saved["parts"]] == ["reasoning", "text"]
    with client(server, tokens["alice"]) as api:
        detail = api.get(f"/api/v1/conversations/{conversation_id}").json()
    assert detail["usage"]["input_tokens"] == 12 and detail["usage"]["output_tokens"] == 7
    # The system prompt and the user's message went upstream, with the key as a bearer.
    request = fake.requests[-1]
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body["messages"][-1] == {"role": "user", "content": "Hello?"}
    assert request.body["stream"] is True


def test_tool_calls_are_saved_as_parts(server, tokens, fake):
    fake.script(tool_call_reply("get_weather", '{"city": "Oslo"}'))
    conversation_id = new_conversation(server, tokens["alice"])
    events = reply(server, tokens["alice"], conversation_id)
    assert events[-1][0] == "message.completed"
    assert any(name == "part" for name, _ in events)
    saved = last_message(server, tokens["alice"], conversation_id)
    calls = [part for part in saved["parts"] if part["type"] == "tool_call"]
    assert calls[0]["tool_name"] == "get_weather"
    assert json.loads(calls[0]["content"]["arguments"]) == {"city": "Oslo"}


@pytest.mark.parametrize(
    ("scenarios", "error_type", "partial"),
    [
        ([error_reply(500, "boom")] * 3, "upstream_error", ""),
        ([Scenario(events=[], stall_at=0, stall_seconds=5)], "timeout", ""),
        ([text_reply("Half of an answer that", disconnect_at=4)], "upstream_error", "Half of "),
    ],
    ids=["upstream-500", "stall", "mid-stream-drop"],
)
def test_upstream_failures_leave_a_saved_errored_message(
    server, tokens, fake, scenarios, error_type, partial
):
    fake.script(*scenarios)
    conversation_id = new_conversation(server, tokens["alice"])
    events = reply(server, tokens["alice"], conversation_id)
    assert events[-1][0] == "error"
    assert events[-1][1]["error_type"] == error_type
    saved = last_message(server, tokens["alice"], conversation_id)
    assert saved["status"] == "error"
    assert saved["content"].startswith(partial)
    assert any(part["type"] == "error" for part in saved["parts"])


def test_connection_refused_is_upstream_unreachable(server, database, tokens):
    agent_id = database.shell(
        "from conversations.models import Agent, Workspace\n"
        "from chatapp.accounts.models import User\n"
        "workspace = User.objects.get(username='alice').default_workspace\n"
        f"agent = Agent.objects.create(workspace=workspace, name='Gone', slug='gone', "
        f"base_url='{refused_base_url()}', model='m')\n"
        "print(agent.pk)"
    )
    conversation_id = new_conversation(server, tokens["alice"], agent_id=agent_id)
    events = reply(server, tokens["alice"], conversation_id)
    assert events[-1] == ("error", events[-1][1])
    assert events[-1][1]["error_type"] == "upstream_unreachable"
    assert last_message(server, tokens["alice"], conversation_id)["status"] == "error"


def test_abort_from_a_second_connection_keeps_the_partial_text(server, tokens, fake):
    fake.script(text_reply("word " * 400, tokens_per_second=50))
    conversation_id = new_conversation(server, tokens["alice"])
    with (
        client(server, tokens["alice"]) as api,
        api.stream("POST", f"/api/v1/conversations/{conversation_id}/reply") as response,
    ):
        lines = response.iter_lines()
        message_id = None
        deltas = 0
        name = None
        for line in lines:
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:") and name == "message.created":
                message_id = json.loads(line[5:])["message_id"]
            elif line.startswith("data:") and name == "delta":
                deltas += 1
                if deltas == 5:
                    break
        with client(server, tokens["alice"]) as other:
            stopped = other.post(f"/api/v1/messages/{message_id}/abort")
            assert stopped.status_code == 202
        rest = read_sse(response, lines=lines)
    assert rest[-1][0] == "error" and rest[-1][1]["error_type"] == "aborted"
    saved = last_message(server, tokens["alice"], conversation_id)
    assert saved["status"] == "error"
    assert saved["content"].startswith("word word word word word")
    assert len(saved["content"]) < len("word " * 400)
    with client(server, tokens["alice"]) as api:
        again = api.post(f"/api/v1/messages/{message_id}/abort")
    assert again.status_code == 409


def test_a_client_that_disconnects_does_not_stop_the_answer(server, tokens, fake):
    fake.script(text_reply("one two three four five six seven eight", tokens_per_second=20))
    conversation_id = new_conversation(server, tokens["alice"])
    with (
        client(server, tokens["alice"]) as api,
        api.stream("POST", f"/api/v1/conversations/{conversation_id}/reply") as response,
    ):
        read_sse(response, stop_after=2)  # then hang up
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        saved = last_message(server, tokens["alice"], conversation_id)
        if saved["status"] == "complete":
            break
        time.sleep(0.2)
    assert saved["status"] == "complete"
    assert saved["content"] == "one two three four five six seven eight"


def test_regenerate_writes_a_new_version_of_the_last_assistant_turn(server, tokens, fake):
    fake.script(text_reply("First try."), text_reply("Second try."))
    conversation_id = new_conversation(server, tokens["alice"])
    reply(server, tokens["alice"], conversation_id)
    first = last_message(server, tokens["alice"], conversation_id)
    events = reply(server, tokens["alice"], conversation_id, regenerate=True)
    assert events[-1][0] == "message.completed"
    second = last_message(server, tokens["alice"], conversation_id)
    assert second["id"] != first["id"] and second["position"] == first["position"]
    assert (second["content"], second["version"], second["versions"]) == ("Second try.", 2, 2)
    with client(server, tokens["alice"]) as api:
        versions = api.get(f"/api/v1/messages/{second['id']}/versions").json()["items"]
    assert [version["content"] for version in versions] == ["First try.", "Second try."]


def test_a_regenerate_sent_again_with_its_key_answers_with_the_version_it_made(
    server, tokens, fake
):
    fake.script(text_reply("First try."), text_reply("Second try."))
    conversation_id = new_conversation(server, tokens["alice"])
    reply(server, tokens["alice"], conversation_id)
    first = last_message(server, tokens["alice"], conversation_id)
    body = {"regenerate": True, "message_id": first["id"], "client_message_id": "again-1"}
    made = reply(server, tokens["alice"], conversation_id, **body)
    assert made[-1][0] == "message.completed"
    # Sent again (a lost answer): the same version's start and end, nothing asked upstream.
    asked = len(fake.requests)
    again = reply(server, tokens["alice"], conversation_id, **body)
    assert [name for name, _ in again] == ["message.created", "message.completed"]
    assert again[0][1]["message_id"] == made[0][1]["message_id"]
    assert len(fake.requests) == asked
    with client(server, tokens["alice"]) as api:
        versions = api.get(f"/api/v1/messages/{first['id']}/versions").json()["items"]
    assert [version["content"] for version in versions] == ["First try.", "Second try."]


def test_reply_refusals(server, tokens, database):
    with client(server, tokens["alice"]) as api:
        empty = api.post("/api/v1/conversations", json={"kind": "assistant"}).json()["id"]
        nothing_to_answer = api.post(f"/api/v1/conversations/{empty}/reply")
        assert nothing_to_answer.status_code == 409
        assert nothing_to_answer.json()["error"]["code"] == "conflict"
    conversation_id = new_conversation(server, tokens["alice"])
    with client(server, tokens["charlie"]) as outsider:
        assert outsider.post(f"/api/v1/conversations/{conversation_id}/reply").status_code == 404
    with httpx.Client(base_url=server.base) as anonymous:
        assert anonymous.post(f"/api/v1/conversations/{conversation_id}/reply").status_code == 401


def test_no_endpoint_configured_saves_the_turn_as_an_error_saying_how(tmp_path_factory):
    database = ServerDatabase(
        tmp_path_factory.mktemp("unconfigured"), OPENAI_BASE_URL="", OPENAI_MODEL=""
    )
    try:
        database.shell(
            "from chatapp.accounts.services import user_create\n"
            "user_create(username='alice', password='x'); print('ok')"
        )
        server = Server(database.env).start()
        try:
            token = token_for(database, "alice")
            conversation_id = new_conversation(server, token)
            with client(server, token) as api:
                answer = api.post(f"/api/v1/conversations/{conversation_id}/reply")
                assert answer.status_code == 200
                assert "event: message.created" in answer.text and "event: error" in answer.text
                assert "OPENAI_BASE_URL" in answer.text
                turn = api.get(f"/api/v1/conversations/{conversation_id}/messages").json()
            last = turn["items"][-1]
            assert (last["role"], last["status"], last["error_type"]) == (
                "assistant",
                "error",
                "not_configured",
            )
        finally:
            server.kill()
    finally:
        database.drop()


def test_the_api_key_appears_in_no_response_and_no_log_line(server, tokens, fake):
    fake.script(text_reply("Fine."))
    conversation_id = new_conversation(server, tokens["alice"])
    events = reply(server, tokens["alice"], conversation_id)
    with client(server, tokens["alice"]) as api:
        bodies = [
            api.get("/api/v1/agents").text,
            api.get(f"/api/v1/conversations/{conversation_id}").text,
            api.get(f"/api/v1/conversations/{conversation_id}/messages").text,
            api.get("/api/v1/openapi.json").text,
        ]
    assert all(API_KEY not in body for body in bodies)
    assert API_KEY not in json.dumps(events)
    assert API_KEY not in server.log.read_text()
    agents = json.loads(bodies[0])["items"]
    assert agents and all(
        "base_url" not in agent and "api_key" not in str(agent) for agent in agents
    )


# --- /events ------------------------------------------------------------------------------------


class EventListener(threading.Thread):
    """Reads /events in the background into a list."""

    def __init__(self, server, token, headers=None):
        super().__init__(daemon=True)
        self.server, self.token, self.headers = server, token, headers or {}
        self.events: list[tuple[str, dict, str | None]] = []
        self.ready = threading.Event()
        self.stop = threading.Event()

    def run(self):
        with contextlib.suppress(httpx.HTTPError):  # the server went away at the end
            self._read()

    def _read(self):
        with (
            client(self.server, self.token) as api,
            api.stream(
                "GET", "/api/v1/events", headers=self.headers, timeout=httpx.Timeout(30, read=60)
            ) as response,
        ):
            self.ready.set()
            name, event_id = None, None
            for line in response.iter_lines():
                if self.stop.is_set():
                    return
                if line.startswith("id:"):
                    event_id = line[3:].strip()
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    self.events.append((name, json.loads(line[5:]), event_id))
                    name, event_id = None, None

    def wait_for(self, predicate, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [event for event in self.events if predicate(event)]
            if found:
                return found[0]
            time.sleep(0.02)
        return None


def group_with_bob(server, tokens) -> str:
    with client(server, tokens["alice"]) as api:
        response = api.post(
            "/api/v1/conversations",
            json={"kind": "group", "title": "Live", "workspace": "team", "participants": ["bob"]},
        )
    return response.json()["id"]


def test_events_reach_participants_and_no_one_else(server, tokens):
    conversation_id = group_with_bob(server, tokens)
    bob, charlie = EventListener(server, tokens["bob"]), EventListener(server, tokens["charlie"])
    for listener in (bob, charlie):
        listener.start()
        listener.ready.wait(5)
    time.sleep(0.3)
    with client(server, tokens["alice"]) as api:
        posted = api.post(
            f"/api/v1/conversations/{conversation_id}/messages", json={"content": "Live!"}
        ).json()
    created = bob.wait_for(
        lambda e: e[0] == "message.created" and e[1]["conversation_id"] == conversation_id
    )
    assert created is not None, bob.events
    assert created[1]["data"]["message_id"] == posted["id"] and created[2]
    assert "Live!" not in json.dumps(created[1])  # the event names the message; no text
    time.sleep(0.5)
    assert not [e for e in charlie.events if e[1].get("conversation_id") == conversation_id]
    for listener in (bob, charlie):
        listener.stop.set()


def test_streamed_text_reaches_events_with_contiguous_offsets(server, tokens, fake):
    answer = "Offsets: " + " ".join(f"word{n} é✓🙂" for n in range(30))
    fake.script(text_reply(answer, tokens_per_second=40))  # about a second: several saves
    conversation_id = new_conversation(server, tokens["alice"])
    other_tab = EventListener(server, tokens["alice"])
    other_tab.start()
    other_tab.ready.wait(5)
    time.sleep(0.3)
    reply(server, tokens["alice"], conversation_id)
    assert other_tab.wait_for(lambda e: e[0] == "message.completed") is not None
    other_tab.stop.set()

    deltas = [data["data"] for name, data, _ in other_tab.events if name == "message.delta"]
    assert len(deltas) >= 2, other_tab.events
    # Each starts where the one before it ended (in characters, not bytes or UTF-16 units).
    expected_offset = 0
    for delta in deltas:
        assert delta["offset"] == expected_offset
        expected_offset += len(delta["text"])
    assert answer.startswith("".join(delta["text"] for delta in deltas))


def test_events_resume_with_last_event_id(server, tokens):
    conversation_id = group_with_bob(server, tokens)
    first = EventListener(server, tokens["bob"])
    first.start()
    first.ready.wait(5)
    time.sleep(0.3)
    with client(server, tokens["alice"]) as api:
        api.post(f"/api/v1/conversations/{conversation_id}/messages", json={"content": "one"})
    seen = first.wait_for(
        lambda e: e[0] == "message.created" and e[1]["conversation_id"] == conversation_id
    )
    first.stop.set()
    with client(server, tokens["alice"]) as api:
        for text in ("two", "three"):
            api.post(f"/api/v1/conversations/{conversation_id}/messages", json={"content": text})
    resumed = EventListener(server, tokens["bob"], headers={"Last-Event-ID": seen[2]})
    resumed.start()
    assert resumed.wait_for(lambda e: e[1].get("data", {}).get("seq") == 3)
    seqs = [
        e[1]["data"]["seq"]
        for e in resumed.events
        if e[0] == "message.created" and e[1]["conversation_id"] == conversation_id
    ]
    assert seqs == [2, 3]
    resumed.stop.set()


@pytest.mark.postgres_only
def test_events_cross_processes_on_postgresql(database, server, tokens):
    """Two server processes on one database: a message posted through one reaches /events
    of the other within a second (LISTEN/NOTIFY), and never reaches an outsider."""
    other = Server(database.env).start()
    try:
        conversation_id = group_with_bob(server, tokens)
        bob = EventListener(other, tokens["bob"])
        charlie = EventListener(other, tokens["charlie"])
        for listener in (bob, charlie):
            listener.start()
            listener.ready.wait(5)
        time.sleep(0.3)
        posted_at = time.monotonic()
        with client(server, tokens["alice"]) as api:
            posted = api.post(
                f"/api/v1/conversations/{conversation_id}/messages", json={"content": "across"}
            ).json()
        arrived = bob.wait_for(
            lambda e: e[0] == "message.created" and e[1]["data"]["message_id"] == posted["id"],
            timeout=1.0,
        )
        assert arrived is not None, bob.events
        assert time.monotonic() - posted_at < 1.0
        time.sleep(0.5)
        assert not [e for e in charlie.events if e[1].get("conversation_id") == conversation_id]
        for listener in (bob, charlie):
            listener.stop.set()
    finally:
        other.kill()


def test_a_turn_left_streaming_by_a_dead_process_is_marked_interrupted(tmp_path_factory):
    database = ServerDatabase(tmp_path_factory.mktemp("interrupted"), STREAM_STALE_SECONDS="1")
    try:
        message_id = database.shell(
            "import datetime\n"
            "from django.utils import timezone\n"
            "from chatapp.accounts.services import user_create\n"
            "from conversations import services\n"
            "from conversations.models import Message\n"
            "user = user_create(username='alice', password='x')\n"
            "conversation, _ = services.conversation_create(creator=user, kind='assistant')\n"
            "services.message_post(conversation=conversation, sender=user, content='Hi')\n"
            "turn = services.assistant_message_start(conversation=conversation, agent=None)\n"
            "services.assistant_message_progress(message_id=turn.pk, content='Half')\n"
            "Message.objects.filter(pk=turn.pk).update("
            "updated_at=timezone.now() - datetime.timedelta(minutes=5))\n"
            "print(turn.pk)"
        )
        server = Server(database.env).start()
        try:
            deadline = time.monotonic() + 10
            status = ""
            while time.monotonic() < deadline:
                status = database.shell(
                    "from conversations.models import Message\n"
                    f"m = Message.objects.get(pk='{message_id}')\n"
                    "print(m.status, m.error_type, m.content)"
                )
                if status.startswith("error"):
                    break
                time.sleep(0.3)
            assert status == "error interrupted Half"
        finally:
            server.kill()
    finally:
        database.drop()


def test_a_clean_shutdown_saves_running_replies_as_interrupted(database, tokens, fake):
    server = Server(database.env).start()
    try:
        fake.script(text_reply("slow " * 500, tokens_per_second=20))
        conversation_id = new_conversation(server, tokens["alice"])
        with (
            client(server, tokens["alice"]) as api,
            api.stream("POST", f"/api/v1/conversations/{conversation_id}/reply") as response,
        ):
            read_sse(response, stop_after=4)
        server.stop()  # SIGTERM
    finally:
        server.kill()
    status = database.shell(
        "from conversations.models import Message\n"
        f"m = Message.objects.filter(conversation_id='{conversation_id}').order_by('seq').last()\n"
        "print(m.status, m.error_type, bool(m.content))"
    )
    assert status == "error interrupted True"
