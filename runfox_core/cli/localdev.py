"""localdev.py -- ``runfox local up|down``: the embedded AWS of ``local/`` as a background dev server.

``up`` starts a detached process (``python -m runfox_core.cli.localdev``) that
opens a ``LocalCloud`` (moto, the tables and queues the stack would create,
the Lambdas' environment) and plays the SQS event sources forever, running
the real handlers (result router, executors). It records its pid, endpoint
and the environment a client needs (endpoint, fake credentials, RUNFOX_*
names) in a small state file: ``$RUNFOX_LOCAL_STATE``, else
``~/.runfox/local.json``. ``--local`` on ``start``/``status``/``watch``/
``cancel`` reads that file and talks to the server as it would to a deployed
stack; ``down`` stops the process (by its recorded pid) and removes the file.

Known limits: needs a checkout of the kit (``local/`` and ``lambdas/`` are not
part of the installed package); one dev server per state file; its data lives
only as long as the process; ``--local`` sets the AWS environment of the
process it runs in (the CLI runs one command per process); failed batches come back after
``RETRY_VISIBILITY_SECONDS`` (not the queues' minutes), as in ``make demo``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the checkout holding local/ and lambdas/
STATE_ENV = "RUNFOX_LOCAL_STATE"
UP_TIMEOUT_SECONDS = 60.0  # how long ``up`` waits for the server to say it is ready
DOWN_TIMEOUT_SECONDS = 20.0
RETRY_VISIBILITY_SECONDS = 2
IDLE_SLEEP_SECONDS = 0.05


class LocalError(RuntimeError):
    """Raised when the dev server is not up (for ``--local``), already up, or cannot start."""


def state_path() -> Path:
    return Path(os.environ.get(STATE_ENV) or Path.home() / ".runfox" / "local.json")


def read_state() -> dict[str, Any]:
    """The running dev server's state; raises LocalError if none is up."""
    path = state_path()
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise LocalError(f"no local AWS is up ({path} not found): run `runfox local up` first") from None
    if not _alive(int(state["pid"])):
        raise LocalError(f"the local AWS recorded in {path} (pid {state['pid']}) is gone: "
                         "run `runfox local down`, then `runfox local up`")
    return state


def use_local() -> Any:
    """Point this process's AWS clients at the dev server; return the engine's Backend there."""
    os.environ.update(read_state()["environment"])
    from ..aws import factory  # only now: boto3 stays out of the CLI unless a target needs it

    factory.reset()
    return factory


def up(config: str | None, out: Any) -> int:
    path = state_path()
    if path.exists():
        try:
            state = read_state()
        except LocalError:
            path.unlink()  # a dead server's file: start afresh
        else:
            out.write(f"local AWS already up at {state['endpoint']} (pid {state['pid']})\n")
            return 0
    if not (ROOT / "local" / "cloud.py").is_file():
        raise LocalError(f"`runfox local` needs a checkout of the kit: no local/ folder in {ROOT}")
    path.parent.mkdir(parents=True, exist_ok=True)
    log = path.with_suffix(".log")
    argv = [sys.executable, "-m", "runfox_core.cli.localdev", "--state", str(path)]
    if config:
        argv += ["--config", str(Path(config).resolve())]
    with open(log, "w", encoding="utf-8") as sink:
        process = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # outlives this command
    deadline = time.monotonic() + UP_TIMEOUT_SECONDS
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise LocalError(f"the local AWS did not start; see {log}")
        time.sleep(0.1)
    state = json.loads(path.read_text(encoding="utf-8"))
    out.write(f"local AWS up at {state['endpoint']} (pid {state['pid']}; state {path}; log {log})\n")
    return 0


def down(out: Any) -> int:
    path = state_path()
    try:
        pid = int(json.loads(path.read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError):
        out.write("local AWS is not up\n")
        return 0
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + DOWN_TIMEOUT_SECONDS
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    path.unlink(missing_ok=True)
    out.write(f"local AWS down (pid {pid})\n")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a child of ours that exited but was not reaped yet is gone too
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


def serve(state: Path, config: str | None) -> None:
    """The background process: the cloud, then event-source rounds until SIGTERM."""
    import importlib
    import logging

    # local/ belongs to the checkout, not to the installed package (nor to its type check)
    server = importlib.import_module("local.server")
    LocalCloud = importlib.import_module("local.cloud").LocalCloud  # noqa: N806
    EventSourceDriver = importlib.import_module("local.event_source").EventSourceDriver  # noqa: N806

    logging.getLogger("runfox_core").setLevel(logging.ERROR)
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    with LocalCloud(config, quiet=True) as cloud:
        deployment = cloud.deployment
        assert deployment is not None
        environment = {k: v for k, v in server.aws_environment(cloud.endpoint).items() if v is not None}
        environment.update(deployment.environment)
        tmp = state.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "endpoint": cloud.endpoint, "environment": environment},
                                  indent=2), encoding="utf-8")
        tmp.replace(state)  # atomically: ``up`` waits for the file
        driver = EventSourceDriver(cloud.consumers, cloud.client("sqs"),
                                   visibility_timeout_seconds=RETRY_VISIBILITY_SECONDS)
        try:
            while not stopping:
                if not driver.round():
                    time.sleep(IDLE_SLEEP_SECONDS)
        finally:
            state.unlink(missing_ok=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m runfox_core.cli.localdev")
    parser.add_argument("--state", required=True)
    parser.add_argument("--config", default=None)
    arguments = parser.parse_args()
    serve(Path(arguments.state), arguments.config)
