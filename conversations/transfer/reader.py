"""The conversations of an upload, as ConversationPlans, whatever the format: a JSON list is
ChatGPT's conversations.json (or one of its numbered parts); a JSON object is our export when
its "format" says so, else a single ChatGPT conversation."""

from collections.abc import Iterator

import ijson

from . import chatapp, chatgpt
from .plan import ConversationPlan, invalid
from .sources import Upload


def conversation_plans(upload: Upload) -> Iterator[ConversationPlan]:
    """Every conversation of the upload, each checked as it is read; raises the first
    problem as a domain error (400 unreadable, 413 too large, 422 invalid)."""
    for document in upload.documents:
        document.check_depth()
        first = document.first_character()
        if first == b"[":
            with document.open() as stream:
                for index, raw in enumerate(
                    ijson.items(stream, "item", use_float=True, map_type=chatgpt.JsonObject)
                ):
                    yield chatgpt.conversation_plan(raw, location=f"{document.name}[{index}]")
        elif first == b"{":
            if chatapp.is_chatapp_document(document):
                yield chatapp.document_plan(document)
            else:
                with document.open() as stream:
                    raw = next(
                        ijson.items(stream, "", use_float=True, map_type=chatgpt.JsonObject),
                        None,
                    )
                yield chatgpt.conversation_plan(raw, location=document.name)
        else:
            raise invalid(
                document.name,
                "must be a chatapp export (a JSON object) or ChatGPT's conversations.json "
                "(a JSON list).",
            )
