"""expressions.py -- JSON Logic in specs: evaluation and static references.

Values in ``input``, ``outputs``, branch ``condition`` and ``set`` may be JSON
Logic (json-logic-path: ``var`` for one value, ``vars`` for a JSONPath list).
Plain dicts and lists are walked so expressions may sit anywhere inside them.
The engine evaluates with ``resolve`` / ``resolve_fields`` (strict: a path
that does not exist is a MissingPathError naming the keys that exist) and
``condition_holds`` (null for a missing path, noted); see the section at the
end of this module.

The engine must know, before loading anything, which step outputs and state
keys an expression can read: ``references()`` works that out statically, so
a step costs O(what it reads), not O(workflow size). Expressions whose path
is computed at run time, or JSONPath wildcards over ``steps``, are marked
``dynamic`` and load everything they might read. ``references()`` also lists
the ``input.*`` paths read unconditionally (not under a ``var`` default, an
``if``/``?:``, or ``missing``), which creation checks against the inputs. The
rule of ``map``/``filter``/``reduce`` reads its element, not the context, so
its paths are neither references nor checked against the roots.

``check()`` finds malformed expressions: unknown operators (with a "did you
mean" from ``suggestions``), argument counts json-logic-path cannot take, and
in literal data a lone key that is a mistyped operator (``mistyped_operator``
says when a key is data). Known limit: json-logic-path lacks standard JSON
Logic's ``all``/``some``/``none``/``substr``; they are refused, not evaluated.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import json_logic_path as _jl
from json_logic_path import is_logic, jsonLogic, operations

from . import payloads

ROOTS = ("input", "steps", "state")
OPERATORS = frozenset(operations) | {"all", "some", "none"}  # what the evaluator knows (all/some/none: ours, below)
# Standard JSON Logic operators json-logic-path does not implement: refused, never taken for data.
UNSUPPORTED_OPERATORS = frozenset({"all", "some", "none", "substr"}) - OPERATORS
# Operators whose second argument is a rule evaluated per element, against the element
# (reduce: {accumulator, current}); their first argument (the list) reads the context.
_SCOPED_ARGUMENTS = {"map": "list, rule", "filter": "list, rule", "reduce": "list, rule, initial value",
                     "all": "list, rule", "some": "list, rule", "none": "list, rule"}
SCOPED_OPERATORS = frozenset(_SCOPED_ARGUMENTS) & OPERATORS


def _arity(fn: Callable[..., Any] | None) -> tuple[int, int | None] | None:
    """(fewest, most) arguments an operator's function takes; None when it cannot be told (builtins)."""
    try:
        parameters = list(inspect.signature(fn).parameters.values()) if fn is not None else None
    except (TypeError, ValueError):
        return None
    if parameters is None:
        return None
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    fewest = sum(1 for p in positional if p.default is p.empty)
    most = None if any(p.kind == p.VAR_POSITIONAL for p in parameters) else len(positional)
    return fewest, most


# How many arguments each operator with a fixed count takes ({"in": 1} would raise at run time).
ARITY = {op: arity for op, fn in operations.items()
         if (arity := _arity(fn)) is not None and arity != (0, None)}
_GUARDS = ("if", "?:")
_AS_DATA = " (to pass such a mapping as data, see Limits in the README)"  # paths read inside them may be absent: the author handles that case
_DATA_OPERATORS = ("var", "vars")
_IDENT = re.compile(r"^[A-Za-z0-9_-]+$")
_ROOT_PATH = re.compile(r"^(?:input|steps|state)(?:\.|$)")
# A lone key made only of symbols ("=>", "~") is an operator typo, not data.
_OPERATOR_LIKE = re.compile(r"^[^A-Za-z0-9_]+$")


@dataclass
class References:
    """What an expression may read: step ids, state keys, input keys."""

    steps: set[str] = field(default_factory=set)
    state_keys: set[str] = field(default_factory=set)
    all_steps: bool = False  # a wildcard or computed path over steps
    all_state: bool = False
    unknown_roots: set[str] = field(default_factory=set)  # var paths not under input/steps/state
    input_names: set[str] = field(default_factory=set)  # top-level input names read, optionally or not
    required_inputs: set[str] = field(default_factory=set)  # input.* paths read with no default or guard

    def merge(self, other: References) -> References:
        self.steps |= other.steps
        self.state_keys |= other.state_keys
        self.all_steps |= other.all_steps
        self.all_state |= other.all_state
        self.unknown_roots |= other.unknown_roots
        self.input_names |= other.input_names
        self.required_inputs |= other.required_inputs
        return self


def evaluate(value: Any, context: dict[str, Any]) -> Any:
    """Resolve ``value`` against ``context``: logic is evaluated, containers walked, literals kept."""
    if isinstance(value, dict):
        if is_logic(value):
            return jsonLogic(value, context)
        return {k: evaluate(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate(v, context) for v in value]
    return value


def evaluate_fields(fields: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Resolve a step's ``input`` or a workflow's ``outputs``: the keys are names, never operators.

    (``outputs: {count: ...}`` names a field "count"; it is not the ``count`` operation.)
    """
    return {name: evaluate(value, context) for name, value in fields.items()}


def check_fields(fields: dict[str, Any], where: str) -> list[str]:
    """``check`` for each value of an ``input``/``outputs`` mapping (its keys are names)."""
    return [msg for name, value in fields.items() for msg in check(value, f"{where}.{name}", strict=False)]


def truthy(condition: Any, context: dict[str, Any]) -> bool:
    return bool(jsonLogic(condition, context))


def is_operation(value: Any) -> bool:
    """A mapping with exactly one key, an operator in ``OPERATORS``."""
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in OPERATORS


def check(value: Any, where: str, strict: bool) -> list[str]:
    """Return a message per malformed expression inside ``value``.

    ``strict`` (conditions, ``set`` expressions): every dict must be a JSON
    Logic operation, since they hold no literal objects. Otherwise dicts are
    literal data, except a lone key that can only be a mistyped operator
    (see ``mistyped_operator``).
    """
    problems: list[str] = []
    _check(value, where, strict, problems, depth=0)
    return problems


def _check(value: Any, where: str, strict: bool, out: list[str], depth: int) -> None:
    if depth > 64:
        out.append(f"{where}: nested more than 64 levels deep")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, f"{where}[{i}]", strict, out, depth + 1)
        return
    if not isinstance(value, dict):
        return
    if is_operation(value):
        (op, args), = value.items()
        arg_list = args if isinstance(args, list) else [args]
        if op in _DATA_OPERATORS:
            first = arg_list[0] if arg_list else None
            if op == "var" and len(arg_list) > 2:
                out.append(f"{where}: 'var' takes a path and an optional default")
            if isinstance(first, (dict, list)) and not (isinstance(first, dict) and is_operation(first)):
                out.append(f"{where}: {op!r} path must be a string or an expression")
        arity = ARITY.get(op)
        if arity is not None and not arity[0] <= len(arg_list) <= (arity[1] if arity[1] is not None else len(arg_list)):
            out.append(f"{where}: {op!r} takes {_count(arity)}, got {len(arg_list)}{'' if strict else _AS_DATA}")
            return
        if op in SCOPED_OPERATORS and not (isinstance(args, list) and len(args) in ((2, 3) if op == "reduce" else (2,))):
            out.append(f"{where}: {op!r} takes [{_SCOPED_ARGUMENTS[op]}]")
            return
        for i, arg in enumerate(arg_list):
            # inside an operation every dict is an operation (map/filter/reduce rules included)
            _check(arg, f"{where}.{op}[{i}]", True, out, depth + 1)
        return
    if len(value) == 1:
        (key, arg), = value.items()
        if strict or _OPERATOR_LIKE.match(str(key)):
            out.append(f"{where}: unknown JSON Logic operator {key!r}{_did_you_mean(key, suggestions(key))}")
            return
        guess = mistyped_operator(key, arg)
        if guess:
            out.append(f"{where}: unknown JSON Logic operator {key!r}{_did_you_mean(key, guess)}{_AS_DATA}")
            return
    elif strict:
        if not value:
            return
        out.append(f"{where}: an operation must have exactly one operator key, got {sorted(value)}")
        return
    for k, v in value.items():
        _check(v, f"{where}.{k}", strict, out, depth + 1)


def _count(arity: tuple[int, int | None]) -> str:
    fewest, most = arity
    if most is None:
        return f"at least {fewest} arguments"
    if fewest == most:
        return f"{fewest} argument" + ("" if fewest == 1 else "s")
    return f"{fewest} to {most} arguments"


def suggestions(key: str) -> list[str]:
    """The operators ``key`` may have meant: the same name in another case, else those one edit away."""
    lower = str(key).lower()
    if lower != key and lower in OPERATORS:
        return [lower]
    return _likeliest(lower, [op for op in OPERATORS if _one_edit(lower, op)])


def mistyped_operator(key: str, arg: Any) -> list[str]:
    """The operators a lone ``{key: arg}`` in literal data was probably meant to be, or [] for data.

    A typo needs both signs, so ordinary data keys stay data: the key is an
    operator in another case (``Var``, ``VAR``), one edit from an operator of
    three or more characters (``vr``, ``varr``; not a plural such as ``logs``),
    a two-letter operator with a letter doubled (``iff``), or a standard JSON
    Logic operator json-logic-path lacks (``all``, ``some``, ``none``,
    ``substr``); and ``arg`` reads data the way operator arguments do: a path
    string under ``input``/``steps``/``state``, or a list whose first item is
    one or is an expression. ``{max: 3}`` is the ``max`` operator (an exact
    name), ``{note: {var: input.x}}`` and ``{vr: 1}`` are data.
    """
    if not isinstance(key, str) or key in OPERATORS or not _reads_data(arg):
        return []
    lower = key.lower()
    if lower in UNSUPPORTED_OPERATORS:
        return [lower]
    if lower != key and lower in OPERATORS:
        return [lower]
    return _likeliest(lower, [op for op in OPERATORS if _near(lower, op)])


def _likeliest(key: str, candidates: list[str]) -> list[str]:
    """Of the operators one edit from a word, those that start like it (``vr``: var, not or)."""
    same_start = [op for op in candidates if key[:1].isalpha() and op[:1] == key[:1]]
    return sorted(same_start or candidates)


def _near(key: str, op: str) -> bool:
    if len(op) >= 3:
        return _one_edit(key, op) and key != op + "s"
    return op.isalpha() and key in (op[0] + op, op + op[1])


def _reads_data(arg: Any) -> bool:
    if isinstance(arg, list):
        if not arg:
            return False
        arg = arg[0]
        if isinstance(arg, dict) and is_operation(arg):
            return True
    return isinstance(arg, str) and _ROOT_PATH.match(arg) is not None


def _one_edit(a: str, b: str) -> bool:
    """True when ``a`` becomes ``b`` by one insertion, deletion, substitution or swap of neighbours."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1:]


def _did_you_mean(key: str, guess: list[str]) -> str:
    if str(key).lower() in UNSUPPORTED_OPERATORS:
        return " (json-logic-path does not implement it)"
    return f"; did you mean {_quoted(guess)}?" if guess else ""


def _quoted(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def references(value: Any) -> References:
    """Collect the step ids, state keys, roots and input paths ``value`` may read."""
    refs = References()
    _collect(value, refs, optional=False)
    return refs


def _collect(value: Any, refs: References, optional: bool) -> None:
    """``optional``: inside ``if``/``?:``, where a path that is absent is a case the author handles."""
    if isinstance(value, list):
        for item in value:
            _collect(item, refs, optional)
        return
    if not isinstance(value, dict):
        return
    if not is_operation(value):
        for v in value.values():
            _collect(v, refs, optional)
        return
    (op, args), = value.items()
    arg_list = args if isinstance(args, list) else [args]
    if op == "var":
        path = arg_list[0] if arg_list else ""
        if isinstance(path, (int, float)) and not isinstance(path, bool):
            path = str(path)
        if isinstance(path, str):
            _var_path(path, refs, required=not optional and len(arg_list) < 2)
        else:
            refs.all_steps = refs.all_state = True
            _collect(path, refs, optional)
        for a in arg_list[1:]:
            _collect(a, refs, optional)
        return
    if op == "vars":
        path = arg_list[0] if arg_list else ""
        if isinstance(path, str):
            _jsonpath(path, refs)
        else:
            refs.all_steps = refs.all_state = True
            _collect(path, refs, optional)
        return
    if op in ("missing", "missing_some"):
        refs.all_steps = refs.all_state = True
    if op in SCOPED_OPERATORS:
        # the rule (second argument) reads each element (reduce: accumulator and current), not the context
        arg_list = [a for i, a in enumerate(arg_list) if i != 1]
    for a in arg_list:
        _collect(a, refs, optional or op in _GUARDS)


def _var_path(path: str, refs: References, required: bool) -> None:
    if path == "":
        refs.all_steps = refs.all_state = True
        return
    parts = path.split(".")
    root = parts[0]
    if root == "steps":
        if len(parts) >= 2:
            refs.steps.add(parts[1])
        else:
            refs.all_steps = True
    elif root == "state":
        if len(parts) >= 2:
            refs.state_keys.add(parts[1])
        else:
            refs.all_state = True
    elif root == "input":
        if len(parts) >= 2:
            refs.input_names.add(parts[1])
            if required:
                refs.required_inputs.add(path)
    else:
        refs.unknown_roots.add(root)


_JSONPATH_HEAD = re.compile(r"^\$?\.?(?P<root>[A-Za-z0-9_-]+)(?P<rest>.*)$")
_JSONPATH_NAMED = re.compile(r"^(?:\.(?P<dot>[A-Za-z0-9_-]+)|\[['\"](?P<quoted>[^'\"]+)['\"]\])")


def _jsonpath(path: str, refs: References) -> None:
    m = _JSONPATH_HEAD.match(path.strip())
    if not m:
        refs.all_steps = refs.all_state = True
        return
    root, rest = m.group("root"), m.group("rest")
    named = _JSONPATH_NAMED.match(rest)
    name = (named.group("dot") or named.group("quoted")) if named else None
    if root == "steps":
        if name is not None:
            refs.steps.add(name)
        else:
            refs.all_steps = True
    elif root == "state":
        if name is not None:
            refs.state_keys.add(name)
        else:
            refs.all_state = True
    elif root == "input":
        if name is not None:
            refs.input_names.add(name)
    else:
        refs.unknown_roots.add(root)


def is_identifier(value: Any) -> bool:
    return isinstance(value, str) and bool(_IDENT.match(value)) and len(value) <= 64



# --------------------------------------------------------------------------
# Run-time evaluation: strict paths
#
# ``evaluate`` above (kept for callers that want JSON Logic's nulls) turns a
# path that does not exist into null. The engine evaluates with ``resolve``
# instead: a ``var`` path that does not exist raises MissingPathError naming
# the path and the keys that do exist, unless the expression says the value
# is optional -- a default (``{"var": [path, default]}``), ``missing`` /
# ``missing_some``, or the test of an ``if`` / ``?:`` (null when missing).
# ``if``, ``?:``, ``and`` and ``or`` evaluate lazily, so the branch a test
# rules out is never read. Conditions (``condition_holds``) keep null for a
# missing path and report what was missing. Inside ``map``, ``filter`` and
# ``reduce`` paths address the current element (``accumulator`` /
# ``current`` in ``reduce``) and keep json-logic-path's own resolution.
# A lookup costs O(path length): nothing here walks the state.
# --------------------------------------------------------------------------

MAX_KEYS_SHOWN = 20  # keys listed in a MissingPathError message
# The engine loads only the steps and state keys an expression names (see ``references``), so a miss
# right under these roots cannot list what exists; the engine lists state keys itself on error paths.
_PARTIAL_ROOTS = ("steps", "state")
_PARTIAL: Any = object()


class MissingPathError(LookupError):
    """Raised when an expression reads a path that does not exist and gave no default.

    ``path`` is the path as written, ``missing`` the first part not found,
    ``depth`` its index in the path, ``keys`` what exists at that level.
    """

    def __init__(self, path: str, missing: str, depth: int, keys: list[str] | None, found: Any = None):
        self.path, self.missing, self.depth, self.keys = path, missing, depth, keys
        self._found = found
        super().__init__(self._message())

    def with_keys(self, keys: list[str]) -> MissingPathError:
        """The same miss, listing ``keys`` (the caller knows more of that level than the context held)."""
        return MissingPathError(self.path, self.missing, self.depth, sorted(keys))

    def _message(self) -> str:
        parent = ".".join(self.path.split(".")[: self.depth]) or "the context"
        if self._found is _PARTIAL:  # the context held only the keys expressions name: listing them misleads
            if parent == "steps":
                return f"{self.path}: step {self.missing!r} has no output"
            return f"{self.path}: no key {self.missing!r} in {parent}"
        if self.keys is None:
            kind = "null" if self._found is None else type(self._found).__name__
            return f"{self.path}: no key {self.missing!r} ({parent} is {kind})"
        if not self.keys:
            return f"{self.path}: no key {self.missing!r} ({parent} is empty)"
        shown = ", ".join(self.keys[:MAX_KEYS_SHOWN])
        if len(self.keys) > MAX_KEYS_SHOWN:
            shown += f", ... {len(self.keys) - MAX_KEYS_SHOWN} more"
        return f"{self.path}: no key {self.missing!r} (keys: {shown})"

    def __str__(self) -> str:  # LookupError would quote the message
        return self._message()


class ExpressionError(ValueError):
    """Raised by ``resolve_fields`` when one field's expression fails: names the field and why."""

    def __init__(self, field: str, expression: Any, cause: Exception):
        self.field, self.expression, self.cause = field, expression, cause
        super().__init__(describe_failure(field, expression, cause))


def describe_failure(field: str, expression: Any, cause: Exception) -> str:
    """``field: path: no key ...`` for a missing path, else ``field: <expression>: Type: message``."""
    if isinstance(cause, MissingPathError):
        return f"{field}: {cause}"
    return f"{field}: {_compact(expression)}: {type(cause).__name__}: {cause}"


def _compact(expression: Any, limit: int = 200) -> str:
    try:
        text = json.dumps(expression, separators=(",", ":"), default=str)
    except ValueError:  # a cycle cannot come from a spec, but a message must never raise
        text = repr(expression)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resolve(value: Any, context: dict[str, Any]) -> Any:
    """``evaluate`` with strict paths: raises MissingPathError, or what an operator raised."""
    if isinstance(value, dict):
        if is_logic(value) or (len(value) == 1 and next(iter(value)) in _SCOPED):
            return _logic(value, context, True, None)
        return {k: resolve(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, context) for v in value]
    return value


def resolve_fields(fields: dict[str, Any], context: dict[str, Any], where: str) -> dict[str, Any]:
    """Resolve a step's ``input`` or the workflow's ``outputs`` strictly; a failure is an
    ExpressionError naming ``where`` and the field (``input 'text'``)."""
    out = {}
    for name, value in fields.items():
        try:
            out[name] = resolve(value, context)
        except payloads.BlobStoreError:
            raise  # the store failed, not the expression: the transition is retried
        except Exception as exc:  # noqa: BLE001 -- any operator may raise; all become one error
            raise ExpressionError(f"{where} {name!r}", value, exc) from exc
    return out


def condition_holds(condition: Any, context: dict[str, Any], misses: list[str]) -> bool:
    """Evaluate a branch condition: a missing path reads as null, and its description is
    appended to ``misses``. Any other failure raises (the caller fails the attempt)."""
    return bool(_logic(condition, context, False, misses))


def _logic(rule: Any, data: Any, strict: bool, misses: list[str] | None) -> Any:
    if not isinstance(rule, dict):
        return rule
    if not rule:
        return None
    op, values = next(iter(rule.items()))
    if op == "var" and type(values) is str:  # the commonest rule, {"var": "a.b"}: its path needs no evaluating
        return _var(data, [values], strict, misses)
    if not isinstance(values, (list, tuple)):
        values = [values]
    if op == "var":
        return _var(data, [_value(v, data, strict, misses) for v in values], strict, misses)
    if op in _LAZY:
        return _LAZY[op](values, data, strict, misses)
    if op in _SCOPED:  # the rule is data for each element: only the list is read from the context
        args = [_value(values[0], data, strict, misses), *values[1:2]]
        if op == "reduce":
            args.append(_value(values[2], data, strict, misses) if len(values) > 2 else None)
        return _SCOPED[op](*args)
    if op in _DATA_HELPERS:
        return _DATA_HELPERS[op](data, *[_value(v, data, strict, misses) for v in values])
    function = _operations.get(op)
    if function is None:
        raise ValueError(f"unrecognised operation: {op!r}")
    return function(*[_value(v, data, strict, misses) for v in values])


def _value(rule: Any, data: Any, strict: bool, misses: list[str] | None) -> Any:
    """An operator's argument, with any reference in it read (``payloads.resolve``): operators
    compute on values. Only ``var``'s own result keeps a reference, so passing it on reads nothing."""
    return payloads.resolve(_logic(rule, data, strict, misses))


def _var(data: Any, args: list[Any], strict: bool, misses: list[str] | None) -> Any:
    path = args[0] if args else ""
    if len(args) > 1:  # a default makes the path optional
        try:
            return _var(data, args[:1], True, None)
        except MissingPathError:
            return args[1]
    if path == "" or path is None:
        return data
    path = str(path)
    current = data
    parts = path.split(".")
    for depth, key in enumerate(parts):
        if payloads.is_ref(current):  # the path reaches into a value passed by reference: read it now
            current = payloads.load(current)
        if isinstance(current, dict):
            if key in current:
                current = current[key]
                continue
            if depth == 1 and parts[0] in _PARTIAL_ROOTS and isinstance(data, dict) and data.get(parts[0]) is current:
                miss = MissingPathError(path, key, depth, None, _PARTIAL)
            else:
                miss = MissingPathError(path, key, depth, sorted(str(k) for k in current))
        elif isinstance(current, (list, tuple)):
            try:
                current = current[int(key)]
                continue
            except (ValueError, IndexError):
                miss = MissingPathError(path, key, depth, [str(i) for i in range(len(current))])
        else:
            miss = MissingPathError(path, key, depth, None, current)
        if strict:
            raise miss
        if misses is not None and str(miss) not in misses:
            misses.append(str(miss))
        return None
    return current


def _if(values: Any, data: Any, strict: bool, misses: list[str] | None) -> Any:
    # A test reads optional data: a missing path there is null (and noted by conditions), never an error.
    for i in range(0, len(values) - 1, 2):
        if _logic(values[i], data, False, misses):
            return _logic(values[i + 1], data, strict, misses)
    return _logic(values[-1], data, strict, misses) if len(values) % 2 else None


def _and(values: Any, data: Any, strict: bool, misses: list[str] | None) -> Any:
    result: Any = True
    for v in values:
        result = _logic(v, data, strict, misses)
        if not result:
            return result
    return result


def _or(values: Any, data: Any, strict: bool, misses: list[str] | None) -> Any:
    result: Any = False
    for v in values:
        result = _logic(v, data, strict, misses)
        if result:
            return result
    return result


def _all(items: Any, rule: Any) -> bool:
    items = items or []
    return bool(items) and all(_jl.jsonLogic(rule, item) for item in items)


def _some(items: Any, rule: Any) -> bool:
    return any(_jl.jsonLogic(rule, item) for item in (items or []))


def _none(items: Any, rule: Any) -> bool:
    return not _some(items, rule)


_LAZY = {"if": _if, "?:": _if, "and": _and, "or": _or}
# json-logic-path has map/filter/reduce; all/some/none are JSON Logic's too, with the same element scope
_SCOPED = {"map": _jl.logic_map, "filter": _jl.logic_filter, "reduce": _jl.logic_reduce,
           "all": _all, "some": _some, "none": _none}
_DATA_HELPERS = {"vars": _jl.get_vars, "missing": _jl.missing, "missing_some": _jl.missing_some}
_operations = _jl.operations
