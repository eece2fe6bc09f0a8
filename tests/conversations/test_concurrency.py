"""Concurrent writers on PostgreSQL: real threads, each with its own connection, racing for
the same conversation row."""

import threading
from collections.abc import Callable

import pytest
from django.db import close_old_connections, connection

from conversations import services
from conversations.models import Conversation, Message, MessageRevision

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def run_in_threads(count: int, work: Callable[[int], object]) -> list:
    """Start `count` threads at the same instant; return what each returned (or raised)."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(number: int) -> None:
        try:
            barrier.wait()
            results[number] = work(number)
        except Exception as error:  # collected and re-raised by the test
            results[number] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    close_old_connections()
    return results


def test_eight_threads_posting_fifty_each_lose_and_duplicate_nothing(alice, group):
    def post_fifty(number: int) -> int:
        for index in range(50):
            services.message_post(
                conversation=group, sender=alice, content=f"thread {number} message {index}"
            )
        return 50

    results = run_in_threads(8, post_fifty)
    assert results == [50] * 8, results

    seqs = list(
        Message.objects.filter(conversation=group).order_by("seq").values_list("seq", flat=True)
    )
    assert seqs == list(range(1, 401))
    group.refresh_from_db()
    assert group.message_count == 400
    assert group.last_activity_at == Message.objects.get(conversation=group, seq=400).created_at
    # Every thread's messages are all there, each once.
    contents = set(Message.objects.filter(conversation=group).values_list("content", flat=True))
    assert len(contents) == 400


def test_four_concurrent_retries_of_one_client_message_id_make_one_message(alice, group):
    def post_once(number: int):
        return services.message_post(
            conversation=group, sender=alice, content="only once", client_message_id="retry-1"
        )

    results = run_in_threads(4, post_once)
    assert all(isinstance(result, tuple) for result in results), results
    ids = {message.pk for message, _created in results}
    assert len(ids) == 1
    assert sum(created for _message, created in results) == 1
    assert Message.objects.filter(conversation=group).count() == 1
    assert Conversation.objects.get(pk=group.pk).message_count == 1


def test_two_api_clients_retrying_one_client_message_id_get_one_message(alice, group, tokens_for):
    import json

    from django.test import Client

    raw = tokens_for(alice).access.raw
    url = f"/api/v1/conversations/{group.pk}/messages"
    body = json.dumps({"content": "sent twice", "client_message_id": "api-retry"})

    def post_through_the_api(number: int):
        client = Client(headers={"Authorization": f"Bearer {raw}"})
        response = client.post(url, data=body, content_type="application/json")
        return response.status_code, response.json()["id"]

    results = run_in_threads(2, post_through_the_api)
    assert all(isinstance(result, tuple) for result in results), results
    assert sorted(status for status, _ in results) == [200, 201]
    assert len({message_id for _, message_id in results}) == 1
    assert Message.objects.filter(conversation=group).count() == 1


def test_four_threads_editing_one_message_keep_every_text(alice, group):
    """Every edit is kept: the edits queue on the message's row lock, so each stores the
    text the one before it left, and no revision number is taken twice."""
    message, _ = services.message_post(conversation=group, sender=alice, content="original")

    def edit_ten(number: int) -> int:
        for index in range(10):
            services.message_edit(
                message=Message(pk=message.pk), actor=alice, content=f"thread {number} edit {index}"
            )
        return 10

    results = run_in_threads(4, edit_ten)
    assert results == [10] * 4, results

    revisions = list(
        MessageRevision.objects.filter(message_id=message.pk)
        .order_by("number")
        .values_list("number", "content")
    )
    assert [number for number, _ in revisions] == list(range(1, 41))
    assert revisions[0][1] == "original"
    final = Message.objects.get(pk=message.pk).content
    # Every text the message ever had, each once: the first, and the 40 edits' (the newest
    # is its content now).
    every_text = [content for _, content in revisions] + [final]
    assert sorted(every_text) == sorted(
        ["original"] + [f"thread {n} edit {i}" for n in range(4) for i in range(10)]
    )
    # Each thread's edits replaced one another in its own order.
    for number in range(4):
        mine = [text for text in every_text if text.startswith(f"thread {number} ")]
        assert mine == [f"thread {number} edit {i}" for i in range(10)]
