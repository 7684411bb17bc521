"""status.py -- the stored lifecycle values of steps and executions.

Values are stored as plain strings so records stay readable without this
module; ``tests/unit/test_status.py`` pins them, because changing one
would orphan every stored record that uses it.

``StepStatus.CANCELLED`` is never stored: a step still ready, retrying or in
progress when its execution ended (halted, failed, cancelled) is
*reported* cancelled by every reader (``step_status``). Deriving it at read
time keeps the ending transition O(1): rewriting every open step's record
in one commit would make halting a 10,000-wide execution one huge write.
"""

from enum import StrEnum


class StepStatus(StrEnum):
    READY = "ready"  # waiting for its dependencies or for dispatch
    IN_PROGRESS = "in_progress"  # claimed by advance(); a job is out
    COMPLETE = "complete"  # output accepted
    HALTED = "halted"  # a halt branch fired on this step
    RETRY = "retry"  # an attempt failed (or no branch fired) and attempts remain
    FAILED = "failed"  # attempts exhausted; the execution failed with it
    CANCELLED = "cancelled"  # reported, never stored: open when the execution ended (see above)


class WorkflowStatus(StrEnum):
    PENDING = "pending"  # created, nothing dispatched yet
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    HALTED = "halted"
    FAILED = "failed"
    CANCELLED = "cancelled"  # an operator cancelled it (``operations.cancel``); it dispatches nothing more


TERMINAL_STEP_STATUSES = frozenset(
    {StepStatus.COMPLETE, StepStatus.HALTED, StepStatus.FAILED, StepStatus.CANCELLED}
)
TERMINAL_WORKFLOW_STATUSES = frozenset(
    {WorkflowStatus.COMPLETE, WorkflowStatus.HALTED, WorkflowStatus.FAILED, WorkflowStatus.CANCELLED}
)


def step_status(stored: StepStatus, execution: WorkflowStatus) -> StepStatus:
    """What a reader reports for a step: ``stored``, or CANCELLED if it is still open and the execution ended."""
    if execution in TERMINAL_WORKFLOW_STATUSES and stored not in TERMINAL_STEP_STATUSES:
        return StepStatus.CANCELLED
    return stored
