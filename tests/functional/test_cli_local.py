"""``runfox local up``, then start / status / watch / graph / cancel --local, each its own process, then down."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GREETING = (ROOT / "examples" / "greeting.yaml").read_text()
# shout fails on a number, then waits a minute before its next attempt: still running when cancelled
STUCK = """\
steps:
  - op: shout
    input: {text: {var: input.n}}
    max_attempts: 3
    retry: {backoff_seconds: 60}
    branch: [{condition: true, action: complete}]
"""


class Runfox:
    """``runfox ARGS`` in its own process, in ``folder``, with the dev server's state in ``folder/state``."""

    def __init__(self, folder: Path):
        self.cwd = folder
        self.state = folder / "state" / "local.json"
        self.env = {**os.environ, "RUNFOX_LOCAL_STATE": str(self.state), "PYTHONPATH": str(ROOT)}

    def __call__(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "runfox_core.cli", *argv], capture_output=True, text=True,
                              cwd=self.cwd, env=self.env, timeout=120)


@pytest.fixture(scope="module")
def runfox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runfox]:
    folder = tmp_path_factory.mktemp("runfox-local")
    (folder / "greeting.yaml").write_text(GREETING)
    (folder / "stuck.yaml").write_text(STUCK)
    run = Runfox(folder)
    up = run("local", "up", "--config", str(ROOT / "executors.json"))
    assert up.returncode == 0, up.stderr
    try:
        yield run
    finally:
        down = run("local", "down")
        assert down.returncode == 0 and not run.state.exists()


def test_up_twice_finds_the_server_already_up(runfox: Runfox) -> None:
    again = runfox("local", "up")
    assert again.returncode == 0 and again.stdout.startswith("local AWS already up at http://127.0.0.1:")


def test_start_then_watch_on_local_runs_through_the_real_handlers(runfox: Runfox) -> None:
    started = runfox("start", "greeting.yaml", "--inputs", '{"name": "local"}', "--local", "--json")
    assert started.returncode == 0, started.stderr
    key = json.loads(started.stdout)["execution"]
    watched = runfox("watch", key, "--local", "--timeout", "60")
    assert watched.returncode == 0, watched.stderr
    assert 'outcome: {"message": "HELLO, LOCAL"}' in watched.stdout
    status = json.loads(runfox("status", key, "--local", "--json").stdout)
    assert [(s["step"], s["status"]) for s in status["steps"]] == [("make_greeting", "complete"),
                                                                    ("shout", "complete")]
    graph = runfox("graph", key, "--local")
    assert graph.returncode == 0 and "class s0,s1 complete" in graph.stdout


def test_cancel_on_local_ends_a_running_execution_and_a_second_watch_exits_1(runfox: Runfox) -> None:
    key = runfox("start", "stuck.yaml", "--inputs", '{"n": 7}', "--local").stdout.splitlines()[0]
    cancelled = runfox("cancel", key, "--local", "--reason", "stuck")
    assert (cancelled.returncode, cancelled.stdout) == (0, f"{key}: cancelled\n"), cancelled.stderr
    watched = runfox("watch", key, "--local", "--json")
    assert watched.returncode == 1 and json.loads(watched.stdout)["steps"][0]["status"] == "cancelled"


def test_bad_requests_on_local_exit_2_naming_the_problem(runfox: Runfox) -> None:
    unknown_op = runfox("start", "stuck.yaml", "--local", "--inputs", "{}")
    assert unknown_op.returncode == 2 and "input.n" in unknown_op.stderr
    (runfox.cwd / "other.yaml").write_text("steps:\n  - op: not_deployed\n")
    not_deployed = runfox("start", "other.yaml", "--local")
    assert not_deployed.returncode == 2 and "no executor is deployed for op 'not_deployed'" in not_deployed.stderr
    assert runfox("status", "no#such", "--local").returncode == 2
    assert runfox("cancel", "no#such", "--local").returncode == 2


def test_local_without_a_server_up_is_bad_usage(tmp_path: Path) -> None:
    lonely = Runfox(tmp_path)
    done = lonely("status", "a#b", "--local")
    assert done.returncode == 2 and "run `runfox local up` first" in done.stderr
    assert lonely("local", "down").stdout == "local AWS is not up\n"


def test_the_readme_local_commands_print_what_it_shows(runfox: Runfox) -> None:
    # Given the README's --local block (the server is already up: its up and down lines are the fixture's)
    from tests.unit.test_readme_operate import CONSOLE, commands, local, masked, section

    block = next(b for b in CONSOLE.findall(section()) if "runfox local up" in b)
    execution = None
    for command, documented in commands(block):
        if not local(command) or command.startswith("runfox local"):
            continue
        argv = [execution or "" if a == "<execution>" else a for a in shlex.split(command)[1:]]
        done = subprocess.run([sys.executable, "-m", "runfox_core.cli", *argv], capture_output=True, text=True,
                              cwd=ROOT, env=runfox.env, timeout=120)
        lines = done.stdout.splitlines()
        assert done.returncode == 0, done.stderr
        if argv[0] == "start":
            execution = lines[0]
            assert masked(lines) == masked(documented)
        else:  # progress lines depend on timing; the ending and the timeline do not
            assert masked(lines[lines.index(""):]) == masked(documented[documented.index(""):])


def test_history_list_redrive_and_rerun_on_local(runfox: Runfox) -> None:
    # Given an execution cancelled on the local AWS
    key = runfox("start", "stuck.yaml", "--inputs", '{"n": 7}', "--local").stdout.splitlines()[0]
    assert runfox("cancel", key, "--local").returncode == 0
    # Then its history and the listing tell so
    history = runfox("history", key, "--local")
    kinds = [line.split()[3] for line in history.stdout.splitlines()]
    assert history.returncode == 0 and kinds[:2] == ["started", "dispatched"] and kinds[-1] == "cancelled"
    # (the executor may have failed the first attempt meanwhile: attempt_failed, retried)
    assert set(kinds[2:-1]) <= {"attempt_failed", "retried"}
    listed = runfox("list", "--local", "--status", "cancelled", "--json", "--limit", "1000")
    assert key in [e["execution"] for e in json.loads(listed.stdout)["executions"]]
    # And a redrive sends its step again at a new run; a rerun as a new execution starts a copy
    redriven = runfox("redrive", key, "--local")
    run = 1 + kinds.count("retried")
    assert (redriven.returncode, redriven.stdout) == (0, f"{key}: in_progress, dispatched shout (run {run})\n")
    copy = runfox("rerun", key, "--step", "shout", "--new", "--local", "--json")
    assert copy.returncode == 0 and json.loads(copy.stdout)["execution"] != key
    again = runfox("redrive", key, "--local")
    assert again.returncode == 2 and "still running (in_progress)" in again.stderr
