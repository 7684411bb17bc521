"""monitoring.py -- the engine-wide alarm (WorkflowsFailed) and the CloudWatch dashboard.

Per-resource alarms are made where their resource is (``OpQueue``,
``Executor``, ``RunfoxEngine``); this adds the one on the engine's own metric
and the dashboard. The dashboard's per-op graphs use CloudWatch ``SEARCH``
expressions over the op queue name prefix, so its body stays the same size
whatever the number of ops (and references nothing in the nested stacks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from runfox_cdk.constructs.alarms import PERIOD, alarm
from runfox_core.aws import config

if TYPE_CHECKING:
    from runfox_cdk.engine import RunfoxEngine

GRAPH_PERIOD = Duration.minutes(5)
_DIMENSIONS = {"service": config.SERVICE_NAME}  # Powertools adds the service dimension to every metric


def runfox_metric(name: str, period: Duration = GRAPH_PERIOD) -> cloudwatch.Metric:
    """A metric the handlers emit (namespace ``Runfox``), summed."""
    return cloudwatch.Metric(namespace=config.METRICS_NAMESPACE, metric_name=name, dimensions_map=_DIMENSIONS,
                             statistic=cloudwatch.Stats.SUM, period=period)


def _search(label: str, namespace: str, dimension: str, metric: str, term: str, statistic: str) -> cloudwatch.MathExpression:
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{{{namespace},{dimension}}} MetricName=\"{metric}\" {dimension}=\"{term}\"', "
                   f"'{statistic}', {int(GRAPH_PERIOD.to_seconds())})",
        label=label, period=GRAPH_PERIOD, using_metrics={})


class Monitoring(Construct):
    """``workflows_failed_alarm`` and ``dashboard``."""

    def __init__(self, scope: Construct, id: str, *, engine: RunfoxEngine) -> None:
        super().__init__(scope, id)
        self.workflows_failed_alarm = alarm(
            self, "WorkflowsFailed", topic=engine.alarm_topic, threshold=0,
            description="runfox: a workflow execution failed (WorkflowsFailed > 0)",
            metric=runfox_metric("WorkflowsFailed", PERIOD))
        prefix = engine.topology.queue_prefix
        router = engine.result_router_function
        results = engine.results.queue
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Executions", width=12, left=[
                runfox_metric(n) for n in ("WorkflowsStarted", "WorkflowsCompleted", "WorkflowsHalted",
                                           "WorkflowsFailed")]),
            cloudwatch.GraphWidget(title="Steps per op (jobs sent to each op queue)", width=12, left=[
                _search("jobs", "AWS/SQS", "QueueName", "NumberOfMessagesSent", prefix, "Sum")]),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Queue depth (visible messages)", width=12, left=[
                _search("op queues", "AWS/SQS", "QueueName", "ApproximateNumberOfMessagesVisible", prefix, "Maximum"),
                results.metric_approximate_number_of_messages_visible(period=GRAPH_PERIOD, label="results")]),
            cloudwatch.GraphWidget(title="Oldest message age (s)", width=12, left=[
                _search("op queues", "AWS/SQS", "QueueName", "ApproximateAgeOfOldestMessage", prefix, "Maximum"),
                results.metric_approximate_age_of_oldest_message(period=GRAPH_PERIOD, label="results")]),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Errors", width=12, left=[
                *(f.metric_errors(period=GRAPH_PERIOD, label=label) for label, f in (
                    ("start", engine.start_function), ("advance", engine.advance_function), ("router", router))),
                *(runfox_metric(n) for n in ("StepsFailed", "StepErrored", "RecordsFailed", "MessagesDropped",
                                             "MalformedJob", "ResultSendFailed"))]),
            cloudwatch.GraphWidget(title="Result router duration (ms)", width=12, left=[
                router.metric_duration(period=GRAPH_PERIOD, statistic=cloudwatch.Stats.AVERAGE, label="average"),
                router.metric_duration(period=GRAPH_PERIOD, statistic=cloudwatch.Stats.percentile(99), label="p99")]),
        )
