"""_ddb_listing.py -- how ``DynamoDBStore`` lists executions (``Store.list_executions``).

Owns: the queries on the table's listing indexes and the status lookup of a
page's header items (``ListingMixin``, which ``DynamoDBStore`` inherits); the
value of the header's ``listed`` attribute.

Listing (``listing.py``): the header item carries ``status``, ``started``
(the normalised start time), ``listed`` (always ``execution``) and ``name``;
three global secondary indexes (``config.LIST_INDEXES``) key on them:
``by_status`` (status, started), ``by_start`` (listed, started), ``by_name``
(listed, name), each projecting the name or start. An index is written when
an execution is created (two or three index writes) and when its status
changes (``by_status`` only: a delete and a put), never by the other commits,
whose attributes are not projected: about 6 write units per execution. A
listing reads the index (eventually consistent, like any GSI) and, for the
status of a by-start or by-name page, its header items (BatchGetItem); a
by-name listing with a status keeps the page's matches, so its pages may
come back shorter than ``limit`` (the cursor still leads on). Known limit:
``by_start`` and ``by_name`` have one partition key value, so together they
take about 1,000 index writes a second: about 400 starts a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..listing import ExecutionSummary, ListPage, ListQuery, decode_cursor, encode_cursor
from ..status import WorkflowStatus
from . import _items as it
from ._ddb_common import StoreParts
from ._keys import PK, SK_HEADER
from .config import LIST_INDEXES

LISTED = "execution"  # the value of ``listed`` on every header item (by_start, by_name)


class ListingMixin(StoreParts):
    """``list_executions`` for ``DynamoDBStore`` (module docstring)."""

    if TYPE_CHECKING:
        def _batch_get(self, keys: list[dict[str, Any]], projection: tuple[str, ...] = ()) -> list[dict[str, Any]]: ...

    def list_executions(self, query: ListQuery) -> ListPage:
        if query.by_name:
            index, key_cond = "by_name", "#h = :h AND begins_with(#r, :prefix)"
            values: dict[str, Any] = {":h": it.s(LISTED), ":prefix": it.s(query.name_prefix or "")}
        elif query.status is not None:
            index, key_cond, values = "by_status", "#h = :h", {":h": it.s(str(query.status))}
        else:
            index, key_cond, values = "by_start", "#h = :h", {":h": it.s(LISTED)}
        hash_key, range_key, _ = LIST_INDEXES[index]
        names = {"#h": hash_key, "#r": range_key}
        filters = []
        if not query.by_name:
            if query.since is not None and query.until is not None:
                key_cond += " AND #r BETWEEN :since AND :until"
            elif query.since is not None:
                key_cond += " AND #r >= :since"
            elif query.until is not None:
                key_cond += " AND #r < :until"
        else:
            if query.since is not None:
                names["#started"] = "started"
                filters.append("#started >= :since")
            if query.until is not None:
                names["#started"] = "started"
                filters.append("#started < :until")
        if query.since is not None:
            values[":since"] = it.s(query.since)
        if query.until is not None:
            values[":until"] = it.s(query.until)
        if ":prefix" not in values and "#r" not in key_cond:
            names.pop("#r")
        kwargs: dict[str, Any] = {"TableName": self.table, "IndexName": index, "KeyConditionExpression": key_cond,
                                  "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
                                  "ScanIndexForward": query.by_name}
        if filters:
            kwargs["FilterExpression"] = " AND ".join(filters)
        if query.cursor is not None:
            kwargs["ExclusiveStartKey"] = decode_cursor(query.cursor)
        found: list[ExecutionSummary] = []
        last: dict[str, Any] | None = None
        while len(found) < query.limit:
            kwargs["Limit"] = query.limit - len(found)
            resp = self.client.query(**kwargs)
            items = resp.get("Items", [])
            statuses = self._statuses(items) if index != "by_status" else {}
            for item in items:
                execution = item[PK]["S"]
                status = WorkflowStatus(item["status"]["S"]) if "status" in item else statuses.get(execution)
                if status is None or (query.status is not None and status != query.status):
                    continue  # expired meanwhile, or (by name) another status: not projected, so filtered here
                found.append(ExecutionSummary(execution=execution, name=item.get("name", {}).get("S"),
                                              status=status, created_at=item["started"]["S"]))
            last = resp.get("LastEvaluatedKey")
            if last is None:
                break
            kwargs["ExclusiveStartKey"] = last
        return ListPage(found, encode_cursor(last) if last is not None else None)

    def _statuses(self, index_items: list[dict[str, Any]]) -> dict[str, WorkflowStatus]:
        """The status of each execution of an index page (its header items, one BatchGetItem per 100)."""
        keys = [self._key(item[PK]["S"], SK_HEADER) for item in index_items]
        got = self._batch_get(keys, projection=(PK, "status")) if keys else []
        return {item[PK]["S"]: WorkflowStatus(item["status"]["S"]) for item in got}
