"""A user's script type-checks against the installed runfox_core, seen from outside the repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

USER_SCRIPT = Path(__file__).parents[1] / "typing" / "user_script.py"

pytest.importorskip("mypy")


def mypy_outside_the_repo(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run ``mypy --strict`` on ``script`` from an empty folder: only the installed package can be found."""
    (tmp_path / "script.py").write_text(script, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "script.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_a_users_script_type_checks_strictly_against_the_installed_package(tmp_path: Path) -> None:
    # Given the user's script, copied out of the repository
    # When mypy --strict checks it there
    result = mypy_outside_the_repo(tmp_path, USER_SCRIPT.read_text(encoding="utf-8"))
    # Then it found runfox_core (no missing-import error) and the script passes
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_users_mistake_is_caught_by_the_packages_types(tmp_path: Path) -> None:
    # Given the same script passing a string where the worker takes an int
    script = USER_SCRIPT.read_text(encoding="utf-8").replace("max_concurrency=4", 'max_concurrency="4"')
    # When mypy checks it
    result = mypy_outside_the_repo(tmp_path, script)
    # Then it names the bad argument: the package's annotations reached the user's checker
    assert result.returncode == 1
    assert 'Argument "max_concurrency" to "InProcessWorker" has incompatible type "str"' in result.stdout


def test_the_user_script_runs() -> None:
    result = subprocess.run([sys.executable, str(USER_SCRIPT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Complete(")
