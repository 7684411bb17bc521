"""spec.py -- read, validate and compile workflow specs.

``validate(spec)`` returns every problem at once (for tooling);
``compile_spec(spec)`` raises ``SpecError`` listing them, or returns a
``Plan``: the immutable, indexed form the engine runs from (dependencies,
dependents, what each expression reads). Nothing is written until a spec
compiles, so a bad spec never leaves a partial record.

``load_yaml`` refuses documents that are not a mapping, and YAML "bombs":
alias graphs or nesting that would expand past ``MAX_NODES`` / ``MAX_DEPTH``.
Whatever the text, it answers a value or ``SpecError``: PyYAML's own Python
errors (``!!float ''``, ``!!int x``, ``"\\U00110000"``...) become problems.

Only JSON values are accepted, in a spec and in inputs alike (string keys;
strings, finite numbers, booleans, null, lists, mappings), so every backend
stores what validation saw: a YAML date, ``!!binary`` or ``!!set`` is a
problem naming its path.

Inputs: a spec may declare them (``inputs: {name: {type, default,
description}}``). Given inputs (``compile_spec(spec, inputs)``) are checked
against that block and against every ``input.*`` path the spec reads
unconditionally (see ``expressions.references``: a ``var`` default, ``if``,
``?:`` and ``missing`` make a read optional). ``compile_start`` is what
creation calls: the plan, the inputs with declared defaults applied, and the
spec's warnings logged.

Known limits: paths computed at run time (``{"var": {"cat": ...}}``) and
JSONPath ``vars`` queries over ``input`` are not checked against the inputs.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import yaml

from . import expressions
from .engine import kinds
from .errors import Problem, Problems, SpecError
from .expressions import References

log = logging.getLogger(__name__)

MAX_NODES = 200_000  # YAML nodes after alias expansion
MAX_DEPTH = 64  # nesting of mappings/sequences
MAX_STEPS = 10_000

STEP_KEYS = frozenset(
    {"op", "id", "fn", "label", "description", "input", "depends_on", "branch",
     "max_attempts", "timeout_seconds", "retry"}
)
TOP_KEYS = frozenset({"name", "label", "description", "version", "inputs", "steps", "outputs"})
INPUT_KEYS = frozenset({"type", "default", "description"})
JSON_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
MAX_LISTED = 50  # non-JSON values named in one error
MAX_LOGGED_WARNINGS = 5  # a start logs this many of its spec's warnings, then how many more there are
BRANCH_KEYS = frozenset({"condition", "action", "result", "label", "description"})
RETRY_KEYS = frozenset({"backoff_seconds", "max_backoff_seconds", "jitter"})
ACTIONS = ("halt", "complete", "set")


@dataclass(frozen=True)
class RetryPolicy:
    """Delay before attempt n+1 is min(max, base * 2**(n-1)), scaled by a random factor in [0.5, 1] with jitter."""

    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 300.0
    jitter: bool = True


@dataclass(frozen=True)
class Branch:
    condition: Any
    action: str  # halt | complete | set
    set_target: Any = None  # the raw ``set`` value when action == "set"
    result: Any = None


@dataclass(frozen=True)
class StepPlan:
    id: str
    token: str
    deps: tuple[str, ...]
    dependents: tuple[str, ...]
    input: Any
    branches: tuple[Branch, ...]
    max_attempts: int
    timeout_seconds: float | None
    retry: RetryPolicy
    input_refs: References
    branch_refs: References
    kind: str = "task"  # a name in engine/kinds.py: what the step does once claimed
    config: Any = None  # the kind's compiled block (None for a task)
    kind_refs: References = field(default_factory=References)  # what the kind's block reads


@dataclass(frozen=True)
class InputSpec:
    """One entry of a spec's ``inputs`` block."""

    type: str | None = None  # a JSON type name; None: any JSON value
    default: Any = None
    has_default: bool = False
    description: str | None = None


class InputRead(NamedTuple):
    """An ``input.*`` path the spec reads unconditionally, and where (for the error naming it)."""

    path: str
    step: str | None
    field: str
    where: str


@dataclass(frozen=True)
class Plan:
    steps: dict[str, StepPlan]
    outputs: Any
    output_refs: References
    inputs: dict[str, InputSpec] | None = None  # the declared inputs; None when the spec declares none
    input_reads: tuple[InputRead, ...] = ()
    warnings: tuple[Problem, ...] = field(default=())

    def with_defaults(self, inputs: dict[str, Any] | None) -> dict[str, Any]:
        """``inputs`` plus a copy of each declared default they do not set: what an execution stores."""
        given = inputs or {}
        defaults = {name: copy.deepcopy(d.default) for name, d in (self.inputs or {}).items()
                    if d.has_default and name not in given}
        return {**defaults, **given}

    @property
    def tokens(self) -> frozenset[str]:
        """The dispatch tokens the steps send jobs to (a step that sends none has token "")."""
        return frozenset(s.token for s in self.steps.values() if s.token)

    @property
    def roots(self) -> list[str]:
        return [s.id for s in self.steps.values() if not s.deps]


def workflow_id(spec: dict[str, Any]) -> str:
    """MD5 of the canonical JSON of the spec: the same spec always gets the same id."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.md5(canonical.encode()).hexdigest()


# --------------------------------------------------------------------- YAML


# PyYAML raises these (not YAMLError) for some values it cannot construct or escapes it cannot decode
_PYTHON_FAILURES = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


class _SpecLoader(yaml.SafeLoader):
    """SafeLoader whose failures to construct a value name the value and its line."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except _PYTHON_FAILURES as exc:
            tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
            value = _short(node.value) if isinstance(node, yaml.ScalarNode) else "this value"
            raise yaml.constructor.ConstructorError(
                None, None, f"{value} is not a valid {tag} ({type(exc).__name__}: {exc})", node.start_mark) from None


def load_yaml(text: str | bytes) -> dict[str, Any]:
    """Parse a YAML spec safely; raise ``SpecError`` for syntax errors, bombs and non-mappings."""
    if not isinstance(text, (str, bytes)):
        raise SpecError([Problem(f"spec must be YAML text, got {type(text).__name__}", field="spec")])
    try:
        loader = _SpecLoader(text)  # reads (and checks) the first chunk of text already
    except (yaml.YAMLError, *_PYTHON_FAILURES) as exc:
        raise SpecError([Problem(f"YAML error: {_one_line(exc)}", field="spec")]) from None
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise SpecError([Problem(f"YAML nests deeper than {MAX_DEPTH} levels", field="spec")]) from None
        except yaml.YAMLError as exc:
            raise SpecError([Problem(f"YAML error: {_one_line(exc)}", field="spec")]) from None
        except _PYTHON_FAILURES as exc:  # the scanner decoding an escape such as "\U00110000"
            mark = loader.get_mark()
            raise SpecError([Problem(f"YAML error at line {mark.line + 1}, column {mark.column + 1}: "
                                     f"{_one_line(exc)}", field="spec")]) from None
        if node is None:
            raise SpecError([Problem("spec is empty", field="spec")])
        _check_node_size(node)
        try:
            data = loader.construct_document(node)
        except (yaml.YAMLError, *_PYTHON_FAILURES) as exc:  # bad tags and keys
            raise SpecError([Problem(f"YAML error: {_one_line(exc)}", field="spec")]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise SpecError([Problem(f"spec must be a mapping, got {type(data).__name__}", field="spec")])
    return data


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _check_node_size(root: yaml.Node) -> None:
    """Size the document as if every alias were expanded, without expanding it."""
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    # iterative post-order walk over the node DAG (aliases share node objects)
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    on_path: set[int] = set()
    while stack:
        node, done = stack.pop()
        nid = id(node)
        if done:
            on_path.discard(nid)
            children = _children(node)
            sizes[nid] = 1 + sum(sizes[id(c)] for c in children)
            depths[nid] = 1 + max((depths[id(c)] for c in children), default=0)
            if sizes[nid] > MAX_NODES:
                raise SpecError([Problem(
                    f"YAML expands to more than {MAX_NODES:,} nodes (alias bomb?)", field="spec")])
            if depths[nid] > MAX_DEPTH:
                raise SpecError([Problem(f"YAML nests deeper than {MAX_DEPTH} levels", field="spec")])
            continue
        if nid in sizes:
            continue
        if nid in on_path:
            raise SpecError([Problem("YAML contains a recursive alias", field="spec")])
        on_path.add(nid)
        stack.append((node, True))
        for child in _children(node):
            if id(child) not in sizes:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


# --------------------------------------------------------------- validation


def validate(spec: Any, inputs: Any = None) -> Problems:
    """Every problem with ``spec`` (and workflow ``inputs``, unless None), in spec order; [] when
    sound. The result's ``warnings`` lists what is valid but probably not meant."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    _build(spec, inputs, problems, warnings)
    return Problems(problems, warnings)


def compile_spec(spec: Any, inputs: Any = None,
                 op_defaults: dict[str, dict[str, Any]] | None = None) -> Plan:
    """The ``Plan`` for ``spec``; raises ``SpecError`` naming every problem.

    ``inputs``: when given (even ``{}``), checked against the spec's ``inputs``
    block and the ``input.*`` paths it reads; None checks the spec alone.
    ``op_defaults`` maps a dispatch token to settings its steps inherit when
    they do not set their own (deployment config: ``{"timeout_seconds": 60}``).
    """
    problems: list[Problem] = []
    plan = _build(spec, inputs, problems)
    if problems or plan is None:
        raise SpecError(problems or [Problem("spec is invalid")])
    if op_defaults:
        steps = {}
        for sid, p in plan.steps.items():
            default = (op_defaults.get(p.token) or {}).get("timeout_seconds")
            steps[sid] = p if default is None else kinds.get(p.kind).default_timeout(p, float(default))
        plan = replace(plan, steps=steps)
    return plan



def compile_start(spec: Any, inputs: Any = None,
                  op_defaults: dict[str, dict[str, Any]] | None = None) -> tuple[Plan, dict[str, Any]]:
    """What creating an execution needs: the ``Plan`` and the inputs to store (given inputs, None
    meaning none, plus declared defaults). Raises ``SpecError``; logs the spec's warnings."""
    given = {} if inputs is None else inputs
    plan = compile_spec(spec, given, op_defaults)
    for warning in plan.warnings[:MAX_LOGGED_WARNINGS]:
        log.warning("spec warning: %s", warning, extra={"step": warning.step, "field": warning.field})
    if len(plan.warnings) > MAX_LOGGED_WARNINGS:  # a wide spec repeats one warning per step
        log.warning("spec warning: %d more like these (Workflow.validate(spec) lists every one)",
                    len(plan.warnings) - MAX_LOGGED_WARNINGS)
    return plan, plan.with_defaults(given)


def _build(spec: Any, inputs: Any, problems: list[Problem], warnings: list[Problem] | None = None) -> Plan | None:
    """The Plan, or None with ``problems`` filled; ``warnings`` (also on the Plan) are filled either way."""
    warnings = [] if warnings is None else warnings
    if inputs is not None:
        if not isinstance(inputs, dict):
            problems.append(Problem(f"inputs must be a mapping, got {type(inputs).__name__}", field="inputs"))
        else:
            problems.extend(_shape_problems(inputs, "inputs"))
    if not isinstance(spec, dict):
        problems.append(Problem(f"spec must be a mapping, got {type(spec).__name__}", field="spec"))
        return None
    shape = _shape_problems(spec, "spec")
    if shape:
        problems.extend(shape)
        return None
    for key in spec:
        if key not in TOP_KEYS:
            problems.append(Problem(f"unknown top-level key (allowed: {', '.join(sorted(TOP_KEYS))})", field=str(key)))
    declared = _declared_inputs(spec.get("inputs"), problems) if "inputs" in spec else None
    raw_steps = spec.get("steps")
    if raw_steps is None:
        problems.append(Problem("spec has no steps", field="steps"))
        return None
    if not isinstance(raw_steps, list) or not raw_steps:
        problems.append(Problem("steps must be a non-empty list", field="steps"))
        return None
    if len(raw_steps) > MAX_STEPS:
        problems.append(Problem(f"{len(raw_steps):,} steps; the limit is {MAX_STEPS:,}", field="steps"))
        return None

    ids: list[str] = []
    known: set[str] = set()  # the same ids, for O(1) lookups: 10,000 steps must not cost 10,000^2
    entries: list[tuple[str, str | None, dict[str, Any]]] = []
    for index, raw in enumerate(raw_steps):
        sid, fn = _identify(raw, index, problems)
        if sid is None:
            continue
        if sid in known:
            problems.append(Problem("duplicate step id", step=sid, field="op" if "op" in raw else "id"))
            continue
        ids.append(sid)
        known.add(sid)
        entries.append((sid, fn, raw))

    deps: dict[str, tuple[str, ...]] = {}
    for sid, _, raw in entries:
        deps[sid] = _deps(sid, raw, known, problems)
    cycle = _find_cycle(ids, deps)
    if cycle:
        problems.append(Problem(f"dependency cycle: {' -> '.join(cycle)}", step=cycle[0], field="depends_on"))
    dependents: dict[str, list[str]] = {sid: [] for sid in ids}
    for sid in ids:
        for d in deps[sid]:
            dependents[d].append(sid)

    readers: list[tuple[References, str | None, str, str]] = []  # (what it reads, step, field, where)
    plans: dict[str, StepPlan] = {}
    ctx = kinds.CompileContext(known=known, deps=deps, acyclic=cycle is None, readers=readers)
    for sid, fn, raw in entries:
        step_plan = _step_plan(sid, fn, raw, tuple(dependents[sid]), ctx, problems)
        if step_plan is not None:
            plans[sid] = step_plan
            if step_plan.max_attempts > 1 and not any(b.action == "complete" for b in step_plan.branches):
                warnings.append(Problem(
                    f"runs {step_plan.max_attempts} times even when it succeeds; add `{{condition: true, action: "
                    "complete}` as the last branch to retry only on failure", step=sid, field="max_attempts"))

    outputs = spec.get("outputs")
    output_refs = References()
    if outputs is not None:
        if not isinstance(outputs, dict):
            problems.append(Problem("outputs must be a mapping", field="outputs"))
        else:
            for msg in expressions.check_fields(outputs, "outputs"):
                problems.append(Problem(msg, field="outputs"))
            for name, value in outputs.items():
                refs = expressions.references(value)
                readers.append((refs, None, "outputs", f"outputs.{name}"))
                output_refs.merge(refs)
            _unknown_refs(output_refs, known, None, "outputs", problems, allow_roots=False)
    if declared is not None:
        _undeclared_reads(declared, readers, problems)
    if problems:
        return None
    reads = tuple(InputRead(path, sid, fld, where)
                  for refs, sid, fld, where in readers for path in sorted(refs.required_inputs))
    plan = Plan(steps=plans, outputs=outputs, output_refs=output_refs, inputs=declared, input_reads=reads,
                warnings=tuple(warnings))
    if inputs is not None:
        _check_inputs(plan, inputs, problems)
    return plan


# ------------------------------------------------------------- JSON values


def _shape_problems(value: Any, root: str) -> list[Problem]:
    """Depth and JSON-ness of a spec or inputs, each problem naming the path to the value."""
    if _plain_json(value):
        return []
    problems: list[Problem] = []
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 0, ())]
    while stack:
        item, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            return [Problem(f"{root} nests deeper than {MAX_DEPTH} levels", field=root)]
        if isinstance(item, dict):
            children: list[tuple[Any, int, tuple[str | int, ...]]] = []
            for k, v in item.items():
                if isinstance(k, str):
                    children.append((v, depth + 1, path + (k,)))
                else:
                    problems.append(_located(value, root, path, (
                        f"the key {_short(k)} ({json_type(k)}) is not a string; mapping keys must be strings (in YAML, quote it)")))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([(v, depth + 1, path + (i,)) for i, v in enumerate(item)]))
        elif isinstance(item, float) and not math.isfinite(item):
            problems.append(_located(value, root, path, f"{item} is not a JSON number"))
        elif not (item is None or isinstance(item, (str, int, float))):
            problems.append(_located(value, root, path, (
                f"{json_type(item)} {_short(str(item))} is not a JSON value; specs and inputs hold only JSON values "
                "(strings, numbers, booleans, null, lists, mappings): in YAML, quote it to pass a string")))
    if len(problems) > MAX_LISTED:
        problems[MAX_LISTED:] = [Problem(f"... and {len(problems) - MAX_LISTED:,} more values that are not JSON",
                                         field=root)]
    return problems


_SCALARS = frozenset({str, int, bool, type(None)})


def _plain_json(value: Any) -> bool:
    """The common case, fast: plain JSON within ``MAX_DEPTH`` (False sends ``_shape_problems`` to look
    closer, tracking paths)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind in _SCALARS:
            continue
        if depth >= MAX_DEPTH:
            return False
        if kind is dict:
            if not all(type(k) is str for k in item):
                return False
            stack.extend((v, depth + 1) for v in item.values())
        elif kind is list:
            stack.extend((v, depth + 1) for v in item)
        elif kind is not float or not math.isfinite(item):
            return False
    return True


def _located(top: Any, root: str, path: tuple[str | int, ...], message: str) -> Problem:
    """A problem at ``path`` in a spec (naming the step and field when under ``steps``) or in inputs."""
    where = root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    if root != "spec" or not path:
        return Problem(f"{where}: {message}", field=root)
    step = None
    if path[0] == "steps" and len(path) >= 2 and isinstance(path[1], int):
        raw = top["steps"][path[1]]
        sid = raw.get("op", raw.get("id")) if isinstance(raw, dict) else None
        step = sid if expressions.is_identifier(sid) else None
        field_ = str(path[2]) if len(path) >= 3 else "steps"
    else:
        field_ = str(path[0])
    return Problem(f"{where.removeprefix('spec.')}: {message}", step=step, field=field_)


_JSON_TYPES_OF = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"),
                  (dict, "object"))  # bool before int: True is an int to Python


def json_type(value: Any) -> str:
    """The JSON type name of a JSON value ("integer" for ints, "number" for other numbers); for
    anything else, its Python type name."""
    if value is None:
        return "null"
    return next((name for kind, name in _JSON_TYPES_OF if isinstance(value, kind)), type(value).__name__)


def _a(type_name: str) -> str:
    """A JSON type name with its article: "an integer", "a string", "null"."""
    return type_name if type_name == "null" else ("an " if type_name[0] in "aeiou" else "a ") + type_name


def _is_type(value: Any, expected: str) -> bool:
    given = json_type(value)
    return given == expected or (expected == "number" and given == "integer")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# ------------------------------------------------------------------ inputs


def _declared_inputs(raw: Any, problems: list[Problem]) -> dict[str, InputSpec] | None:
    """The ``inputs`` block: per name ``{type, default, description}``, each optional."""
    if not isinstance(raw, dict):
        problems.append(Problem("inputs must be a mapping of input name to {type, default, description}",
                                field="inputs"))
        return None
    declared: dict[str, InputSpec] = {}
    start = len(problems)
    for name, entry in raw.items():
        def problem(message: str, name: str = name) -> None:
            problems.append(Problem(f"input {name!r}: {message}", field="inputs"))

        if not expressions.is_identifier(name):
            problem("names are 1-64 letters, digits, '_' or '-'")
            continue
        if not isinstance(entry, dict):
            problem(f"must be a mapping with type, default and description (each optional; {{}} for none), "
                    f"got {json_type(entry)}")
            continue
        for k in entry:
            if k not in INPUT_KEYS:
                problem(f"unknown key {k!r} (allowed: {', '.join(sorted(INPUT_KEYS))})")
        kind = entry.get("type")
        if kind is not None and kind not in JSON_TYPES:
            problem(f"type must be one of {', '.join(JSON_TYPES)}; got {_short(kind)}")
            kind = None
        if kind is not None and "default" in entry and not _is_type(entry["default"], kind):
            problem(f"default {_short(entry['default'])} is {_a(json_type(entry['default']))}, not {_a(kind)}")
        description = entry.get("description")
        if description is not None and not isinstance(description, str):
            problem("description must be a string")
        declared[name] = InputSpec(type=kind, default=entry.get("default"), has_default="default" in entry,
                                   description=description)
    return declared if len(problems) == start else None


def _undeclared_reads(declared: dict[str, InputSpec], readers: list[tuple[References, str | None, str, str]],
                      problems: list[Problem]) -> None:
    names = ", ".join(sorted(declared)) or "none"
    for refs, sid, fld, where in readers:
        for name in sorted(refs.input_names - set(declared)):
            problems.append(Problem(f"{where} reads input.{name}, which the inputs block does not declare "
                                    f"(declared: {names})", step=sid, field=fld))


def _check_inputs(plan: Plan, given: dict[str, Any], problems: list[Problem]) -> None:
    """Given inputs against the declared block and every ``input.*`` path read unconditionally."""
    missing: set[str] = set()
    if plan.inputs is not None:
        declared = plan.inputs
        for name in given:
            if name not in declared:
                problems.append(Problem(f"unknown input {name!r} (declared: {', '.join(sorted(declared)) or 'none'})",
                                        field="inputs"))
        for name, decl in declared.items():
            if name not in given:
                if not decl.has_default:
                    missing.add(name)
                    problems.append(Problem(f"input {name!r} is required (it has no default)", field="inputs"))
            elif decl.type is not None and not _is_type(given[name], decl.type):
                problems.append(Problem(f"input {name!r} must be {_a(decl.type)}, got {_a(json_type(given[name]))}",
                                        field="inputs"))
    effective = plan.with_defaults(given)
    for read in plan.input_reads:
        if read.path.split(".")[1] in missing:
            continue
        reason = _absent(effective, read.path)
        if reason is not None:
            problems.append(Problem(f"{read.where} reads {read.path}: {reason}", step=read.step, field=read.field))


def _absent(inputs: dict[str, Any], path: str) -> str | None:
    """Why ``path`` (``input.a.b``) reads nothing in ``inputs``, or None when it exists.

    Follows json-logic-path's ``var``: mapping keys, then list indices."""
    current: Any = inputs
    at = "input"
    for key in path.split(".")[1:]:
        if isinstance(current, dict):
            if key not in current:
                keys = _names(current)
                if at == "input":
                    return f"no input {key!r} ({'inputs: ' + keys if keys else 'no inputs were given'})"
                return f"no key {key!r} in {at} ({'keys: ' + keys if keys else 'it is empty'})"
            current = current[key]
        elif isinstance(current, list):
            try:
                index = int(key)
            except ValueError:
                return f"{at} is an array; {key!r} is not an index"
            if not -len(current) <= index < len(current):
                return f"{at} has no index {index} (length {len(current)})"
            current = current[index]
        else:
            return f"{at} is {_a(json_type(current))}, not an object"
        at = f"{at}.{key}"
    return None


def _names(mapping: dict[str, Any], limit: int = 20) -> str:
    names = sorted(mapping)
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


# ------------------------------------------------------------------- steps


def _identify(raw: Any, index: int, problems: list[Problem]) -> tuple[str | None, str | None]:
    """The step's id and its ``fn`` (None for a bare ``op`` or another kind); problems appended.

    A step is ``op: X`` (a task whose id and dispatch token are both X), or
    ``id: X`` with exactly one of ``fn`` (a task) or a kind's key
    (``engine/kinds.py``).
    """
    where = f"steps[{index}]"
    if not isinstance(raw, dict):
        problems.append(Problem(f"{where} must be a mapping, got {type(raw).__name__}", field="steps"))
        return None, None
    has_op, has_id = "op" in raw, "id" in raw
    if has_op and has_id:
        problems.append(Problem(f"{where} has both 'op' and 'id'; use 'op', or 'id' with 'fn'", field="op"))
        return None, None
    if not has_op and not has_id:
        problems.append(Problem(f"{where} has no 'op' (or 'id' + 'fn')", field="op"))
        return None, None
    key = "op" if has_op else "id"
    sid = raw[key]
    if not expressions.is_identifier(sid):
        problems.append(Problem(
            f"{where} {key} {sid!r} must be 1-64 letters, digits, '_' or '-'", field=key))
        return None, None
    kind_keys = kinds.by_key()
    chosen = [k for k in ("fn", *kind_keys) if k in raw]
    fn: str | None = None
    if has_op and chosen:
        problems.append(Problem(f"{chosen[0]!r} goes with 'id', not 'op' (op is both id and token)",
                                step=sid, field=chosen[0]))
    if has_id:
        if not chosen:
            others = "".join(f" or {k!r}" for k in sorted(kind_keys))
            problems.append(Problem(f"a step with 'id' needs 'fn' (its dispatch token){others}", step=sid, field="fn"))
        elif len(chosen) > 1:
            problems.append(Problem(f"has {' and '.join(repr(k) for k in chosen)}; a step is one kind: keep one",
                                    step=sid, field=chosen[1]))
        elif chosen == ["fn"]:
            fn = raw["fn"]
            if not expressions.is_identifier(fn):
                problems.append(Problem(f"fn {fn!r} must be 1-64 letters, digits, '_' or '-'", step=sid, field="fn"))
    allowed = STEP_KEYS | kind_keys.keys()
    for k in raw:
        if k not in allowed:
            problems.append(Problem(f"unknown key (allowed: {', '.join(sorted(allowed))})", step=sid, field=str(k)))
    return sid, fn


def _deps(sid: str, raw: dict[str, Any], known: set[str], problems: list[Problem]) -> tuple[str, ...]:
    value = raw.get("depends_on")
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append(Problem("depends_on must be a list of step ids", step=sid, field="depends_on"))
        return ()
    out: list[str] = []
    seen: set[str] = set()  # a join may wait on thousands of steps
    for d in value:
        if not isinstance(d, str):
            problems.append(Problem(f"depends_on entry {d!r} is not a step id", step=sid, field="depends_on"))
        elif d == sid:
            problems.append(Problem("a step cannot depend on itself", step=sid, field="depends_on"))
        elif d not in known:
            problems.append(Problem(f"depends on unknown step {d!r}", step=sid, field="depends_on"))
        elif d in seen:
            problems.append(Problem(f"depends on {d!r} twice", step=sid, field="depends_on"))
        else:
            out.append(d)
            seen.add(d)
    return tuple(out)


def _find_cycle(ids: list[str], deps: dict[str, tuple[str, ...]]) -> list[str] | None:
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(ids, WHITE)
    for start in ids:
        if colour[start] != WHITE:
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                colour[node] = GREY
                path.append(node)
            children = deps.get(node, ())
            if i < len(children):
                stack.append((node, i + 1))
                child = children[i]
                if colour[child] == GREY:
                    return path[path.index(child):] + [child]
                if colour[child] == WHITE:
                    stack.append((child, 0))
            else:
                colour[node] = BLACK
                path.pop()
    return None


def _is_upstream(ref: str, sid: str, deps: dict[str, tuple[str, ...]]) -> bool:
    """True when ``ref`` is a transitive dependency of ``sid`` (search stops at the first hit)."""
    if ref in deps[sid]:
        return True
    seen: set[str] = set()
    stack = list(deps[sid])
    while stack:
        node = stack.pop()
        if node == ref:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(deps[node])
    return False


def _unknown_refs(refs: References, known: set[str], sid: str | None, field: str,
                  problems: list[Problem], allow_roots: bool) -> None:
    for ref in sorted(refs.steps - known):
        problems.append(Problem(f"references unknown step {ref!r}", step=sid, field=field))
    if not allow_roots:
        for root in sorted(refs.unknown_roots):
            problems.append(Problem(
                f"reads {root!r}: paths must start with input., steps. or state.", step=sid, field=field))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _step_plan(sid: str, fn: str | None, raw: dict[str, Any], dependents: tuple[str, ...],
               ctx: kinds.CompileContext, problems: list[Problem]) -> StepPlan | None:
    start = len(problems)
    known, deps, acyclic, readers = ctx.known, ctx.deps, ctx.acyclic, ctx.readers
    key, kind = next(((key, k) for key, k in kinds.by_key().items() if key in raw and "op" not in raw),
                     (None, kinds.TASK))
    config, kind_refs = (None, References()) if key is None else kind.compile(sid, raw[key], ctx, problems)
    step_input = raw.get("input")
    input_refs = References()
    if step_input is not None:
        if not isinstance(step_input, dict):
            problems.append(Problem("input must be a mapping", step=sid, field="input"))
        else:
            for msg in expressions.check_fields(step_input, "input"):
                problems.append(Problem(msg, step=sid, field="input"))
            for name, value in step_input.items():
                refs = expressions.references(value)
                readers.append((refs, sid, "input", f"input.{name}"))
                input_refs.merge(refs)
            _unknown_refs(input_refs, known, sid, "input", problems, allow_roots=False)
            for ref in sorted(input_refs.steps & known):
                if not acyclic or _is_upstream(ref, sid, deps):
                    continue
                problems.append(Problem(
                    f"reads steps.{ref} but {ref!r} is not upstream: add it to depends_on", step=sid, field="input"))

    max_attempts = raw.get("max_attempts", 1)
    if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or not 1 <= max_attempts <= 1000:
        problems.append(Problem(f"max_attempts must be an integer from 1 to 1000, got {max_attempts!r}",
                                step=sid, field="max_attempts"))
    timeout = raw.get("timeout_seconds")
    if timeout is not None and (not _number(timeout) or not 0 < timeout <= 7 * 86400):
        problems.append(Problem(f"timeout_seconds must be a number in (0, 604800], got {timeout!r}",
                                step=sid, field="timeout_seconds"))
    retry = _retry(sid, raw.get("retry"), problems)
    branches, branch_refs = _branches(sid, raw.get("branch"), known, problems, readers)
    if len(problems) > start:
        return None
    plan = StepPlan(
        id=sid, token=kind.token(sid, fn, config) or "", deps=deps[sid], dependents=dependents,
        input=step_input or {}, branches=branches, max_attempts=max_attempts,
        timeout_seconds=float(timeout) if timeout is not None else None,
        retry=retry, input_refs=input_refs, branch_refs=branch_refs,
        kind=kind.name, config=config, kind_refs=kind_refs,
    )
    plan = kind.refine(plan, problems)
    return None if len(problems) > start else plan


def _retry(sid: str, raw: Any, problems: list[Problem]) -> RetryPolicy:
    if raw is None:
        return RetryPolicy()
    if not isinstance(raw, dict):
        problems.append(Problem("retry must be a mapping", step=sid, field="retry"))
        return RetryPolicy()
    for k in raw:
        if k not in RETRY_KEYS:
            problems.append(Problem(f"unknown retry key {k!r} (allowed: {', '.join(sorted(RETRY_KEYS))})",
                                    step=sid, field="retry"))
    base = raw.get("backoff_seconds", RetryPolicy.backoff_seconds)
    cap = raw.get("max_backoff_seconds", max(RetryPolicy.max_backoff_seconds, base) if _number(base) else 0)
    jitter = raw.get("jitter", True)
    if not _number(base) or base < 0:
        problems.append(Problem("retry.backoff_seconds must be a number >= 0", step=sid, field="retry"))
    elif not _number(cap) or cap < base:
        problems.append(Problem("retry.max_backoff_seconds must be a number >= backoff_seconds",
                                step=sid, field="retry"))
    if not isinstance(jitter, bool):
        problems.append(Problem("retry.jitter must be true or false", step=sid, field="retry"))
    if _number(base) and _number(cap) and isinstance(jitter, bool):
        return RetryPolicy(float(base), float(cap), jitter)
    return RetryPolicy()


def _branches(sid: str, raw: Any, known: set[str], problems: list[Problem],
              readers: list[tuple[References, str | None, str, str]]) -> tuple[tuple[Branch, ...], References]:
    refs = References()
    if raw is None:
        return (), refs
    if not isinstance(raw, list):
        problems.append(Problem("branch must be a list of {condition, action}", step=sid, field="branch"))
        return (), refs
    out: list[Branch] = []
    for i, entry in enumerate(raw):
        where = f"branch[{i}]"
        if not isinstance(entry, dict):
            problems.append(Problem(f"{where} must be a mapping", step=sid, field="branch"))
            continue
        for k in entry:
            if k not in BRANCH_KEYS:
                problems.append(Problem(f"{where} has unknown key {k!r}", step=sid, field="branch"))
        if "condition" not in entry:
            problems.append(Problem(f"{where} has no condition", step=sid, field="branch"))
            continue
        condition = entry["condition"]
        for msg in expressions.check(condition, f"{where}.condition", strict=True):
            problems.append(Problem(msg, step=sid, field="branch"))
        cond_refs = expressions.references(condition)
        _unknown_refs(cond_refs, known, sid, "branch", problems, allow_roots=True)
        readers.append((cond_refs, sid, "branch", f"{where}.condition"))
        refs.merge(cond_refs)
        action = entry.get("action")
        if action in ("halt", "complete"):
            out.append(Branch(condition, action, result=entry.get("result")))
        elif isinstance(action, dict) and "set" in action:
            extra = set(action) - {"set", "value"}
            if extra:
                problems.append(Problem(f"{where} set action has unknown keys {sorted(extra)}", step=sid, field="branch"))
            if action.get("value", "ready") != "ready":
                problems.append(Problem(f"{where} set value must be 'ready'", step=sid, field="branch"))
            target = action["set"]
            _check_set_target(sid, where, target, known, problems, refs, readers)
            out.append(Branch(condition, "set", set_target=target, result=entry.get("result")))
        else:
            problems.append(Problem(
                f"{where} action must be halt, complete or {{set: <step>}}, got {action!r}", step=sid, field="branch"))
    actions = {b.action for b in out}
    if "set" in actions and not actions & {"complete", "halt"}:
        problems.append(Problem("a step with a set (loop) branch needs a complete or halt branch to exit",
                                step=sid, field="branch"))
    return tuple(out), refs


def set_target_ids(raw: Any) -> list[Any]:
    """``steps.X.status`` / ``X`` / a list of either -> step ids (unchecked)."""
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        if isinstance(item, str) and item.startswith("steps.") and "." in item:
            parts = item.split(".")
            out.append(parts[1] if len(parts) >= 2 else item)
        else:
            out.append(item)
    return out


def _check_set_target(sid: str, where: str, target: Any, known: set[str], problems: list[Problem],
                      refs: References, readers: list[tuple[References, str | None, str, str]]) -> None:
    if isinstance(target, dict):
        for msg in expressions.check(target, f"{where}.set", strict=True):
            problems.append(Problem(msg, step=sid, field="branch"))
        target_refs = expressions.references(target)
        readers.append((target_refs, sid, "branch", f"{where}.set"))
        refs.merge(target_refs)
        return
    if not isinstance(target, (str, list)) or (isinstance(target, list) and not target):
        problems.append(Problem(f"{where} set target must be a step, a list of steps or an expression",
                                step=sid, field="branch"))
        return
    for tid in set_target_ids(target):
        if not isinstance(tid, str):
            problems.append(Problem(f"{where} set target {_short(tid)} is not a step id", step=sid, field="branch"))
        elif tid not in known:
            problems.append(Problem(f"{where} sets unknown step {tid!r}", step=sid, field="branch"))
