"""test_store_contract.py -- the Store contract (backend/store.py), once, for every backend.

Add a backend by adding a factory to ``STORE_FACTORIES``: a context manager
that yields a fresh, empty store and cleans up after it. Every test below
then runs against it.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runfox_core.backend.store import Store
from runfox_core.engine.records import Commit, ExecutionDefinition, ExecutionHeader, StepRecord
from runfox_core.errors import ConflictError, ExecutionExistsError, ExecutionNotFoundError
from runfox_core.status import StepStatus, WorkflowStatus


@contextlib.contextmanager
def dynamodb_store() -> Iterator[Store]:
    import boto3
    from moto import mock_aws

    from local.moto_patches import fast_moto_transactions  # same rollback, without moto's per-action table copy
    from runfox_core.aws.dynamodb_store import DynamoDBStore
    from runfox_core.aws.tables import create_table

    with mock_aws(), fast_moto_transactions():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "workflows", list_indexes=True)
        yield DynamoDBStore("workflows", client=client)


@contextlib.contextmanager
def inmemory_store() -> Iterator[Store]:
    from runfox_core.backend.inmemory_store import InMemoryStore

    yield InMemoryStore()


@contextlib.contextmanager
def sqlite_store() -> Iterator[Store]:
    from runfox_core.backend import SqliteStore

    with tempfile.TemporaryDirectory() as tmp:
        yield SqliteStore(os.path.join(tmp, "runfox.db"))


STORE_FACTORIES: dict[str, Callable[[], contextlib.AbstractContextManager[Store]]] = {
    "dynamodb": dynamodb_store,
    "inmemory": inmemory_store,
    "sqlite": sqlite_store,
}


@pytest.fixture(params=[pytest.param(name, marks=[pytest.mark.aws] if name == "dynamodb" else [])
                        for name in sorted(STORE_FACTORIES)])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    with STORE_FACTORIES[request.param]() as s:
        yield s


# -- builders ---------------------------------------------------------------------


def definition(execution_id: str = "e1", name: str | None = None) -> ExecutionDefinition:
    return ExecutionDefinition(
        workflow_id="wf",
        execution_id=execution_id,
        spec={"steps": [{"op": "a"}, {"op": "b", "input": {"x": {"var": "steps.a.output.x"}}}]},
        inputs={"n": 1, "f": 0.1, "nested": {"l": [1, 2.5, None, "s"]}},
        created_at="2024-01-01T00:00:00+00:00",
        name=name,
    )


def header(version: int = 0, **changes: Any) -> ExecutionHeader:
    h = ExecutionHeader(
        status=WorkflowStatus.PENDING,
        version=version,
        remaining=3,
        ready={"a": 0.0, "b": 1700000000.25},
        joins={"c": 2},
        deadlines={"d": [1.0, 1700000100.5]},
    )
    for k, v in changes.items():
        setattr(h, k, v)
    return h


def record(step_id: str, run_id: int = 1, **changes: Any) -> StepRecord:
    r = StepRecord(step_id=step_id, token=f"tok_{step_id}", status=StepStatus.IN_PROGRESS, run_id=run_id,
                   attempt=1, inputs={"x": 1}, start_time="2024-01-01T00:00:01+00:00")
    for k, v in changes.items():
        setattr(r, k, v)
    return r


def commit_on(store: Store, key: str, *, steps: dict[str, StepRecord] | None = None,
              state: dict[str, Any] | None = None, unsent_add: dict[str, list[float]] | None = None,
              unsent_remove: list[str] | None = None, expected: int | None = None, **header_changes: Any) -> Commit:
    current = store.load_header(key)
    base = current.version if expected is None else expected
    new = current.copy()
    new.version = base + 1
    for k, v in header_changes.items():
        setattr(new, k, v)
    c = Commit(expected_version=base, header=new, steps=steps or {}, state=state or {},
               unsent_add=unsent_add or {}, unsent_remove=unsent_remove or [])
    store.commit(key, c)
    return c


def without_unsent(h: ExecutionHeader) -> dict[str, Any]:
    d = h.to_dict()
    d.pop("unsent")
    return d


# -- create and load ---------------------------------------------------------------


def test_create_then_every_part_loads_back_equal(store: Store) -> None:
    # Given a definition and a header
    d, h = definition(name="greeting-1"), header()
    # When the execution is created
    store.create(d, h)
    # Then every part loads back equal, and a new execution has no steps or state
    assert store.load_definition(d.key) == d
    assert store.load_header(d.key) == h
    assert store.load_steps(d.key) == {}
    assert store.load_steps(d.key, ["a"]) == {}
    assert store.load_state(d.key) == {}
    assert store.load_state(d.key, ["x"]) == {}
    assert store.exists(d.key)
    assert not store.exists("wf#missing")


def test_create_over_an_existing_key_raises_and_changes_nothing(store: Store) -> None:
    d = definition()
    store.create(d, header())
    other = definition()
    other.inputs = {"changed": True}
    with pytest.raises(ExecutionExistsError) as err:
        store.create(other, header(remaining=99))
    assert err.value.existing_key == d.key
    assert store.load_definition(d.key) == d
    assert store.load_header(d.key) == header()


def test_a_taken_name_names_its_holder_and_the_second_execution_is_not_created(store: Store) -> None:
    first = definition("e1", name="nightly")
    store.create(first, header())
    assert store.find_by_name("nightly") == first.key
    assert store.find_by_name("weekly") is None
    second = definition("e2", name="nightly")
    with pytest.raises(ExecutionExistsError) as err:
        store.create(second, header())
    assert err.value.existing_key == first.key
    assert not store.exists(second.key)
    with pytest.raises(ExecutionNotFoundError):
        store.load_definition(second.key)


@pytest.mark.parametrize(
    "load",
    [
        lambda s, k: s.load_definition(k),
        lambda s, k: s.load_header(k),
        lambda s, k: s.load_steps(k),
        lambda s, k: s.load_steps(k, ["a"]),
        lambda s, k: s.load_state(k),
        lambda s, k: s.load_state(k, ["x"]),
    ],
    ids=["definition", "header", "steps", "steps-named", "state", "state-named"],
)
def test_loading_a_missing_execution_raises_not_found(store: Store, load: Any) -> None:
    with pytest.raises(ExecutionNotFoundError) as err:
        load(store, "wf#missing")
    assert isinstance(err.value, KeyError)


def test_mutating_loaded_or_passed_values_changes_nothing_stored(store: Store) -> None:
    d, h = definition(), header()
    store.create(d, h)
    steps = {"a": record("a", output={"x": [1, 2]})}
    state = {"x": {"deep": [1, 2]}}
    commit_on(store, d.key, steps=steps, state=state)
    # mutate what was passed in
    d.spec["steps"].append({"op": "evil"})
    steps["a"].output["x"].append(3)  # type: ignore[index]
    state["x"]["deep"].append(3)
    # mutate what was loaded
    loaded_def = store.load_definition(d.key)
    loaded_def.inputs["nested"]["l"].clear()
    loaded_header = store.load_header(d.key)
    loaded_header.ready.clear()
    loaded_header.deadlines["d"].append(9.0)
    loaded_step = store.load_steps(d.key)["a"]
    loaded_step.output["x"].append(4)  # type: ignore[index]
    store.load_state(d.key)["x"]["deep"].append(4)
    # nothing stored moved
    assert store.load_definition(d.key) == definition()
    assert store.load_header(d.key).ready == header().ready
    assert store.load_header(d.key).deadlines == header().deadlines
    assert store.load_steps(d.key)["a"].output == {"x": [1, 2]}
    assert store.load_state(d.key) == {"x": {"deep": [1, 2]}}


# -- commit --------------------------------------------------------------------------


def test_a_commit_applies_every_part(store: Store) -> None:
    d = definition()
    store.create(d, header())
    c = commit_on(
        store, d.key,
        steps={"a": record("a"), "b": record("b", run_id=2, status=StepStatus.COMPLETE, output={"y": 2})},
        state={"x": 1, "y": [1, {"z": None}]},
        unsent_add={"a": [1.0, 1700000000.5]},
        status=WorkflowStatus.IN_PROGRESS, remaining=2, ready={}, joins={}, deadlines={}, outcome={"o": 1.5},
        updated_at="2024-01-01T00:00:02+00:00",
    )
    loaded = store.load_header(d.key)
    assert loaded.version == 1
    assert without_unsent(loaded) == without_unsent(c.header)
    assert loaded.unsent == {"a": [1.0, 1700000000.5]}
    assert store.load_steps(d.key) == c.steps
    assert store.load_steps(d.key, ["b", "missing"]) == {"b": c.steps["b"]}
    assert store.load_state(d.key) == {"x": 1, "y": [1, {"z": None}]}


def test_a_commit_with_a_stale_version_raises_conflict_and_applies_nothing(store: Store) -> None:
    d = definition()
    store.create(d, header())
    commit_on(store, d.key, state={"x": 1}, unsent_add={"a": [1.0, 5.0]})
    with pytest.raises(ConflictError):
        commit_on(store, d.key, expected=0, steps={"b": record("b")}, state={"x": 2, "y": 3},
                  unsent_add={"b": [1.0, 6.0]}, unsent_remove=["a"], remaining=0)
    loaded = store.load_header(d.key)
    assert loaded.version == 1 and loaded.remaining == 3
    assert loaded.unsent == {"a": [1.0, 5.0]}
    assert store.load_steps(d.key) == {}
    assert store.load_state(d.key) == {"x": 1}


def test_a_commit_on_a_missing_execution_raises(store: Store) -> None:
    c = Commit(expected_version=0, header=header(version=1))
    with pytest.raises((ConflictError, ExecutionNotFoundError)):
        store.commit("wf#missing", c)
    assert not store.exists("wf#missing")


def test_unsent_deltas_and_mark_sent_only_drop_matching_run_ids_without_a_version_bump(store: Store) -> None:
    d = definition()
    store.create(d, header())
    commit_on(store, d.key, unsent_add={"a": [1.0, 10.0], "b": [2.0, 11.0], "c": [1.0, 12.0]})
    store.mark_sent(d.key, {"a": 1, "b": 7, "missing": 1})
    loaded = store.load_header(d.key)
    assert loaded.unsent == {"b": [2.0, 11.0], "c": [1.0, 12.0]}
    assert loaded.version == 1
    # mark_sent commutes: a commit at the version read before it still applies
    commit_on(store, d.key, expected=1, unsent_add={"d": [1.0, 13.0]}, unsent_remove=["c"])
    assert store.load_header(d.key).unsent == {"b": [2.0, 11.0], "d": [1.0, 13.0]}
    store.mark_sent(d.key, {})
    store.mark_sent(d.key, {"b": 2, "d": 1})
    assert store.load_header(d.key).unsent == {}
    assert store.load_header(d.key).version == 2


def test_an_entry_both_removed_and_added_keeps_the_added_one(store: Store) -> None:
    d = definition()
    store.create(d, header())
    commit_on(store, d.key, unsent_add={"a": [1.0, 10.0]})
    commit_on(store, d.key, unsent_add={"a": [2.0, 20.0]}, unsent_remove=["a"])
    assert store.load_header(d.key).unsent == {"a": [2.0, 20.0]}


def test_state_merges_distinct_keys_across_commits(store: Store) -> None:
    d = definition()
    store.create(d, header())
    commit_on(store, d.key, state={"x": 1, "shared": "first"})
    commit_on(store, d.key, state={"y": 2, "shared": "second"})
    assert store.load_state(d.key) == {"x": 1, "y": 2, "shared": "second"}
    assert store.load_state(d.key, ["y", "nope"]) == {"y": 2}


TRICKY_VALUES: dict[str, Any] = {
    "tenth": 0.1,
    "tiny": 1e-300,
    "huge": 1.7976931348623157e308,
    "negative_zero": -0.0,
    "big_int": 2**63 + 1,
    "int_not_float": 1,
    "float_not_int": 1.0,
    "nested": {"a": [1, 2.5, [None, True, False]], "b": {"c": {"d": "e"}}, "": 0},
    "unicode": "é✓😀",
    "empty": {},
    "null": None,
    "with.dots and #hash": [0.30000000000000004],
    "x" * 2000: "a long key",
}


def test_floats_and_nested_values_round_trip_exactly(store: Store) -> None:
    d = definition()
    store.create(d, header(outcome={"pi": math.pi}))
    commit_on(store, d.key, steps={"s" * 1500: record("s" * 1500, output=dict(TRICKY_VALUES))},
              state=dict(TRICKY_VALUES), outcome=dict(TRICKY_VALUES))
    state = store.load_state(d.key)
    assert state == TRICKY_VALUES
    # repr tells -0.0 from 0.0 and 1 from 1.0; the order of state keys is not part of the contract
    assert {k: repr(v) for k, v in state.items()} == {k: repr(v) for k, v in TRICKY_VALUES.items()}
    assert repr(store.load_steps(d.key)["s" * 1500].output) == repr(TRICKY_VALUES)
    assert repr(store.load_header(d.key).outcome) == repr(TRICKY_VALUES)
    assert store.load_state(d.key, ["x" * 2000]) == {"x" * 2000: "a long key"}


def test_a_string_only_json_escapes_can_carry_round_trips_everywhere_a_store_keeps_values(store: Store) -> None:
    # Given values holding a lone surrogate (UTF-8 has no form for it; a Python string and a JSON escape
    # do), an astral character, noncharacters and control characters: a store that encoded values
    # itself as UTF-8 text, not through payloads.encode, refuses the first
    odd = {"lone": "a\ud800b", "astral": "\U0001f600", "nonchars": "\ufffe\uffff", "controls": "\x00\x1f\u2028"}
    d = definition()
    store.create(d, header())
    # When they are committed as a step record, a state entry and the outcome
    commit_on(store, d.key, steps={"s": record("s", inputs=dict(odd), output=dict(odd))}, state={"v": dict(odd)},
              outcome=dict(odd))
    # Then each loads back exactly
    assert store.load_state(d.key) == {"v": odd}
    loaded = store.load_steps(d.key)["s"]
    assert (loaded.inputs, loaded.output) == (odd, odd)
    assert store.load_header(d.key).outcome == odd


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=JSON)
def test_any_json_value_round_trips_through_state(store: Store, value: Any) -> None:
    key = definition().key
    if not store.exists(key):
        store.create(definition(), header())
    commit_on(store, key, state={"v": value})
    assert repr(store.load_state(key, ["v"])["v"]) == repr(value)


def test_load_snapshot_reads_header_steps_and_state_together(store: Store) -> None:
    loader = getattr(store, "load_snapshot", None)
    if loader is None:
        pytest.skip("this store has no load_snapshot")
    d = definition()
    store.create(d, header())
    c = commit_on(store, d.key, steps={"a": record("a")}, state={"x": 1})
    h, steps, state = loader(d.key, ["a", "b"], ["x", "y"])
    assert h == store.load_header(d.key) and h.version == c.header.version
    assert steps == {"a": c.steps["a"]} and state == {"x": 1}
    assert loader(d.key, None, None)[1:] == ({"a": c.steps["a"]}, {"x": 1})
    with pytest.raises(ExecutionNotFoundError):
        loader("wf#missing", ["a"], ["x"])


def test_a_thousand_steps_with_1kb_outputs_under_distinct_keys_commit_and_load(store: Store) -> None:
    # Given an execution whose state will outgrow one 400 KB item
    d = definition()
    store.create(d, header())
    per_commit = min(store.max_steps_per_commit or 40, 40)
    # When 1,000 steps each merge a 1 KB output under its own state key
    for start in range(0, 1000, per_commit):
        ids = [f"step{i:04d}" for i in range(start, min(start + per_commit, 1000))]
        commit_on(
            store, d.key,
            steps={s: record(s, status=StepStatus.COMPLETE, output={s: "v" * 1024}) for s in ids},
            state={s: "v" * 1024 for s in ids},
        )
    # Then all of it loads back
    state = store.load_state(d.key)
    assert len(state) == 1000 and sum(len(v) for v in state.values()) > 1_000_000
    assert len(store.load_steps(d.key)) == 1000
    assert store.load_steps(d.key, ["step0999"])["step0999"].output == {"step0999": "v" * 1024}
    assert len(store.load_state(d.key, [f"step{i:04d}" for i in range(0, 1000, 3)])) == 334


def test_a_commit_larger_than_any_transaction_is_applied_whole(store: Store) -> None:
    # Given an execution with an unsent claim for every one of 150 steps
    d = definition()
    store.create(d, header())
    commit_on(store, d.key, unsent_add={f"s{i}": [0.0, 1.0] for i in range(150)})
    # When one commit writes 300 records, 300 state entries, and moves 150 unsent claims
    steps = {f"s{i}": record(f"s{i}", status=StepStatus.READY) for i in range(300)}
    c = commit_on(store, d.key, steps=steps, state={f"k{i}": [i] for i in range(300)},
                  unsent_remove=[f"s{i}" for i in range(150)],
                  unsent_add={f"s{i}": [1.0, 2.0] for i in range(150, 300)})
    # Then all of it is stored, under one new version, and the next commit builds on it
    h = store.load_header(d.key)
    assert h.version == c.header.version
    assert h.unsent == {f"s{i}": [1.0, 2.0] for i in range(150, 300)}
    assert store.load_steps(d.key) == steps
    assert store.load_state(d.key) == {f"k{i}": [i] for i in range(300)}
    assert store.load_steps(d.key, ["s299"]) == {"s299": steps["s299"]}
    commit_on(store, d.key, state={"after": 1})
    assert store.load_state(d.key, ["after", "k0"]) == {"after": 1, "k0": [0]}


def test_schedules_of_any_width_load_back_whole_and_follow_every_change(store: Store) -> None:
    # Given an execution created with 1,500 ready steps and 800 join counters (past any inline budget)
    d = definition()
    ready = {f"step_{i:019d}": 0.0 for i in range(1500)}
    joins = {f"join_{i:019d}": 2 for i in range(800)}
    store.create(d, header(ready=ready, joins=joins, deadlines={}))
    # Then the header loads them back as they were
    h = store.load_header(d.key)
    assert dict(h.ready) == ready and dict(h.joins) == joins
    # When one commit claims 600 of them (ready -> deadlines and unsent), retries one, counts joins down
    claimed = [f"step_{i:019d}" for i in range(600)]
    new = store.load_header(d.key).copy()
    new.version = 1
    for sid in claimed:
        del new.ready[sid]
        new.deadlines[sid] = [0.0, 100.0]
    new.ready["step_0000000000000000000"] = 50.0
    for i in range(0, 800, 2):
        new.joins[f"join_{i:019d}"] = 1
    store.commit(d.key, Commit(expected_version=0, header=new, unsent_add={sid: [0.0, 1.0] for sid in claimed}))
    # Then every schedule reads back exactly, spilled or not
    h = store.load_header(d.key)
    expected_ready = {k: v for k, v in ready.items() if k not in claimed} | {"step_0000000000000000000": 50.0}
    assert dict(h.ready) == expected_ready
    assert dict(h.deadlines) == {sid: [0.0, 100.0] for sid in claimed}
    assert dict(h.joins) == {k: (1 if int(k[5:]) % 2 == 0 else 2) for k in joins}
    assert dict(h.unsent) == {sid: [0.0, 1.0] for sid in claimed}
    assert h.deadlines.due(99.0) == [] and len(h.deadlines.due(100.0)) == 600
    due = h.ready.due(10.0, limit=5)
    assert len(due) == 5 and all(v == 0.0 and expected_ready[k] == 0.0 for k, v in due)
    assert len(h.ready.due(10.0)) == 900 and len(h.ready.due(50.0)) == 901
    # When the claims are confirmed sent, some with a stale run id, and the rest claimed later
    store.mark_sent(d.key, {sid: (7 if sid == claimed[0] else 0) for sid in claimed})
    assert dict(store.load_header(d.key).unsent) == {claimed[0]: [0.0, 1.0]}
    last = store.load_header(d.key).copy()
    last.version = 2
    last.ready.clear()
    last.deadlines.clear()
    store.commit(d.key, Commit(expected_version=1, header=last, unsent_remove=[claimed[0]]))
    h = store.load_header(d.key)
    assert dict(h.ready) == {} and dict(h.deadlines) == {} and dict(h.unsent) == {} and len(h.joins) == 800
