"""on_state_change fires once per merged output, after it is committed."""

from __future__ import annotations

from typing import Any

import runfox_core as rfx


def test_on_state_change_receives_previous_and_new_state_after_the_write(make_backend: Any) -> None:
    calls: list[tuple[Any, ...]] = []
    backend: Any = None

    def on_change(key: str, previous: dict[str, Any], new: dict[str, Any], event: rfx.StateChangeEvent) -> None:
        stored = backend.store.load_state(key, None)
        calls.append((previous, new, event.step, event.changed_keys, stored))

    backend = make_backend(executor=lambda op, i: {"n": i["n"] + 1, op: True}, on_state_change=on_change)
    spec = {"steps": [{"op": "a", "input": {"n": 0}},
                      {"op": "b", "depends_on": ["a"], "input": {"n": {"var": "state.n"}}}]}
    rfx.Workflow.from_dict(spec, backend).run(timeout=10)
    assert calls == [
        ({}, {"n": 1, "a": True}, "a", ["a", "n"], {"n": 1, "a": True}),
        ({"n": 1, "a": True}, {"n": 2, "a": True, "b": True}, "b", ["b", "n"], {"n": 2, "a": True, "b": True}),
    ]
