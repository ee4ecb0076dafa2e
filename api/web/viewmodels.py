"""What the page templates show, shaped from what the triage functions return."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from api.web.templating import duration
from schemas.tables import StaffUser
from schemas.types import utc_now
from triage.views import children_of
from triage.workflow import decisions


@dataclass(frozen=True)
class Clock:
    """Time left before a decision is due, or how long it is overdue."""

    overdue: bool
    text: str


def clock(decision_due_at: str | dt.datetime, *, now: dt.datetime | None = None) -> Clock:
    """The decision clock in words: "2 hours 10 minutes left" or "Overdue by 35 minutes"."""
    due = dt.datetime.fromisoformat(decision_due_at) if isinstance(decision_due_at, str) else decision_due_at
    left = (due - (now or utc_now())).total_seconds()
    if left < 0:
        return Clock(overdue=True, text=f"Overdue by {duration(-left)}")
    return Clock(overdue=False, text=f"{duration(left)} left")


def child_age(age_or_unborn: Any) -> str:
    """An age as staff say it: "unborn", "under 1", "1 year", "9 years"."""
    if age_or_unborn == "unborn":
        return "unborn"
    if age_or_unborn is None:
        return "age not known"
    years = int(age_or_unborn)
    if years < 1:
        return "under 1"
    return f"{years} year{'s' if years != 1 else ''}"


def staff_names(session: Session, ids: Iterable[str | uuid.UUID | None]) -> dict[str, str]:
    """The names of the members of staff with these ids, for showing who holds or decided what."""
    wanted = {uuid.UUID(str(i)) for i in ids if i}
    if not wanted:
        return {}
    rows = session.execute(sa.select(col(StaffUser.id), col(StaffUser.name)).where(col(StaffUser.id).in_(wanted)))
    return {str(row.id): row.name for row in rows}


def holder_text(assigned_to: str | None, *, names: dict[str, str], me: uuid.UUID) -> str:
    """Who holds a referral, as the queue shows it."""
    if not assigned_to:
        return "Unassigned"
    if assigned_to == str(me):
        return "You"
    return names.get(assigned_to, "Another member of staff")


def queue_rows(items: list[dict[str, Any]], *, names: dict[str, str], me: uuid.UUID) -> list[dict[str, Any]]:
    """The queue's rows: each item of the queue page with its clock, children's ages and holder in words."""
    now = utc_now()
    rows = []
    for item in items:
        rows.append(
            {
                **item,
                "clock": clock(item["decision_due_at"], now=now),
                "children_text": [f"{c['name']} ({child_age(c.get('age_or_unborn'))})" for c in item["children"]],
                "holder": holder_text(item.get("assigned_to"), names=names, me=me),
                "mine": item.get("assigned_to") == str(me),
                "claimable": not item.get("assigned_to"),
            }
        )
    return rows


def approvals(session: Session, items: list[dict[str, Any]], *, me: uuid.UUID) -> list[dict[str, Any]]:
    """The step-downs waiting for a manager: each queue item with its pending decision and the children's names."""
    ids = [uuid.UUID(item["id"]) for item in items]
    children = children_of(session, ids)
    pending = decisions.awaiting_approval(session, ids)
    found = []
    for item in items:
        decision = pending.get(uuid.UUID(item["id"]))
        if decision is None:
            continue
        found.append(
            {
                **item,
                "clock": clock(item["decision_due_at"]),
                "decision": {**decision, "mine": decision["decided_by"] == str(me)},
                "child_names": {
                    str(c.id): f"{c.first_name} {c.last_name}" for c in children.get(uuid.UUID(item["id"]), [])
                },
            }
        )
    names = staff_names(session, (entry["decision"]["decided_by"] for entry in found))
    for entry in found:
        entry["decision"]["decided_by_name"] = names.get(entry["decision"]["decided_by"], "a member of staff")
    return found
