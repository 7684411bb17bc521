"""The one Makefile: `make help` lists every target with its one-line description."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")


def phony_targets() -> set[str]:
    declared = re.search(r"^\.PHONY:((?:.*\\\n)*.*)$", MAKEFILE, re.M)
    assert declared, "the Makefile declares its targets .PHONY"
    return set(declared.group(1).replace("\\\n", " ").split())


def test_every_target_has_a_one_line_description() -> None:
    described = set(re.findall(r"^([a-z][a-z0-9-]*):[^\n]*## \S", MAKEFILE, re.M))
    assert phony_targets() - described == set()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_lists_every_target() -> None:
    out = subprocess.run(["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("  ")}
    assert listed == phony_targets()
