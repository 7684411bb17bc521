"""tables.py -- create the two tables locally (moto, DynamoDB Local, tests, bench).

``infra/`` defines the deployed tables; this builds the same schema (string
``pk``/``sk``, on-demand billing, TTL on the tasks table) through an injected
client, for emulators and tests. Names of the key attributes come from
``config.py``, so both places agree by construction.
"""

from __future__ import annotations

from typing import Any

from ._keys import PK, SK, TTL_ATTRIBUTE


def create_table(client: Any, name: str, ttl: bool = False) -> None:
    """Create an on-demand ``pk``/``sk`` table and wait until it is active."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": PK, "AttributeType": "S"}, {"AttributeName": SK, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    if ttl:
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )


def create_tables(client: Any, workflows_table: str, tasks_table: str) -> None:
    """The workflows table (no TTL) and the tasks table (TTL on ``expires_at``)."""
    create_table(client, workflows_table)
    create_table(client, tasks_table, ttl=True)
