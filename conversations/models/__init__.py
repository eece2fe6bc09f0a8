"""The domain models, one module per concept."""

from .agents import Agent, Provider
from .conversations import (
    TITLE_MAX_LENGTH,
    Conversation,
    ConversationKind,
    ConversationStatus,
    Participant,
    ParticipantRole,
)
from .events import Event
from .lines import Line
from .messages import (
    CLIENT_MESSAGE_ID_MAX_LENGTH,
    CONTENT_MAX_LENGTH,
    FINISH_REASON_MAX_LENGTH,
    Message,
    MessageErrorType,
    MessageRole,
    MessageStatus,
)
from .moderation import AuditEvent, Report, ReportReason, ReportStatus
from .parts import Artifact, ArtifactKind, MessagePart, PartType
from .revisions import MessageRevision
from .workspaces import Invitation, InvitationStatus, Membership, Workspace, WorkspaceRole

__all__ = [
    "CLIENT_MESSAGE_ID_MAX_LENGTH",
    "CONTENT_MAX_LENGTH",
    "FINISH_REASON_MAX_LENGTH",
    "TITLE_MAX_LENGTH",
    "Agent",
    "Artifact",
    "ArtifactKind",
    "AuditEvent",
    "Conversation",
    "ConversationKind",
    "ConversationStatus",
    "Event",
    "Invitation",
    "InvitationStatus",
    "Line",
    "Membership",
    "Message",
    "MessageErrorType",
    "MessagePart",
    "MessageRevision",
    "MessageRole",
    "MessageStatus",
    "PartType",
    "Participant",
    "ParticipantRole",
    "Provider",
    "Report",
    "ReportReason",
    "ReportStatus",
    "Workspace",
    "WorkspaceRole",
]
