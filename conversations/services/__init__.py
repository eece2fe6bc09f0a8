"""Every write to the domain, one transaction each. Views, the API, the admin, commands and
tests call these; nothing else creates or changes domain rows."""

from .agents import agent_default_for_workspace
from .conversations import (
    conversation_create,
    conversation_delete,
    conversation_mark_read,
    conversation_restore,
    conversation_update,
    participant_add,
    participant_remove,
    participant_set_flags,
)
from .messages import (
    Usage,
    artifact_create,
    assistant_message_abort,
    assistant_message_finish,
    assistant_message_progress,
    assistant_message_restart,
    assistant_message_start,
    assistant_messages_interrupt_stale,
    message_delete,
    message_edit,
    message_part_add,
    message_post,
    message_record_usage,
    validate_message_meta,
)
from .moderation import report_create
from .transfer import ImportResult, conversation_import
from .workspaces import membership_add, workspace_create, workspace_create_personal

__all__ = [
    "ImportResult",
    "Usage",
    "agent_default_for_workspace",
    "artifact_create",
    "assistant_message_abort",
    "assistant_message_finish",
    "assistant_message_progress",
    "assistant_message_restart",
    "assistant_message_start",
    "assistant_messages_interrupt_stale",
    "conversation_create",
    "conversation_delete",
    "conversation_import",
    "conversation_mark_read",
    "conversation_restore",
    "conversation_update",
    "membership_add",
    "message_delete",
    "message_edit",
    "message_part_add",
    "message_post",
    "message_record_usage",
    "participant_add",
    "participant_remove",
    "participant_set_flags",
    "report_create",
    "validate_message_meta",
    "workspace_create",
    "workspace_create_personal",
]
