"""exceptions.py -- errors raised only by the AWS backends.

Both derive from ``RunfoxError`` (``ItemTooLargeError`` also from
``PayloadError``: it is a payload too big for DynamoDB), and both are raised
before anything is written.
"""

from __future__ import annotations

from ..errors import PayloadError, RunfoxError


class ItemTooLargeError(PayloadError):
    """Raised when one stored item (a step record, a state entry, the header) would exceed 400 KB."""


class CommitTooLargeError(RunfoxError):
    """Raised when one commit needs more items or bytes than one DynamoDB transaction holds."""
