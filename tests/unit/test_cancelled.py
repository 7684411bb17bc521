"""Ended means ended: once an execution halts or fails, no step looks alive, and late results are stale."""

from __future__ import annotations

import logging

import pytest

import runfox_core as rfx
from tests.unit.conftest import BackendFactory

# check halts while its sibling slow is in flight; publish (downstream of both) never becomes ready
SPEC = {"steps": [
    {"op": "check", "branch": [{"condition": True, "action": "halt", "result": {"status": "rejected"}}]},
    {"op": "slow"},
    {"op": "retrying", "max_attempts": 3, "retry": {"backoff_seconds": 60}},
    {"op": "publish", "depends_on": ["check", "slow"]}]}


def halted(make_backend: BackendFactory) -> tuple[rfx.Workflow, dict[str, rfx.DispatchJob]]:
    backend = make_backend()
    wf = rfx.Workflow.from_dict(SPEC, backend)
    jobs = {j.step: j for j in wf.advance().jobs}
    assert isinstance(wf.on_step_result("retrying", error={"type": "E", "message": "x"},
                                        run_id=jobs["retrying"].run_id), rfx.Pending)
    assert wf.on_step_result("check", {}, run_id=jobs["check"].run_id) == rfx.Halt({"status": "rejected"})
    return wf, jobs


def test_after_a_halt_steps_in_flight_retrying_or_waiting_read_cancelled(make_backend: BackendFactory) -> None:
    wf, _ = halted(make_backend)
    assert wf.step_statuses == {"check": "halted", "slow": "cancelled", "retrying": "cancelled",
                                "publish": "cancelled"}
    assert [row["status"] for row in wf.timeline()] == ["halted", "cancelled", "cancelled", "cancelled"]
    assert wf.progress["cancelled"] == 3 and wf.progress["in_progress"] == 0 and wf.progress["ready"] == 0
    assert "slow" not in wf.step_durations  # it never finished


def test_a_result_for_a_cancelled_step_is_ignored_and_logged_as_stale(
        make_backend: BackendFactory, caplog: pytest.LogCaptureFixture) -> None:
    wf, jobs = halted(make_backend)
    with caplog.at_level(logging.INFO, logger="runfox_core"):
        assert wf.on_step_result("slow", {"late": True}, run_id=jobs["slow"].run_id) is None
    assert any("stale result ignored" in r.getMessage() and r.step == "slow" for r in caplog.records)
    assert wf.step_statuses["slow"] == "cancelled"
    assert wf.state == {}


def test_after_a_failure_open_steps_read_cancelled(make_backend: BackendFactory) -> None:
    backend = make_backend()
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}, {"op": "b"}, {"op": "c", "depends_on": ["a"]}]}, backend)
    jobs = {j.step: j for j in wf.advance().jobs}
    assert isinstance(wf.on_step_result("a", error={"type": "E", "message": "x"}, run_id=jobs["a"].run_id), rfx.Failed)
    assert wf.step_statuses == {"a": "failed", "b": "cancelled", "c": "cancelled"}
    assert backend.load(wf.id).steps["b"].status == rfx.StepStatus.CANCELLED


def test_a_complete_execution_reports_no_cancelled_step(make_backend: BackendFactory) -> None:
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}, {"op": "b", "depends_on": ["a"]}]},
                                make_backend(executor=lambda op, inputs: {}))
    assert wf.run() == rfx.Complete({})
    assert set(wf.step_statuses.values()) == {rfx.StepStatus.COMPLETE}
