"""runfox_core -- run YAML-defined workflows in-process, on SQLite, or on DynamoDB + SQS.

``import runfox_core as rfx``; see the README for the quickstart. This
package imports no AWS SDK: the AWS backend lives in ``runfox_core.aws``.
"""

from .backend.base import Backend
from .errors import (
    ConflictError,
    DispatchError,
    ExecutionEndedError,
    ExecutionExistsError,
    ExecutionNotFoundError,
    MessageError,
    PayloadError,
    Problem,
    RunfoxError,
    SpecError,
)
from .results import (
    Cancelled,
    Complete,
    Dispatch,
    DispatchJob,
    Failed,
    Halt,
    Pending,
    StateChangeEvent,
    StepError,
    StepResult,
)
from .spec import load_yaml, validate
from .status import StepStatus, WorkflowStatus
from .workflow import Workflow

__all__ = [
    "Backend", "Cancelled", "Complete", "ConflictError", "Dispatch", "DispatchError", "DispatchJob", "ExecutionEndedError", "ExecutionExistsError",
    "ExecutionNotFoundError", "Failed", "Halt", "MessageError", "PayloadError", "Pending", "Problem",
    "RunfoxError", "SpecError", "StateChangeEvent", "StepError", "StepResult", "StepStatus", "Workflow",
    "WorkflowStatus", "load_yaml", "validate",
]
