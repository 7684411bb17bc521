"""``runfox history | list | redrive | rerun`` through the real entry point, on SQLite, text and --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import GREETING, runfox

# fails while a file named "broken" is in the current directory: an executor that gets fixed
FIXABLE = """\
import os

def execute(op, inputs):
    if op == "make_greeting":
        if os.path.exists("broken"):
            raise ConnectionError("greeting service unreachable")
        return {"greeting": f"hello, {inputs['name']}"}
    return {"text": inputs["text"].upper()}
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """greet.yaml and an executor that fails while ``broken`` exists (which it does), as the current directory."""
    (tmp_path / "greet.yaml").write_text(GREETING)
    (tmp_path / f"fixable_{tmp_path.name}.py").write_text(FIXABLE)
    (tmp_path / "broken").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def fixable(workdir: Path) -> str:
    return f"fixable_{workdir.name}:execute"


def failed_run(workdir: Path, name: str = "ada") -> str:
    code, text = runfox("run", "greet.yaml", "--inputs", json.dumps({"name": name}), "--executors",
                        fixable(workdir), "--db", "w.db", "--name", f"greet-{name}", "--json")
    assert code == 1
    return str(json.loads(text)["execution"])


def test_history_shows_each_event_with_the_error_of_the_failed_attempt(workdir: Path) -> None:
    key = failed_run(workdir)
    code, text = runfox("history", key, "--db", "w.db")
    lines = text.splitlines()
    assert code == 0 and [line.split()[3] for line in lines] == ["started", "dispatched", "attempt_failed", "failed"]
    assert lines[2].endswith("attempt_failed make_greeting run 0: ConnectionError: greeting service unreachable")
    code, text = runfox("history", key, "--db", "w.db", "--limit", "2", "--json")
    page = json.loads(text)
    assert code == 0 and [e["type"] for e in page["events"]] == ["started", "dispatched"]
    code, text = runfox("history", key, "--db", "w.db", "--after", page["next_after"], "--json")
    assert [e["type"] for e in json.loads(text)["events"]] == ["attempt_failed", "failed"]


def test_list_shows_executions_newest_first_by_status_and_by_name(workdir: Path) -> None:
    failed = failed_run(workdir, "ada")
    (workdir / "broken").unlink()
    done = json.loads(runfox("run", "greet.yaml", "--inputs", '{"name": "bo"}', "--executors", fixable(workdir),
                             "--db", "w.db", "--name", "greet-bo", "--json")[1])["execution"]
    code, text = runfox("list", "--db", "w.db")
    lines = text.splitlines()
    assert code == 0 and lines[0].split() == ["EXECUTION", "NAME", "STATUS", "STARTED"]
    assert [line.split()[:3] for line in lines[1:]] == [[done, "greet-bo", "complete"], [failed, "greet-ada", "failed"]]
    code, text = runfox("list", "--db", "w.db", "--status", "failed", "--json")
    assert [e["execution"] for e in json.loads(text)["executions"]] == [failed]
    code, text = runfox("list", "--db", "w.db", "--name-prefix", "greet-", "--limit", "1")
    assert text.splitlines()[1].split()[1] == "greet-ada" and text.splitlines()[-1].startswith("(more: --cursor ")
    cursor = text.splitlines()[-1].split()[-1].rstrip(")")
    code, text = runfox("list", "--db", "w.db", "--name-prefix", "greet-", "--limit", "1", "--cursor", cursor)
    assert code == 0 and text.splitlines()[1].split()[1] == "greet-bo" and "more" not in text


def test_redrive_after_fixing_the_executor_completes_the_execution(workdir: Path) -> None:
    key = failed_run(workdir)
    (workdir / "broken").unlink()
    code, text = runfox("redrive", key, "--db", "w.db")
    assert (code, text) == (0, f"{key}: in_progress, dispatched make_greeting (run 1)\n")
    code, text = runfox("watch", key, "--db", "w.db", "--executors", fixable(workdir))
    assert code == 0 and 'outcome: {"message": "HELLO, ADA"}' in text
    events = json.loads(runfox("history", key, "--db", "w.db", "--json")[1])["events"]
    assert [e["type"] for e in events][3:6] == ["failed", "redriven", "dispatched"]


def test_rerun_in_place_and_as_a_new_execution_with_corrected_inputs(workdir: Path) -> None:
    (workdir / "broken").unlink()
    code, text = runfox("run", "greet.yaml", "--inputs", '{"name": "cy"}', "--executors", fixable(workdir),
                        "--db", "w.db", "--json")
    key = json.loads(text)["execution"]
    code, text = runfox("rerun", key, "--step", "shout", "--db", "w.db")
    assert (code, text) == (0, f"{key}: in_progress, dispatched shout (run 1)\n")
    assert runfox("watch", key, "--db", "w.db", "--executors", fixable(workdir))[0] == 0
    code, text = runfox("rerun", key, "--step", "make_greeting", "--new", "--inputs", '{"name": "di"}',
                        "--name", "greet-di", "--db", "w.db", "--json")
    copy = json.loads(text)
    assert code == 0 and copy["execution"] != key and copy["dispatched"][0]["step"] == "make_greeting"
    code, text = runfox("watch", copy["execution"], "--db", "w.db", "--executors", fixable(workdir))
    assert code == 0 and 'outcome: {"message": "HELLO, DI"}' in text


def test_bad_operate_requests_exit_2_with_a_clear_message_and_change_nothing(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "broken").unlink()
    code, text = runfox("run", "greet.yaml", "--inputs", '{"name": "ed"}', "--executors", fixable(workdir),
                        "--db", "w.db", "--json")
    key = json.loads(text)["execution"]
    before = runfox("history", key, "--db", "w.db", "--json")[1]
    cases = [
        (("redrive", key), "completed; there is nothing to redrive"),
        (("rerun", key, "--step", "nope"), "has no step 'nope' (its steps: make_greeting, shout)"),
        (("rerun", key, "--step", "shout", "--inputs", '{"name": "x"}'), "corrected inputs need a new execution"),
        (("redrive", "no#such"), "no execution no#such"),
        (("history", "no#such"), "no execution no#such"),
        (("history", key, "--after", "first"), "event id 'first' is not of the form"),
        (("list", "--since", "last tuesday"), "since 'last tuesday' is not an ISO 8601 time"),
        (("list", "--limit", "0"), "limit must be an integer from 1 to 1000"),
        (("list", "--cursor", "zz"), "is not one a listing returned"),
    ]
    for argv, message in cases:
        assert runfox(*argv, "--db", "w.db")[0] == 2, argv
        assert message in capsys.readouterr().err, argv
    assert runfox("history", key, "--db", "w.db", "--json")[1] == before
