"""Export and import of conversations: parse, call one selector or service, shape the answer.

Both export formats are streamed as attachments, a message at a time (under ASGI through an
async iterator, so that Django does not gather the whole file first).
"""

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Literal

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from ninja import File, Query, Router, Schema, Status, UploadedFile

from chatapp import ratelimit
from conversations import selectors, services
from conversations.schemas import ErrorOut, ExportDocumentOut, ImportResultOut
from conversations.transfer.chatapp import json_chunks
from conversations.transfer.markdown import markdown_chunks

router = Router(tags=["export and import"])

CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
}
EXTENSIONS = {"json": "json", "markdown": "md"}


class ExportQuery(Schema):
    format: Literal["json", "markdown"] = "json"


@router.get(
    "/conversations/{conversation_id}/export",
    response={200: ExportDocumentOut, 400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    # The 200 is JSON (ExportDocumentOut) or, with format=markdown, Markdown text.
    openapi_extra={
        "responses": {200: {"content": {"text/markdown": {"schema": {"type": "string"}}}}}
    },
)
def export_conversation(
    request: HttpRequest, conversation_id: uuid.UUID, query: Query[ExportQuery]
):
    """Download a conversation as our JSON format (every version of every turn, with the
    lines and earlier texts; POST /imports reads it back) or as Markdown (`text/markdown`:
    the path you are shown), as an attachment. Participants only."""
    export = selectors.conversation_export(user=request.auth, conversation_id=conversation_id)
    chunks = json_chunks(export) if query.format == "json" else markdown_chunks(export)
    encoded = (chunk.encode() for chunk in chunks)
    response = StreamingHttpResponse(
        _async_chunks(encoded) if isinstance(request, ASGIRequest) else encoded,
        content_type=CONTENT_TYPES[query.format],
    )
    conversation = export.conversation
    filename = (
        f"{slugify(conversation.title)[:60].strip('-') or 'conversation'}"
        f"-{str(conversation.pk)[:8]}.{EXTENSIONS[query.format]}"
    )
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "private, no-store"
    return response


@router.post(
    "/imports",
    response={
        200: ImportResultOut,
        201: ImportResultOut,
        400: ErrorOut,
        401: ErrorOut,
        404: ErrorOut,
        413: ErrorOut,
        422: ErrorOut,
        429: ErrorOut,
    },
)
def import_conversations(request: HttpRequest, file: File[UploadedFile]):
    """Import our JSON export, or a ChatGPT export (conversations.json or the ZIP), as a
    multipart upload in the field `file`. 201 with the new conversations' ids; 200 when
    every one was imported before (their ids under `skipped`). At most IMPORT_RATE_LIMIT
    files per IMPORT_RATE_WINDOW_SECONDS, else 429."""
    ratelimit.hit(ratelimit.IMPORTS, str(request.auth.pk))
    result = services.conversation_import(user=request.auth, file=file, name=file.name or "file")
    return Status(201 if result.imported else 200, result)


async def _async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """The chunks of a synchronous generator (which reads the database), each made in the
    thread that serves sync code, so the export streams under ASGI too."""
    done = object()
    while (chunk := await sync_to_async(next)(chunks, done)) is not done:
        yield chunk
