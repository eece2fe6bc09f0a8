"""The API's JSON renderer."""

from typing import Any

import orjson
from django.http import HttpRequest
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder

_standard = NinjaJSONEncoder()
# Dates and times go through _standard.default, so that they read exactly as Django and
# ninja write them (ISO 8601 to the millisecond, "Z" for UTC); dict keys may be non-strings.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


class FastJSONRenderer(JSONRenderer):
    """ninja's JSON, written by orjson: the standard library's encoder calls back into
    Python for every date and id, and on a page of 50 messages took a tenth of the request
    (docs/benchmarks.md). What orjson refuses (an integer beyond 64 bits in a client's JSON
    metadata) is written by ninja's own encoder."""

    def render(self, request: HttpRequest, data: Any, *, response_status: int) -> Any:
        try:
            return orjson.dumps(data, default=_standard.default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(request, data, response_status=response_status)
