"""events.py -- the sample payloads in ``events/``: the one loader, and their link to ``examples/``.

Tests, the demo and docs load payloads with ``load_event("start")`` (the
file ``events/start.json``). A start payload whose spec is an example
(``SPEC_SOURCES``) carries that example's YAML text verbatim, so the spec
has one source: edit ``examples/<name>.yaml``, then run
``python -m local.events --write`` (a test fails while they differ).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from local.lambda_runtime import REPO_ROOT

EVENTS_DIR = REPO_ROOT / "events"
EXAMPLES_DIR = REPO_ROOT / "examples"

#: start payload (events/<key>.json) -> the example spec it carries (examples/<value>.yaml)
SPEC_SOURCES = {
    "start": "greeting",
    "chain": "chain",
    "fanout": "fanout",
    "fanin": "fanin",
    "diamond": "diamond",
    "state": "state",
    "halt": "halt",
    "retry": "retry",
    "retry_backoff": "retry_backoff",
    "fibonacci": "fibonacci",
    "raises": "raises",
    "dead_letter": "dead_letter",
    "map": "map",
}


def event_path(name: str) -> Path:
    """``"start"`` or ``"bad/missing_spec"`` -> its file under ``events/``."""
    return EVENTS_DIR / f"{name}.json"


def load_event(name: str) -> Any:
    """The payload in ``events/<name>.json``, freshly parsed (callers may change it)."""
    return json.loads(event_path(name).read_text(encoding="utf-8"))


def event_names(folder: str = "") -> list[str]:
    """Names of the payloads directly in ``events/<folder>``, sorted."""
    base = EVENTS_DIR / folder
    return sorted(str(p.relative_to(EVENTS_DIR).with_suffix("")) for p in base.glob("*.json"))


def expected_spec(name: str) -> str:
    return (EXAMPLES_DIR / f"{SPEC_SOURCES[name]}.yaml").read_text(encoding="utf-8")


def stale_events() -> list[str]:
    """Start payloads whose spec differs from their example."""
    return [name for name in SPEC_SOURCES if load_event(name)["spec"] != expected_spec(name)]


def write_specs() -> list[str]:
    """Copy each example's YAML into its start payload; return the names rewritten."""
    written = []
    for name in stale_events():
        payload = load_event(name)
        payload["spec"] = expected_spec(name)
        event_path(name).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        written.append(name)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description="Check (or --write) the specs carried by events/*.json.")
    parser.add_argument("--write", action="store_true", help="copy examples/*.yaml into their start payloads")
    args = parser.parse_args()
    if args.write:
        print("rewrote:", ", ".join(write_specs()) or "nothing")
        return
    stale = stale_events()
    print("stale:", ", ".join(stale) if stale else "none")
    raise SystemExit(1 if stale else 0)


if __name__ == "__main__":
    main()
