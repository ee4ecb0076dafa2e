"""Strategy discussions: social care, police and health together, and a safety plan until the conference."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.enums import Agency
from schemas.tables import Referral, StrategyDiscussion
from schemas.types import utc_now
from schemas.workflow_io import ActionIn, ParticipantIn
from triage import access, audit
from triage.auth import Caller
from triage.errors import Invalid, Problem
from triage.validation import is_placeholder

MIN_SAFETY_PLAN_LENGTH = 30
MIN_NAME_LENGTH = 2
# Working Together to Safeguard Children: a strategy discussion involves children's social care, the police and
# health at least. A health visitor, school nurse or GP speaks for health.
REQUIRED_AGENCIES: dict[str, frozenset[Agency]] = {
    "children's social care (local_authority)": frozenset({Agency.local_authority}),
    "police": frozenset({Agency.police}),
    "health (health or gp)": frozenset({Agency.health, Agency.gp}),
}


def record(
    *,
    session: Session,
    caller: Caller,
    referral: Referral,
    held_at: dt.datetime,
    participants: Sequence[ParticipantIn],
    safety_plan: str,
    actions: Sequence[ActionIn | str],
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Record a strategy discussion; 422 naming every missing agency and any other gap, all at once."""
    now = now or utc_now()
    problems = _problems(held_at=held_at, participants=participants, safety_plan=safety_plan, actions=actions, now=now)
    if problems:
        raise Invalid(problems=problems, summary="The strategy discussion record has problems to correct.")
    assert caller.user_id is not None
    discussion = StrategyDiscussion(
        referral_id=referral.id,
        held_at=held_at,
        participants=[{"agency": str(p.agency), "name": p.name.strip()} for p in participants],
        safety_plan=safety_plan.strip(),
        actions=[_action(a) for a in actions],
        recorded_by=caller.user_id,
        recorded_at=now,
    )
    session.add(discussion)
    session.flush()
    audit.record(
        session=session,
        caller=caller,
        action="strategy_discussion",
        entity="referral",
        entity_id=referral.id,
        purpose=access.TRIAGE,
        detail={
            "strategy_discussion_id": str(discussion.id),
            "agencies": sorted({str(p.agency) for p in participants}),
            "actions": len(actions),
        },
    )
    return discussion_view(discussion)


def for_referral(session: Session, referral_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every strategy discussion about a referral, in the order they were held (for the staff view)."""
    stmt = (
        sa.select(StrategyDiscussion)
        .where(col(StrategyDiscussion.referral_id) == referral_id)
        .order_by(col(StrategyDiscussion.held_at), col(StrategyDiscussion.id))
    )
    return [discussion_view(d) for d in session.execute(stmt).scalars()]


def discussion_view(discussion: StrategyDiscussion) -> dict[str, Any]:
    """A strategy discussion as staff see it."""
    return {
        "id": str(discussion.id),
        "referral_id": str(discussion.referral_id),
        "held_at": discussion.held_at.isoformat(),
        "participants": discussion.participants,
        "safety_plan": discussion.safety_plan,
        "actions": discussion.actions,
        "recorded_by": str(discussion.recorded_by),
        "recorded_at": discussion.recorded_at.isoformat(),
    }


def _action(action: ActionIn | str) -> dict[str, Any]:
    if isinstance(action, str):
        return {"action": action.strip(), "owner": None, "due_by": None}
    return {
        "action": action.action.strip(),
        "owner": action.owner.strip() if action.owner else None,
        "due_by": action.due_by.isoformat() if action.due_by else None,
    }


def _problems(
    *,
    held_at: dt.datetime,
    participants: Sequence[ParticipantIn],
    safety_plan: str,
    actions: Sequence[ActionIn | str],
    now: dt.datetime,
) -> list[Problem]:
    problems = []
    if held_at > now:
        problems.append(
            Problem(
                pointer="/held_at",
                code="held_at_in_future",
                message="Record a strategy discussion once it has been held: held_at is in the future.",
            )
        )
    present = {p.agency for p in participants}
    missing = [name for name, agencies in REQUIRED_AGENCIES.items() if not present & agencies]
    if missing:
        problems.append(
            Problem(
                pointer="/participants",
                code="strategy_participants_missing",
                message=f"A strategy discussion needs children's social care, police and health; missing: "
                f"{', '.join(missing)}. Hold it with them, then record who took part.",
            )
        )
    for index, participant in enumerate(participants):
        if len(participant.name.strip()) < MIN_NAME_LENGTH:
            problems.append(
                Problem(
                    pointer=f"/participants/{index}/name",
                    code="participant_name_missing",
                    message="Give the name of the person who took part.",
                )
            )
    plan = safety_plan.strip()
    if len(plan) < MIN_SAFETY_PLAN_LENGTH or is_placeholder(plan):
        problems.append(
            Problem(
                pointer="/safety_plan",
                code="safety_plan_missing",
                message="Write the safety plan: what keeps the child safe until the conference, who does what "
                "and by when.",
            )
        )
    for index, action in enumerate(actions):
        text = action if isinstance(action, str) else action.action
        if not text.strip() or is_placeholder(text):
            problems.append(
                Problem(
                    pointer=f"/actions/{index}" + ("" if isinstance(action, str) else "/action"),
                    code="action_missing",
                    message="Say what was agreed: the action, and who will do it.",
                )
            )
    return problems
