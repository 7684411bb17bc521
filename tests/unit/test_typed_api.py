"""The public API is typed: mypy refuses a Backend, Store, Runner, worker or executor of the wrong kind."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")


def test_mypy_refuses_arguments_of_the_wrong_kind(tmp_path: Path) -> None:
    snippet = tmp_path / "user_code.py"
    snippet.write_text(textwrap.dedent("""
        import runfox_core as rfx
        from runfox_core.backend import InProcessRunner, InProcessWorker

        rfx.Workflow.from_dict({"steps": []}, backend="not a backend")
        rfx.Workflow.from_yaml("steps: []", backend=None)
        rfx.Workflow.resume("key", backend=object())
        rfx.Backend(store="x", runner=3, executor=5)
        ok = rfx.Workflow.from_dict({"steps": []}, rfx.Backend(executor=lambda op, inputs: {}))
        ok.run(worker=object())
        ok.run(worker=InProcessWorker(InProcessRunner(), lambda op, inputs: {}), timeout=1.0)
    """))
    out, _, status = api.run([str(snippet), "--no-error-summary"])
    lines = [line.split(": error: ")[1] for line in out.splitlines() if ": error: " in line]
    assert status == 1
    assert [line.split(";")[0] for line in lines] == [
        'Argument "backend" to "from_dict" of "Workflow" has incompatible type "str"',
        'Argument "backend" to "from_yaml" of "Workflow" has incompatible type "None"',
        'Argument "backend" to "resume" of "Workflow" has incompatible type "object"',
        'Argument "store" to "Backend" has incompatible type "str"',
        'Argument "runner" to "Backend" has incompatible type "int"',
        'Argument "executor" to "Backend" has incompatible type "int"',
        'Argument "worker" to "run" of "Workflow" has incompatible type "object"',
    ]
