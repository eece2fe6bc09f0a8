"""Every read of the domain, with the permission check built in: whoever is not a current
participant gets NotFound, exactly as if the conversation did not exist.

One module per kind of read; the common ones are re-exported here."""

from .threads import (
    DEFAULT_PAGE_SIZE,
    EXCERPT_LENGTH,
    MAX_PAGE_SIZE,
    ConversationListItem,
    ConversationListPage,
    MessagePage,
    conversation_get_for_user,
    conversation_list_for_user,
    message_get_for_user,
    message_page,
    messages_with_parts,
    user_can_see_conversation,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "EXCERPT_LENGTH",
    "MAX_PAGE_SIZE",
    "ConversationListItem",
    "ConversationListPage",
    "MessagePage",
    "conversation_get_for_user",
    "conversation_list_for_user",
    "message_get_for_user",
    "message_page",
    "messages_with_parts",
    "user_can_see_conversation",
]
