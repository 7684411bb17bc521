"""Test-wide settings: the ``aws`` marker, so ``make test-unit`` stays in-memory and SQLite.

Every test under tests/aws and tests/functional is marked ``aws`` here (they
run DynamoDB and SQS on moto); tests elsewhere that do mark themselves (the
Store contract's DynamoDB parameter). ``make test-unit`` deselects them with
``-m 'not aws'``; ``make test-functional`` runs them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

AWS_TIERS = ("aws", "functional")
TESTS = Path(__file__).parent

# jsii (under aws-cdk-lib) prints a Node end-of-life banner as raw bytes when the
# tests synthesise the stack; the Makefile exports the same for `make synth`.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.relative_to(TESTS).parts[0] in AWS_TIERS:
            item.add_marker(pytest.mark.aws)
