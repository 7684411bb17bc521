"""A user's script, type-checked by ``make lint`` (and tests/unit/test_typing.py) against the installed package.

It lives outside the package and is checked from outside the repository, as
a user's code is: mypy must find ``runfox_core`` (and its ``py.typed``) in
the environment's site-packages, through the editable install.
"""

from __future__ import annotations

from typing import Any

import runfox_core as rfx
from runfox_core.backend import InMemoryStore, InProcessRunner, InProcessWorker


def execute(token: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"text": f"hello, {inputs['name']}"}


def main() -> rfx.Complete | rfx.Halt | rfx.Failed | rfx.Cancelled:
    runner = InProcessRunner()
    worker = InProcessWorker(runner, execute, max_concurrency=4)
    backend = rfx.Backend(store=InMemoryStore(), runner=runner)
    wf = rfx.Workflow.from_dict({"steps": [{"op": "greet", "input": {"name": {"var": "input.name"}}}]},
                                backend, inputs={"name": "world"})
    return wf.run(worker=worker, timeout=10.0)


if __name__ == "__main__":
    print(main())
