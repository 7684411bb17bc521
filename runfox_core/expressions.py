"""expressions.py -- JSON Logic in specs: evaluation and static references.

Values in ``input``, ``outputs``, branch ``condition`` and ``set`` may be JSON
Logic (json-logic-path: ``var`` for one value, ``vars`` for a JSONPath list).
Plain dicts and lists are walked so expressions may sit anywhere inside them.

The engine must know, before loading anything, which step outputs and state
keys an expression can read: ``references()`` works that out statically, so
a step costs O(what it reads), not O(workflow size). Expressions whose path
is computed at run time, or JSONPath wildcards over ``steps``, are marked
``dynamic`` and load everything they might read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from json_logic_path import is_logic, jsonLogic

ROOTS = ("input", "steps", "state")
_DATA_OPERATORS = ("var", "vars")
_IDENT = re.compile(r"^[A-Za-z0-9_-]+$")
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

    def merge(self, other: References) -> References:
        self.steps |= other.steps
        self.state_keys |= other.state_keys
        self.all_steps |= other.all_steps
        self.all_state |= other.all_state
        self.unknown_roots |= other.unknown_roots
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


def field_references(fields: dict[str, Any]) -> References:
    refs = References()
    for value in fields.values():
        refs.merge(references(value))
    return refs


def truthy(condition: Any, context: dict[str, Any]) -> bool:
    return bool(jsonLogic(condition, context))


def check(value: Any, where: str, strict: bool) -> list[str]:
    """Return a message per malformed expression inside ``value``.

    ``strict`` (conditions): every dict must be a JSON Logic operation, since
    conditions hold no literal objects. Otherwise dicts are literal data,
    except a lone key that can only be a mistyped operator.
    """
    problems: list[str] = []
    _check(value, where, strict, problems, inside_logic=False, depth=0)
    return problems


def _check(value: Any, where: str, strict: bool, out: list[str], inside_logic: bool, depth: int) -> None:
    if depth > 64:
        out.append(f"{where}: nested more than 64 levels deep")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, f"{where}[{i}]", strict, out, inside_logic, depth + 1)
        return
    if not isinstance(value, dict):
        return
    if is_logic(value):
        (op, args), = value.items()
        if op in _DATA_OPERATORS:
            first = args[0] if isinstance(args, list) and args else args
            if op == "var" and isinstance(args, list) and len(args) > 2:
                out.append(f"{where}: 'var' takes a path and an optional default")
            if isinstance(first, (dict, list)) and not (isinstance(first, dict) and is_logic(first)):
                out.append(f"{where}: {op!r} path must be a string or an expression")
        for i, arg in enumerate(args if isinstance(args, list) else [args]):
            # map/filter/reduce take a rule as data for each element: check it as logic too
            _check(arg, f"{where}.{op}[{i}]", True, out, inside_logic=True, depth=depth + 1)
        return
    if len(value) == 1:
        (key,) = value.keys()
        if strict or inside_logic:
            out.append(f"{where}: unknown JSON Logic operator {key!r}")
            return
        if _OPERATOR_LIKE.match(str(key)):
            out.append(f"{where}: unknown JSON Logic operator {key!r}")
            return
    elif strict or inside_logic:
        if not value:
            return
        out.append(f"{where}: an operation must have exactly one operator key, got {sorted(value)}")
        return
    for k, v in value.items():
        _check(v, f"{where}.{k}", strict, out, inside_logic, depth + 1)


def references(value: Any) -> References:
    """Collect the step ids, state keys and roots ``value`` may read."""
    refs = References()
    _collect(value, refs)
    return refs


def _collect(value: Any, refs: References) -> None:
    if isinstance(value, list):
        for item in value:
            _collect(item, refs)
        return
    if not isinstance(value, dict):
        return
    if not is_logic(value):
        for v in value.values():
            _collect(v, refs)
        return
    (op, args), = value.items()
    arg_list = args if isinstance(args, list) else [args]
    if op == "var":
        path = arg_list[0] if arg_list else ""
        if isinstance(path, (int, float)) and not isinstance(path, bool):
            path = str(path)
        if isinstance(path, str):
            _var_path(path, refs)
        else:
            refs.all_steps = refs.all_state = True
        for a in arg_list[1:]:
            _collect(a, refs)
        if not isinstance(path, str):
            _collect(path, refs)
        return
    if op == "vars":
        path = arg_list[0] if arg_list else ""
        if isinstance(path, str):
            _jsonpath(path, refs)
        else:
            refs.all_steps = refs.all_state = True
            _collect(path, refs)
        return
    if op in ("missing", "missing_some"):
        refs.all_steps = refs.all_state = True
    for a in arg_list:
        _collect(a, refs)


def _var_path(path: str, refs: References) -> None:
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
    elif root != "input":
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
    elif root != "input":
        refs.unknown_roots.add(root)


def is_identifier(value: Any) -> bool:
    return isinstance(value, str) and bool(_IDENT.match(value)) and len(value) <= 64

