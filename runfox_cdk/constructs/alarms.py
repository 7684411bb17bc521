"""alarms.py -- the one way a runfox alarm is made: one minute, notify the alarm topic.

Every alarm of the kit goes through ``alarm``: a breach (and the return to
OK) is published to the engine's SNS topic, which pages whoever subscribed.
Missing data is "not breaching": a queue or function with no traffic is fine.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from runfox_deploy import facts

PERIOD = Duration.seconds(facts.ALARM_PERIOD_SECONDS)


def alarm(scope: Construct, id: str, *, metric: cloudwatch.IMetric, threshold: float, description: str,
          topic: sns.ITopic) -> cloudwatch.Alarm:
    """Fires when ``metric`` is above ``threshold`` for one period; tells ``topic`` on alarm and on recovery."""
    made = cloudwatch.Alarm(
        scope,
        id,
        alarm_description=description,
        metric=metric,
        threshold=threshold,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    made.add_alarm_action(actions.SnsAction(topic))
    made.add_ok_action(actions.SnsAction(topic))
    return made


def function_alarms(scope: Construct, function_id: str, function: object, what: str, topic: sns.ITopic) -> None:
    """Errors and throttles of one Lambda (``function`` is an ``aws_lambda.IFunction``)."""
    alarm(scope, f"{function_id}Errors", topic=topic, threshold=0,
          description=f"{what}: the function raised (Errors > 0)",
          metric=function.metric_errors(period=PERIOD, statistic=cloudwatch.Stats.SUM))  # type: ignore[attr-defined]
    alarm(scope, f"{function_id}Throttles", topic=topic, threshold=0,
          description=f"{what}: invocations throttled (Throttles > 0)",
          metric=function.metric_throttles(period=PERIOD, statistic=cloudwatch.Stats.SUM))  # type: ignore[attr-defined]
