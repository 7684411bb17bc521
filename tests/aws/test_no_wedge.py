"""No execution can wedge: every shape that once stuck ends on strict DynamoDB exactly as in memory.

Widths 99, 100 and 101 straddle DynamoDB's 100 items per transaction; the
1,000- and 10,000-wide runs are ``bench/no_wedge.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from no_wedge_kit import SHAPES, in_memory, on_aws

WIDTHS = (1, 99, 100, 101)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_shape_ends_on_dynamodb_exactly_as_in_memory(aws: Any, shape: str, width: int) -> None:
    # Given the shape run to its end in memory
    expected = in_memory(shape, width)
    assert expected.status == "complete"
    # When it runs on DynamoDB + SQS with DynamoDB's limits enforced on every write
    ending = on_aws(aws, shape, width)
    # Then it ends exactly the same: outcome, run ids and state
    assert ending == expected
