"""status.py -- the stored lifecycle values of steps and executions.

Values are stored as plain strings so records stay readable without this
module; ``tests/unit/test_status.py`` pins them, because changing one
would orphan every stored record that uses it.
"""

from enum import StrEnum


class StepStatus(StrEnum):
    READY = "ready"  # waiting for its dependencies or for dispatch
    IN_PROGRESS = "in_progress"  # claimed by advance(); a job is out
    COMPLETE = "complete"  # output accepted
    HALTED = "halted"  # a halt branch fired on this step
    RETRY = "retry"  # an attempt failed (or no branch fired) and attempts remain
    FAILED = "failed"  # attempts exhausted; the execution failed with it


class WorkflowStatus(StrEnum):
    PENDING = "pending"  # created, nothing dispatched yet
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    HALTED = "halted"
    FAILED = "failed"


TERMINAL_STEP_STATUSES = frozenset({StepStatus.COMPLETE, StepStatus.HALTED, StepStatus.FAILED})
TERMINAL_WORKFLOW_STATUSES = frozenset(
    {WorkflowStatus.COMPLETE, WorkflowStatus.HALTED, WorkflowStatus.FAILED}
)
