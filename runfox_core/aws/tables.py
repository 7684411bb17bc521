"""tables.py -- create runfox's tables locally (moto, DynamoDB Local, tests, bench).

``runfox_cdk/constructs/tables.py`` defines the deployed workflows table; this
builds the same schema (string ``pk``/``sk``, on-demand billing, TTL on
``expires_at``, the listing indexes of ``config.LIST_INDEXES``) through an injected
client, for emulators and tests. Names of the key attributes come from
``config.py``, so both places agree by construction.
"""

from __future__ import annotations

from typing import Any

from ._keys import PK, SK, TTL_ATTRIBUTE
from .config import LIST_INDEXES


def create_table(client: Any, name: str, ttl: bool = False, list_indexes: bool = False) -> None:
    """Create an on-demand ``pk``/``sk`` table (with the listing indexes, if asked) and wait until
    it is active."""
    attributes = {PK, SK}
    extra: dict[str, Any] = {}
    if list_indexes:
        extra["GlobalSecondaryIndexes"] = [
            {"IndexName": index,
             "KeySchema": [{"AttributeName": hash_key, "KeyType": "HASH"},
                           {"AttributeName": range_key, "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(projected)}}
            for index, (hash_key, range_key, projected) in LIST_INDEXES.items()]
        attributes |= {a for hash_key, range_key, _ in LIST_INDEXES.values() for a in (hash_key, range_key)}
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    if ttl:
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )


def create_tables(client: Any, workflows_table: str, tasks_table: str | None = None) -> None:
    """The workflows table and, if named, an ``SQSRunner`` audit table; both TTL on ``expires_at``."""
    create_table(client, workflows_table, ttl=True, list_indexes=True)
    if tasks_table is not None:
        create_table(client, tasks_table, ttl=True)
