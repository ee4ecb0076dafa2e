"""The triage queue: undecided referrals, most urgent first, one page in a fixed number of queries."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.enums import RAG_RANK, UNDECIDED_STATUSES, Rag
from schemas.tables import Child, Referral
from schemas.types import utc_now
from triage import access, audit
from triage.auth import Caller
from triage.clock import LONDON
from triage.errors import Invalid, Problem
from triage.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, invalid_cursor
from triage.validation import age_on

ASSIGNED_FILTERS = ("me", "unassigned")
QUEUE_PURPOSE = "triage queue"


def queue_page(
    *,
    session: Session,
    caller: Caller,
    status: str | None = None,
    rag: str | None = None,
    assigned: str | None = None,
    overdue: bool | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A page of undecided referrals: red, amber, green, then earliest decision_due_at (keyset paginated)."""
    now = now or utc_now()
    _check_filters(status=status, rag=rag, assigned=assigned, limit=limit)
    # Every filter below is a prefix or range of ix_referral_queue (decided, rag_rank, decision_due_at) or,
    # for assigned=me|unassigned, of ix_referral_assigned_queue (assigned_to, decided, ...).
    stmt = access.readable_referrals(caller).where(col(Referral.decided).is_(False))
    if status is not None:
        stmt = stmt.where(col(Referral.status) == status)
    if rag is not None:
        stmt = stmt.where(col(Referral.rag_rank) == RAG_RANK[Rag(rag)])
    if assigned == "me":
        stmt = stmt.where(col(Referral.assigned_to) == caller.user_id)
    elif assigned == "unassigned":
        stmt = stmt.where(col(Referral.assigned_to).is_(None))
    if overdue is True:
        stmt = stmt.where(col(Referral.decision_due_at) < now)
    elif overdue is False:
        stmt = stmt.where(col(Referral.decision_due_at) >= now)
    after = decode_cursor(cursor, size=3)
    if after is not None:
        rank, due, last_id = _cursor_values(after)
        stmt = stmt.where(
            sa.tuple_(col(Referral.rag_rank), col(Referral.decision_due_at), col(Referral.id)) > (rank, due, last_id)
        )
    stmt = stmt.order_by(col(Referral.rag_rank), col(Referral.decision_due_at), col(Referral.id)).limit(limit + 1)
    rows: list[Referral] = list(session.execute(stmt).scalars())
    page, more = rows[:limit], len(rows) > limit
    children = _children_of_page(session, [r.id for r in page], today=now.astimezone(LONDON).date())
    items = [_item(referral, children.get(referral.id, []), now=now) for referral in page]
    # Each referral shown (reference, rating, children's names and ages) is a read on its own trail; the queue read
    # itself is one more row naming the reader and the filters, so an empty or filtered page is on record too.
    audit.record_many(
        session=session,
        caller=caller,
        action="list",
        entity="referral",
        entity_ids=[r.id for r in page],
        purpose=QUEUE_PURPOSE,
    )
    audit.record(
        session=session,
        caller=caller,
        action="read_queue",
        entity="queue",
        entity_id=None,
        purpose=QUEUE_PURPOSE,
        detail={
            "filters": {"status": status, "rag": rag, "assigned": assigned, "overdue": overdue},
            "continued": cursor is not None,
            "shown": len(page),
        },
    )
    last = page[-1] if page and more else None
    next_cursor = (
        encode_cursor([last.rag_rank, last.decision_due_at.isoformat(), str(last.id)]) if last is not None else None
    )
    return {"items": items, "next_cursor": next_cursor}


def _item(referral: Referral, children: list[dict[str, Any]], *, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": str(referral.id),
        "reference": referral.reference,
        "status": referral.status,
        "rag": referral.rag,
        "level": referral.level,
        "pathway": referral.pathway,
        "received_at": referral.received_at.isoformat(),
        "decision_due_at": referral.decision_due_at.isoformat(),
        "overdue": referral.decision_due_at < now,
        "assigned_to": str(referral.assigned_to) if referral.assigned_to else None,
        "agency": referral.agency,
        "children": children,
    }


def _children_of_page(
    session: Session, referral_ids: list[uuid.UUID], *, today: dt.date
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Name and age of every child on the page, in one query (never one per referral)."""
    found: dict[uuid.UUID, list[dict[str, Any]]] = {}
    if not referral_ids:
        return found
    stmt = (
        sa.select(
            col(Child.referral_id),
            col(Child.first_name),
            col(Child.last_name),
            col(Child.date_of_birth),
            col(Child.age_years),
            col(Child.unborn),
        )
        .where(col(Child.referral_id).in_(referral_ids))
        .order_by(col(Child.referral_id), col(Child.position))
    )
    for row in session.execute(stmt):
        age: int | str | None
        if row.unborn:
            age = "unborn"
        elif row.date_of_birth is not None:
            age = age_on(row.date_of_birth, today)
        else:
            age = row.age_years
        found.setdefault(row.referral_id, []).append(
            {"name": f"{row.first_name} {row.last_name}", "age_or_unborn": age}
        )
    return found


def _check_filters(*, status: str | None, rag: str | None, assigned: str | None, limit: int) -> None:
    problems = []
    if status is not None and status not in UNDECIDED_STATUSES:
        allowed = ", ".join(sorted(UNDECIDED_STATUSES))
        problems.append(
            Problem(pointer="", code="status_not_in_queue", message=f"The queue holds these statuses: {allowed}.")
        )
    if rag is not None and rag not in set(Rag):
        problems.append(Problem(pointer="", code="rag_unknown", message="Use rag=red, amber or green."))
    if assigned is not None and assigned not in ASSIGNED_FILTERS:
        problems.append(Problem(pointer="", code="assigned_unknown", message="Use assigned=me or assigned=unassigned."))
    if not 1 <= limit <= MAX_LIMIT:
        problems.append(
            Problem(pointer="", code="limit_out_of_range", message=f"Give a limit between 1 and {MAX_LIMIT}.")
        )
    if problems:
        raise Invalid(problems=problems, summary="The queue filters have problems to correct.")


def _cursor_values(after: list[Any]) -> tuple[int, dt.datetime, uuid.UUID]:
    try:
        due = dt.datetime.fromisoformat(str(after[1]))
        if due.tzinfo is None:
            raise ValueError("naive")
        return int(after[0]), due, uuid.UUID(str(after[2]))
    except (TypeError, ValueError):
        raise invalid_cursor() from None
