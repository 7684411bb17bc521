"""Crash anywhere: for every AWS call the handlers make, a run where that call fails ends like the clean run."""

from __future__ import annotations

from typing import Any

import pytest
from fault_kit import CONFIG, CallTap, Ending, operations, run_once, tapped

from local.cloud import LocalCloud
from runfox_core.aws import config


@pytest.fixture(autouse=True)
def no_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    # The emulator redelivers a failed record on the next round (visibility 0), so a claim
    # whose send was lost may be re-emitted at once instead of after the deployed 60 s.
    monkeypatch.setenv(config.ENV_UNSENT_GRACE_SECONDS, "0")


def run(tap: CallTap, name: str, monkeypatch: Any) -> Ending:
    with LocalCloud(CONFIG, quiet=True) as cloud, tapped(tap, monkeypatch):
        return run_once(cloud, tap, name)


def test_a_crash_at_any_aws_call_of_any_handler_ends_like_the_clean_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the clean run of a workflow with a fan-out, a join and a loop, and its numbered AWS calls
    clean_tap = CallTap()
    clean = run(clean_tap, "clean", monkeypatch)
    assert clean.status == "complete" and clean.outcome == {"sum": 19, "count": 3}
    total = len(clean_tap.calls)
    survived, broken = 0, []
    # When each call k in turn fails (the Lambda "dies" there) and recovery is left to the system
    for k in range(1, total + 1):
        tap = CallTap(fail_at=k)
        ending = run(tap, f"crash-{k}", monkeypatch)
        assert tap.fired is not None, f"call {k} was never made: the injection did not happen"
        # Then the run ends with the same outcome, the same run ids (no result applied twice) and exact state
        if ending == clean:
            survived += 1
        else:
            broken.append((k, clean_tap.calls[k - 1], ending))
    print(f"\ncrash-anywhere: {total} AWS calls in the clean run "
          f"({', '.join(f'{op} {n}' for op, n in operations(clean_tap).most_common())}); "
          f"{survived}/{total} crash runs ended exactly like the clean run")
    assert broken == []
