"""advance.py -- Lambda: advance one execution (claim and dispatch whatever is ready).

Event: ``{"execution": <key>}`` (see ``events/advance.json``). Safe to invoke
any number of times, concurrently: advancing is idempotent. Used by
operators and scripts to re-drive an execution; the result router advances
executions itself after applying their results. A bad payload or an
unknown execution returns ``{"error": {...}}``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from runfox_core import api, driver
from runfox_core.aws.factory import get_backend
from runfox_core.errors import ExecutionNotFoundError

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        key = api.parse_advance(event)
        logger.set_correlation_id(key)
        advanced = driver.advance_execution(get_backend(), key)
    except (api.RequestError, ExecutionNotFoundError) as exc:
        logger.warning("advance rejected", extra=api.error_body(exc))
        metrics.add_metric(name="AdvancesRejected", unit=MetricUnit.Count, value=1)
        return api.error_body(exc)
    metrics.add_metric(name="StepsDispatched", unit=MetricUnit.Count, value=len(advanced.dispatched))
    logger.info("execution advanced", extra={"status": str(advanced.status), "dispatched": len(advanced.dispatched)})
    return advanced.to_dict()
