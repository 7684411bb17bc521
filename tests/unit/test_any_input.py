"""Any spec, any inputs, any YAML text: every entry point answers with a value or a SpecError naming the
problem (the start payload: an error body), never another exception, and alike on every backend."""

from __future__ import annotations

import datetime
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runfox_core as rfx
from runfox_core import api
from runfox_core.backend import InMemoryStore, InProcessRunner, SqliteRunner, SqliteStore
from tests.unit.conftest import BackendFactory

# ------------------------------------------------------- the issue's inputs

YAML_VALUES = {
    "!!float": "!!float ''",
    "!!int empty": "!!int ''",
    "!!int x": "!!int x",
    "!!timestamp 2020-13-45": "!!timestamp 2020-13-45",
    "!!bool x": "!!bool x",
    "!!timestamp x": "!!timestamp x",
    "an escape past unicode": '"\\U00110000"',
}


@pytest.mark.parametrize("value", list(YAML_VALUES.values()), ids=list(YAML_VALUES))
def test_a_yaml_value_pyyaml_cannot_construct_is_a_spec_error_naming_it_and_its_line(value: str) -> None:
    # Given a spec whose input holds a value PyYAML raises a Python error for (IndexError, KeyError...)
    text = f"steps:\n  - op: a\n    input:\n      x: {value}\n"
    # When it is read, Then it is a SpecError that names the line
    with pytest.raises(rfx.SpecError, match="YAML error.*line 4") as err:
        rfx.Workflow.from_yaml(text, rfx.Backend())
    assert err.value.first.field == "spec"


def test_steps_given_as_an_escape_too_large_for_python_is_a_spec_error() -> None:
    with pytest.raises(rfx.SpecError, match="YAML error at line 1"):
        rfx.load_yaml('steps: "\\UFFFFFFFF"')


MIXED_KEYS = {
    "input": ("steps: [{op: a, input: {1: a, b: c}}]", "a", "input", "steps[0].input: the key 1 (integer)"),
    "label": ("steps: [{op: a, label: {1: a, b: c}}]", "a", "label", "steps[0].label: the key 1 (integer)"),
    "outputs": ("steps: [{op: a}]\noutputs: {~: 1, b: 2}", None, "outputs", "outputs: the key None (null)"),
    "condition": ("steps: [{op: a, branch: [{condition: {1: a, b: c}, action: halt}]}]", "a", "branch",
                  "steps[0].branch[0].condition: the key 1 (integer)"),
    "action": ("steps: [{op: a, branch: [{condition: true, action: {true: 1, set: a}}]}]", "a", "branch",
               "steps[0].branch[0].action: the key True (boolean)"),
}


@pytest.mark.parametrize("text, step, field, fragment", list(MIXED_KEYS.values()), ids=list(MIXED_KEYS))
def test_a_mapping_with_a_key_that_is_not_a_string_is_refused_by_validate_and_creation_alike(
        text: str, step: str | None, field: str, fragment: str) -> None:
    # Given YAML keys of mixed types (sorting them raised TypeError; validate said [])
    spec = rfx.load_yaml(text)
    # When / Then validate and creation both name the path
    problems = rfx.validate(spec)
    assert [(p.step, p.field) for p in problems] == [(step, field)] and fragment in problems[0].message
    with pytest.raises(rfx.SpecError, match="mapping keys must be strings"):
        rfx.Workflow.from_dict(spec, rfx.Backend())


NOT_JSON = {
    "a YAML date": ("x: 2020-01-01", "steps[0].input.x: date '2020-01-01' is not a JSON value"),
    "!!binary": ("x: !!binary aGVsbG8=", "steps[0].input.x: bytes \"b'hello'\" is not a JSON value"),
    "!!set": ("x: !!set {a}", "steps[0].input.x: set \"{'a'}\" is not a JSON value"),
    "a timestamp": ("x: 2020-01-01T10:00:00Z", "steps[0].input.x: datetime"),
    ".nan": ("x: .nan", "steps[0].input.x: nan is not a JSON number"),
    "-.inf": ("x: -.inf", "steps[0].input.x: -inf is not a JSON number"),
}


@pytest.mark.parametrize("value, fragment", list(NOT_JSON.values()), ids=list(NOT_JSON))
def test_a_value_json_cannot_hold_is_refused_at_validation_with_its_path_on_every_backend(
        make_backend: BackendFactory, value: str, fragment: str) -> None:
    # Given a spec holding a YAML value that is not JSON (SQLite's create used to crash on it)
    text = f"steps:\n  - op: a\n    input:\n      {value}\n"
    backend = make_backend()
    # When it is validated and created, Then both refuse it naming the step, field and path
    spec = rfx.load_yaml(text)
    assert [(p.step, p.field) for p in rfx.validate(spec)] == [("a", "input")]
    with pytest.raises(rfx.SpecError, match=fragment.replace("(", "\\(").replace("[", "\\[")):
        rfx.Workflow.from_yaml(text, backend)


def test_python_objects_passed_to_from_dict_are_refused_with_their_path() -> None:
    spec = {"steps": [{"op": "a", "input": {"when": datetime.date(2020, 1, 1), "pair": (1, 2)}}]}
    assert [p.message.split(":")[0] for p in rfx.validate(spec)] == ["steps[0].input.when", "steps[0].input.pair"]


@pytest.mark.parametrize("target", [[[]], [{}], [1], [None]])
def test_an_unhashable_or_non_string_set_target_is_a_spec_error(target: Any) -> None:
    spec = {"steps": [{"op": "a", "branch": [{"condition": None, "action": {"set": target}},
                                              {"condition": True, "action": "complete"}]}]}
    with pytest.raises(rfx.SpecError, match="set target .* is not a step id"):
        rfx.Workflow.from_dict(spec, rfx.Backend())


def test_the_start_payload_answers_each_of_the_issues_inputs_with_an_error_body() -> None:
    texts = [f"steps: [{{op: a, input: {{x: {v}}}}}]" for v in YAML_VALUES.values()]
    texts += [t for t, *_ in MIXED_KEYS.values()] + ['steps: "\\UFFFFFFFF"']
    texts += [f"steps:\n  - op: a\n    input:\n      {v}\n" for v, _ in NOT_JSON.values()]
    for text in texts:
        with pytest.raises(api.REJECTED) as err:
            api.parse_start({"spec": text})
        assert api.error_body(err.value)["error"]["type"] == "SpecError", text
    with pytest.raises(api.REJECTED):
        api.parse_start({"spec": {"steps": [{"op": "a", "branch": [
            {"condition": None, "action": {"set": [[]]}}, {"condition": True, "action": "complete"}]}]}})


# ------------------------------------------------------------ the property

KEYS = st.one_of(st.text(max_size=8), st.sampled_from(
    ["op", "id", "fn", "input", "var", "vr", "Var", "if", "iff", "set", "map", "reduce", "steps", "input.x"]))
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
              st.sampled_from(["input.x", "steps.a.output.x", "state.z", "accumulator", "", "a"])),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=3)),
    max_leaves=10)
SIMPLE = st.recursive(  # values a sound spec holds: literals and expressions that usually validate
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.sampled_from([
        {"var": "state.z"}, {"var": ["input.x", 1]}, {"+": [1, {"var": ["state.n", 0]}]}, {"max": 3},
        {"reduce": [{"var": ["input.xs", []]}, {"+": [{"var": "accumulator"}, {"var": "current"}]}, 0]}])),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.sampled_from(["a", "b", "note"]), children, min_size=2, max_size=3)),
    max_leaves=6)
YAML_SHAPED = st.recursive(
    st.one_of(JSON, st.dates(), st.datetimes(), st.binary(max_size=4), st.frozensets(st.integers(), max_size=2),
              st.tuples(st.integers())),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(KEYS, st.integers(), st.none(), st.booleans(), st.floats()), children, max_size=3)),
    max_leaves=10)


@st.composite
def specs(draw: Any, values: Any) -> Any:
    """Mostly spec-shaped mappings whose fields are often plausible (so sound specs are created and the
    checks past the first are reached), sometimes anything at all."""
    if draw(st.integers(0, 9)) == 5:  # hypothesis favours the bounds: the middle is the rare case
        return draw(values)

    def maybe(plausible: Any) -> Any:
        return draw(plausible) if draw(st.integers(0, 3)) != 2 else draw(values)

    steps: list[Any] = []
    for i in range(draw(st.sampled_from([1, 2, 1, 0, 3, 2]))):
        key = draw(st.sampled_from(["op", "op", "id"]))
        step: dict[Any, Any] = {key: draw(st.sampled_from([f"s{i}"] * 4 + ["s0", "a b"]))}
        if key == "id":
            step["fn"] = maybe(st.just("f"))
        plausible = {
            "input": st.dictionaries(st.sampled_from(["x", "y", "v"]), st.one_of(SIMPLE, values), max_size=3),
            "depends_on": st.lists(st.sampled_from([f"s{j}" for j in range(i)]), max_size=2) if i else st.just([]),
            "max_attempts": st.integers(1, 3),
            "retry": st.just({"backoff_seconds": 0}),
            "timeout_seconds": st.integers(1, 100),
            "label": st.text(max_size=5),
            "branch": st.lists(st.fixed_dictionaries({"condition": st.one_of(SIMPLE, values), "action": st.one_of(
                st.sampled_from(["halt", "complete"]), st.fixed_dictionaries({"set": values}), values)}),
                max_size=2),
        }
        for key in draw(st.sets(st.sampled_from(sorted(plausible)))):
            step[key] = maybe(plausible[key])
        steps.append(step)
    spec: dict[Any, Any] = {"steps": steps}
    plausible_top = {
        "outputs": st.dictionaries(st.sampled_from(["x", "y"]), st.one_of(SIMPLE, values), max_size=2),
        "inputs": st.dictionaries(st.sampled_from(["x", "y"]), st.fixed_dictionaries(
            {}, optional={"type": st.sampled_from(["string", "integer", "number", "object", "boolean", "text"]),
                          "default": values, "description": st.text(max_size=4)}), max_size=2),
        "name": st.text(max_size=5),
    }
    for key in draw(st.sets(st.sampled_from(sorted(plausible_top)))):
        spec[key] = maybe(plausible_top[key])
    if draw(st.integers(0, 9)) == 5:  # hypothesis favours the bounds: the middle is the rare case
        spec[draw(KEYS)] = draw(values)
    return spec


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> dict[str, rfx.Backend]:
    """One of each local backend, shared by every example (each creation gets its own key)."""
    db = str(tmp_path_factory.mktemp("any-input") / "any.db")
    return {"memory": rfx.Backend(store=InMemoryStore(), runner=InProcessRunner()),
            "sqlite": rfx.Backend(store=SqliteStore(db), runner=SqliteRunner(db))}


FAST = settings(max_examples=100, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow])


def create_everywhere(backends: dict[str, rfx.Backend], spec: Any, inputs: Any) -> None:
    """Validate, then create on each backend: sound means created on all, unsound means SpecError on all."""
    problems = rfx.validate(spec, {} if inputs is None else inputs)  # creation without inputs means none
    for name, backend in backends.items():
        try:
            rfx.Workflow.from_dict(spec, backend, inputs=inputs)
        except rfx.SpecError:
            assert problems, f"{name}: creation refused a spec validate accepted"
        except rfx.PayloadError:
            pass  # inputs over the size limit: a documented error, checked after validation
        else:
            assert not problems, f"{name}: created a spec validate refused: {problems}"


@FAST
@given(spec=specs(JSON), inputs=st.one_of(st.none(), st.dictionaries(st.text(max_size=4), JSON, max_size=3)))
def test_any_json_spec_and_inputs_give_a_value_or_a_spec_error_alike_on_every_backend(
        backends: dict[str, rfx.Backend], spec: Any, inputs: Any) -> None:
    create_everywhere(backends, spec, inputs)


@FAST
@given(spec=specs(YAML_SHAPED), inputs=st.one_of(st.none(), YAML_SHAPED))
def test_any_yaml_shaped_spec_and_inputs_give_a_value_or_a_spec_error(
        backends: dict[str, rfx.Backend], spec: Any, inputs: Any) -> None:
    create_everywhere(backends, spec, inputs)


YAML_PIECES = st.sampled_from([
    "steps:", " - op: a", "\n", "  ", "input:", "{x: ", "}", "[", "]", "!!float", "!!int", "!!bool", "!!timestamp",
    "!!binary", "!!set", "!!str", "!!map", "!!seq", "!!null", "''", "x", "2020-13-45", "~", "1", ": ", "- ",
    "&a", "*a", "<<: *a", '"\\U00110000"', '"\\UFFFFFFFF"', '"\\x41"', "? ", "|", ">", "#", "%YAML 1.1\n---",
    "!!python/object:os.system", "{1: a, b: c}", ".nan", "branch: [{condition: ", "action: {set: ", "outputs:",
])


@FAST
@given(text=st.one_of(st.text(max_size=60), st.lists(YAML_PIECES, max_size=16).map("".join)))
def test_any_text_read_as_a_yaml_spec_gives_a_value_or_a_spec_error(
        backends: dict[str, rfx.Backend], text: str) -> None:
    try:
        spec = rfx.load_yaml(text)
    except rfx.SpecError:
        return
    create_everywhere(backends, spec, None)


@FAST
@given(spec=st.one_of(specs(JSON), st.text(max_size=40), st.lists(YAML_PIECES, max_size=12).map("".join)),
       inputs=st.one_of(st.none(), JSON), name=st.one_of(st.none(), st.text(max_size=8)))
def test_any_start_payload_is_parsed_or_rejected_with_an_error_body(spec: Any, inputs: Any, name: Any) -> None:
    payload = {"spec": spec, "inputs": inputs, "name": name}
    try:
        api.parse_start(payload)
    except api.REJECTED as exc:
        error = api.error_body(exc)["error"]
        assert error["type"] != "InternalError" and error["message"]
