"""The step-kind seam: a kind registered in engine/kinds.py is chosen by its spec key and runs on the engine's lifecycle."""

from __future__ import annotations

from typing import Any

import pytest

import runfox_core as rfx
from runfox_core import Workflow
from runfox_core.engine import kinds, transitions
from runfox_core.errors import Problem, SpecError
from runfox_core.expressions import References
from runfox_core.results import Complete
from runfox_core.spec import compile_spec


class ConstantKind(kinds.StepKind):
    """A step that answers at once with the value under its key (no job sent)."""

    name = "constant_for_tests"
    key = "constant_for_tests"

    def compile(self, sid, block, ctx, problems):
        if not isinstance(block, dict):
            problems.append(Problem("must be a mapping", step=sid, field=self.key))
        return block, References()

    def token(self, sid, fn, config):
        return None

    def begin(self, txn, p, record, now):
        transitions.finish_attempt(txn, p.id, dict(p.config), None, now)
        return []


@pytest.fixture(scope="module", autouse=True)
def constant_kind():
    kinds.register(ConstantKind())
    yield
    kinds._KINDS.pop(ConstantKind.name)


def echo(op: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"seen": inputs["x"]}


def test_a_step_of_another_kind_runs_between_tasks_and_feeds_the_next():
    spec = {"steps": [{"id": "fixed", "constant_for_tests": {"x": 41}},
                      {"id": "use", "fn": "echo", "depends_on": ["fixed"],
                       "input": {"x": {"+": [{"var": "steps.fixed.output.x"}, 1]}}}],
            "outputs": {"answer": {"var": "steps.use.output.seen"}}}
    assert Workflow.from_dict(spec, rfx.Backend(executor=echo)).run() == Complete({"answer": 42})


def test_a_kind_that_sends_no_jobs_has_no_dispatch_token():
    plan = compile_spec({"steps": [{"id": "fixed", "constant_for_tests": {}}]})
    assert plan.steps["fixed"].kind == "constant_for_tests" and plan.tokens == frozenset()


def test_a_step_with_two_kinds_is_refused_naming_both_keys():
    with pytest.raises(SpecError, match="has 'fn' and 'constant_for_tests'; a step is one kind"):
        Workflow.from_dict({"steps": [{"id": "a", "fn": "x", "constant_for_tests": {}}]}, rfx.Backend(executor=echo))


def test_a_kind_block_is_checked_by_its_kind():
    with pytest.raises(SpecError, match="step 'a'.*constant_for_tests.*must be a mapping"):
        Workflow.from_dict({"steps": [{"id": "a", "constant_for_tests": 3}]}, rfx.Backend(executor=echo))


def test_an_id_without_a_kind_names_every_key_that_would_make_one():
    with pytest.raises(SpecError, match="needs 'fn' \\(its dispatch token\\) or 'constant_for_tests'"):
        Workflow.from_dict({"steps": [{"id": "a"}]}, rfx.Backend(executor=echo))
