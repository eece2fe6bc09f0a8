"""The cheap per-row template filters say what Django's own would."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from conversations.templatetags.chat import ago, clip, iso, stamp, url_with_id


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=-5), "just now"),
        (timedelta(seconds=30), "just now"),
        (timedelta(minutes=5, seconds=10), "5 min ago"),
        (timedelta(hours=3, minutes=59), "3 h ago"),
        (timedelta(days=2, hours=1), "2 d ago"),
    ],
)
def test_ago(delta, text):
    assert ago(datetime.now(UTC) - delta) == text


def test_ago_gives_the_date_after_a_month_and_nothing_for_none():
    assert ago(datetime(2020, 3, 4, 5, 6, tzinfo=UTC)) == "2020-03-04"
    assert ago(None) == ""


def test_iso_and_stamp():
    moment = datetime(2026, 11, 22, 3, 4, 5, 6, tzinfo=UTC)
    assert iso(moment) == "2026-11-22T03:04:05.000006+00:00"
    assert stamp(moment) == "2026-11-22 03:04 UTC"
    assert iso(None) == stamp(None) == ""


def test_clip():
    assert clip("short", 60) == "short"
    assert clip("x" * 60, 60) == "x" * 60
    assert clip("word " * 20, 10) == "word word…"
    assert len(clip("y" * 100, 60)) == 60
    assert clip(None, 5) == ""


@pytest.mark.parametrize(
    "name",
    ["conversations:thread", "conversations:act", "conversations:report"],
)
def test_url_with_id_is_what_reverse_gives(name):
    for _ in range(2):
        object_id = uuid.uuid4()
        assert url_with_id(object_id, name) == reverse(name, args=[object_id])
