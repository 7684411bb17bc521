"""test_scale_200.py -- the tests of ``test_scale.py`` on an app of 200 ops (a file of its own, so its synthesis
runs beside the smaller ones on the other test worker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_scale import (
    synthesize,
    test_cfn_lint_finds_no_error_and_no_unaccepted_warning,
    test_every_function_environment_is_under_4_kb_with_realistic_values,
    test_every_template_is_within_cloudformation_limits,
    test_the_parent_template_does_not_grow_with_the_ops,
)

__all__ = ["test_cfn_lint_finds_no_error_and_no_unaccepted_warning",
           "test_every_function_environment_is_under_4_kb_with_realistic_values",
           "test_every_template_is_within_cloudformation_limits", "test_the_parent_template_does_not_grow_with_the_ops"]


@pytest.fixture(scope="module", params=[200])
def synthesized_app(request: pytest.FixtureRequest, asset_dirs: dict[str, Path],
                    tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    return synthesize(request.param, asset_dirs, tmp_path_factory)
