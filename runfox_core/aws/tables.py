"""tables.py -- create runfox's tables locally (moto, DynamoDB Local, tests, bench).

``runfox_cdk/constructs/tables.py`` defines the deployed workflows table; this
builds the same schema (string ``pk``/``sk``, on-demand billing, TTL on
``expires_at``) through an injected
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


def create_tables(client: Any, workflows_table: str, tasks_table: str | None = None) -> None:
    """The workflows table and, if named, an ``SQSRunner`` audit table; both TTL on ``expires_at``."""
    create_table(client, workflows_table, ttl=True)
    if tasks_table is not None:
        create_table(client, tasks_table, ttl=True)
