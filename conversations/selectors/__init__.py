"""Every read of the domain, with the permission check built in: whoever is not a current
participant gets NotFound, exactly as if the conversation did not exist.

One module per kind of read; the common ones are re-exported here."""

from .export import ConversationExport, conversation_export
from .revisions import MessageHistory, MessageText, message_history_for_user
from .search import SearchHit, SearchPage, clean_search_text, message_search
from .threads import (
    DEFAULT_PAGE_SIZE,
    EXCERPT_LENGTH,
    MAX_PAGE_SIZE,
    ConversationListItem,
    ConversationListPage,
    MessagePage,
    artifact_get_for_user,
    conversation_get_for_user,
    conversation_list_for_user,
    message_get_for_user,
    message_page,
    message_page_rows,
    message_versions,
    messages_with_parts,
    shown_path_from,
    turn_version,
    user_can_see_conversation,
)
from .usage import UsageGroup, UsageReport, UsageTotals, usage_report

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "EXCERPT_LENGTH",
    "MAX_PAGE_SIZE",
    "ConversationExport",
    "ConversationListItem",
    "ConversationListPage",
    "MessageHistory",
    "MessagePage",
    "MessageText",
    "SearchHit",
    "SearchPage",
    "UsageGroup",
    "UsageReport",
    "UsageTotals",
    "artifact_get_for_user",
    "clean_search_text",
    "conversation_export",
    "conversation_get_for_user",
    "conversation_list_for_user",
    "message_get_for_user",
    "message_history_for_user",
    "message_page",
    "message_page_rows",
    "message_search",
    "message_versions",
    "messages_with_parts",
    "shown_path_from",
    "turn_version",
    "usage_report",
    "user_can_see_conversation",
]
