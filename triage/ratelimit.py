"""Per-key rate limits, counted in the database so every server process shares one count."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from schemas.tables import RateLimitWindow
from schemas.types import utc_now
from triage.errors import FrontDoorError


@dataclass(frozen=True)
class Limit:
    """At most `requests` per `window_seconds` for one key."""

    requests: int
    window_seconds: int


class RateLimited(FrontDoorError):
    status, title, type_slug = 429, "Too many requests", "rate-limited"


def _window_start(now: dt.datetime, seconds: int) -> dt.datetime:
    epoch = int(now.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % seconds, tz=dt.UTC)


def hit(*, engine: Engine, subject: str, bucket: str, limit: Limit, now: dt.datetime | None = None) -> None:
    """Count one request; raise RateLimited (429, with Retry-After) past the limit.

    The count is one upsert in its own short transaction, so the request's own transaction
    never holds the counter row (which would serialise every request of a busy key).
    """
    now = now or utc_now()
    start = _window_start(now, limit.window_seconds)
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(RateLimitWindow)
        .values(subject=subject, bucket=bucket, window_start=start, count=1)
        .on_conflict_do_update(
            index_elements=["subject", "bucket", "window_start"],
            set_={"count": RateLimitWindow.__table__.c.count + 1},  # type: ignore[attr-defined]
        )
        .returning(RateLimitWindow.__table__.c.count)  # type: ignore[attr-defined]
    )
    with engine.begin() as conn:
        count = int(conn.execute(stmt).scalar_one())
        if start.second == 0 and start.minute % 10 == 0 and count == 1:
            # Once per ten minutes, whoever opens the window tidies the old ones.
            conn.execute(
                sa.delete(RateLimitWindow).where(
                    RateLimitWindow.__table__.c.window_start < start - dt.timedelta(hours=1)  # type: ignore[attr-defined]
                )
            )
    if count > limit.requests:
        retry_after = max(1, math.ceil((start + dt.timedelta(seconds=limit.window_seconds) - now).total_seconds()))
        raise RateLimited(
            f"Too many requests with this key: at most {limit.requests} every {limit.window_seconds} seconds. "
            f"Retry after {retry_after} seconds.",
            retry_after=retry_after,
        )
