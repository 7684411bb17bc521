"""Commit.claims: the claims a store may write ahead of its fenced update are exactly the claims of a
task or a wait, left in progress, whose inputs read only upstream outputs and the workflow's inputs
(the same for every claimer of that run); a claim reading state, or every step, is not one of them,
nor a wait over as it begins, nor a map's, nor a wait's that hands out a callback token (its nonce is
drawn at the claim: ``StepKind.draws_at_claim``)."""

from __future__ import annotations

from typing import Any

import runfox_core as rfx
from runfox_core.backend.inmemory_store import InMemoryStore
from runfox_core.engine.records import Commit


class Noting(InMemoryStore):
    """An in-memory store that notes each commit's claims."""

    def __init__(self) -> None:
        super().__init__()
        self.claims: list[set[str]] = []

    def commit(self, key: str, commit: Commit) -> None:
        super().commit(key, commit)
        self.claims.append(set(commit.claims))


def claims_of(spec: dict[str, Any]) -> set[str]:
    store = Noting()
    wf = rfx.Workflow.from_dict(spec, rfx.Backend(store=store, executor=lambda op, inputs: {"y": 1}),
                                inputs={"x": 1})
    wf.run(timeout=10)
    assert str(wf.status) == "complete"
    return set().union(*store.claims)


def test_a_claim_reading_upstream_outputs_and_inputs_may_be_written_ahead() -> None:
    spec = {"steps": [{"op": "a", "input": {"x": {"var": "input.x"}}},
                      {"op": "b", "depends_on": ["a"], "input": {"y": {"var": "steps.a.output.y"}}}]}
    assert claims_of(spec) == {"a", "b"}


def test_a_claim_reading_state_or_every_step_is_kept_in_the_commit() -> None:
    spec = {"steps": [{"op": "a"},
                      {"op": "b", "depends_on": ["a"], "input": {"seen": {"var": "state.y"}}},
                      {"op": "c", "depends_on": ["a"], "input": {"all": {"var": "state"}}}]}
    assert claims_of(spec) == {"a"}


def test_a_wait_that_begins_waiting_may_be_written_ahead_but_not_one_over_at_once_nor_a_map() -> None:
    spec = {"steps": [{"op": "a"},
                      {"id": "later", "depends_on": ["a"], "wait": {"seconds": 0.01}},
                      {"id": "past", "depends_on": ["a"], "wait": {"until": "2020-01-01T00:00:00Z"}},
                      {"id": "each", "depends_on": ["a"], "map": {"items": [1, 2], "fn": "f"}}]}
    assert claims_of(spec) == {"a", "later"}


def test_a_wait_for_an_event_or_a_callback_is_kept_in_the_commit_for_its_record_keeps_its_waiting_event() -> None:
    store = Noting()
    spec = {"steps": [{"id": "signed", "wait": {"callback": True}},
                      {"id": "beating", "wait": {"event": "go", "heartbeat_seconds": 60}},
                      {"id": "plain", "wait": {"event": "go"}},
                      {"id": "timed", "wait": {"seconds": 60}}]}
    wf = rfx.Workflow.from_dict(spec, rfx.Backend(store=store))
    wf.advance()
    assert set(wf.step_statuses.values()) == {"in_progress"}
    assert set().union(*store.claims) == {"timed"}
