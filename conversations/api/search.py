"""Search over messages and usage reports: parse, call one selector, shape the answer."""

from django.http import HttpRequest
from ninja import Query, Router

from conversations import selectors
from conversations.schemas import (
    ErrorOut,
    SearchPageOut,
    SearchQueryIn,
    UsageQueryIn,
    UsageReportOut,
)

router = Router(tags=["search and usage"])


@router.get(
    "/search",
    response={200: SearchPageOut, 400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def search_messages(request: HttpRequest, query: Query[SearchQueryIn]):
    """Messages you may read that match `q`, best match first (PostgreSQL full text) or
    newest first (SQLite substring), each with an HTML excerpt, matches in <mark>. Deleted
    and hidden messages and conversations in the trash are never found."""
    return selectors.message_search(
        user=request.auth,
        text=query.q,
        conversation_id=query.conversation_id,
        cursor=query.cursor,
        limit=query.limit,
    )


@router.get(
    "/usage",
    response={200: UsageReportOut, 400: ErrorOut, 401: ErrorOut, 422: ErrorOut},
    by_alias=True,
)
def usage(request: HttpRequest, query: Query[UsageQueryIn]):
    """Token usage of the assistant turns in your conversations in [from, to) (UTC dates,
    default the last 30 days), totalled by day, model or agent."""
    return selectors.usage_report(
        user=request.auth,
        date_from=query.date_from,
        date_to=query.date_to,
        group_by=query.group_by,
    )
