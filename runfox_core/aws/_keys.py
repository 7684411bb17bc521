"""_keys.py -- the item layout of runfox_core.aws in DynamoDB tables.

The key attribute names and the TTL attribute come from ``config.py`` (shared
with ``infra/``); this module owns what goes *in* the keys.

Sort keys of the workflows table (see ``dynamodb_store.py`` for attributes)::

    def, def#0001..   the compressed definition, in pieces if large
    header            the versioned ExecutionHeader
    step#<step_id>    one StepRecord
    state#<key>       one state entry
    journal#<v>#<i>   piece i of the commit to version v, while it is half applied
    sched#<s>#<g>#<step>  a spilled entry of the header's schedule s (ready, joins, deadlines,
                      unsent, reruns) at generation g
    name              (under pk ``name#<name>``) the name claim

A name that would push a key past DynamoDB's key size limit (or that starts
with ``~``) is replaced by ``~`` + its SHA-256, and the item keeps the
original in an attribute, so any string is a valid step id, state key or name.
"""

from __future__ import annotations

import hashlib

from .config import PARTITION_KEY, SORT_KEY
from .config import TTL_ATTRIBUTE as TTL_ATTRIBUTE

PK = PARTITION_KEY
SK = SORT_KEY

SK_DEF = "def"
SK_HEADER = "header"
SK_NAME = "name"
STEP_PREFIX = "step#"
STATE_PREFIX = "state#"
JOURNAL_PREFIX = "journal#"
SPILL_PREFIX = "sched#"
NAME_PREFIX = "name#"

MAX_SK_BYTES = 1024  # DynamoDB sort key limit
MAX_PK_BYTES = 2048  # DynamoDB partition key limit


def _bounded(prefix: str, name: str, limit: int) -> str:
    value = prefix + name
    if name.startswith("~") or len(value.encode("utf-8")) > limit:
        return prefix + "~" + hashlib.sha256(name.encode("utf-8")).hexdigest()
    return value


def def_chunk_sk(index: int) -> str:
    """Sort key of piece ``index`` of a definition (piece 0 is ``def`` itself)."""
    return SK_DEF if index == 0 else f"{SK_DEF}#{index:04d}"


def step_sk(step_id: str) -> str:
    return _bounded(STEP_PREFIX, step_id, MAX_SK_BYTES)


def state_sk(state_key: str) -> str:
    return _bounded(STATE_PREFIX, state_key, MAX_SK_BYTES)


def spill_prefix(schedule: str, gen: int) -> str:
    """The sort key prefix of every spilled entry of ``schedule`` at generation ``gen``."""
    return f"{SPILL_PREFIX}{schedule}#{gen}#"


def spill_sk(schedule: str, gen: int, step_id: str) -> str:
    return _bounded(spill_prefix(schedule, gen), step_id, MAX_SK_BYTES)


def journal_sk(version: int, index: int) -> str:
    """Sort key of journal piece ``index`` of the commit that makes header version ``version``."""
    return f"{JOURNAL_PREFIX}{version:012d}#{index:05d}"


def name_pk(name: str) -> str:
    return _bounded(NAME_PREFIX, name, MAX_PK_BYTES)


def task_sk(step_id: str, run_id: int) -> str:
    """Sort key of one dispatched task in SQSRunner's optional audit table (pk is the execution key)."""
    suffix = f"#{run_id}"
    return _bounded("", step_id, MAX_SK_BYTES - len(suffix)) + suffix
