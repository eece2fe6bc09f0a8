"""Export and import of conversations: parse, call one selector or service, shape the answer."""

from ninja import Router

router = Router(tags=["export and import"])
