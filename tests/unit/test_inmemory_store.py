"""InMemoryStore keeps values frozen (marshal), and detached even when marshal cannot hold one."""

from __future__ import annotations

from runfox_core.backend import InMemoryStore
from runfox_core.engine.records import Commit, ExecutionDefinition, ExecutionHeader, StepRecord
from runfox_core.status import StepStatus, WorkflowStatus


def test_a_value_marshal_cannot_hold_is_stored_as_a_detached_copy() -> None:
    # Given a state value and a record output holding a str subclass (which marshal refuses)
    store = InMemoryStore()
    d = ExecutionDefinition("wf", "e1", {"steps": [{"op": "a"}]}, {}, "2024-01-01T00:00:00+00:00")
    store.create(d, ExecutionHeader(WorkflowStatus.PENDING, 0, 1, ready={"a": 0.0}))
    header = store.load_header(d.key)
    header.version = 1
    value = {"status": StepStatus.COMPLETE, "list": [1, 2]}
    record = StepRecord("a", "a", StepStatus.COMPLETE, output=value)
    # When it is committed, then the values passed in change
    store.commit(d.key, Commit(0, header, steps={"a": record}, state={"v": value}))
    value["list"].append(3)
    # Then what is stored did not move, and each load is a copy of its own
    loaded = store.load_state(d.key)["v"]
    assert loaded == {"status": "complete", "list": [1, 2]}
    loaded["list"].append(4)
    assert store.load_state(d.key)["v"]["list"] == [1, 2]
    assert store.load_steps(d.key)["a"].output == {"status": "complete", "list": [1, 2]}
