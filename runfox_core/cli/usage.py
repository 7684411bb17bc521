"""usage.py -- the command line's bad-usage error and the JSON-object flags it checks.

``UsageError`` is what a command raises for an argument argparse cannot
check (exit code 2, nothing changed); ``json_object`` reads a flag that
takes a JSON object (``--inputs``, ``--payload``, ``--output``). A module of
its own, so that ``cli/__init__.py`` and the command modules it imports
(``waits.py``) share them without importing each other.
"""

from __future__ import annotations

import json
from typing import Any


class UsageError(ValueError):
    """Raised for an argument argparse cannot check (a spec file that is missing, inputs that are not JSON)."""


def json_object(text: str, flag: str) -> dict[str, Any]:
    """``text`` (the value of ``flag``) parsed as a JSON object; a ``UsageError`` naming ``flag`` otherwise."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{flag} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{flag} must be a JSON object, got {type(value).__name__}")
    return value
