"""Independent report statements run side by side on PostgreSQL, every one seeing exactly the data the request's
own transaction sees (an exported snapshot), so the figures agree with each other as if read in one statement."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session

T = TypeVar("T")
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")
# Per statement, measured on a year of a million referrals:
# - the planner multiplies the keys' distinct counts and expects millions of groups where there are thousands:
#   enough work_mem lets it hash them rather than sort a million rows;
# - JIT compilation costs more than it saves on statements this short;
# - the statements already run side by side, so PostgreSQL's own parallel workers would only compete with them.
SETTINGS = (
    "SET LOCAL work_mem = '256MB'",
    "SET LOCAL jit = off",
    "SET LOCAL max_parallel_workers_per_gather = 0",
)


def _in_snapshot(engine: sa.Engine, snapshot_id: str, piece: Callable[[sa.Connection], T]) -> T:
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            # The snapshot must be set first in the transaction; its id cannot be a bound parameter.
            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'")
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            for setting in SETTINGS:
                conn.exec_driver_sql(setting)
            return piece(conn)


def run_in_snapshot(session: Session, work: Mapping[str, Callable[[sa.Connection], Any]]) -> dict[str, Any]:
    """Each piece of WORK on its own connection at once, in the session's current snapshot; their results by name."""
    snapshot_id = str(session.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one())
    if not _SNAPSHOT_ID.fullmatch(snapshot_id):
        raise ValueError("unexpected snapshot id from PostgreSQL")
    engine = session.get_bind().engine
    with ThreadPoolExecutor(max_workers=len(work), thread_name_prefix="report") as pool:
        futures = {name: pool.submit(_in_snapshot, engine, snapshot_id, piece) for name, piece in work.items()}
        return {name: future.result() for name, future in futures.items()}
