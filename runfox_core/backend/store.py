"""store.py -- the Store contract: long-term state, one execution per key.

A Store persists the parts described in ``engine/records.py`` and offers a
few primitives; the lifecycle (claim, apply a result, reset, fail) is written
once in the engine over them. A Store never interprets a spec.

Contract every implementation must keep (``tests/contract`` checks each):

- ``create`` writes the definition and header atomically, or raises
  ``ExecutionExistsError`` (key or name taken) and writes nothing.
- every ``load_*`` returns values isolated from the store: mutating them
  changes nothing stored. Missing executions raise ``ExecutionNotFoundError``.
- ``load_steps`` returns only the records that exist; the engine supplies the
  default (READY, run 0) for the rest.
- ``commit`` applies a whole ``Commit`` atomically iff the stored header
  version equals ``commit.expected_version``; otherwise raises
  ``ConflictError`` and changes nothing. A commit of any number of step
  records, state entries and unsent changes is accepted; a store whose
  transactions are bounded applies a large one as a sequence that no reader
  can observe half done (``dynamodb_store.py``). A commit that cannot be
  stored at all raises ``StoreLimitError`` and changes nothing.
- ``mark_sent`` removes unsent entries whose run_id matches, without touching
  the version (it commutes with any commit).
- ``commit.events`` are appended to the execution's history in the same
  atomic step as the rest of the commit, each under the id it carries
  (``<new version>.<index>``, increasing; an index a record keeps instead is
  left out: ``history.py``); ``load_history`` returns them in id order,
  paged, never from one growing item.
- ``list_executions`` answers a ``ListQuery`` from an index (never by reading
  every execution), in the order ``listing.py`` defines, with a cursor.
- the header's schedules may keep entries outside the header (spilled, so the
  header stays bounded: ``engine/records.py``), as long as the loaded header
  reads them back as if they were inline; a store without an item limit keeps
  every entry inline.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any

from ..engine.records import Commit, ExecutionDefinition, ExecutionHeader, StepRecord
from ..errors import RunfoxError
from ..listing import ListPage, ListQuery


class StoreLimitError(RunfoxError):
    """Raised by ``Store.commit`` when a commit cannot be stored at all, however it is split
    (one item over the store's item limit); nothing was written. ``step`` names the step whose
    record is too large, when that is the cause. The engine ends the execution ``failed`` with
    this message instead of retrying a transition that can never fit."""

    def __init__(self, message: str, step: str | None = None):
        super().__init__(message)
        self.step = step


class Store(ABC):
    #: The most step records one commit may carry (None: no limit). The engine
    #: splits large claims into several commits to stay under it.
    max_steps_per_commit: int | None = None

    @abstractmethod
    def create(self, definition: ExecutionDefinition, header: ExecutionHeader) -> None:
        """Store a new execution under ``definition.key`` (and claim ``definition.name``)."""

    @abstractmethod
    def find_by_name(self, name: str) -> str | None:
        """Return the key of the execution started under ``name``, if any."""

    @abstractmethod
    def load_definition(self, key: str) -> ExecutionDefinition:
        """Return the immutable part of an execution."""

    @abstractmethod
    def load_header(self, key: str) -> ExecutionHeader:
        """Return the versioned header (with its unsent entries)."""

    @abstractmethod
    def load_steps(self, key: str, step_ids: Iterable[str] | None = None) -> dict[str, StepRecord]:
        """Return the stored records of ``step_ids`` (all stored records when None)."""

    @abstractmethod
    def load_state(self, key: str, keys: Iterable[str] | None = None) -> dict[str, Any]:
        """Return the stored state entries named (the whole state when None)."""

    @abstractmethod
    def commit(self, key: str, commit: Commit) -> None:
        """Apply ``commit`` atomically under its version check (see module docstring)."""

    @abstractmethod
    def mark_sent(self, key: str, sent: Mapping[str, int]) -> None:
        """Drop unsent entries ``step -> run_id`` whose run_id matches."""

    # -- history and listing (``history.py``, ``listing.py``) ------------------

    @abstractmethod
    def load_history(self, key: str, after: tuple[int, int] | None = None,
                     limit: int = 1000) -> list[dict[str, Any]]:
        """Up to ``limit`` events of ``key`` after position ``after`` (None: from the first), in
        order, each with its ``id``. Raises ExecutionNotFoundError for an unknown key."""

    @abstractmethod
    def list_executions(self, query: ListQuery) -> ListPage:
        """One page of the executions ``query`` (already ``checked``) finds."""

    def exists(self, key: str) -> bool:
        try:
            self.load_header(key)
        except KeyError:
            return False
        return True
