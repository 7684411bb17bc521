"""exceptions.py -- errors raised only by the AWS backends.

Both derive from ``StoreLimitError`` (``ItemTooLargeError`` also from
``PayloadError``: it is a payload too big for DynamoDB), and both are raised
before anything is written.
"""

from __future__ import annotations

from ..backend.store import StoreLimitError
from ..errors import PayloadError


class ItemTooLargeError(StoreLimitError, PayloadError):
    """Raised when one stored item (a step record, a state entry, the header) would exceed 400 KB."""


class CommitTooLargeError(StoreLimitError):
    """Raised when a commit cannot be split into transactions DynamoDB accepts (say, more than ten
    items too large to journal, each over 350 KB), or a definition is over one transaction."""
