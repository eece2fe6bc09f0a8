"""Paths through the versions of a conversation's turns (docs/data-model.md, "Versions of a
turn"): which message a person is shown at each position, read as ranges of the
(conversation, line, position) index."""

from dataclasses import dataclass
from typing import Any

from django.db.models import JSONField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from conversations.models import Line, Message

MAIN_ANCESTRY: tuple[tuple[int, int], ...] = ((0, 1),)


@dataclass(frozen=True, slots=True)
class Segment:
    """Positions `first`..`last` (inclusive) of a path are read on `line`."""

    line: int
    first: int
    last: int

    def q(self) -> Q:
        return Q(line=self.line, position__gte=self.first, position__lte=self.last)


@dataclass(frozen=True, slots=True)
class Path:
    """A line followed back through the lines it forked from: `ancestry` pairs each line
    with the first position read on it, from the first turn; the last pair is `line`'s own.
    `tail` is the newest position (0 for a conversation with no message yet)."""

    line: int
    ancestry: tuple[tuple[int, int], ...]
    tail: int
    # The conversation has no version at all: every message is on line 0 at position = seq.
    linear: bool = False

    @classmethod
    def of(cls, line: int, ancestry: Any, tail: int | None, *, linear: bool = False) -> "Path":
        pairs = MAIN_ANCESTRY if not ancestry else tuple((int(a), int(b)) for a, b in ancestry)
        return cls(line=line, ancestry=pairs, tail=tail or 0, linear=linear and not ancestry)

    def segments(self, first: int, last: int) -> list[Segment]:
        """The lines that hold positions first..last, each with its part of the range."""
        found = []
        for index, (line, start) in enumerate(self.ancestry):
            end = self.ancestry[index + 1][1] - 1 if index + 1 < len(self.ancestry) else last
            low, high = max(start, first), min(end, last)
            if low <= high:
                found.append(Segment(line, low, high))
        return found

    def q(self, first: int, last: int) -> Q:
        """A filter for the messages at positions first..last of this path: exactly one
        per position. Matches nothing for an empty range."""
        condition = Q(pk__in=[])
        for segment in self.segments(first, last):
            condition |= segment.q()
        if self.linear and first <= last:
            # The same range of seqs (they are the positions here): whichever of the two
            # indexes the planner picks then reads the page's rows only, even when its
            # statistics take a big conversation for a small one (tests: test_selectors_pages).
            condition &= Q(seq__gte=first, seq__lte=last)
        return condition

    def line_at(self, position: int) -> int:
        """The line this path reads `position` on."""
        owner = self.ancestry[0][0]
        for line, start in self.ancestry:
            if start > position:
                break
            owner = line
        return owner

    def holds(self, message) -> bool:
        """Whether `message` (its line and position) is on this path."""
        # A line's messages run from where it starts on the path to its own end: the
        # line that owns the position is the one the message must be on.
        return message.position >= 1 and self.line_at(message.position) == message.line

    def forked_at(self, position: int, line: int) -> list[list[int]]:
        """The ancestry of a new line `line` that is a new version of this path's turn at
        `position`: this path before it, then the new line."""
        kept = [[owner, start] for owner, start in self.ancestry if start < position]
        return [*kept, [line, position]]


def tail_of(line_expression) -> Subquery:
    """The newest position of a line, for rows that name the conversation and the line
    (OuterRef or F): one backward step on the (conversation, line, position) index."""
    return Subquery(
        Message.objects.filter(conversation_id=OuterRef("conversation_id"), line=line_expression)
        .order_by("-position")
        .values("position")[:1]
    )


def ancestry_of(line_expression) -> Subquery:
    """A line's ancestry (NULL for line 0, which has no row), for rows as tail_of."""
    return Subquery(
        Line.objects.filter(conversation_id=OuterRef("conversation_id"), number=line_expression)
        .order_by()
        .values("ancestry")[:1],
        output_field=JSONField(),
    )


def path_annotations(prefix: str = "") -> dict:
    """Annotations that read, with a participation, the path it is shown: its line's
    ancestry and newest position (`path_ancestry`, `path_tail`). `prefix` reaches the
    participation from the rows (empty on Participant itself)."""
    line = OuterRef(f"{prefix}line") if prefix else OuterRef("line")
    return {
        "path_ancestry": ancestry_of(line),
        "path_tail": Coalesce(tail_of(line), 0),
    }


def line_path(conversation_id: Any, line: int) -> Path:
    """The path of one line of a conversation, read from the database (two small reads)."""
    ancestry = None
    if line:
        ancestry = (
            Line.objects.filter(conversation_id=conversation_id, number=line)
            .values_list("ancestry", flat=True)
            .first()
        )
    tail = (
        Message.objects.filter(conversation_id=conversation_id, line=line)
        .order_by("-position")
        .values_list("position", flat=True)
        .first()
    )
    return Path.of(line, ancestry, tail)


def version_counts(items: list, *, before: Any, first_turn_forks: int) -> None:
    """Sets `versions` on each message of a page (ascending positions of one path): how
    many versions its turn has, 1 + its parent's next_turn_forks. The parent is the row
    before it; `before` is the row before the first (None on the first page)."""
    previous = before
    for item in items:
        if item.position == 1:
            item.versions = 1 + first_turn_forks
        elif previous is not None and previous.position == item.position - 1:
            item.versions = 1 + previous.next_turn_forks
        else:
            item.versions = max(item.version, 1)
        previous = item


def shown_line_for(participant, message) -> int:
    """The line to show `participant` once they pick `message`'s version: among the lines
    they were shown lately, the newest whose path holds it (so that going back to a
    version returns to where they had been below it), else the message's own line."""
    recent = [line for line in participant.recent_lines or [] if isinstance(line, int)]
    if not recent:
        return message.line
    ancestries = dict(
        Line.objects.filter(
            conversation_id=message.conversation_id, number__in=[line for line in recent if line]
        ).values_list("number", "ancestry")
    )
    for line in recent:
        if line == message.line:
            return line
        path = Path.of(line, ancestries.get(line), None)
        if (line == 0 or line in ancestries) and path.line_at(message.position) == message.line:
            return line
    return message.line


__all__ = [
    "Path",
    "Segment",
    "line_path",
    "path_annotations",
    "shown_line_for",
    "tail_of",
    "version_counts",
]
