"""Execution ids: unique under bursts, sortable by time; keys are never overwritten."""

from __future__ import annotations

from typing import Any

import pytest

import runfox_core as rfx
from runfox_core.ids import new_execution_id
from runfox_core.spec import workflow_id

SPEC = {"steps": [{"op": "a"}]}


def test_thousands_of_ids_created_in_one_second_are_unique_and_sorted() -> None:
    ids = [new_execution_id(now=1_800_000_000.0 + i * 1e-7) for i in range(5000)]
    assert len(set(ids)) == 5000
    assert sorted(ids, key=lambda x: x[:23]) == ids  # the timestamp prefix orders them


def test_ids_sort_by_creation_time() -> None:
    assert new_execution_id(now=1_800_000_000.0) < new_execution_id(now=1_800_000_000.5)


def test_two_thousand_back_to_back_creations_are_all_stored(make_backend: Any) -> None:
    backend = make_backend()
    keys = {backend.create(SPEC) for _ in range(2000)}
    assert len(keys) == 2000
    assert all(k.startswith(workflow_id(SPEC) + "#") for k in keys)


def test_workflow_id_is_the_md5_of_the_canonical_spec() -> None:
    assert workflow_id({"b": 1, "a": [1, 2]}) == workflow_id({"a": [1, 2], "b": 1})
    assert len(workflow_id(SPEC)) == 32


def test_a_name_starts_one_execution_only(make_backend: Any) -> None:
    backend = make_backend()
    first = rfx.Workflow.from_dict(SPEC, backend, name="nightly-2026-11-23")
    with pytest.raises(rfx.ExecutionExistsError) as err:
        rfx.Workflow.from_dict({"steps": [{"op": "b"}]}, backend, name="nightly-2026-11-23")
    assert err.value.existing_key == first.id


def test_resume_of_an_unknown_execution_raises_key_error(make_backend: Any) -> None:
    with pytest.raises(KeyError):
        rfx.Workflow.resume("nope#nope", make_backend())


def test_key_accessors_compose_the_documented_keys() -> None:
    backend = rfx.Backend()
    wf = rfx.Workflow.from_dict(SPEC, backend)
    view = backend.load(wf.id)
    assert backend.execution_key(view) == backend.workflow_execution_id(view) == wf.id
    assert backend.step_key(wf.id, "a") == f"{wf.id}#a"
    assert backend.step_run_key(wf.id, "a", 3) == f"{wf.id}#a#3"
