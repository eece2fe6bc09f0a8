"""Search over messages and usage reports: parse, call one selector, shape the answer."""

from ninja import Router

router = Router(tags=["search and usage"])
