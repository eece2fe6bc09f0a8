"""Lines: the paths through the versions of a conversation's turns."""

from django.db import models

from .base import TimestampedModel
from .conversations import Conversation


class Line(TimestampedModel):
    """A line made by a version: a new version of the turn at `fork_position` on the path
    of line `parent_line`, and every turn written after it on this line.

    `ancestry` is the whole path, as [line, first position] pairs from the first turn:
    [[0, 1], [3, 7], [5, 12]] reads positions 1 to 6 on line 0, 7 to 11 on line 3 and 12 on
    this line, 5. It is copied from the parent line's when the line is made and never
    changes, so a page of a path is one read of this row and of the positions the page
    shows, however many versions the conversation has. Line 0, the one a conversation
    starts with, has no row: its ancestry is [[0, 1]]."""

    # The unique (conversation, number) index serves every lookup by conversation.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="lines", db_index=False
    )
    number = models.PositiveIntegerField()
    parent_line = models.PositiveIntegerField()
    fork_position = models.PositiveIntegerField()
    ancestry = models.JSONField()

    class Meta:
        ordering = ["conversation", "number"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "number"], name="line_number_unique"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="line_number_positive"),
            models.CheckConstraint(
                condition=models.Q(fork_position__gte=1), name="line_fork_position_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"line {self.number} of {self.conversation_id} (from {self.fork_position})"
