"""Docs that are not run rot: every README python block runs, every YAML spec validates."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

import runfox_core as rfx

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README.read_text()) if lang == language]


def test_readme_python_blocks_run_in_order(capsys: object) -> None:
    # The blocks form one session, as a reader would type them.
    namespace: dict[str, object] = {"__name__": "readme"}
    python = blocks("python")
    assert len(python) >= 4
    for i, code in enumerate(python):
        try:
            exec(compile(code, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message says which block broke
            raise AssertionError(f"README python block {i + 1} failed: {exc!r}") from exc


def test_readme_yaml_specs_are_valid() -> None:
    specs = [yaml.safe_load(b) for b in blocks("yaml")]
    specs = [s for s in specs if isinstance(s, dict) and "steps" in s]
    assert specs
    for spec in specs:
        assert rfx.Workflow.validate(spec) == []


def test_readme_executor_example_is_the_shipped_greeting_executor() -> None:
    # The "Write an executor" block must be the real file, not a copy that drifts from it.
    snippet = next(b for b in blocks("python") if b.startswith("# lambdas/executors/greeting.py"))
    shipped = (README.parent / "lambdas" / "executors" / "greeting.py").read_text()
    assert snippet.split("\n", 1)[1].strip() in shipped


def test_the_yaml_reference_example_calls_each_op_once_on_a_safe_input() -> None:
    # Given the reference example (moderate has max_attempts: 3) and an executor that counts calls
    reference = next(b for b in blocks("yaml") if "op: moderate" in b)
    calls: Counter[str] = Counter()

    def execute(op: str, inputs: dict[str, Any]) -> dict[str, Any]:
        calls[op] += 1
        return {"caption": {"text": "a cat on a mat"}, "moderate": {"unsafe": 0.1},
                "publish": {"url": "https://example.com/1"}}[op]

    # When it runs on a safe input
    result = rfx.Workflow.from_yaml(reference, rfx.Backend(executor=execute), inputs={"image": "cat.png"}).run()
    # Then it completes with each op called exactly once, and the spec carries no warning
    assert result == rfx.Complete({"text": "a cat on a mat", "status": "published"})
    assert calls == {"caption": 1, "moderate": 1, "publish": 1}
    assert rfx.validate(yaml.safe_load(reference)).warnings == []


def test_without_its_complete_branch_the_reference_example_is_warned_about() -> None:
    # The warning the reference shows is the one its example would get without the fix
    spec = yaml.safe_load(next(b for b in blocks("yaml") if "op: moderate" in b))
    moderate = next(s for s in spec["steps"] if s["op"] == "moderate")
    moderate["branch"] = [b for b in moderate["branch"] if b["action"] != "complete"]
    assert [w.step for w in rfx.validate(spec).warnings] == ["moderate"]
