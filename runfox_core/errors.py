"""errors.py -- the one error hierarchy of runfox_core.

Every error a caller can act on derives from ``RunfoxError``. Messages name
the execution, step and field concerned, so a log line is enough to act.
"""

from __future__ import annotations


class RunfoxError(Exception):
    """Raised for any runfox_core failure a caller may want to catch as one."""


class SpecError(RunfoxError, ValueError):
    """Raised when a workflow spec or its inputs are unsound; nothing was written.

    ``problems`` lists every problem found (the message shows them all);
    each is a ``Problem`` naming the step and field.
    """

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))

    @property
    def first(self) -> Problem:
        return self.problems[0]


class Problem:
    """One thing wrong with a spec: where (step, field) and what."""

    __slots__ = ("step", "field", "message")

    def __init__(self, message: str, step: str | None = None, field: str | None = None):
        self.message = message
        self.step = step
        self.field = field

    def to_dict(self) -> dict[str, str | None]:
        return {"step": self.step, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        where = []
        if self.step is not None:
            where.append(f"step {self.step!r}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def __repr__(self) -> str:
        return f"Problem({str(self)!r})"


class Problems(list[Problem]):
    """What ``validate`` returns: the errors, as the list itself (so ``problems == []`` means
    sound), and ``warnings``: things that are valid but probably not what the author meant
    (a retried step with no branch that completes it). Creation logs the warnings.
    """

    def __init__(self, errors: list[Problem] | None = None, warnings: list[Problem] | None = None):
        super().__init__(errors or [])
        self.warnings: list[Problem] = list(warnings or [])

    def __repr__(self) -> str:
        return f"Problems({list(self)!r}, warnings={self.warnings!r})"


class PayloadError(RunfoxError, ValueError):
    """Raised when inputs or an output are not a JSON object, not serialisable, or too large."""


class ExecutionNotFoundError(RunfoxError, KeyError):
    """Raised when no execution is stored under the given key."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "execution not found"


class ExecutionExistsError(RunfoxError):
    """Raised when creating an execution whose key or name is already taken.

    ``existing_key`` is the execution that holds it, so an idempotent caller
    can return that one instead of starting a second.
    """

    def __init__(self, message: str, existing_key: str | None = None):
        super().__init__(message)
        self.existing_key = existing_key


class ExecutionStatusError(RunfoxError):
    """Raised when an operation does not apply to the execution in its status (a redrive of a completed
    or running execution, a rerun of a step that does not exist); nothing changed. ``status`` is the
    execution's."""

    def __init__(self, message: str, status: str):
        super().__init__(message)
        self.status = status


class ExecutionEndedError(ExecutionStatusError):
    """Raised when an operation needs a running execution (cancel) but it has ended; nothing changed.

    ``status`` is how it ended.
    """


class ConflictError(RunfoxError):
    """Raised by ``Store.commit`` when the record changed since it was loaded.

    The engine re-reads and retries; callers only see it when retries run out.
    """


class MessageError(RunfoxError, ValueError):
    """Raised when a job or result message does not follow the message contract."""


class DispatchError(RunfoxError):
    """Raised when a job cannot be dispatched (unknown dispatch token, payload too large)."""
