"""A live stream ends when access ends, on the real server: GET /events and a reply's stream
opened on one process (A) end within seconds, with `access.revoked`, when the account is
suspended, the token is revoked, the sign-in ends or (a reply) its reader leaves the
conversation, done through another process (B) or straight through the services; and what
is posted after that never reaches them.

On PostgreSQL A and B are two server processes on one database (the revocation reaches A by
NOTIFY, at once). On SQLite there is one process: what the API does there reaches its
streams at once, and what a separate `manage.py shell` does is found by the periodic check
(STREAM_ACCESS_CHECK_SECONDS, 1 here).
"""

import contextlib
import json
import threading
import time
import uuid

import httpx
import pytest
from django.db import connection

from tests.fake_openai import FakeOpenAI, text_reply
from tests.live_server import Server, ServerDatabase

ON_POSTGRES = connection.vendor == "postgresql"
# How soon a stream must end after the act that ends its access: announced, it is at once
# (the margin is for a loaded machine); found by the periodic check, within its interval.
ANNOUNCED_WITHIN = 1.5
CHECKED_WITHIN = 3.5
PASSWORD = "Pass-word-1"


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def database(tmp_path_factory, fake):
    database = ServerDatabase(
        tmp_path_factory.mktemp("stream-access"),
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_MODEL="fake-model",
        OPENAI_API_KEY="sk-test",
        STREAM_SAVE_INTERVAL_MS="50",
        STREAM_ACCESS_CHECK_SECONDS="1",
    )
    database.shell(
        "from chatapp.accounts.services import user_create\n"
        "user_create(username='boss', password='x', is_staff=True, is_superuser=True)\n"
        "print('ok')"
    )
    yield database
    database.drop()


@pytest.fixture(scope="module")
def servers(database):
    """(A, B): the process holding the streams, and the one acting."""
    first = Server(database.env).start()
    second = Server(database.env).start() if ON_POSTGRES else first
    yield first, second
    for server in {first, second}:
        server.kill()


def people(database) -> dict:
    """A fresh owner and member of a new workspace, their group conversation and the
    member's assistant conversation (one message in each, ready for a reply), and two
    personal tokens each. As JSON from the server's own services."""
    tag = uuid.uuid4().hex[:6]
    return json.loads(
        database.shell(
            "import json\n"
            "from chatapp.accounts.services import personal_token_create, user_create\n"
            "from conversations import services\n"
            f"owner = user_create(username='owner_{tag}', password='{PASSWORD}')\n"
            f"member = user_create(username='member_{tag}', password='{PASSWORD}')\n"
            f"team = services.workspace_create(name='T', slug='t-{tag}', owner=owner)\n"
            "services.membership_add(workspace=team, user=member)\n"
            "group, _ = services.conversation_create(creator=owner, kind='group', title='G',"
            " workspace=team, participants=[member])\n"
            "mine, _ = services.conversation_create(creator=member, kind='assistant',"
            " workspace=team)\n"
            "services.message_post(conversation=group, sender=member, content='Hi all')\n"
            "services.message_post(conversation=mine, sender=member, content='Hi bot')\n"
            "tokens = {name: [personal_token_create(user=user, name=n).raw for n in 'ab']"
            " for name, user in (('owner', owner), ('member', member))}\n"
            "print(json.dumps({'tag': '" + tag + "', 'owner': owner.username,"
            " 'member': member.username, 'member_id': str(member.pk),"
            " 'group': str(group.pk), 'mine': str(mine.pk), 'tokens': tokens}))"
        )
    )


def api(server: Server, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def post(server: Server, token: str, conversation_id: str, content: str) -> dict:
    with api(server, token) as client:
        response = client.post(
            f"/api/v1/conversations/{conversation_id}/messages", json={"content": content}
        )
    assert response.status_code == 201, response.text
    return response.json()


class StreamReader(threading.Thread):
    """Reads an SSE response in the background: (event, data, arrived_at) in order, and
    when it ended."""

    def __init__(self, open_stream):
        super().__init__(daemon=True)
        self.open_stream = open_stream
        self.frames: list[tuple[str, dict, float]] = []
        self.ready = threading.Event()
        self.ended_at: float | None = None

    def run(self):
        with contextlib.suppress(httpx.HTTPError), self.open_stream() as response:
            assert response.status_code == 200, response.read()
            self.ready.set()
            name = None
            for line in response.iter_lines():
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    self.frames.append((name, json.loads(line[5:]), time.monotonic()))
        self.ended_at = time.monotonic()

    def begin(self) -> "StreamReader":
        self.start()
        assert self.ready.wait(10), "the stream did not open"
        time.sleep(0.3)  # subscribed
        return self

    def wait_for(self, predicate, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for frame in self.frames:
                if predicate(frame):
                    return frame
            if self.ended_at is not None:
                break
            time.sleep(0.02)
        return None

    def closing(self, timeout=5.0):
        return self.wait_for(lambda frame: frame[0] == "access.revoked", timeout=timeout)

    def has_message(self, message_id: str) -> bool:
        return any(
            name == "message.created" and (data.get("data") or data).get("message_id") == message_id
            for name, data, _ in self.frames
        )


def events_stream(server: Server, *, token=None, cookies=None) -> StreamReader:
    def open_stream():
        client = httpx.Client(
            base_url=server.base,
            headers={"Authorization": f"Bearer {token}"} if token else {},
            cookies=cookies,
            timeout=httpx.Timeout(30, read=60),
        )
        return _closing_with(client, client.stream("GET", "/api/v1/events"))

    return StreamReader(open_stream).begin()


def reply_stream(server: Server, token: str, conversation_id: str) -> StreamReader:
    def open_stream():
        client = api(server, token)
        return _closing_with(
            client, client.stream("POST", f"/api/v1/conversations/{conversation_id}/reply")
        )

    reader = StreamReader(open_stream).begin()
    assert reader.wait_for(lambda frame: frame[0] == "delta"), reader.frames
    return reader


@contextlib.contextmanager
def _closing_with(client: httpx.Client, stream):
    with client, stream as response:
        yield response


def suspend(database, username: str) -> float:
    """Suspend through the services in a process of its own; the moment it returned."""
    database.shell(
        "from chatapp.accounts.models import User\n"
        "from chatapp.accounts.services import user_suspend\n"
        f"user_suspend(user=User.objects.get(username='{username}'),"
        " actor=User.objects.get(username='boss'), reason='spam')\n"
        "print('ok')"
    )
    return time.monotonic()


def test_suspension_ends_the_event_and_reply_streams(database, servers, fake):
    a, b = servers
    who = people(database)
    member, owner = who["tokens"]["member"][0], who["tokens"]["owner"][0]
    events = events_stream(a, token=member)
    fake.script(text_reply("word " * 400, tokens_per_second=20))  # twenty seconds of it
    reply = reply_stream(a, member, who["mine"])
    before = post(b, owner, who["group"], "before")
    assert events.wait_for(lambda f: events.has_message(before["id"]))

    suspended_at = suspend(database, who["member"])
    after = post(b, owner, who["group"], "after the suspension")

    within = ANNOUNCED_WITHIN if ON_POSTGRES else CHECKED_WITHIN
    for stream in (events, reply):
        closing = stream.closing()
        assert closing is not None, stream.frames[-5:]
        reason = closing[1]["data"] if stream is events else closing[1]
        assert reason["reason"] == "suspended"
        assert closing[2] - suspended_at < within
        stream.join(5)
        assert stream.ended_at is not None
    assert not events.has_message(after["id"])


def test_revoking_a_token_through_another_process_ends_only_its_streams(database, servers):
    a, b = servers
    who = people(database)
    first, second = who["tokens"]["member"]
    owner = who["tokens"]["owner"][0]
    with api(b, second) as client:
        listed = client.get("/api/v1/me/tokens").json()["items"]
    (revoked_id,) = [token["id"] for token in listed if first.startswith(token["prefix"])]
    by_first, by_second = events_stream(a, token=first), events_stream(a, token=second)

    with api(b, second) as client:
        revoked_at = time.monotonic()
        assert client.delete(f"/api/v1/me/tokens/{revoked_id}").status_code == 204
    after = post(b, owner, who["group"], "after the revocation")

    closing = by_first.closing()
    assert closing is not None and closing[1]["data"]["reason"] == "token_revoked"
    assert closing[2] - revoked_at < ANNOUNCED_WITHIN
    assert not by_first.has_message(after["id"])
    # The other token's stream goes on, and is told.
    assert by_second.wait_for(lambda f: by_second.has_message(after["id"]))
    assert by_second.ended_at is None


def test_api_logout_ends_the_streams_of_that_sign_in(database, servers):
    a, b = servers
    who = people(database)
    owner = who["tokens"]["owner"][0]
    signed_in = httpx.post(
        b.base + "/api/v1/auth/token",
        json={"username": who["member"], "password": PASSWORD},
        timeout=10,
    ).json()
    events = events_stream(a, token=signed_in["access_token"])

    with api(b, signed_in["access_token"]) as client:
        signed_out_at = time.monotonic()
        assert client.post("/api/v1/auth/logout").status_code == 204
    after = post(b, owner, who["group"], "after signing out")

    closing = events.closing()
    assert closing is not None and closing[1]["data"]["reason"] == "token_revoked"
    assert closing[2] - signed_out_at < ANNOUNCED_WITHIN
    assert not events.has_message(after["id"])


def test_signing_out_of_the_browser_ends_its_stream(database, servers):
    a, b = servers
    who = people(database)
    owner = who["tokens"]["owner"][0]
    browser = httpx.Client(base_url=b.base, timeout=10)
    browser.get("/accounts/login/")
    signed_in = browser.post(
        "/accounts/login/",
        data={
            "username": who["member"],
            "password": PASSWORD,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
    )
    assert signed_in.status_code == 302, signed_in.text
    events = events_stream(a, cookies=dict(browser.cookies))

    signed_out_at = time.monotonic()
    signed_out = browser.post(
        "/accounts/logout/", data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]}
    )
    assert signed_out.status_code == 302
    after = post(b, owner, who["group"], "after signing out")

    closing = events.closing()
    assert closing is not None and closing[1]["data"]["reason"] == "signed_out"
    assert closing[2] - signed_out_at < ANNOUNCED_WITHIN
    assert not events.has_message(after["id"])


def test_removal_ends_the_reply_stream_and_that_conversations_events(database, servers, fake):
    a, b = servers
    who = people(database)
    member, owner = who["tokens"]["member"][0], who["tokens"]["owner"][0]
    events = events_stream(a, token=member)
    fake.script(text_reply("word " * 400, tokens_per_second=20))
    reply = reply_stream(a, member, who["group"])

    with api(b, owner) as client:
        removed_at = time.monotonic()
        removed = client.delete(
            f"/api/v1/conversations/{who['group']}/participants/{who['member_id']}"
        )
        assert removed.status_code == 204, removed.text
    after = post(b, owner, who["group"], "after the removal")
    elsewhere = post(b, member, who["mine"], "in a conversation still theirs")

    closing = reply.closing()
    assert closing is not None and closing[1]["reason"] == "removed"
    assert closing[2] - removed_at < ANNOUNCED_WITHIN
    # The event stream stays open: it is told of the removal, then nothing more of that
    # conversation, and still of the others.
    assert events.wait_for(lambda f: events.has_message(elsewhere["id"]))
    assert not events.has_message(after["id"])
    of_group = [name for name, data, _ in events.frames if data["conversation_id"] == who["group"]]
    assert of_group[-1] == "conversation.removed" and "participant.removed" not in of_group
    assert events.ended_at is None
