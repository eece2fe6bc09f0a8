"""Import: conversations from a file (our JSON export, or ChatGPT's conversations.json or ZIP)
into the importing user's workspace.

Two passes over the file. The first reads and checks all of it and writes nothing, so a
broken or hostile file imports nothing; the second reads it again and writes each
conversation in a transaction of its own, so that a big import never holds the database
(on SQLite: every writer) for its whole length. Neither pass holds more than one
conversation in memory. docs/import-export.md describes the formats and the decisions.
"""

import hashlib
import logging
import mimetypes
import os
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from conversations.exceptions import ChatError, InvalidInput, NotFound
from conversations.models import (
    Agent,
    Artifact,
    ArtifactKind,
    Conversation,
    ConversationKind,
    Line,
    Membership,
    Message,
    MessagePart,
    MessageRevision,
    MessageRole,
    Participant,
    ParticipantRole,
    PartType,
    Workspace,
)
from conversations.models.parts import INLINE_IMAGE_TYPES
from conversations.transfer.plan import ConversationPlan, MessagePlan
from conversations.transfer.reader import conversation_plans
from conversations.transfer.sources import Asset, ImportLimits, Upload, open_upload

from . import quotas
from .events import event_record
from .messages import derive_title

logger = logging.getLogger(__name__)

# Messages written per INSERT round (with their parts and artifacts).
BATCH_SIZE = 500
HIDDEN_REASON = "Hidden in the conversation this one was exported from."


@dataclass
class ImportResult:
    format: str
    # Conversations this import created, and those an earlier import had (not created again).
    imported: list[uuid.UUID]
    skipped: list[uuid.UUID]


def conversation_import(
    *,
    user: AbstractBaseUser,
    file: BinaryIO,
    name: str = "file",
    workspace: Workspace | None = None,
    limits: ImportLimits | None = None,
) -> ImportResult:
    """Import every conversation in `file` (seekable, binary) for `user`, who owns each one,
    in `workspace` (default: theirs). A conversation imported before into the workspace by
    the same user is skipped, whatever file it came in.

    Not one transaction, deliberately: the first pass writes nothing, and each conversation
    of the second is a transaction (`_import_conversation`), see the module docstring.
    """
    workspace = workspace or user.default_workspace
    if workspace is None or not Membership.objects.filter(workspace=workspace, user=user).exists():
        raise NotFound("No such workspace.", details={"field": "workspace"})
    upload = open_upload(file, name=name, limits=limits or ImportLimits.from_settings())

    formats: set[str] = set()
    # The bytes of files each conversation would store, to check before anything is written.
    file_bytes: dict[tuple[str, str], int] = {}
    for plan in conversation_plans(upload):
        formats.add(plan.format)
        size = 0
        for message_plan in plan.messages:  # our format reads (and checks) them only here
            size += sum(
                asset.size
                for part_plan in message_plan.parts
                if part_plan.artifact is None and (asset := _asset_of(upload, part_plan))
            )
        if size:
            file_bytes[(plan.subject_type, plan.source_id)] = size
    if not formats:
        raise InvalidInput("file", "The file holds no conversations.")
    if len(formats) > 1:
        raise InvalidInput("file", "The file mixes chatapp and ChatGPT conversations.")
    _check_file_bytes(user, workspace, file, file_bytes)

    result = ImportResult(format=formats.pop(), imported=[], skipped=[])
    seen: set[str] = set()
    for plan in conversation_plans(upload):
        if plan.source_id in seen:
            continue  # ChatGPT ZIPs may hold a conversation twice
        seen.add(plan.source_id)
        conversation, created, assets = _import_conversation(
            user=user, workspace=workspace, plan=plan, upload=upload
        )
        (result.imported if created else result.skipped).append(conversation.pk)
        _store_assets(assets)
    return result


def _asset_of(upload: Upload, part_plan) -> Asset | None:
    """The ZIP's image or file that a planned part points at, if the ZIP has it."""
    if part_plan.type not in (PartType.IMAGE, PartType.FILE):
        return None
    return upload.asset_for(part_plan.content.get("asset_pointer"))


def _check_file_bytes(
    user: AbstractBaseUser, workspace: Workspace, file: BinaryIO, file_bytes: dict
) -> None:
    """TooLarge (nothing written yet) if the files of the conversations not imported before
    go over the import's budget or the user's storage quota."""
    if not file_bytes:
        return
    imported_before = set(
        Conversation.objects.filter(
            workspace=workspace,
            created_by=user,
            subject_id__in={source_id for _, source_id in file_bytes},
        ).values_list("subject_type", "subject_id")
    )
    incoming = sum(size for key, size in file_bytes.items() if key not in imported_before)
    upload_size = file.seek(0, os.SEEK_END)
    file.seek(0)
    quotas.import_files_check(upload_size, incoming)
    quotas.storage_check(user, incoming)


def _store_assets(assets: list[tuple[Artifact, Asset]]) -> None:
    """After its conversation's transaction: each image or file of the ZIP that a message
    points at, read, stored, and its artifact told where, with the MIME type its bytes show.
    One that cannot be read (a damaged member) or stored is left out, logged: its artifact
    keeps what the export said of it, as an import of a conversations.json alone does."""
    for artifact, asset in assets:
        try:
            data = asset.read()
        except ChatError as error:
            logger.warning("import: %s left out: %s", asset.name, error)
            continue
        artifact.mime = _mime_type(data, asset.name)
        artifact.file.save(artifact.path or "file", ContentFile(data), save=False)
        try:
            Artifact.objects.filter(pk=artifact.pk).update(
                file=artifact.file.name,
                mime=artifact.mime,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        except Exception:
            artifact.file.storage.delete(artifact.file.name)
            logger.exception("import: %s could not be recorded", asset.name)


def _mime_type(data: bytes, name: str) -> str:
    """An image's type from its first bytes; other files' from their name, but never an
    image type the bytes did not show (a page would show it in place)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    guessed = mimetypes.guess_type(name)[0] or ""
    if not guessed or guessed in INLINE_IMAGE_TYPES:
        return "application/octet-stream"
    return guessed


@transaction.atomic
def _import_conversation(
    *, user: AbstractBaseUser, workspace: Workspace, plan: ConversationPlan, upload: Upload
) -> tuple[Conversation, bool, list[tuple[Artifact, Asset]]]:
    """One conversation with all its messages, or the one imported from the same source;
    and the ZIP's images and files its messages point at, to store after the commit."""
    # Imports into one workspace queue here, so that the same file imported twice at once
    # cannot create a conversation twice. (NO KEY: creating conversations that point at the
    # workspace is not blocked.)
    Workspace.objects.select_for_update(no_key=True).filter(pk=workspace.pk).first()
    existing = Conversation.objects.filter(
        workspace=workspace,
        created_by=user,
        subject_type=plan.subject_type,
        subject_id=plan.source_id,
    ).first()
    if existing is not None:
        return existing, False, []

    now = timezone.now()
    agents = _Agents(workspace)
    conversation_id = uuid.uuid4()
    created_at = plan.created_at or now
    title = derive_title(plan.title)
    if not title and plan.kind == ConversationKind.GROUP:
        title = "Imported group"  # a group always has a title
    conversation = Conversation.objects.create(
        id=conversation_id,
        workspace=workspace,
        kind=plan.kind,
        title=title,
        agent=agents.get(plan.agent_slug) if plan.kind == ConversationKind.ASSISTANT else None,
        created_by=user,
        status=plan.status,
        # A direct conversation comes without the other person; its key is its own, so it
        # never stands for (or blocks) a direct conversation between two people.
        direct_key=f"import:{conversation_id.hex}" if plan.kind == ConversationKind.DIRECT else "",
        subject_type=plan.subject_type,
        subject_id=plan.source_id,
        metadata={
            **plan.metadata,
            "import": {**plan.metadata.get("import", {}), "imported_at": now.isoformat()},
        },
        created_at=created_at,
        last_activity_at=created_at,
    )
    # The importer is shown the line the exporter was (ChatGPT: the one ending at its
    # current_node).
    participant = Participant.objects.create(
        conversation=conversation,
        user=user,
        role=ParticipantRole.OWNER,
        joined_at=now,
        line=plan.shown_line,
    )
    lines = plan.lines or []
    Line.objects.bulk_create(
        [
            Line(
                conversation=conversation,
                number=line.number,
                parent_line=line.parent_line,
                fork_position=line.fork_position,
                ancestry=line.ancestry,
                created_at=now,
            )
            for line in lines
        ],
        batch_size=BATCH_SIZE,
    )

    writer = _MessageWriter(
        conversation=conversation, user=user, agents=agents, now=now, upload=upload
    )
    for message_plan in plan.messages:
        writer.add(message_plan, tree=plan.lines is not None)
    writer.flush()
    writer.count_versions()

    totals = writer.totals
    Conversation.objects.filter(pk=conversation.pk).update(
        line_count=len(lines),
        first_turn_forks=max(writer.children[None] - 1, 0),
        # Untitled: from the first message, as when posting.
        title=title or writer.first_text_title,
        message_count=writer.count,
        last_activity_at=writer.newest or created_at,
        total_input_tokens=totals["total_input_tokens"],
        total_output_tokens=totals["total_output_tokens"],
        total_cached_tokens=totals["total_cached_tokens"],
        total_reasoning_tokens=totals["total_reasoning_tokens"],
        total_tool_time_ms=totals["total_tool_time_ms"],
        tool_counts=dict(writer.tool_counts),
        updated_at=now,
    )
    # Nobody is told about history they brought themselves: all of it is read.
    Participant.objects.filter(pk=participant.pk).update(last_read_seq=writer.count)
    conversation.refresh_from_db()
    # One event for the whole conversation (as conversation_create records), none per
    # imported message: the importer's other tabs add it to the sidebar.
    event_record(
        conversation_id=conversation.pk,
        type="conversation.created",
        data={
            "title": conversation.title,
            "status": conversation.status,
            "agent_id": str(conversation.agent_id) if conversation.agent_id else None,
        },
    )
    return conversation, True, writer.assets


class _Agents:
    """The workspace's active agents by slug, looked up once each."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.by_slug: dict[str, Agent | None] = {}

    def get(self, slug: str) -> Agent | None:
        if not slug:
            return None
        if slug not in self.by_slug:
            self.by_slug[slug] = Agent.objects.filter(
                workspace=self.workspace, slug=slug, is_active=True
            ).first()
        return self.by_slug[slug]


class _MessageWriter:
    """Appends planned messages as seq 1, 2, 3 …, in batches of bulk INSERTs, adding up what
    the conversation's counters must say about them: each in its place in the tree (as
    planned, or after the one before it for a linear conversation), and, once all are
    written, each parent's count of versions of the turn after it."""

    def __init__(
        self, *, conversation: Conversation, user, agents: _Agents, now: datetime, upload: Upload
    ):
        self.conversation = conversation
        self.upload = upload
        # Artifacts made for the ZIP's images and files, with where their bytes are.
        self.assets: list[tuple[Artifact, Asset]] = []
        self.user = user
        self.agents = agents
        self.now = now
        self.count = 0
        self.newest: datetime | None = None
        self.first_text_title = ""
        self.totals: Counter[str] = Counter()
        self.tool_counts: Counter[str] = Counter()
        self.ids_by_source_seq: dict[int, uuid.UUID] = {}
        # The message written last, and how many messages each has after it (its versions
        # of the next turn; None: the first turn's).
        self.previous_id: uuid.UUID | None = None
        self.children: Counter[uuid.UUID | None] = Counter()
        self.messages: list[Message] = []
        self.parts: list[MessagePart] = []
        self.artifacts: list[Artifact] = []
        self.revisions: list[MessageRevision] = []

    def add(self, plan: MessagePlan, *, tree: bool = False) -> None:
        self.count += 1
        if tree:
            # Checked by the format reader: the parent is an earlier message of the plan.
            position, line, version = plan.position, plan.line, plan.version
            parent_id = (
                self.ids_by_source_seq[plan.parent_source_seq]
                if plan.parent_source_seq is not None
                else None
            )
        else:
            position, line, version, parent_id = self.count, 0, 1, self.previous_id
        created_at = plan.created_at or self.now
        sender = None
        meta = dict(plan.meta)
        if plan.sent_by_importer or (
            plan.original_sender and plan.original_sender.get("id") == str(self.user.pk)
        ):
            sender = self.user
        elif plan.original_sender:
            # The person is not brought along; who they were is.
            meta["original_sender"] = {
                "username": plan.original_sender["username"],
                "display_name": plan.original_sender["display_name"],
            }
        message = Message(
            id=uuid.uuid4(),
            conversation=self.conversation,
            seq=self.count,
            position=position,
            line=line,
            parent_id=parent_id,
            version=version,
            role=plan.role,
            status=plan.status,
            sender=sender,
            agent=self.agents.get(plan.agent_slug) if plan.role == MessageRole.ASSISTANT else None,
            provider=plan.provider,
            model=plan.model,
            content=plan.content,
            reply_to_id=self.ids_by_source_seq.get(plan.reply_to_source_seq)
            if plan.reply_to_source_seq is not None
            else None,
            created_at=created_at,
            completed_at=plan.completed_at,
            edited_at=plan.edited_at,
            latency_ms=plan.latency_ms,
            ttft_ms=plan.ttft_ms,
            prompt_tokens=plan.prompt_tokens,
            completion_tokens=plan.completion_tokens,
            total_tokens=plan.total_tokens,
            cached_input_tokens=plan.cached_input_tokens,
            reasoning_tokens=plan.reasoning_tokens,
            error=plan.error,
            error_type=plan.error_type,
            error_details=plan.error_details,
            is_aborted=plan.is_aborted,
            meta=meta,
            deleted_at=self.now if plan.is_deleted else None,
            hidden_at=self.now if plan.is_hidden else None,
            hidden_reason=HIDDEN_REASON if plan.is_hidden else "",
        )
        if plan.source_seq is not None:
            self.ids_by_source_seq[plan.source_seq] = message.id
        self.previous_id = message.id
        if tree or parent_id is None:  # a linear conversation's turns have one version
            self.children[parent_id] += 1
        self.messages.append(message)
        self.revisions += [
            MessageRevision(
                message=message,
                number=revision.number,
                content=revision.content,
                created_at=revision.created_at or created_at,
            )
            for revision in plan.revisions
        ]

        self.totals["total_input_tokens"] += plan.prompt_tokens or 0
        self.totals["total_output_tokens"] += plan.completion_tokens or 0
        self.totals["total_cached_tokens"] += plan.cached_input_tokens or 0
        self.totals["total_reasoning_tokens"] += plan.reasoning_tokens or 0
        if self.newest is None or created_at > self.newest:
            self.newest = created_at
        if not self.first_text_title and message.is_visible:
            self.first_text_title = derive_title(plan.content)

        for index, part_plan in enumerate(plan.parts):
            part = MessagePart(
                id=uuid.uuid4(),
                message=message,
                index=index,
                step_index=part_plan.step_index,
                type=part_plan.type,
                content=part_plan.content,
                tool_name=part_plan.tool_name,
                tool_call_id=part_plan.tool_call_id,
                started_at=part_plan.started_at,
                completed_at=part_plan.completed_at,
                tool_duration_ms=part_plan.tool_duration_ms,
                created_at=created_at,
            )
            self.parts.append(part)
            # The same sums message_part_add keeps.
            if part_plan.type == PartType.TOOL_CALL:
                self.tool_counts[part_plan.tool_name] += 1
            self.totals["total_tool_time_ms"] += part_plan.tool_duration_ms or 0
            if part_plan.artifact is not None:
                self.artifacts.append(
                    Artifact(
                        part=part,
                        kind=part_plan.artifact.kind,
                        path=part_plan.artifact.path,
                        mime=part_plan.artifact.mime,
                        size=part_plan.artifact.size,
                        sha256=part_plan.artifact.sha256,
                        created_at=created_at,
                    )
                )
            elif asset := _asset_of(self.upload, part_plan):
                artifact = Artifact(
                    part=part,
                    kind=ArtifactKind.IMAGE
                    if part_plan.type == PartType.IMAGE
                    else ArtifactKind.FILE,
                    path=asset.name.rsplit("/", 1)[-1][:500],
                    size=asset.size,
                    owner=self.user,
                    created_at=created_at,
                )
                self.artifacts.append(artifact)
                self.assets.append((artifact, asset))
        if len(self.messages) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        Message.objects.bulk_create(self.messages)
        MessagePart.objects.bulk_create(self.parts)
        Artifact.objects.bulk_create(self.artifacts)
        MessageRevision.objects.bulk_create(self.revisions, batch_size=BATCH_SIZE)
        self.messages, self.parts, self.artifacts, self.revisions = [], [], [], []

    def count_versions(self) -> None:
        """Each message's next_turn_forks (how many versions the turn after it has beyond
        the first), once its children are all written: one UPDATE per distinct count, of
        BATCH_SIZE messages at most."""
        by_forks: dict[int, list[uuid.UUID]] = {}
        for parent_id, children in self.children.items():
            if parent_id is not None and children > 1:
                by_forks.setdefault(children - 1, []).append(parent_id)
        for forks, ids in by_forks.items():
            for start in range(0, len(ids), BATCH_SIZE):
                Message.objects.filter(pk__in=ids[start : start + BATCH_SIZE]).update(
                    next_turn_forks=forks
                )
