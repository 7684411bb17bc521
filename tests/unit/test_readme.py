"""Docs that are not run rot: every README python block runs, every YAML spec validates."""

from __future__ import annotations

import re
from pathlib import Path

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
