"""Every ninja schema of the API: <Entity>In for requests, <Entity>Out for answers, fields
listed explicitly. One module per area, re-exported here."""

from .common import ERRORS, ErrorBody, ErrorOut, UserRefOut
from .messages import MessageIn, MessageOut, MessagePageOut, MessagePartOut

__all__ = [
    "ERRORS",
    "ErrorBody",
    "ErrorOut",
    "MessageIn",
    "MessageOut",
    "MessagePageOut",
    "MessagePartOut",
    "UserRefOut",
]
