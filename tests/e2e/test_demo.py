"""``make demo`` keeps working: the greeting, every example as README.md lists it, one-line usage errors."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import pytest
from e2e_kit import EXAMPLES_CONFIG, Ending, run_in_process, run_local

from local import demo
from local.cloud import LocalCloud
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


README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE_ROW = re.compile(r"^\| \[`(\w+)\.yaml`\]\(examples/\1\.yaml\) \| [^|]+ \| `(\{.*\})` \| `(.+)` \|$", re.M)
README_EXAMPLES = EXAMPLE_ROW.findall(README.read_text(encoding="utf-8"))


def outcome_text(end: Ending) -> str:
    """An ending as README's example table writes it."""
    if end.error is not None:
        step, error_type, _ = end.error
        return f"{end.status} at {step}: {error_type}"
    return f"{end.status} {json.dumps(end.outcome)}"


def test_the_readme_lists_every_example() -> None:
    assert sorted(name for name, _, _ in README_EXAMPLES) == sorted(p.stem for p in EXAMPLES_DIR.glob("*.yaml"))


@pytest.mark.parametrize(("example", "inputs", "outcome"), README_EXAMPLES, ids=[r[0] for r in README_EXAMPLES])
def test_each_example_ends_as_the_readme_says_with_the_inputs_the_demo_gives_it(
        cloud: LocalCloud, example: str, inputs: str, outcome: str) -> None:
    # Given the inputs the demo uses for the example (those of its events/ payload)
    spec = EXAMPLES_DIR / f"{example}.yaml"
    assert demo.example_inputs(spec) == json.loads(inputs)
    payload = {"spec": spec.read_text(encoding="utf-8"), "inputs": json.loads(inputs)}
    # When it runs (in-process; on the emulator where it needs SQS's dead-letter queue)
    (end,) = run_local(cloud, [payload]).endings if example == "dead_letter" else [run_in_process(payload)]
    # Then it ends as the README's table says
    assert outcome_text(end) == outcome


def test_a_mistake_on_the_command_line_is_one_line_and_exit_code_2(capsys: pytest.CaptureFixture[str],
                                                                   tmp_path: Path) -> None:
    bad_config = tmp_path / "executors.json"
    bad_config.write_text('{"ops": {"x": {}}}', encoding="utf-8")
    mistakes = {
        ("--inputs", "{n: 10}"): "--inputs is not valid JSON",
        ("--inputs", "[1, 2]"): "--inputs must be a JSON object",
        ("--spec", str(tmp_path / "missing.yaml")): "missing.yaml: No such file or directory",
        ("--config", str(tmp_path / "missing.json")): "missing.json: cannot read executors config",
        ("--config", str(bad_config)): str(bad_config),
        ("--no-such-option",): "unrecognized arguments: --no-such-option",
    }
    for argv, names in mistakes.items():
        # When the demo is run with the mistake
        with pytest.raises(SystemExit) if argv[0] == "--no-such-option" else contextlib.nullcontext() as exited:
            code = demo.main(list(argv))
        if exited is not None:
            code = exited.value.code
        # Then it exits 2 with one line naming the problem, and no traceback
        out, err = capsys.readouterr()
        assert code == 2, argv
        assert out == "" and err.count("\n") == 1 and names in err, (argv, err)
