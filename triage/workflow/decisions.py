"""Decisions: an outcome per child by the holder, a manager's approval for a red step-down, and closing."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.enums import OUTCOME_RANK, FeedbackEventKind, Outcome, Rag, ReferralStatus
from schemas.tables import Child, Decision, Referral
from schemas.types import utc_now
from schemas.workflow_io import ChildOutcomeIn
from triage import access, audit, feedback
from triage.auth import Caller
from triage.errors import Conflict, Invalid, NotAllowed, Problem
from triage.validation import is_placeholder
from triage.workflow import state
from triage.workflow.claims import require_holder

MIN_RATIONALE_LENGTH = 10


class DecisionState:
    """Where a decision stands: final at once, or a step-down waiting for a manager."""

    final = "final"
    awaiting_approval = "awaiting_approval"
    approved = "approved"
    returned = "returned"


# What the referrer is told will happen next for each outcome.
NEXT_STEPS: dict[Outcome, str] = {
    Outcome.no_further_action: "No further action by children's social care.",
    Outcome.universal_services: "The child's needs can be met by universal services such as school, GP and "
    "health visiting; no further action by children's social care.",
    Outcome.early_help: "The family will be offered early help support, with their consent.",
    Outcome.section_17_assessment: "A social worker will carry out a child and family assessment (section 17, "
    "Children Act 1989).",
    Outcome.strategy_discussion: "A multi-agency strategy discussion will be held (section 47 enquiries).",
    Outcome.immediate_protection: "Immediate action is being taken to protect the child.",
}


def decide(
    *,
    session: Session,
    caller: Caller,
    referral: Referral,
    outcomes: Sequence[ChildOutcomeIn],
    feedback_text: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Record the holder's decision; a step-down on a red referral waits for approval, anything else is final."""
    now = now or utc_now()
    # Lock first: two decisions (or a decision and a release) on one referral are applied one after the other.
    session.refresh(referral, with_for_update=True)
    require_holder(caller=caller, referral=referral)
    children = _children(session, referral.id)
    decided = _checked_outcomes(children, outcomes, feedback_text)
    step_down = any(item["step_down"] for item in decided)
    needs_approval = step_down and referral.rag == Rag.red
    target = ReferralStatus.awaiting_approval if needs_approval else ReferralStatus.decided
    if not state.can_move(referral.status, target):
        raise state.refusal(referral.status, target)
    assert caller.user_id is not None
    decision = Decision(
        referral_id=referral.id,
        decided_by=caller.user_id,
        decided_at=now,
        outcomes=decided,
        feedback=feedback_text.strip(),
        step_down=step_down,
        state=DecisionState.awaiting_approval if needs_approval else DecisionState.final,
    )
    session.add(decision)
    if needs_approval:
        state.transition(referral=referral, to=ReferralStatus.awaiting_approval, at=now)
        session.add(referral)
        session.flush()
    else:
        _make_final(session=session, referral=referral, decision=decision, children=children, at=now)
    audit.record(
        session=session,
        caller=caller,
        action="decide",
        entity="referral",
        entity_id=referral.id,
        purpose=access.TRIAGE,
        detail={
            "decision_id": str(decision.id),
            "outcomes": [item["outcome"] for item in decided],
            "step_down": step_down,
            "awaiting_approval": needs_approval,
        },
    )
    return decision_view(decision, referral=referral)


def approve(*, session: Session, caller: Caller, referral: Referral, now: dt.datetime | None = None) -> dict[str, Any]:
    """A manager approves a red step-down: the decision becomes final and the referrer is told."""
    now = now or utc_now()
    decision = _review(session=session, caller=caller, referral=referral, outcome=DecisionState.approved, at=now)
    _make_final(session=session, referral=referral, decision=decision, children=_children(session, referral.id), at=now)
    audit.record(
        session=session,
        caller=caller,
        action="approve",
        entity="referral",
        entity_id=referral.id,
        purpose=access.OVERSIGHT,
        detail={"decision_id": str(decision.id)},
    )
    return decision_view(decision, referral=referral)


def return_to_practitioner(
    *, session: Session, caller: Caller, referral: Referral, comment: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """A manager sends a red step-down back to the practitioner holding it, with a comment kept on the decision."""
    now = now or utc_now()
    if not comment.strip() or is_placeholder(comment):
        raise Invalid(
            problems=[
                Problem(
                    pointer="/comment",
                    code="comment_missing",
                    message="Say what the practitioner should reconsider or find out before deciding again.",
                )
            ],
            summary="The return has problems to correct.",
        )
    decision = _review(session=session, caller=caller, referral=referral, outcome=DecisionState.returned, at=now)
    decision.review_comment = comment.strip()
    state.transition(referral=referral, to=ReferralStatus.in_triage, at=now)
    session.add_all([decision, referral])
    session.flush()
    audit.record(
        session=session,
        caller=caller,
        action="return",
        entity="referral",
        entity_id=referral.id,
        purpose=access.OVERSIGHT,
        detail={"decision_id": str(decision.id)},
    )
    return decision_view(decision, referral=referral)


def _review(*, session: Session, caller: Caller, referral: Referral, outcome: str, at: dt.datetime) -> Decision:
    """The decision waiting for approval, locked and marked approved or returned by this manager (never its maker)."""
    session.refresh(referral, with_for_update=True)
    if referral.status != ReferralStatus.awaiting_approval:
        raise Conflict(f"There is no decision waiting for approval: the referral is {referral.status}.")
    decision = _pending(session, referral.id)
    if decision.decided_by == caller.user_id:
        verb = "approval" if outcome == DecisionState.approved else "review"
        raise NotAllowed(f"A step-down needs another manager's {verb}: you made this decision yourself.")
    decision.state = outcome
    decision.reviewed_by = caller.user_id
    decision.reviewed_at = at
    return decision


def close(*, session: Session, caller: Caller, referral: Referral, now: dt.datetime | None = None) -> dict[str, Any]:
    """Close a decided referral; the referrer is told."""
    now = now or utc_now()
    session.refresh(referral, with_for_update=True)
    state.transition(referral=referral, to=ReferralStatus.closed, at=now)
    session.add(referral)
    session.flush()
    feedback.emit(
        session=session,
        referral=referral,
        event=FeedbackEventKind.closed,
        message=f"Referral {referral.reference} is closed at the MASH front door.",
    )
    audit.record(
        session=session, caller=caller, action="close", entity="referral", entity_id=referral.id, purpose=access.TRIAGE
    )
    assert referral.closed_at is not None
    return {"id": str(referral.id), "reference": referral.reference, "status": referral.status,
            "closed_at": referral.closed_at.isoformat()}  # fmt: skip


def for_referral(session: Session, referral_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every decision on a referral, oldest first, with approvals and returns (for the staff view)."""
    stmt = (
        sa.select(Decision)
        .where(col(Decision.referral_id) == referral_id)
        .order_by(col(Decision.decided_at), col(Decision.id))
    )
    return [decision_view(decision) for decision in session.execute(stmt).scalars()]


def decision_view(decision: Decision, *, referral: Referral | None = None) -> dict[str, Any]:
    """A decision as staff see it."""
    view: dict[str, Any] = {
        "id": str(decision.id),
        "referral_id": str(decision.referral_id),
        "state": decision.state,
        "decided_by": str(decision.decided_by),
        "decided_at": decision.decided_at.isoformat(),
        "outcomes": decision.outcomes,
        "feedback": decision.feedback,
        "step_down": decision.step_down,
        "reviewed_by": str(decision.reviewed_by) if decision.reviewed_by else None,
        "reviewed_at": decision.reviewed_at.isoformat() if decision.reviewed_at else None,
        "review_comment": decision.review_comment,
    }
    if referral is not None:
        view["referral_status"] = referral.status
        view["decided_on_time"] = referral.decided_on_time
    return view


def referrer_outcome(child: Child, outcome: str) -> dict[str, str]:
    """One child's outcome as the referrer is told it: first name and surname initial only."""
    initial = child.last_name.strip()[:1].upper()
    return {
        "child": f"{child.first_name} {initial}." if initial else child.first_name,
        "outcome": outcome,
        "next_steps": NEXT_STEPS[Outcome(outcome)],
    }


def _make_final(
    *, session: Session, referral: Referral, decision: Decision, children: list[Child], at: dt.datetime
) -> None:
    """Set each child's outcome, stamp the decision time and whether it met the clock, and tell the referrer."""
    state.transition(referral=referral, to=ReferralStatus.decided, at=at)
    referral.decided_on_time = at <= referral.decision_due_at
    # Told below, in this transaction: the reports count it from the referral.
    referral.told = True
    by_child = {uuid.UUID(item["child_id"]): item for item in decision.outcomes}
    for child in children:
        item = by_child[child.id]
        child.outcome = item["outcome"]
        child.step_down = item["step_down"]
    session.add_all([referral, decision, *children])
    session.flush()
    feedback.emit(
        session=session,
        referral=referral,
        event=FeedbackEventKind.decision_made,
        # The practitioner's words for the referrer; never the rationale, the rating or staff notes.
        message=decision.feedback,
        outcomes=[referrer_outcome(child, by_child[child.id]["outcome"]) for child in children],
    )


def _pending(session: Session, referral_id: uuid.UUID) -> Decision:
    stmt = (
        sa.select(Decision)
        .where(col(Decision.referral_id) == referral_id, col(Decision.state) == DecisionState.awaiting_approval)
        .order_by(col(Decision.decided_at).desc())
        .limit(1)
    )
    decision = session.execute(stmt).scalar_one_or_none()
    if decision is None:
        raise Conflict("There is no decision waiting for approval on this referral.")
    return decision


def _children(session: Session, referral_id: uuid.UUID) -> list[Child]:
    stmt = sa.select(Child).where(col(Child.referral_id) == referral_id).order_by(col(Child.position))
    return list(session.execute(stmt).scalars())


def _checked_outcomes(
    children: list[Child], outcomes: Sequence[ChildOutcomeIn], feedback_text: str
) -> list[dict[str, Any]]:
    """Every child exactly one outcome, with a rationale, and an override reason for each step-down; 422 listing all."""
    known = {child.id: child for child in children}
    problems: list[Problem] = []
    seen: set[uuid.UUID] = set()
    decided = []
    for index, item in enumerate(outcomes):
        base = f"/outcomes/{index}"
        child = known.get(item.child_id)
        if child is None:
            problems.append(
                Problem(
                    pointer=f"{base}/child_id",
                    code="child_not_in_referral",
                    message="This child is not in the referral: use the children's ids from the staff view.",
                )
            )
            continue
        if item.child_id in seen:
            problems.append(
                Problem(
                    pointer=f"{base}/child_id",
                    code="child_outcome_repeated",
                    message="Give each child exactly one outcome: this child already has one above.",
                )
            )
            continue
        seen.add(item.child_id)
        if len(item.rationale.strip()) < MIN_RATIONALE_LENGTH or is_placeholder(item.rationale):
            problems.append(
                Problem(
                    pointer=f"{base}/rationale",
                    code="rationale_missing",
                    message="Record why this outcome is right for this child, in a sentence or more.",
                )
            )
        recommended = Outcome(child.pathway)
        step_down = OUTCOME_RANK[item.outcome] < OUTCOME_RANK[recommended]
        override = (item.override_reason or "").strip()
        if step_down and (len(override) < MIN_RATIONALE_LENGTH or is_placeholder(override)):
            problems.append(
                Problem(
                    pointer=f"{base}/override_reason",
                    code="override_reason_missing",
                    message=f"{item.outcome} is below the rules' recommendation of {recommended} for this child: "
                    "record why a lower outcome is safe (the override reason).",
                )
            )
        decided.append(
            {
                "child_id": str(child.id),
                "outcome": str(item.outcome),
                "recommended": str(recommended),
                "step_down": step_down,
                "rationale": item.rationale.strip(),
                "override_reason": override or None,
            }
        )
    missing = [str(child.id) for child in children if child.id not in seen]
    if missing:
        problems.append(
            Problem(
                pointer="/outcomes",
                code="child_outcome_missing",
                message=f"Every child needs an outcome; these children have none: {', '.join(missing)}.",
            )
        )
    if not feedback_text.strip() or is_placeholder(feedback_text):
        problems.append(
            Problem(
                pointer="/feedback",
                code="feedback_missing",
                message="Write what the referrer should be told about the decision and what happens next.",
            )
        )
    if problems:
        raise Invalid(
            problems=problems, summary="The decision has problems to correct; each error says what to record."
        )
    return decided


def awaiting_approval(session: Session, referral_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The latest decision waiting for a manager on each of REFERRAL_IDS that has one, in one query."""
    if not referral_ids:
        return {}
    stmt = (
        sa.select(Decision)
        .where(col(Decision.referral_id).in_(referral_ids), col(Decision.state) == DecisionState.awaiting_approval)
        .order_by(col(Decision.decided_at), col(Decision.id))
    )
    return {decision.referral_id: decision_view(decision) for decision in session.execute(stmt).scalars()}
