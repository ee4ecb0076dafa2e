"""Polling for feedback: one referral's events, and a gap-free feed per organisation with cheap ETags.

The feed's order on PostgreSQL is (tx_id, id), where tx_id is the writing transaction's id, and it
only shows events whose transaction is older than the oldest one still running in this database. A
transaction that is still running can only ever add events that sort after everything shown so far,
so a poller that follows next_cursor misses nothing, even when transactions commit out of id order.
On SQLite writers are serialised (BEGIN IMMEDIATE), so id order is commit order.
The price: while any write transaction in this database runs, newer events wait for it, so writers must
stay short (idle_in_transaction_session_timeout guards against a forgotten one).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.tables import FeedbackEvent, Referral
from triage import access, audit
from triage.auth import Caller
from triage.pagination import decode_cursor, encode_cursor, invalid_cursor

# Bump when the shape of an event changes, so no client keeps a stale page on a 304.
TAG_VERSION = "1"
Position = tuple[int, int]


def event_cursor(*, tx_id: int | None, event_id: int) -> str:
    """The opaque position of one event in the feed."""
    return encode_cursor([tx_id or 0, event_id])


def event_view(event: FeedbackEvent, *, reference: str) -> dict[str, Any]:
    """One feedback event as a referrer reads it (API.md, Feedback)."""
    assert event.id is not None
    view: dict[str, Any] = {
        "id": event.id,
        "cursor": event_cursor(tx_id=event.tx_id, event_id=event.id),
        "referral_id": str(event.referral_id),
        "reference": reference,
        "event": event.event,
        "at": event.at.isoformat(),
        "message": event.message,
    }
    if event.outcomes is not None:
        view["outcomes"] = event.outcomes
    return view


def referral_feedback_tag(*, session: Session, caller: Caller, referral: Referral) -> str:
    """The ETag of one referral's feedback: its event count and newest id, without reading the events."""
    stmt = (
        access.readable_feedback(caller)
        .with_only_columns(sa.func.count(), sa.func.max(col(FeedbackEvent.id)))
        .where(col(FeedbackEvent.referral_id) == referral.id)
    )
    count, newest = session.execute(stmt).one()
    # Count and newest id together: an earlier id that commits late still changes the count.
    return _tag("referral", str(referral.id), count, newest)


def referral_feedback(*, session: Session, caller: Caller, referral: Referral) -> dict[str, Any]:
    """Every feedback event of one referral, oldest first; the read is audited."""
    stmt = (
        access.readable_feedback(caller)
        .where(col(FeedbackEvent.referral_id) == referral.id)
        .order_by(col(FeedbackEvent.id))
    )
    events = list(session.execute(stmt).scalars())
    audit.record(
        session=session,
        caller=caller,
        action="read_feedback",
        entity="referral",
        entity_id=referral.id,
        purpose=access.FEEDBACK,
        detail={"via": "referral", "events": len(events)},
    )
    return {
        "referral_id": str(referral.id),
        "reference": referral.reference,
        "items": [event_view(event, reference=referral.reference) for event in events],
        "next_cursor": None,
    }


def feed_tag(*, session: Session, caller: Caller, after: str | None, limit: int) -> str:
    """The ETag of a feed page: the newest event the caller may see now, and the query (one index probe)."""
    position = _position(after)
    newest = _newest_visible(session, caller)
    return _tag("feed", _scope(caller), newest, position, limit)


def read_feed(*, session: Session, caller: Caller, after: str | None, limit: int) -> dict[str, Any]:
    """The caller's feedback events after the cursor, oldest first; each referral on the page is audited."""
    position = _position(after)
    stmt = (
        access.readable_feedback(caller)
        .add_columns(col(Referral.reference))
        .join(Referral, col(Referral.id) == col(FeedbackEvent.referral_id))
    )
    if _on_postgres(session):
        stmt = stmt.where(col(FeedbackEvent.tx_id) < horizon())
        if position is not None:
            stmt = stmt.where(sa.tuple_(col(FeedbackEvent.tx_id), col(FeedbackEvent.id)) > sa.tuple_(*position))
        stmt = stmt.order_by(col(FeedbackEvent.tx_id), col(FeedbackEvent.id))
    else:
        if position is not None:
            stmt = stmt.where(col(FeedbackEvent.id) > position[1])
        stmt = stmt.order_by(col(FeedbackEvent.id))
    rows = session.execute(stmt.limit(limit + 1)).all()
    has_more = len(rows) > limit
    items = [event_view(event, reference=reference) for event, reference in rows[:limit]]
    referral_ids = list(dict.fromkeys(uuid.UUID(item["referral_id"]) for item in items))
    audit.record_many(
        session=session,
        caller=caller,
        action="read_feedback",
        entity="referral",
        entity_ids=referral_ids,
        purpose=access.FEEDBACK,
        detail={"via": "feed"},
    )
    return {
        "items": items,
        # Where to poll from next: the last event returned, or the same place when nothing is new.
        "next_cursor": items[-1]["cursor"] if items else after,
        "has_more": has_more,
    }


def _newest_visible(session: Session, caller: Caller) -> Position | None:
    if _on_postgres(session):
        stmt = (
            access.readable_feedback(caller)
            .with_only_columns(col(FeedbackEvent.tx_id), col(FeedbackEvent.id))
            .where(col(FeedbackEvent.tx_id) < horizon())
            .order_by(col(FeedbackEvent.tx_id).desc(), col(FeedbackEvent.id).desc())
            .limit(1)
        )
        row = session.execute(stmt).first()
        return (int(row[0]), int(row[1])) if row else None
    newest = session.execute(
        access.readable_feedback(caller).with_only_columns(sa.func.max(col(FeedbackEvent.id)))
    ).scalar_one()
    return (0, int(newest)) if newest is not None else None


# The oldest transaction still running in this database, else the next transaction id. A running transaction is
# left out only when pg_stat_activity shows it in another database of the cluster (an id always belongs to one
# database, whenever it is seen), so a long transaction elsewhere, a benchmark or another service's report, does not
# hold this feed back. Where the role may not see other sessions' transaction ids, every running one counts.
_HORIZON = sa.literal_column(
    """(SELECT LEAST(
        (SELECT min(x::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
          WHERE NOT EXISTS (
            SELECT 1 FROM pg_stat_activity a
             WHERE a.datname IS NOT NULL AND a.datname <> current_database()
               AND a.backend_xid::text::bigint = x::text::bigint % 4294967296)),
        pg_snapshot_xmax(pg_current_snapshot())::text::bigint))""",
    type_=sa.BigInteger,
)


def horizon() -> sa.ColumnElement[int]:
    """Every writer in this database below this transaction id has committed or rolled back."""
    return _HORIZON


def _position(after: str | None) -> Position | None:
    values = decode_cursor(after, size=2, parameter="after")
    if values is None:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise invalid_cursor("after")
    return (int(values[0]), int(values[1]))


def _on_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _scope(caller: Caller) -> str:
    return "staff" if caller.is_staff else str(caller.organisation_id)


def _tag(*parts: object) -> str:
    digest = hashlib.sha256("|".join([TAG_VERSION, *map(str, parts)]).encode()).hexdigest()
    return f'"{digest[:32]}"'
