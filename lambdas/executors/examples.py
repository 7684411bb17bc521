"""examples.py -- Executor Lambda for the pattern examples in ``examples/``.

``execute`` switches on the dispatch token. Each arithmetic op names its
output after itself (``incremented``, ``doubled``...): outputs merge into
the execution's state, and two steps running in parallel that write the
same key leave whichever finished last. ``flaky`` keeps a per-key call
count in this module, so it fails ``failures`` times and then succeeds:
that only holds within one process (the local emulator and tests); a real
Lambda fleet would spread the calls over many containers.

``crash_handler`` is a Lambda that fails every batch it is given, so its
jobs are dead-lettered: it shows the DLQ path, where the result router
turns a job nobody answered into a failed attempt.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from runfox_core.aws.executor import sqs_executor

_calls: Counter[str] = Counter()
_lock = threading.Lock()


def _number(inputs: dict[str, Any]) -> int | float:
    value = inputs["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"value must be a number, got {value!r}")
    return value


def _flaky(inputs: dict[str, Any]) -> dict[str, Any]:
    with _lock:
        _calls[str(inputs["key"])] += 1
        calls = _calls[str(inputs["key"])]
    if calls <= int(inputs["failures"]):
        raise ConnectionError(f"flaky call {calls} of key {inputs['key']!r} failed on purpose")
    return {"ok": True}


def _explode(inputs: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError(inputs.get("message") or "boom")


def _misbehave(inputs: dict[str, Any]) -> Any:
    """Return what an executor must not (the reliability corpus checks each is a failed attempt)."""
    how = inputs["how"]
    if how == "sleep":
        time.sleep(float(inputs["seconds"]))
        return {"slept": True}
    # huge: 300 KB in fields too small to go by reference, so over the inline cap whatever the blob store
    return {"none": None, "list": [1, 2], "set": {"not": {1, 2}},
            "huge": {f"k{i}": "x" * 20 for i in range(10_000)}}[how]


def _relay(inputs: dict[str, Any]) -> dict[str, Any]:
    doc = inputs["doc"]
    return {"doc": {**doc, "hops": int(doc.get("hops", 0)) + 1}}


def _fib(inputs: dict[str, Any]) -> dict[str, Any]:
    a, b, i = inputs["a"], inputs["b"], inputs["i"]
    return {"a": b, "b": a + b, "i": i + 1}


OPS = {
    "increment": lambda inputs: {"incremented": _number(inputs) + 1},
    "double": lambda inputs: {"doubled": _number(inputs) * 2},
    "square": lambda inputs: {"squared": _number(inputs) ** 2},
    "add": lambda inputs: {"sum": sum(inputs["values"])},
    "tally": lambda inputs: {"count": inputs["count"] + inputs["add"]},
    "inspect": lambda inputs: {"level": inputs["level"]},
    "fib": _fib,
    # one output key per i in range(keys): a merge wider than one DynamoDB transaction (a journaled commit)
    "spread": lambda inputs: {f"{inputs['prefix']}{i}": i for i in range(int(inputs["keys"]))},
    "flaky": _flaky,
    "explode": _explode,
    "misbehave": _misbehave,
    # payloads of any size: a document of ``bytes`` characters, passed on, then measured
    "document": lambda inputs: {"doc": {"title": inputs["title"], "body": "x" * int(inputs["bytes"])}},
    "relay": _relay,
    "measure": lambda inputs: {"length": len(inputs["doc"]["body"]), "hops": inputs["doc"].get("hops", 0)},
}


def execute(op: str, inputs: dict[str, Any] | list[dict[str, Any]]) -> Any:
    """Run ``op`` on ``inputs``; a list (a batch of a map step) gives a list of outputs, in order."""
    try:
        fn = OPS[op]
    except KeyError:
        raise ValueError(f"examples executor has no op {op!r}") from None
    if isinstance(inputs, list):
        return [fn(one) for one in inputs]
    return fn(inputs)


def reset() -> None:
    """Forget flaky's call counts (tests and the emulator call this between runs)."""
    with _lock:
        _calls.clear()


handler = sqs_executor(execute)


def crash_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise RuntimeError("crash_handler fails every batch, on purpose")
