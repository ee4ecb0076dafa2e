"""Holding a referral: a claim is one conditional UPDATE, so two practitioners claiming at once cannot both win."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.enums import FeedbackEventKind, ReferralStatus, Role
from schemas.tables import Referral
from schemas.types import utc_now
from triage import access, audit, feedback
from triage.auth import Caller
from triage.errors import Conflict, NotAllowed
from triage.workflow import state

MANAGING_ROLES = frozenset({Role.manager, Role.admin})


def holding(referral: Referral) -> dict[str, Any]:
    """Who holds the referral, and its status, as the claim and release calls answer."""
    return {
        "id": str(referral.id),
        "reference": referral.reference,
        "status": referral.status,
        "assigned_to": str(referral.assigned_to) if referral.assigned_to else None,
        "claimed_at": referral.claimed_at.isoformat() if referral.claimed_at else None,
    }


def held_by_other(referral: Referral) -> Conflict:
    """The 409 when another member of staff holds the referral; names the holder."""
    return Conflict(
        "Another member of staff holds this referral; ask them or a manager to release it.",
        assigned_to=str(referral.assigned_to),
    )


def claim(*, session: Session, caller: Caller, referral: Referral, now: dt.datetime | None = None) -> dict[str, Any]:
    """Hold the referral for the caller (again, if already theirs); the first claim starts triage."""
    now = now or utc_now()
    me = _user(caller)
    # Nobody else may hold it, and a decided referral is never claimed: the database decides, in one statement,
    # so concurrent claims from any number of processes serialise on the row and exactly one wins.
    stmt = (
        sa.update(Referral)
        .where(
            col(Referral.id) == referral.id,
            sa.or_(col(Referral.assigned_to).is_(None), col(Referral.assigned_to) == me),
            col(Referral.decided).is_(False),
        )
        .values(
            assigned_to=me,
            claimed_at=now,
            **state.conditional_move(source=ReferralStatus.received, to=ReferralStatus.in_triage, at=now),
        )
        .returning(col(Referral.in_triage_at), col(Referral.claimed_at))
        .execution_options(synchronize_session=False)
    )
    won = session.execute(stmt).first()
    session.refresh(referral)
    if won is None:
        if referral.decided:
            raise state.refusal(referral.status, ReferralStatus.in_triage)
        raise held_by_other(referral)
    # Both stamps come from the same value only when this claim moved the referral out of `received`.
    first_claim = won.in_triage_at == won.claimed_at
    if first_claim:
        feedback.emit(
            session=session,
            referral=referral,
            event=FeedbackEventKind.in_triage,
            message=f"Referral {referral.reference} is being triaged by the MASH.",
        )
    audit.record(
        session=session,
        caller=caller,
        action="claim",
        entity="referral",
        entity_id=referral.id,
        purpose=access.TRIAGE,
        detail={"first_claim": first_claim},
    )
    return holding(referral)


def release(*, session: Session, caller: Caller, referral: Referral) -> dict[str, Any]:
    """Let go of the referral: its holder, or a manager, may release it; not while a step-down awaits approval."""
    me = _user(caller)
    conditions = [
        col(Referral.id) == referral.id,
        col(Referral.assigned_to).is_not(None),
        col(Referral.status) != ReferralStatus.awaiting_approval,
    ]
    if caller.role not in MANAGING_ROLES:
        conditions.append(col(Referral.assigned_to) == me)
    stmt = (
        sa.update(Referral)
        .where(*conditions)
        .values(assigned_to=None, claimed_at=None)
        .returning(col(Referral.id))
        .execution_options(synchronize_session=False)
    )
    released = session.execute(stmt).first()
    session.refresh(referral)
    if released is None:
        if referral.assigned_to is None:
            raise Conflict("Nobody holds this referral.", assigned_to=None)
        if referral.status == ReferralStatus.awaiting_approval:
            raise Conflict(
                "The referral's decision is waiting for a manager's approval; it stays with the practitioner "
                "who made it until a manager approves or returns it.",
                assigned_to=str(referral.assigned_to),
            )
        raise NotAllowed("Only the member of staff holding this referral, or a manager, may release it.")
    audit.record(
        session=session,
        caller=caller,
        action="release",
        entity="referral",
        entity_id=referral.id,
        purpose=access.TRIAGE,
    )
    return holding(referral)


def require_holder(*, caller: Caller, referral: Referral) -> None:
    """409 unless the caller holds the referral (claim it first; another's hold names them)."""
    if referral.assigned_to is None:
        raise Conflict("Claim the referral before deciding it: only the member of staff holding it may decide.")
    if referral.assigned_to != caller.user_id:
        raise held_by_other(referral)


def _user(caller: Caller) -> uuid.UUID:
    if caller.user_id is None:
        raise NotAllowed("Only a member of MASH staff can hold a referral.")
    return caller.user_id
