"""listing.py -- finding executions: by status, by name prefix, by start time; paginated.

``ListQuery`` says what to find, ``ExecutionSummary`` is one execution found,
``ListPage`` one page of them and the cursor of the next. Each Store answers
a query from an index built for it, never by reading every execution:
in-memory and SQLite from their own tables and indexes, DynamoDB from three
global secondary indexes over the header items (``aws/_ddb_listing.py``).

Order: newest first (by start time, then key), except when ``name_prefix``
is given: then by name, as a directory listing is (names are unique).
Filters combine: ``status`` and ``since``/``until`` narrow a name-prefix
listing, ``since``/``until`` narrow a status listing.

Cursors are opaque strings; a cursor is only good for the query that made it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from .status import WorkflowStatus

MAX_LIST_LIMIT = 1000  # executions one page holds at most


@dataclass(frozen=True)
class ListQuery:
    status: WorkflowStatus | None = None
    name_prefix: str | None = None
    since: str | None = None  # ISO 8601: started at or after
    until: str | None = None  # ISO 8601: started before
    limit: int = 50
    cursor: str | None = None

    def checked(self) -> ListQuery:
        """This query with its times normalised; raises ValueError naming the field that is wrong."""
        if not isinstance(self.limit, int) or not 1 <= self.limit <= MAX_LIST_LIMIT:
            raise ValueError(f"limit must be an integer from 1 to {MAX_LIST_LIMIT}, got {self.limit!r}")
        try:
            status = WorkflowStatus(self.status) if self.status is not None else None
        except ValueError:
            raise ValueError(f"status {self.status!r} is not one of {', '.join(map(str, WorkflowStatus))}") from None
        since = start_time(self.since, "since") if self.since else None
        until = start_time(self.until, "until") if self.until else None
        if self.cursor is not None:
            decode_cursor(self.cursor)
        return replace(self, status=status, since=since, until=until)

    @property
    def by_name(self) -> bool:
        return self.name_prefix is not None


@dataclass(frozen=True)
class ExecutionSummary:
    execution: str
    name: str | None
    status: WorkflowStatus
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"execution": self.execution, "name": self.name, "status": str(self.status),
                "created_at": self.created_at}


@dataclass
class ListPage:
    executions: list[ExecutionSummary]
    cursor: str | None = None  # pass as ListQuery.cursor for the next page; None: this was the last

    def to_dict(self) -> dict[str, Any]:
        return {"executions": [e.to_dict() for e in self.executions], "cursor": self.cursor}


def start_time(text: str, what: str = "created_at") -> str:
    """``text`` (ISO 8601; naive means UTC) as the sortable form every index keys on:
    ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} {text!r} is not an ISO 8601 time (e.g. 2026-11-30T14:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sort_key(summary: ExecutionSummary, by_name: bool) -> tuple[str, str]:
    """What a listing orders on: (start time, key) newest first, or (name, key) by name."""
    if by_name:
        return summary.name or "", summary.execution
    return start_time(summary.created_at), summary.execution


def matches(summary: ExecutionSummary, query: ListQuery) -> bool:
    """Whether ``summary`` passes ``query``'s filters (``query`` already ``checked``)."""
    if query.status is not None and summary.status != query.status:
        return False
    if query.name_prefix is not None and not (summary.name or "").startswith(query.name_prefix):
        return False
    if query.name_prefix is not None and summary.name is None:
        return False
    started = start_time(summary.created_at)
    if query.since is not None and started < query.since:
        return False
    return not (query.until is not None and started >= query.until)


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        raise ValueError(f"cursor {cursor!r} is not one a listing returned") from None


def page_of(found: list[ExecutionSummary], query: ListQuery) -> ListPage:
    """One page of ``found`` (every match, any order) for stores that hold their index in memory or SQL."""
    by_name = query.by_name
    ordered = sorted(found, key=lambda s: sort_key(s, by_name), reverse=not by_name)
    if query.cursor is not None:
        after = tuple(decode_cursor(query.cursor))
        ordered = [s for s in ordered if (sort_key(s, by_name) > after if by_name else sort_key(s, by_name) < after)]
    page = ordered[:query.limit]
    more = len(ordered) > query.limit
    return ListPage(page, encode_cursor(list(sort_key(page[-1], by_name))) if more and page else None)
