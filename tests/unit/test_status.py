"""Stored status values are part of the record format: changing one orphans stored executions."""

from runfox_core import StepStatus, WorkflowStatus


def test_step_status_values_are_pinned() -> None:
    assert {s.name: s.value for s in StepStatus} == {
        "READY": "ready", "IN_PROGRESS": "in_progress", "COMPLETE": "complete",
        "HALTED": "halted", "RETRY": "retry", "FAILED": "failed", "CANCELLED": "cancelled",
    }


def test_workflow_status_values_are_pinned() -> None:
    assert {s.name: s.value for s in WorkflowStatus} == {
        "PENDING": "pending", "IN_PROGRESS": "in_progress", "COMPLETE": "complete",
        "HALTED": "halted", "FAILED": "failed", "CANCELLED": "cancelled",
    }
