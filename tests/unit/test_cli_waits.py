"""``runfox send-event`` and ``runfox callback`` on SQLite: the same operations the advance Lambda runs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from runfox_core import cli

SPEC = """\
steps:
  - id: approval
    wait: {event: approved}
  - id: signed
    depends_on: [approval]
    wait: {callback: true}
outputs:
  by: {var: steps.approval.output.by}
  signed: {var: steps.signed.output.signed}
"""


def runfox(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(list(argv), out), out.getvalue()


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "approve.yaml").write_text(SPEC)
    code, text = runfox("start", "approve.yaml", "--db", "w.db")
    assert code == 0
    return text.splitlines()[0]


def test_send_event_then_callback_complete_the_waits_and_say_what_they_did(key: str) -> None:
    code, text = runfox("send-event", key, "approved", "--payload", '{"by": "ann"}', "--event-id", "e1", "--db", "w.db")
    assert code == 0 and text == f"event 'approved' (e1) delivered to step 'approval' run 0\n{key}: in_progress, " \
                                 "dispatched nothing\n"
    again = runfox("send-event", key, "approved", "--payload", '{"by": "ann"}', "--event-id", "e1", "--db", "w.db")
    assert "(a duplicate: nothing changed)" in again[1]
    status = json.loads(runfox("status", key, "--db", "w.db", "--json")[1])
    token = status["waiting"]["signed"]["token"]
    code, text = runfox("callback", token, "--output", '{"signed": true}', "--db", "w.db", "--json")
    assert code == 0 and json.loads(text)["outcome"] == {"by": "ann", "signed": True}


def test_an_event_nobody_waits_for_and_a_bad_payload_exit_2_naming_the_problem(
        key: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert runfox("send-event", key, "rejected", "--db", "w.db")[0] == 2
    assert "no step of execution" in capsys.readouterr().err
    assert runfox("send-event", key, "approved", "--payload", "[1]", "--db", "w.db")[0] == 2
    assert "--payload must be a JSON object, got list" in capsys.readouterr().err
    assert runfox("callback", "not-a-token", "--heartbeat", "--db", "w.db")[0] == 2
    assert "not a callback token" in capsys.readouterr().err


@pytest.mark.parametrize("text, problem", [("{nope", "is not JSON: Expecting property name"),
                                           ("3", "must be a JSON object, got int")])
def test_every_flag_taking_a_json_object_exits_2_naming_itself_and_the_problem(
        key: str, text: str, problem: str, capsys: pytest.CaptureFixture[str]) -> None:
    for flag, argv in (("--inputs", ["start", "approve.yaml"]), ("--payload", ["send-event", key, "approved"]),
                       ("--output", ["callback", "any-token"])):
        assert runfox(*argv, flag, text, "--db", "w.db")[0] == 2
        assert capsys.readouterr().err.startswith(f"runfox {argv[0]}: {flag} {problem}")


def test_both_commands_have_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("send-event", "callback"):
        with pytest.raises(SystemExit) as done:
            cli.main([command, "--help"], io.StringIO())
        assert done.value.code == 0 and "--db" in capsys.readouterr().out
