"""The ``runfox`` command through its real entry point: in process and on SQLite, text and --json."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from runfox_core import cli, operations
from runfox_core.cli import targets

ROOT = Path(__file__).resolve().parents[2]
GREETING = """\
inputs:
  name: {type: string}
steps:
  - op: make_greeting
    input: {name: {var: input.name}}
  - op: shout
    depends_on: [make_greeting]
    input: {text: {var: steps.make_greeting.output.greeting}}
outputs:
  message: {var: steps.shout.output.text}
"""
EXECUTORS = """\
def execute(op, inputs):
    if op == "make_greeting":
        if inputs["name"] == "nobody":
            raise ValueError("no one to greet")
        return {"greeting": f"hello, {inputs['name']}"}
    return {"text": inputs["text"].upper()}
"""
COMMANDS = ("validate", "graph", "run", "start", "status", "watch", "cancel", "history", "list", "redrive", "rerun",
            "dlq")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding greet.yaml and greeters.py (importable as ``greeters``), as the current directory."""
    (tmp_path / "greet.yaml").write_text(GREETING)
    (tmp_path / f"greeters_{tmp_path.name}.py").write_text(EXECUTORS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def executors(workdir: Path) -> str:
    return f"greeters_{workdir.name}:execute"


def runfox(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(list(argv), out), out.getvalue()


def test_every_command_has_help_through_the_module_entry_point() -> None:
    for command in ("", *COMMANDS):
        done = subprocess.run([sys.executable, "-m", "runfox_core.cli", *([command] if command else []), "--help"],
                              capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert done.returncode == 0 and "usage: runfox" in done.stdout, command


def test_the_console_script_is_wired_to_the_cli() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["runfox"].partition(":")
    assert (module, function) == ("runfox_core.cli", "run") and callable(cli.run)


def test_a_command_that_does_not_exist_is_bad_usage() -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main(["launch"])
    assert raised.value.code == 2


def test_validate_prints_every_error_and_warning_at_once_and_exits_2(workdir: Path) -> None:
    (workdir / "bad.yaml").write_text("steps:\n  - op: a\n    depends_on: [nowhere]\n  - op: b\n    max_attempts: 0\n"
                                      "  - op: c\n    max_attempts: 2\n")
    code, text = runfox("validate", "bad.yaml")
    assert code == 2 and text.count("error: ") == 2 and text.count("warning: ") == 1
    assert "step 'a', field 'depends_on'" in text and "step 'c'" in text
    code, text = runfox("validate", "bad.yaml", "--json")
    report = json.loads(text)
    assert (report["valid"], len(report["errors"]), [w["step"] for w in report["warnings"]]) == (False, 2, ["c"])


def test_validate_a_sound_spec_with_inputs_it_does_not_accept(workdir: Path) -> None:
    assert runfox("validate", "greet.yaml") == (0, "greet.yaml: valid (0 errors, 0 warnings)\n")
    code, text = runfox("validate", "greet.yaml", "--inputs", '{"name": 7}', "--json")
    assert code == 2 and json.loads(text)["errors"][0]["field"] is not None


def test_yaml_that_does_not_parse_is_a_validation_error(workdir: Path) -> None:
    (workdir / "broken.yaml").write_text("steps: [\n")
    code, text = runfox("validate", "broken.yaml")
    assert code == 2 and "YAML error" in text


def test_run_in_process_prints_each_step_then_the_outcome_and_timeline(workdir: Path) -> None:
    code, text = runfox("run", "greet.yaml", "--inputs", '{"name": "ada"}', "--executors", executors(workdir))
    lines = text.splitlines()
    assert code == 0 and "(in process)" in lines[0]
    assert [line.split()[1] for line in lines[1:3]] == ["make_greeting", "shout"]
    assert 'outcome: {"message": "HELLO, ADA"}' in text
    assert lines[-3].split() == ["step", "run", "duration", "status"] and lines[-1].split()[-1] == "complete"


def test_run_on_sqlite_leaves_the_execution_in_the_file_for_status(workdir: Path) -> None:
    code, text = runfox("run", "greet.yaml", "--inputs", '{"name": "bo"}', "--executors", executors(workdir),
                        "--db", "w.db", "--json")
    described = json.loads(text)
    assert code == 0 and described["outcome"] == {"message": "HELLO, BO"}
    code, text = runfox("status", described["execution"], "--db", "w.db", "--json")
    assert code == 0 and json.loads(text)["progress"]["complete"] == 2


def test_a_failed_run_exits_1_naming_the_step_and_error(workdir: Path) -> None:
    code, text = runfox("run", "greet.yaml", "--inputs", '{"name": "nobody"}', "--executors", executors(workdir))
    assert code == 1 and "error: step 'make_greeting' run 0: ValueError: no one to greet" in text
    assert "make_greeting  0    " in text and text.rstrip().endswith("cancelled")


def test_bad_executors_or_inputs_are_bad_usage(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--executors", "nomodule_here:execute"], ["--executors", f"{executors(workdir)}x"],
                 ["--executors", "no-colon"], ["--executors", executors(workdir), "--inputs", "[1]"],
                 ["--executors", executors(workdir), "--inputs", "{nope"]):
        assert runfox("run", "greet.yaml", *argv)[0] == 2
    assert "--inputs must be a JSON object" in capsys.readouterr().err


def test_start_status_watch_on_sqlite(workdir: Path) -> None:
    # Given an execution started on a SQLite file
    code, text = runfox("start", "greet.yaml", "--inputs", '{"name": "cy"}', "--db", "w.db", "--name", "cy-1")
    key = text.splitlines()[0]
    assert code == 0 and text.splitlines()[1] == "started: in_progress, dispatched make_greeting"
    # When its status is read before any worker ran
    code, text = runfox("status", key, "--db", "w.db")
    assert code == 0 and f"{key}: in_progress (name cy-1)" in text and "make_greeting  0    " in text
    # Then watch (working the jobs with the executors) follows it to the end
    code, text = runfox("watch", key, "--db", "w.db", "--executors", executors(workdir))
    assert code == 0 and 'outcome: {"message": "HELLO, CY"}' in text
    # And starting the same request under its name again finds the same execution
    code, text = runfox("start", "greet.yaml", "--inputs", '{"name": "cy"}', "--db", "w.db", "--name", "cy-1", "--json")
    assert json.loads(text)["execution"] == key and json.loads(text)["created"] is False


def test_cancel_on_sqlite_then_watch_reports_cancelled_and_exits_1(workdir: Path) -> None:
    key = runfox("start", "greet.yaml", "--inputs", '{"name": "di"}', "--db", "w.db")[1].splitlines()[0]
    assert runfox("cancel", key, "--db", "w.db", "--reason", "typo") == (0, f"{key}: cancelled\n")
    code, text = runfox("watch", key, "--db", "w.db", "--executors", executors(workdir), "--json")
    described = json.loads(text)
    assert code == 1 and described["status"] == "cancelled" and described["outcome"] == {"reason": "typo"}
    assert [s["status"] for s in described["steps"]] == ["cancelled", "cancelled"]
    assert runfox("cancel", key, "--db", "w.db", "--json")[0] == 0  # a second cancel is harmless


def test_cancel_of_an_ended_or_unknown_execution_is_an_error_and_changes_nothing(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = runfox("run", "greet.yaml", "--inputs", '{"name": "ed"}', "--executors", executors(workdir),
                        "--db", "w.db", "--json")
    key = json.loads(text)["execution"]
    assert runfox("cancel", key, "--db", "w.db")[0] == 2
    assert "has already ended (complete)" in capsys.readouterr().err
    assert runfox("status", key, "--db", "w.db")[0] == 0
    assert runfox("cancel", "no#such", "--db", "w.db")[0] == 2
    assert "no execution no#such" in capsys.readouterr().err


def test_graph_of_a_spec_and_of_an_execution_styled_by_status(workdir: Path) -> None:
    code, text = runfox("graph", "greet.yaml")
    assert code == 0 and text == 'flowchart TD\n  s0["make_greeting"]\n  s1["shout"]\n  s0 --> s1\n'
    key = runfox("start", "greet.yaml", "--inputs", '{"name": "fa"}', "--db", "w.db")[1].splitlines()[0]
    code, text = runfox("graph", key, "--db", "w.db", "--json")
    graph = json.loads(text)
    assert code == 0 and graph["status"] == "in_progress"
    assert "make_greeting<br/>in_progress · run 0 · " in graph["mermaid"]
    assert "class s0 in_progress" in graph["mermaid"] and "class s1 ready" in graph["mermaid"]


def test_graph_of_something_that_is_neither_a_file_nor_a_target_is_bad_usage(workdir: Path) -> None:
    assert runfox("graph", "missing.yaml")[0] == 2


def test_a_watch_that_does_not_see_the_end_in_time_exits_1(workdir: Path) -> None:
    key = runfox("start", "greet.yaml", "--inputs", '{"name": "gi"}', "--db", "w.db")[1].splitlines()[0]
    assert runfox("watch", key, "--db", "w.db", "--timeout", "0.3")[0] == 1  # no worker: it cannot end


def test_cli_operations_are_the_ones_the_lambdas_use(workdir: Path) -> None:
    backend: Any = targets.sqlite_backend(str(workdir / "w.db"))
    key = runfox("start", "greet.yaml", "--inputs", '{"name": "hu"}', "--db", "w.db")[1].splitlines()[0]
    assert operations.describe(backend, key).step_statuses == {"make_greeting": "in_progress", "shout": "ready"}


def test_the_cli_imports_no_aws_sdk_until_a_target_needs_it() -> None:
    code = ("import sys, runfox_core.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
