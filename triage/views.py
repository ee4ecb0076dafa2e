"""What each caller is shown of a referral: the referrer's view, and the fuller staff view."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.enums import FeedbackEventKind, ReferralStatus
from schemas.tables import AuditEvent, Child, FeedbackEvent, Organisation, Referral, ReferralConcern, StaffUser
from triage import access, audit
from triage.auth import Caller
from triage.errors import Invalid, Problem
from triage.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, invalid_cursor
from triage.workflow import decisions, information_requests, state, strategy
from triage.workflow import history as workflow_history

# The staff view shows the latest of a referral's audit events; managers read the whole trail through /v1/audit.
AUDIT_TRAIL_LIMIT = 200


def children_of(session: Session, referral_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Child]]:
    """The children of several referrals, in their submitted order, in one query."""
    found: dict[uuid.UUID, list[Child]] = {rid: [] for rid in referral_ids}
    if referral_ids:
        rows = session.execute(
            sa.select(Child)
            .where(col(Child.referral_id).in_(referral_ids))
            .order_by(col(Child.referral_id), col(Child.position))
        ).scalars()
        for child in rows:
            found[child.referral_id].append(child)
    return found


def concerns_of(session: Session, referral_id: uuid.UUID) -> list[str]:
    """The concern categories of a referral."""
    stmt = (
        sa.select(col(ReferralConcern.category))
        .where(col(ReferralConcern.referral_id) == referral_id)
        .order_by(col(ReferralConcern.category))
    )
    return list(session.execute(stmt).scalars())


def shared_outcomes(session: Session, referral_id: uuid.UUID) -> list[dict[str, Any]] | None:
    """The outcomes already told to the referrer (from the latest decision_made event)."""
    stmt = (
        sa.select(col(FeedbackEvent.outcomes))
        .where(
            col(FeedbackEvent.referral_id) == referral_id, col(FeedbackEvent.event) == FeedbackEventKind.decision_made
        )
        .order_by(col(FeedbackEvent.id).desc())
        .limit(1)
    )
    return session.execute(stmt).scalar_one_or_none()


def referrer_status(referral: Referral) -> str:
    """The status shown to a referrer: a step-down awaiting approval is still in triage to them."""
    if referral.status == ReferralStatus.awaiting_approval:
        return ReferralStatus.in_triage
    return referral.status


def referrer_view(*, session: Session, referral: Referral) -> dict[str, Any]:
    """What the referring organisation sent, its status and the outcomes shared with it: no rating, no notes."""
    children = children_of(session, [referral.id])[referral.id]
    return {
        "id": str(referral.id),
        "reference": referral.reference,
        "status": referrer_status(referral),
        "received_at": referral.received_at.isoformat(),
        "decision_due_at": referral.decision_due_at.isoformat(),
        "referrer": referral.referrer,
        "immediate_danger": referral.immediate_danger,
        "concerns": {
            "categories": concerns_of(session, referral.id),
            "indicators": referral.indicators or [],
            "summary": referral.concerns_summary,
        },
        "children": [child.details for child in children],
        "household": referral.household or [],
        "consent": referral.consent,
        "agency_details": referral.agency_details,
        "outcomes": shared_outcomes(session, referral.id),
        "feedback_url": f"/v1/referrals/{referral.id}/feedback",
    }


def triage_summary(referral: Referral | Child, version: int) -> dict[str, Any]:
    """A rating and the rules that produced it."""
    return {
        "level": referral.level,
        "rag": referral.rag,
        "pathway": referral.pathway,
        "rule_set_version": version,
        "reasons": referral.reasons or [],
    }


def staff_view(*, session: Session, referral: Referral) -> dict[str, Any]:
    """The referrer's view plus the rating and its reasons, each child's history, and the MASH's own work on it."""
    view = referrer_view(session=session, referral=referral)
    view["status"] = referral.status
    view["agency"] = referral.agency
    view["organisation_id"] = str(referral.organisation_id)
    view["assigned_to"] = str(referral.assigned_to) if referral.assigned_to else None
    view["claimed_at"] = _iso(referral.claimed_at)
    view["status_times"] = {str(status): _iso(getattr(referral, column)) for status, column in state.ENTERED_AT.items()}
    view["decided_on_time"] = referral.decided_on_time
    view["triage"] = triage_summary(referral, referral.rule_set_version)
    children = children_of(session, [referral.id])[referral.id]
    previous = workflow_history.previous_referrals(session, [child.id for child in children])
    view["children"] = [
        {
            **child.details,
            "id": str(child.id),
            "triage": triage_summary(child, referral.rule_set_version),
            "outcome": child.outcome,
            "step_down": child.step_down,
            "previous_referrals": previous[child.id],
        }
        for child in children
    ]
    view["information_requests"] = information_requests.for_referral(session, referral.id)
    view["decisions"] = decisions.for_referral(session, referral.id)
    view["strategy_discussions"] = strategy.for_referral(session, referral.id)
    view["audit_trail"] = audit_trail(session, referral.id)
    return view


def audit_trail(session: Session, referral_id: uuid.UUID, *, limit: int = AUDIT_TRAIL_LIMIT) -> dict[str, Any]:
    """The most recent audit events of a referral, oldest first, with who acted (managers read all via /v1/audit)."""
    stmt = (
        sa.select(AuditEvent, col(StaffUser.name), col(Organisation.name))
        .outerjoin(StaffUser, col(StaffUser.id) == col(AuditEvent.actor_id))
        .outerjoin(Organisation, col(Organisation.id) == col(AuditEvent.actor_id))
        .where(col(AuditEvent.entity) == "referral", col(AuditEvent.entity_id) == str(referral_id))
        .order_by(col(AuditEvent.id).desc())
        .limit(limit + 1)
    )
    rows = session.execute(stmt).all()
    events = [
        {
            "at": event.at.isoformat(),
            "action": event.action,
            "actor_kind": event.actor_kind,
            "actor_id": str(event.actor_id) if event.actor_id else None,
            "actor_name": user_name or organisation_name,
            "role": event.role,
            "purpose": event.purpose,
            "detail": event.detail,
        }
        for event, user_name, organisation_name in rows[:limit]
    ]
    events.reverse()
    return {"events": events, "earlier_events_not_shown": len(rows) > limit}


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def read_referral(*, session: Session, caller: Caller, referral: Referral) -> dict[str, Any]:
    """The view of one referral the caller is entitled to, with the read audited."""
    purpose = access.reading_purpose(caller)
    audit.record(
        session=session, caller=caller, action="read", entity="referral", entity_id=referral.id, purpose=purpose
    )
    if not caller.is_staff:
        return referrer_view(session=session, referral=referral)
    view = staff_view(session=session, referral=referral)
    # Each child's earlier referrals are shown beside this one (date, agency, concerns, rating, outcome): that is a
    # consultation of those records too, and belongs on their own audit trails.
    earlier = sorted({entry["referral_id"] for child in view["children"] for entry in child["previous_referrals"]})
    audit.record_many(
        session=session,
        caller=caller,
        action="read_history",
        entity="referral",
        entity_ids=earlier,
        purpose=purpose,
        detail={"via": "referral", "referral_id": str(referral.id)},
    )
    return view


def list_referrals(
    *, session: Session, caller: Caller, status: str | None, cursor: str | None, limit: int = DEFAULT_LIMIT
) -> dict[str, Any]:
    """A page of the referrals the caller may see, newest first."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(
            problems=[
                Problem(pointer="", code="limit_out_of_range", message=f"Give a limit between 1 and {MAX_LIMIT}.")
            ]
        )
    stmt = access.readable_referrals(caller)
    if status is not None:
        if status not in set(ReferralStatus):
            raise Invalid(
                problems=[
                    Problem(
                        pointer="",
                        code="status_unknown",
                        message=f"Use one of these statuses: {', '.join(ReferralStatus)}.",
                    )
                ]
            )
        stmt = stmt.where(col(Referral.status) == status)
    after = decode_cursor(cursor, size=2)
    if after is not None:
        stmt = stmt.where(
            sa.tuple_(col(Referral.received_at), col(Referral.id)) < (_parse_ts(after[0]), uuid.UUID(str(after[1])))
        )
    stmt = stmt.order_by(col(Referral.received_at).desc(), col(Referral.id).desc()).limit(limit + 1)
    rows: list[Referral] = list(session.execute(stmt).scalars())
    page, more = rows[:limit], len(rows) > limit
    children = children_of(session, [r.id for r in page])
    items = []
    for referral in page:
        item: dict[str, Any] = {
            "id": str(referral.id),
            "reference": referral.reference,
            "status": referral.status if caller.is_staff else referrer_status(referral),
            "received_at": referral.received_at.isoformat(),
            "decision_due_at": referral.decision_due_at.isoformat(),
            "children": [{"name": f"{c.first_name} {c.last_name}"} for c in children[referral.id]],
        }
        if caller.is_staff:
            item.update({"rag": referral.rag, "level": referral.level, "agency": referral.agency})
        items.append(item)
    audit.record_many(
        session=session,
        caller=caller,
        action="list",
        entity="referral",
        entity_ids=[r.id for r in page],
        purpose=access.reading_purpose(caller),
    )
    last = page[-1] if page else None
    return {
        "items": items,
        "next_cursor": encode_cursor([last.received_at.isoformat(), str(last.id)]) if more and last else None,
    }


def _parse_ts(value: Any) -> Any:
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise invalid_cursor() from None
