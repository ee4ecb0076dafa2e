"""Per-key rate limits, counted in the database so every server process shares one count.

Each process counts a key's requests in memory and adds them to the shared count in the database
(one upsert in its own short transaction) when the key's first request of a window arrives, when
the count nears the limit (from half of it on, every request: as exact as counting each one), and
otherwise at most SYNC_SECONDS apart. A busy key well under its limit therefore costs one upsert a
second per process instead of one per request. What another process has counted but not yet
written is at most SYNC_SECONDS of that key's requests there, and only while that process saw the
count under half the limit; a request is refused without asking the database once the count this
process knows already exceeds the limit (it can only have grown since).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from schemas.tables import RateLimitWindow
from schemas.types import utc_now
from triage.errors import FrontDoorError

SYNC_SECONDS = 1.0

_table: sa.Table = RateLimitWindow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Limit:
    """At most `requests` per `window_seconds` for one key."""

    requests: int
    window_seconds: int


class RateLimited(FrontDoorError):
    status, title, type_slug = 429, "Too many requests", "rate-limited"


@dataclass
class _Window:
    """One key's count in the current window, as this process knows it."""

    start: dt.datetime
    shared: int = 0  # the count in the database when this process last wrote to it
    pending: int = 0  # requests counted here since, not yet written
    synced_at: float | None = None  # time.monotonic() of that write


@dataclass
class _Counts:
    lock: threading.Lock
    windows: dict[tuple[str, str], _Window]


_counts: weakref.WeakKeyDictionary[Engine, _Counts] = weakref.WeakKeyDictionary()
_counts_lock = threading.Lock()


def _counts_for(engine: Engine) -> _Counts:
    with _counts_lock:
        found = _counts.get(engine)
        if found is None:
            found = _counts[engine] = _Counts(lock=threading.Lock(), windows={})
        return found


def _window_start(now: dt.datetime, seconds: int) -> dt.datetime:
    epoch = int(now.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % seconds, tz=dt.UTC)


def _refuse(*, limit: Limit, start: dt.datetime, now: dt.datetime) -> RateLimited:
    retry_after = max(1, math.ceil((start + dt.timedelta(seconds=limit.window_seconds) - now).total_seconds()))
    return RateLimited(
        f"Too many requests with this key: at most {limit.requests} every {limit.window_seconds} seconds. "
        f"Retry after {retry_after} seconds.",
        retry_after=retry_after,
    )


def _upsert(insert: Any) -> sa.Insert:
    """Add `added` to one key's count in one window (the row is made by the window's first request)."""
    stmt = insert(_table).values(
        subject=sa.bindparam("subject"),
        bucket=sa.bindparam("bucket"),
        window_start=sa.bindparam("window_start", type_=_table.c.window_start.type),
        count=sa.bindparam("added", type_=sa.Integer()),
    )
    return stmt.on_conflict_do_update(
        index_elements=["subject", "bucket", "window_start"],
        set_={"count": _table.c.count + stmt.excluded.count},
    ).returning(_table.c.count)


_UPSERTS = {"postgresql": _upsert(pg_insert), "sqlite": _upsert(sqlite_insert)}


@dataclass(frozen=True)
class Due:
    """Requests counted here that must now be added to the shared count before the last one may go on."""

    engine: Engine
    subject: str
    bucket: str
    limit: Limit
    window: _Window
    added: int
    now: dt.datetime


def hit(*, engine: Engine, subject: str, bucket: str, limit: Limit, now: dt.datetime | None = None) -> None:
    """Count one request; raise RateLimited (429, with Retry-After) past the limit.

    The shared count is written in its own short transaction, so the request's own transaction
    never holds the counter row (which would serialise every request of a busy key).
    """
    due = count(engine=engine, subject=subject, bucket=bucket, limit=limit, now=now)
    if due is not None:
        settle(due)


def count(*, engine: Engine, subject: str, bucket: str, limit: Limit, now: dt.datetime | None = None) -> Due | None:
    """Count one request in memory: None when it may go on, a Due to settle (in the database) when the shared count
    must be written first; raises RateLimited when this process already knows the key is past its limit."""
    now = now or utc_now()
    start = _window_start(now, limit.window_seconds)
    counts = _counts_for(engine)
    with counts.lock:
        window = counts.windows.get((subject, bucket))
        if window is None or window.start != start:
            if len(counts.windows) >= 10_000:
                counts.windows = {k: w for k, w in counts.windows.items() if w.start >= start}
            window = counts.windows[(subject, bucket)] = _Window(start=start)
        window.pending += 1
        known = window.shared + window.pending
        if known > limit.requests:
            raise _refuse(limit=limit, start=start, now=now)
        if (
            window.synced_at is not None
            and 2 * known < limit.requests
            and time.monotonic() - window.synced_at < SYNC_SECONDS
        ):
            return None
        added, window.pending = window.pending, 0
    return Due(engine=engine, subject=subject, bucket=bucket, limit=limit, window=window, added=added, now=now)


def settle(due: Due) -> None:
    """Add the requests of DUE to the shared count; raise RateLimited when that puts the key past its limit."""
    counts = _counts_for(due.engine)
    window = due.window
    try:
        shared = _write(engine=due.engine, subject=due.subject, bucket=due.bucket, start=window.start, added=due.added)
    except BaseException:
        with counts.lock:
            window.pending += due.added
        raise
    with counts.lock:
        window.shared = max(window.shared, shared)
        window.synced_at = time.monotonic()
    if shared > due.limit.requests:
        raise _refuse(limit=due.limit, start=window.start, now=due.now)


def _write(*, engine: Engine, subject: str, bucket: str, start: dt.datetime, added: int) -> int:
    """Add ADDED requests to the shared count of one key's window; the count after."""
    stmt = _UPSERTS["postgresql" if engine.dialect.name == "postgresql" else "sqlite"]
    with engine.begin() as conn:
        shared = int(
            conn.execute(
                stmt, {"subject": subject, "bucket": bucket, "window_start": start, "added": added}
            ).scalar_one()
        )
        if start.second == 0 and start.minute % 10 == 0 and shared == added:
            # Once per ten minutes, whoever opens the window tidies the old ones.
            conn.execute(sa.delete(_table).where(_table.c.window_start < start - dt.timedelta(hours=1)))
    return shared
