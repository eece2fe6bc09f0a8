"""ChatGPT's export format: one conversation object (an element of conversations.json) to a
ConversationPlan.

A ChatGPT conversation is a tree: `mapping` holds nodes {id, message, parent, children},
every edit or regeneration starts a branch, and `current_node` is the leaf the user last saw.
The whole tree is imported as versions of turns (docs/data-model.md): the nodes with the
same parent are versions of one turn, each leaf's path is a line, and the importer is shown
the line that ends at current_node. The tree is read from the `parent` of each node
(children are never needed: nodes may lack them); a parent that is not in the mapping, a
node that never reaches a root (a cycle), a node whose id is not its key or a key given
twice, or a tree deeper than MAX_TREE_DEPTH makes the file invalid.

Roles map one to one (user, assistant, system, tool); ChatGPT's custom-instruction nodes
(user_editable_context, model_editable_context) become system messages; empty nodes (the
root, the empty system prompt, null messages) are skipped, their children taking their
place under the nearest node kept above them. docs/import-export.md has the table of
content types and the parts each becomes.
"""

import hashlib
import heapq
import json
from collections import deque
from typing import Any

from conversations.models import MessageRole, PartType

from .plan import (
    MAIN_ANCESTRY,
    MAX_ANCESTRY_PAIRS,
    MAX_TREE_DEPTH,
    ConversationPlan,
    LinePlan,
    MessagePlan,
    PartPlan,
    clean_json,
    clean_text,
    fork_ancestry,
    invalid,
    timestamp,
)

FORMAT = "chatgpt"

ROLES = {
    "user": MessageRole.USER,
    "assistant": MessageRole.ASSISTANT,
    "system": MessageRole.SYSTEM,
    "tool": MessageRole.TOOL,
}
CONTEXT_TYPES = {"user_editable_context", "model_editable_context"}
# The fields of an image or file pointer kept in its part; the rest (fovea, DALL·E's gen ids,
# sanitisation flags) says nothing a reader needs.
POINTER_FIELDS = ("content_type", "asset_pointer", "size_bytes", "width", "height", "format")
SOURCE_ID_MAX_LENGTH = 100


class JsonObject(dict):
    """A JSON object as the parser builds it (reader.py passes it as ijson's map_type),
    remembering the keys given twice, which a plain dict silently keeps the last of."""

    def __setitem__(self, key, value):
        if key in self:
            self.__dict__.setdefault("duplicate_keys", []).append(key)
        super().__setitem__(key, value)


def conversation_plan(raw: Any, *, location: str) -> ConversationPlan:
    """Every branch of one ChatGPT conversation, as versions of its turns, checked; raises
    InvalidInput."""
    if not isinstance(raw, dict) or not isinstance(raw.get("mapping"), dict):
        raise invalid(location, "is not a ChatGPT conversation (an object with a mapping).")
    mapping: dict = raw["mapping"]
    title = _optional(raw, "title", str, location) or ""
    created_at = timestamp(raw.get("create_time"), location=f"{location}.create_time")
    source_id = _source_id(raw, location)
    location = f"{location} ({source_id})"
    current = _optional(raw, "current_node", str, location)
    if current is not None and current not in mapping:
        raise invalid(location, f"current_node {current!r} is not in the mapping.")

    order, parents = _nodes(mapping, location)
    # Each node's nearest kept node, itself or above it (None: no message above it is
    # kept); the kept ones' plans, their kept parents and their turns.
    anchor: dict[str, str | None] = {}
    plans: dict[str, MessagePlan] = {}
    kept_children: dict[str | None, list[str]] = {}
    positions: dict[str, int] = {}
    for node_id in order:
        parent = parents[node_id]
        above = anchor[parent] if parent is not None else None
        message = mapping[node_id].get("message")
        plan = None
        if message is not None:
            node_location = f"{location}.mapping[{node_id!r}].message"
            plan = _message_plan(message, node_id, location=node_location)
        if plan is None:
            anchor[node_id] = above
            continue
        anchor[node_id] = node_id
        # A message without a time sits at its predecessor's (or the conversation's) time.
        if plan.created_at is None:
            plan.created_at = plans[above].created_at if above is not None else created_at
        if plan.completed_at is None:
            plan.completed_at = plan.created_at
        plans[node_id] = plan
        positions[node_id] = positions[above] + 1 if above is not None else 1
        kept_children.setdefault(above, []).append(node_id)

    messages, lines, line_of = _versions(plans, kept_children, positions, location)
    if current is None:
        current = _latest_leaf(mapping)
    shown = anchor.get(current) if current is not None else None
    return ConversationPlan(
        format=FORMAT,
        source_id=source_id,
        kind="assistant",
        title=clean_text(title),
        created_at=created_at or (messages[0].created_at if messages else None),
        messages=messages,
        metadata={"import": {"format": FORMAT, "source_id": source_id}},
        lines=lines,
        shown_line=line_of[shown] if shown is not None else 0,
    )


def _nodes(mapping: dict, location: str) -> tuple[list[str], dict[str, str | None]]:
    """Every node of the mapping, parents before children (breadth first from the roots),
    and the parent of each; InvalidInput unless the mapping is a tree (or several)."""
    duplicates = getattr(mapping, "duplicate_keys", None)
    if duplicates:
        raise invalid(f"{location}.mapping", f"node {duplicates[0]!r} is given twice.")
    parents: dict[str, str | None] = {}
    children: dict[str | None, list[str]] = {}
    for node_id, node in mapping.items():
        node_location = f"{location}.mapping[{node_id!r}]"
        if not isinstance(node, dict):
            raise invalid(node_location, "a node must be an object.")
        own_id = _optional(node, "id", str, node_location)
        if own_id is not None and own_id != node_id:
            raise invalid(
                f"{node_location}.id", f"must be the node's key, {node_id!r}: ids are unique."
            )
        parent = _optional(node, "parent", str, node_location)
        if parent is not None and parent not in mapping:
            raise invalid(location, f"node {node_id!r} has parent {parent!r}, not in the mapping.")
        parents[node_id] = parent
        children.setdefault(parent, []).append(node_id)
    order: list[str] = []
    depth = dict.fromkeys(children.get(None, []), 1)
    queue = deque(children.get(None, []))
    while queue:
        node_id = queue.popleft()
        order.append(node_id)
        if depth[node_id] > MAX_TREE_DEPTH:
            raise invalid(location, f"the mapping is more than {MAX_TREE_DEPTH} turns deep.")
        for child in children.get(node_id, []):
            depth[child] = depth[node_id] + 1
            queue.append(child)
    if len(order) < len(parents):
        stuck = next(node_id for node_id in parents if node_id not in depth)
        raise invalid(location, f"the mapping has a cycle: node {stuck!r} never reaches a root.")
    return order, parents


def _versions(
    plans: dict[str, MessagePlan],
    kept_children: dict[str | None, list[str]],
    positions: dict[str, int],
    location: str,
) -> tuple[list[MessagePlan], list, dict[str, int]]:
    """The kept messages in the order they were written (by time, a parent always before
    its children), each given its seq, turn, version and line; the lines; each node's line.
    A turn's versions are numbered in the order written; the first continues its parent's
    line and every later one starts a line of its own, forking from the first's, as
    editing or regenerating here would."""
    order_of = {node_id: index for index, node_id in enumerate(plans)}
    heap = [(_time_key(plans[root]), order_of[root], root) for root in kept_children.get(None, [])]
    heapq.heapify(heap)
    messages: list[MessagePlan] = []
    lines: list[LinePlan] = []
    ancestries: list[list[list[int]]] = [MAIN_ANCESTRY]
    pairs = 0
    line_of: dict[str, int] = {}
    versions: dict[str | None, list[str]] = {}
    kept_parent = {
        child: parent for parent, children in kept_children.items() for child in children
    }
    while heap:
        _, _, node_id = heapq.heappop(heap)
        plan = plans[node_id]
        parent = kept_parent[node_id]
        siblings = versions.setdefault(parent, [])
        siblings.append(node_id)
        plan.source_seq = len(messages) + 1
        plan.parent_source_seq = plans[parent].source_seq if parent is not None else None
        plan.position = positions[node_id]
        plan.version = len(siblings)
        if plan.version == 1:
            plan.line = line_of[parent] if parent is not None else 0
        else:
            parent_line = line_of[siblings[0]]
            number = len(lines) + 1
            ancestry = fork_ancestry(ancestries[parent_line], position=plan.position, number=number)
            pairs += len(ancestry)
            if pairs > MAX_ANCESTRY_PAIRS:
                raise invalid(location, "the mapping has too many branches this deep to import.")
            lines.append(LinePlan(number, parent_line, plan.position, ancestry))
            ancestries.append(ancestry)
            plan.line = number
        line_of[node_id] = plan.line
        messages.append(plan)
        for child in kept_children.get(node_id, []):
            heapq.heappush(heap, (_time_key(plans[child]), order_of[child], child))
    return messages, lines, line_of


def _time_key(plan: MessagePlan) -> float:
    return plan.created_at.timestamp() if plan.created_at is not None else float("-inf")


def _source_id(raw: dict, location: str) -> str:
    """ChatGPT's conversation id; without one, a digest of the conversation, which is the
    same for the same file. Ids too long for subject_id are digested as well."""
    for key in ("conversation_id", "id"):
        value = clean_text(_optional(raw, key, str, location) or "")
        if value:
            if len(value) <= SOURCE_ID_MAX_LENGTH:
                return value
            break
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=True, default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _latest_leaf(mapping: dict) -> str | None:
    """Without a current_node: the node nobody names as parent whose message is newest."""
    parents = {
        node.get("parent")
        for node in mapping.values()
        if isinstance(node, dict) and isinstance(node.get("parent"), str)
    }
    best: tuple[int | float, str] | None = None
    for node_id, node in mapping.items():
        if node_id in parents or not isinstance(node, dict):
            continue
        message = node.get("message")
        time = message.get("create_time") if isinstance(message, dict) else None
        if isinstance(time, bool) or not isinstance(time, int | float):
            time = float("-inf")
        if best is None or time >= best[0]:
            best = (time, node_id)
    return best[1] if best else None


def _message_plan(message: Any, node_id: str, *, location: str) -> MessagePlan | None:
    if not isinstance(message, dict):
        raise invalid(location, "must be an object or null.")
    author = _optional(message, "author", dict, location) or {}
    metadata = _optional(message, "metadata", dict, location) or {}
    content = _optional(message, "content", dict, location) or {}
    content_type = _optional(content, "content_type", str, f"{location}.content") or "text"
    role = ROLES.get(_optional(author, "role", str, f"{location}.author") or "")
    if content_type in CONTEXT_TYPES:
        role = MessageRole.SYSTEM
    if role is None:
        return None  # an author ChatGPT added later that we have no role for

    pieces = _pieces(content, content_type, location=f"{location}.content")
    recipient = clean_text(_optional(message, "recipient", str, location) or "all")[:200]
    author_name = clean_text(_optional(author, "name", str, f"{location}.author") or "")[:200]
    created_at = timestamp(message.get("create_time"), location=f"{location}.create_time")
    updated_at = timestamp(message.get("update_time"), location=f"{location}.update_time")
    model = clean_text(_optional(metadata, "model_slug", str, f"{location}.metadata") or "")

    texts = [text for kind, text in pieces if kind == "text" and text.strip()]
    parts: list[PartPlan] = []
    text = "\n\n".join(texts)
    if role == MessageRole.ASSISTANT and recipient != "all":
        # The assistant calling a tool (python, browser, dalle.text2im, web.run …).
        arguments = {"input": text}
        if content_type == "code":
            language = _optional(content, "language", str, location)
            arguments = {"code": text, "language": clean_text(language) if language else language}
        parts.append(
            PartPlan(type=PartType.TOOL_CALL, content={"arguments": arguments}, tool_name=recipient)
        )
        text = ""
    elif role == MessageRole.TOOL:
        # What a tool answered: its output is the part; images it made are parts too.
        if texts:
            parts.append(
                PartPlan(
                    type=PartType.TOOL_RESULT,
                    content={"output": "\n\n".join(texts)},
                    tool_name=author_name or "tool",
                )
            )
        parts += [piece for kind, piece in pieces if kind == "part"]
        text = ""
    else:
        has_other = any(kind == "part" for kind, _ in pieces)
        # As with messages posted here, a person's or system's plain text is the content
        # alone; an assistant's text is a text part as well, as in our own assistant turns.
        if role == MessageRole.ASSISTANT or has_other:
            for kind, piece in pieces:
                if kind == "text":
                    if piece.strip():
                        parts.append(PartPlan(type=PartType.TEXT, content={"text": piece}))
                else:
                    parts.append(piece)

    if not text.strip() and not parts:
        return None  # the empty root and system prompts, an empty placeholder
    meta: dict = {"import": {"source": FORMAT, "message_id": _message_id(message, node_id)}}
    return MessagePlan(
        role=role,
        created_at=created_at,
        completed_at=updated_at or created_at,
        content=text,
        sent_by_importer=role == MessageRole.USER,
        provider="openai" if model else "",
        model=model[:200],
        meta=meta,
        parts=parts,
    )


def _message_id(message: dict, node_id: str) -> str:
    value = message.get("id")
    return (
        clean_text(value)[:200] if isinstance(value, str) and value else clean_text(node_id)[:200]
    )


def _pieces(content: dict, content_type: str, *, location: str) -> list[tuple[str, Any]]:
    """The content as ("text", str) and ("part", PartPlan) pieces, in order."""
    if content_type in ("text", "multimodal_text") or "parts" in content:
        parts = _optional(content, "parts", list, location) or []
        return [
            _piece(item, location=f"{location}.parts[{index}]") for index, item in enumerate(parts)
        ]
    if content_type == "thoughts":
        thoughts = _optional(content, "thoughts", list, location) or []
        text = "\n\n".join(
            _optional(thought, "content", str, location) or ""
            for thought in thoughts
            if isinstance(thought, dict)
        )
        return [("part", _reasoning(text))] if text.strip() else []
    if content_type == "reasoning_recap":
        text = _optional(content, "content", str, location) or ""
        return [("part", _reasoning(text))] if text.strip() else []
    if content_type == "system_error":
        text = _optional(content, "text", str, location) or ""
        name = _optional(content, "name", str, location) or ""
        error = PartPlan(type=PartType.ERROR, content={"message": clean_text(text), "name": name})
        return [("part", error)] if text.strip() else []
    if content_type == "user_editable_context":
        return [
            ("text", clean_text(value))
            for key in ("user_profile", "user_instructions")
            if (value := _optional(content, key, str, location))
        ]
    if content_type == "model_editable_context":
        value = _optional(content, "model_set_context", str, location) or ""
        return [("text", clean_text(value))]
    if content_type == "tether_browsing_display":
        value = _optional(content, "result", str, location) or ""
        return [("text", clean_text(value))]
    # code, execution_output, tether_quote and what ChatGPT adds next: their text, if any.
    value = _optional(content, "text", str, location) or ""
    return [("text", clean_text(value))]


def _piece(item: Any, *, location: str) -> tuple[str, Any]:
    if isinstance(item, str):
        return ("text", clean_text(item))
    if not isinstance(item, dict):
        raise invalid(location, "a content part must be text or an object.")
    kind = _optional(item, "content_type", str, location) or ""
    if kind == "image_asset_pointer":
        return ("part", PartPlan(type=PartType.IMAGE, content=_pointer(item, location)))
    if isinstance(item.get("text"), str) and kind in ("", "text", "audio_transcription"):
        return ("text", clean_text(item["text"]))
    return ("part", PartPlan(type=PartType.FILE, content=_pointer(item, location)))


def _pointer(item: dict, location: str) -> dict:
    kept = {
        key: item[key]
        for key in POINTER_FIELDS
        if isinstance(item.get(key), str | int | float) and not isinstance(item.get(key), bool)
    }
    metadata = item.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("dalle"), dict):
        prompt = metadata["dalle"].get("prompt")
        if isinstance(prompt, str):
            kept["prompt"] = prompt
    return clean_json(kept, location=location)


def _reasoning(text: str) -> PartPlan:
    return PartPlan(type=PartType.REASONING, content={"text": clean_text(text)})


def _optional(container: dict, key: str, kind: type, location: str) -> Any:
    """container[key] if it is a `kind`, None if missing or null; InvalidInput otherwise."""
    value = container.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        names = {str: "text", dict: "an object", list: "a list"}
        raise invalid(f"{location}.{key}", f"must be {names.get(kind, kind.__name__)} or null.")
    return value
