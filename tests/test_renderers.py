"""The API's JSON renderer writes what ninja's standard one writes, only faster."""

import datetime
import json
import uuid

from ninja.renderers import JSONRenderer

from chatapp.renderers import FastJSONRenderer


def render(renderer, data):
    return json.loads(renderer.render(None, data, response_status=200))


def test_same_json_as_ninjas_renderer_dates_to_the_millisecond_with_z():
    data = {
        "at": datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.UTC),
        "day": datetime.date(2026, 1, 2),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "text": "é \u2028 <script>",
        "nested": [{"n": 1.5, "none": None, "flag": True}],
        7: "a non-string key",
    }
    fast = render(FastJSONRenderer(), data)
    assert fast == render(JSONRenderer(), data)
    assert fast["at"] == "2026-01-02T03:04:05.123Z"
    assert fast["id"] == "12345678-1234-5678-1234-567812345678"


def test_integer_beyond_64_bits_falls_back_to_the_standard_encoder():
    data = {"meta": {"huge": 2**70}}
    assert render(FastJSONRenderer(), data) == {"meta": {"huge": 2**70}}


def test_api_answers_are_written_by_it(alice, bearer_client, tokens_for):
    answer = bearer_client(tokens_for(alice).access.raw).get("/api/v1/me")
    assert answer.status_code == 200
    # orjson writes compact JSON; the standard encoder would write ", " and ": ".
    assert b'":"' in answer.content and b'": "' not in answer.content
