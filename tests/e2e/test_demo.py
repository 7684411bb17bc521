"""``make demo`` keeps working: the greeting, and any example with the examples config."""

from __future__ import annotations

import pytest
from e2e_kit import EXAMPLES_CONFIG

from local import demo
from local.events import EXAMPLES_DIR, event_path


def test_the_demo_runs_the_greeting_and_prints_its_outcome_and_timeline(capsys: pytest.CaptureFixture[str]) -> None:
    # When the demo runs with its defaults (events/start.json, executors.json)
    assert demo.main([]) == 0
    out = capsys.readouterr().out
    # Then it shows each step finishing, the outcome, and a timeline row per step
    assert "make_greeting    run 0   ok" in out and "shout            run 0   ok" in out
    assert "outcome: complete" in out and '"message": "HELLO, WORLD"' in out
    assert out.count("complete") >= 4
    assert "step           run  duration  status" in out


def test_the_demo_takes_a_yaml_spec_with_inputs_and_another_config(capsys: pytest.CaptureFixture[str]) -> None:
    # When the demo runs the fibonacci example for n=6
    code = demo.main(["--spec", str(EXAMPLES_DIR / "fibonacci.yaml"), "--inputs", '{"n": 6}',
                      "--config", str(EXAMPLES_CONFIG)])
    # Then it completes with F(6)
    assert code == 0
    assert '"fib": 8' in capsys.readouterr().out


def test_the_demo_reports_a_rejected_start(capsys: pytest.CaptureFixture[str]) -> None:
    # When the demo is given a payload naming an op the config does not deploy
    code = demo.main(["--spec", str(event_path("bad/unknown_op"))])
    # Then it prints the start handler's error and exits 1
    assert code == 1
    assert "UnknownOpError" in capsys.readouterr().out
