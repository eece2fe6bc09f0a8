"""GET /events in this process (SQLite or PostgreSQL): what a replay may show (no text, no
events from before the reader joined), and a stream that ends when its access does.

The streams are read through Django's AsyncClient, with every write done as the app does
it (services, or a request), committed, so the stream's own reads in worker threads see it.
"""

import asyncio
import contextlib
import json
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections
from django.test import AsyncClient, Client
from django.utils import timezone

from chatapp.accounts import services as account_services
from chatapp.accounts.models import ApiToken, User
from chatapp.concurrency import in_worker_thread
from conversations import services
from conversations.live.listener import listen_forever
from conversations.live.streams import _recipients
from conversations.models import Event
from conversations.services.events import CHANNEL

pytestmark = pytest.mark.django_db(transaction=True)


class Stream:
    """An open SSE response, read frame by frame without ever cancelling its generator."""

    def __init__(self, response):
        assert response.status_code == 200, response
        self.chunks = aiter(response.streaming_content)
        self.pending: asyncio.Future | None = None
        self.frames: list[tuple[str, dict]] = []
        self.ended = False

    async def read(self, *, until=None, quiet: float | None = None, limit: float = 5.0) -> list:
        """Frames until the stream ends, or `until(frame)` is true, or `quiet` seconds pass
        with none; at most `limit` seconds. Returns the frames read by this call."""
        start = len(self.frames)
        deadline = time.monotonic() + limit
        while not self.ended and time.monotonic() < deadline:
            if self.pending is None:
                self.pending = asyncio.ensure_future(anext(self.chunks))
            wait = deadline - time.monotonic() if quiet is None else quiet
            done, _ = await asyncio.wait({self.pending}, timeout=max(wait, 0))
            if not done:
                if quiet is not None:
                    break
                continue
            self.pending = None
            try:
                chunk = done.pop().result()
            except StopAsyncIteration:
                self.ended = True
                break
            frame = parse(chunk)
            if frame is not None:
                self.frames.append(frame)
                if until is not None and until(frame):
                    break
        return self.frames[start:]

    async def close(self):
        if self.pending is not None:
            self.pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await self.pending
        await self.chunks.aclose()


def parse(chunk: bytes) -> tuple[str, dict] | None:
    name, data = None, None
    for line in chunk.decode().splitlines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data = json.loads(line[5:])
    return (name, data) if name else None


# Every database call from a scenario's event loop goes through a worker thread, its
# connection closed after it, as the app's own (chatapp/concurrency.py).
db = in_worker_thread


def _listening() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND query = %s",
            [f"LISTEN {CHANNEL}"],
        )
        return cursor.fetchone()[0] > 0


def run(coroutine):
    """Run a scenario on a fresh event loop. On PostgreSQL events reach this process's
    broker through LISTEN, as in the server: the listener runs beside the scenario."""

    async def main():
        if connection.vendor != "postgresql":
            return await coroutine
        listener = asyncio.ensure_future(listen_forever())
        try:
            deadline = time.monotonic() + 5
            while not await db(_listening)() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return await coroutine
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            # The connection of the thread Django's async code runs sync parts in (signing
            # in, authenticating), which no request_finished closes here.
            await sync_to_async(connections.close_all)()

    return asyncio.run(main())


async def open_events(*, user=None, token: str | None = None, last_event_id=None) -> Stream:
    client = AsyncClient()
    if user is not None:
        await client.aforce_login(user)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    stream = Stream(await client.get("/api/v1/events", headers=headers))
    stream.client = client
    await stream.read(quiet=0.2)  # the retry line, and the replay if any
    return stream


def of_conversation(frames, conversation) -> list[tuple[str, dict]]:
    return [frame for frame in frames if frame[1].get("conversation_id") == str(conversation.pk)]


def closing(frames):
    return next((data["data"] for name, data in frames if name == "access.revoked"), None)


@pytest.fixture
def mod(make_user):
    # A superuser: the Moderators group (made by a migration) does not outlive the flush
    # between transactional tests.
    return make_user("mod", is_staff=True, is_superuser=True)


@pytest.fixture(autouse=True)
def fast_checks(settings):
    settings.STREAM_ACCESS_CHECK_SECONDS = 1
    settings.EVENTS_HEARTBEAT_SECONDS = 30


# --- what a replay shows ------------------------------------------------------------------


def test_message_events_carry_no_text(alice, bob, group, post, mod):
    first = post(group, "first words")
    services.message_edit(message=first, actor=alice, content="second words")
    services.message_delete(message=post(group, "deleted words"), actor=alice)
    services.message_hide(
        message=post(group, "hidden words", sender=bob), moderator=mod, reason="x"
    )

    logged = json.dumps([event.data for event in Event.objects.filter(conversation=group)])
    assert "words" not in logged and "excerpt" not in logged
    assert Event.objects.filter(conversation=group, type="message.updated").count() == 3


def test_a_new_participant_replays_nothing_from_before_they_joined(
    alice, bob, charlie, group, post, mod
):
    edited = post(group, "draft that was edited away")
    services.message_edit(message=edited, actor=alice, content="what it says now")
    services.message_delete(message=post(group, "secret that was deleted"), actor=alice)
    services.message_hide(
        message=post(group, "insult that was hidden", sender=bob), moderator=mod, reason="rude"
    )
    services.participant_add(conversation=group, actor=alice, user=charlie)
    after_join = post(group, "posted after charlie joined")

    async def replay():
        stream = await open_events(user=charlie, last_event_id=0)
        await stream.close()
        return stream.frames

    frames = run(replay())
    text = json.dumps(frames)
    for hidden in ("draft", "edited away", "secret", "insult", "now", "posted after"):
        assert hidden not in text
    assert [(name, data["data"].get("seq")) for name, data in of_conversation(frames, group)] == [
        ("participant.added", None),
        ("message.created", after_join.seq),
    ]


def test_a_replay_skips_the_time_a_participant_was_away(alice, bob, group, post):
    post(group, "before bob left")
    services.participant_remove(conversation=group, actor=bob, user=bob)
    post(group, "while bob was away")
    services.participant_add(conversation=group, actor=alice, user=bob)
    back = post(group, "bob is back")

    async def replay():
        stream = await open_events(user=bob, last_event_id=0)
        await stream.close()
        return stream.frames

    events = [
        (name, data["data"].get("seq")) for name, data in of_conversation(run(replay()), group)
    ]
    # His own "conversation.removed" is his; of the conversation's, only what came after.
    assert events == [
        ("conversation.removed", None),
        ("participant.added", None),
        ("message.created", back.seq),
    ]


def test_live_events_go_to_active_participants_who_had_joined(
    alice, bob, charlie, group, post, mod
):
    post(group, "before charlie")
    earlier = Event.objects.filter(conversation=group).order_by("id").last()
    services.participant_add(conversation=group, actor=alice, user=charlie)
    post(group, "after charlie")
    later = Event.objects.filter(conversation=group).order_by("id").last()

    people = {str(alice.pk): "alice", str(bob.pk): "bob", str(charlie.pk): "charlie"}

    def recipients(event):
        return sorted(
            people[i] for i in _recipients(str(group.pk), event.as_payload()["created_at"])
        )

    assert recipients(earlier) == ["alice", "bob"]
    assert recipients(later) == ["alice", "bob", "charlie"]
    account_services.user_suspend(user=bob, actor=mod, reason="spam")
    assert recipients(later) == ["alice", "charlie"]
    # A signal (streamed text) has no time: everyone in the conversation now.
    assert sorted(people[i] for i in _recipients(str(group.pk))) == ["alice", "charlie"]


# --- a stream ends when its access does -------------------------------------------------------


def test_suspension_ends_the_stream_at_once_and_nothing_after_reaches_it(
    alice, bob, group, post, mod
):
    async def scenario():
        stream = await open_events(user=bob)
        await db(post)(group, "before")
        before = await stream.read(until=lambda frame: frame[0] == "message.created")
        assert of_conversation(before, group)

        started = time.monotonic()
        await db(account_services.user_suspend)(user=bob, actor=mod, reason="spam")
        await db(post)(group, "after the suspension")
        after = await stream.read(limit=3)
        return after, time.monotonic() - started, stream.ended

    after, elapsed, ended = run(scenario())
    assert closing(after) == {"reason": "suspended", "message": "This account is suspended."}
    assert ended and elapsed < 1.0
    assert not [frame for frame in after if frame[0] == "message.created"]


def test_revoking_a_token_ends_the_streams_it_opened_and_no_other(alice, bob, group, post):
    one = account_services.personal_token_create(user=bob, name="one")
    two = account_services.personal_token_create(user=bob, name="two")

    async def scenario():
        first = await open_events(token=one.raw)
        second = await open_events(token=two.raw)
        await db(account_services.personal_token_revoke)(user=bob, token_id=one.token.pk)
        await db(post)(group, "after the revocation")
        return (
            await first.read(limit=3),
            first.ended,
            await second.read(until=lambda frame: frame[0] == "message.created"),
            second,
        )

    first_frames, first_ended, second_frames, second = run(scenario())
    assert closing(first_frames)["reason"] == "token_revoked" and first_ended
    assert not [frame for frame in first_frames if frame[0] == "message.created"]
    assert of_conversation(second_frames, group) and not second.ended


def test_api_logout_ends_the_streams_of_that_sign_in(alice, bob, group, tokens_for):
    pair = tokens_for(bob)

    async def scenario():
        stream = await open_events(token=pair.access.raw)
        signed_out = await db(Client(headers={"Authorization": f"Bearer {pair.access.raw}"}).post)(
            "/api/v1/auth/logout"
        )
        assert signed_out.status_code == 204
        return await stream.read(limit=3), stream.ended

    frames, ended = run(scenario())
    assert closing(frames)["reason"] == "token_revoked" and ended


def test_signing_out_a_session_ends_its_streams(alice, bob, group, post):
    browser = Client()
    browser.force_login(bob)
    other_browser = Client()
    other_browser.force_login(bob)

    async def scenario():
        streams = []
        for session in (browser, other_browser):
            client = AsyncClient()
            client.cookies = session.cookies
            streams.append(Stream(await client.get("/api/v1/events")))
            await streams[-1].read(quiet=0.2)
        started = time.monotonic()
        signed_out = await db(browser.post)("/accounts/logout/")
        assert signed_out.status_code == 302
        await db(post)(group, "after signing out")
        ended_one = await streams[0].read(limit=3)
        kept = await streams[1].read(until=lambda frame: frame[0] == "message.created")
        return ended_one, time.monotonic() - started, streams, kept

    ended_one, elapsed, streams, kept = run(scenario())
    assert closing(ended_one)["reason"] == "signed_out" and streams[0].ended
    assert elapsed < 3
    assert not [frame for frame in ended_one if frame[0] == "message.created"]
    # Bob's other browser is still signed in, and still told.
    assert of_conversation(kept, group) and not streams[1].ended


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"revoked_at": "now"}, "token_revoked"),
        ({"expires_at": "now"}, "token_expired"),
    ],
    ids=["revoked-unannounced", "expired"],
)
def test_the_periodic_check_ends_a_stream_no_one_announced(alice, bob, change, reason):
    """No signal (a change made straight in the database, an expiry): within
    STREAM_ACCESS_CHECK_SECONDS (1 here), even with nothing to send."""
    issued = account_services.personal_token_create(user=bob, name="cli", expires_in_days=1)

    async def scenario():
        stream = await open_events(token=issued.raw)
        values = {field: timezone.now() for field in change}
        await db(ApiToken.objects.filter(pk=issued.token.pk).update)(**values)
        started = time.monotonic()
        frames = await stream.read(limit=4)
        return frames, time.monotonic() - started, stream.ended

    frames, elapsed, ended = run(scenario())
    assert closing(frames)["reason"] == reason and ended
    assert elapsed < 2.5


def test_a_suspension_made_straight_in_the_database_stops_delivery_at_once(alice, bob, group, post):
    """Not announced (the admin's user form, a script): the broker sends no event to an
    inactive user, and the periodic check ends the stream."""

    async def scenario():
        stream = await open_events(user=bob)
        await db(User.objects.filter(pk=bob.pk).update)(is_active=False)
        await db(post)(group, "after")
        return await stream.read(limit=4)

    frames = run(scenario())
    assert closing(frames)["reason"] == "suspended"
    assert not [frame for frame in frames if frame[0] == "message.created"]


def test_removal_stops_that_conversations_events_and_no_others(alice, bob, team, group, post):
    other, _ = services.conversation_create(
        creator=alice, kind="group", title="Other", workspace=team, participants=[bob]
    )

    async def scenario():
        stream = await open_events(user=bob)
        await db(services.participant_remove)(conversation=group, actor=alice, user=bob)
        await db(post)(group, "bob is not told")
        await db(post)(other, "bob is told")
        return await stream.read(
            until=lambda frame: frame[1].get("conversation_id") == str(other.pk), limit=3
        ), stream.ended

    frames, ended = run(scenario())
    assert [name for name, _ in of_conversation(frames, group)] == ["conversation.removed"]
    assert [name for name, _ in of_conversation(frames, other)] == ["message.created"]
    assert not ended
