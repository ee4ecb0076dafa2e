"""What MASH staff did with a simulated referral by now: claims, information requests, decisions, approvals,
strategy discussions, feedback to the referrer and closing, as the workflow in triage/workflow stores them."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from typing import Any, cast

from schemas.enums import OUTCOME_RANK, FeedbackEventKind, InformationRequestStatus, Outcome, Rag, ReferralStatus
from schemas.tables import Child
from triage.simulate.rows import Batch, Sender, Stored, audit_row, feedback_row, new_id
from triage.workflow.decisions import DecisionState, referrer_outcome

HOUR = dt.timedelta(hours=1)
ON_TIME = {Rag.red: 0.9, Rag.amber: 0.85, Rag.green: 0.88}
BY_RANK: dict[int, list[str]] = {}
for _outcome, _rank in OUTCOME_RANK.items():
    BY_RANK.setdefault(_rank, []).append(str(_outcome))
FEEDBACK = (
    "Thank you for your referral. We have decided what happens next for each child; the outcome is below.",
    "Thank you. After checking the children's history with partners we have decided the next steps below.",
)
SAFETY_PLAN = "The child stays with the grandmother, who agrees to keep the father away until the conference."
QUESTION = "Please tell us what you know about the family's circumstances and any recent contact."
ANSWER = "We saw the family last month; the children were clean and well and attended their appointments."


@dataclass(frozen=True)
class Staff:
    """Simulated MASH staff: practitioners decide, managers approve red step-downs."""

    practitioners: list[uuid.UUID]
    managers: list[uuid.UUID]


@dataclass
class Drift:
    """How many referrals are left undecided long after they were due (kept few, as in a MASH that copes)."""

    allowed: int
    used: int = 0


def _user(user_id: uuid.UUID, role: str) -> tuple[str, uuid.UUID, uuid.UUID | None, str]:
    return ("user", user_id, None, role)


def _choose_outcome(recommended: str, rng: random.Random) -> str:
    """Mostly the rules' recommendation; sometimes lower (a step-down) or higher."""
    rank = OUTCOME_RANK[Outcome(recommended)]
    draw = rng.random()
    if draw < 0.1 and rank > 0:
        return rng.choice(BY_RANK[max(0, rank - rng.choice((1, 1, 2)))])
    if draw < 0.14 and rank < 4:
        return rng.choice(BY_RANK[rank + 1])
    return recommended


def _when_decided(referral: dict[str, Any], rng: random.Random) -> dt.datetime:
    received, due = referral["received_at"], referral["decision_due_at"]
    if rng.random() < ON_TIME[Rag(referral["rag"])]:
        return received + (due - received) * rng.uniform(0.15, 1.0)
    return due + dt.timedelta(hours=rng.expovariate(1 / 12))


def simulate_workflow(
    *,
    batch: Batch,
    stored: Stored,
    staff: Staff,
    senders: list[Sender],
    now: dt.datetime,
    rng: random.Random,
    drift: Drift,
) -> None:
    """Add what happened to the referral between its receipt and NOW."""
    referral, children = stored.referral, stored.children
    received, reference = referral["received_at"], referral["reference"]
    decided_at = _when_decided(referral, rng)
    if decided_at > referral["decision_due_at"] + 2 * HOUR and drift.used < drift.allowed and rng.random() < 0.01:
        drift.used += 1
        decided_at = now + 365 * 24 * HOUR
    red = referral["rag"] == Rag.red
    claimed_at = received + min(dt.timedelta(hours=rng.expovariate(1.5 if red else 0.4)), (decided_at - received) / 2)
    if claimed_at > now:
        return
    practitioner = rng.choice(staff.practitioners)
    referral.update(
        status=str(ReferralStatus.in_triage), in_triage_at=claimed_at, assigned_to=practitioner, claimed_at=claimed_at
    )
    _told_and_audited(
        batch,
        referral,
        FeedbackEventKind.in_triage,
        at=claimed_at,
        message=f"Referral {reference} is being triaged by the MASH.",
        practitioner=practitioner,
        action="claim",
        detail={"first_claim": True},
    )
    if rng.random() < (0.05 if red else 0.12):
        _information_request(
            batch,
            referral,
            staff=practitioner,
            senders=senders,
            asked_at=claimed_at + HOUR / 4,
            decided_at=decided_at,
            now=now,
            rng=rng,
        )
    if decided_at > now:
        return
    _decide(batch, stored, practitioner=practitioner, staff=staff, decided_at=decided_at, rng=rng)
    strategy = any(child["outcome"] == Outcome.strategy_discussion for child in children)
    held_at = decided_at + dt.timedelta(hours=rng.uniform(1, 24))
    if strategy and rng.random() < 0.7 and held_at + HOUR <= now:
        _strategy_discussion(batch, referral, practitioner=practitioner, held_at=held_at)
    closed_at = decided_at + dt.timedelta(days=rng.uniform(3, 20))
    if closed_at <= now and rng.random() < 0.5:
        referral.update(status=str(ReferralStatus.closed), closed_at=closed_at)
        _told_and_audited(
            batch,
            referral,
            FeedbackEventKind.closed,
            at=closed_at,
            message=f"Referral {reference} is closed at the MASH front door.",
            practitioner=practitioner,
            action="close",
        )


def _told_and_audited(
    batch: Batch,
    referral: dict[str, Any],
    kind: FeedbackEventKind,
    *,
    at: dt.datetime,
    message: str,
    practitioner: uuid.UUID,
    action: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """A practitioner's step that the referrer is told about: its feedback event and its audit row."""
    batch.add("feedback_event", feedback_row(referral, kind, at, message))
    batch.add(
        "audit_event",
        audit_row(
            at=at, actor=_user(practitioner, "practitioner"), action=action, referral_id=referral["id"], detail=detail
        ),
    )


def _information_request(
    batch: Batch,
    referral: dict[str, Any],
    *,
    staff: uuid.UUID,
    senders: list[Sender],
    asked_at: dt.datetime,
    decided_at: dt.datetime,
    now: dt.datetime,
    rng: random.Random,
) -> None:
    if asked_at >= min(decided_at, now):
        return
    own = rng.random() < 0.3
    addressed = referral["organisation_id"] if own else rng.choice(senders).organisation_id
    answered_at = asked_at + (min(decided_at, now) - asked_at) * rng.uniform(0.2, 0.95)
    answered = rng.random() < 0.85
    key = next((s.key_id for s in senders if s.organisation_id == addressed), None)
    request_id = new_id()
    batch.add(
        "information_request",
        {
            "id": request_id,
            "referral_id": referral["id"],
            "organisation_id": addressed,
            "question": QUESTION,
            "due_at": referral["decision_due_at"],
            "status": str(InformationRequestStatus.answered if answered else InformationRequestStatus.open),
            "asked_by": staff,
            "asked_at": asked_at,
            "response": ANSWER if answered else None,
            "answered_at": answered_at if answered else None,
            "answered_by_key": key if answered else None,
        },
    )
    referral.update(status=str(ReferralStatus.awaiting_information), awaiting_information_at=asked_at)
    if own:
        message = (
            f"The MASH has asked your organisation for more information about referral {referral['reference']}. "
            "Answer it through GET /v1/information-requests?status=open."
        )
        batch.add("feedback_event", feedback_row(referral, FeedbackEventKind.information_requested, asked_at, message))
    batch.add(
        "audit_event",
        audit_row(
            at=asked_at,
            actor=_user(staff, "practitioner"),
            action="information_requested",
            referral_id=referral["id"],
            detail={"information_request_id": str(request_id), "organisation_id": str(addressed)},
        ),
    )
    if answered:
        referral.update(status=str(ReferralStatus.in_triage), in_triage_at=answered_at)
        batch.add(
            "audit_event",
            audit_row(
                at=answered_at,
                actor=("organisation", addressed, addressed, "referrer"),
                action="information_answered",
                referral_id=referral["id"],
                detail={"information_request_id": str(request_id)},
            ),
        )


def _decide(
    batch: Batch,
    stored: Stored,
    *,
    practitioner: uuid.UUID,
    staff: Staff,
    decided_at: dt.datetime,
    rng: random.Random,
) -> None:
    referral, children = stored.referral, stored.children
    outcomes = []
    for child in children:
        outcome = _choose_outcome(child["pathway"], rng)
        step_down = OUTCOME_RANK[Outcome(outcome)] < OUTCOME_RANK[Outcome(child["pathway"])]
        outcomes.append(
            {
                "child_id": str(child["id"]),
                "outcome": outcome,
                "recommended": child["pathway"],
                "step_down": step_down,
                "rationale": "The history and the partners' information support this outcome for the child.",
                "override_reason": "Support from the school and the family's own network keeps the child safe."
                if step_down
                else None,
            }
        )
        child.update(outcome=outcome, step_down=step_down)
    step_down = any(item["step_down"] for item in outcomes)
    approval = step_down and referral["rag"] == Rag.red
    # A red step-down waits for a manager: the referral is decided when it is approved.
    practitioner_at = decided_at
    if approval:
        practitioner_at = max(referral["claimed_at"], decided_at - dt.timedelta(minutes=rng.uniform(20, 90)))
    decision_id = new_id()
    manager = rng.choice(staff.managers)
    feedback_text = rng.choice(FEEDBACK)
    batch.add(
        "decision",
        {
            "id": decision_id,
            "referral_id": referral["id"],
            "decided_by": practitioner,
            "decided_at": practitioner_at,
            "outcomes": outcomes,
            "feedback": feedback_text,
            "step_down": step_down,
            "state": DecisionState.approved if approval else DecisionState.final,
            "reviewed_by": manager if approval else None,
            "reviewed_at": decided_at if approval else None,
            "review_comment": None,
        },
    )
    referral.update(
        status=str(ReferralStatus.decided),
        decided=True,
        decided_at=decided_at,
        decided_on_time=decided_at <= referral["decision_due_at"],
        awaiting_approval_at=practitioner_at if approval else None,
        told=True,
    )
    batch.add(
        "audit_event",
        audit_row(
            at=practitioner_at,
            actor=_user(practitioner, "practitioner"),
            action="decide",
            referral_id=referral["id"],
            detail={
                "decision_id": str(decision_id),
                "outcomes": [item["outcome"] for item in outcomes],
                "step_down": step_down,
                "awaiting_approval": approval,
            },
        ),
    )
    if approval:
        batch.add(
            "audit_event",
            audit_row(
                at=decided_at,
                actor=_user(manager, "manager"),
                action="approve",
                referral_id=referral["id"],
                detail={"decision_id": str(decision_id)},
            ),
        )
    told = [referrer_outcome(cast(Child, _Named(c["first_name"], c["last_name"])), c["outcome"]) for c in children]
    batch.add(
        "feedback_event", feedback_row(referral, FeedbackEventKind.decision_made, decided_at, feedback_text, told)
    )


@dataclass(frozen=True)
class _Named:
    """The two fields referrer_outcome reads from a child."""

    first_name: str
    last_name: str


def _strategy_discussion(
    batch: Batch, referral: dict[str, Any], *, practitioner: uuid.UUID, held_at: dt.datetime
) -> None:
    discussion_id = uuid.uuid5(referral["id"], "strategy-discussion")
    participants = [
        {"agency": "local_authority", "name": "Social worker"},
        {"agency": "police", "name": "Detective sergeant"},
        {"agency": "health", "name": "Named nurse"},
    ]
    actions = [{"action": "Section 47 enquiries by children's social care", "owner": "Social worker", "due_by": None}]
    batch.add(
        "strategy_discussion",
        {
            "id": discussion_id,
            "referral_id": referral["id"],
            "held_at": held_at,
            "participants": participants,
            "safety_plan": SAFETY_PLAN,
            "actions": actions,
            "recorded_by": practitioner,
            "recorded_at": held_at + HOUR,
        },
    )
    batch.add(
        "audit_event",
        audit_row(
            at=held_at + HOUR,
            actor=_user(practitioner, "practitioner"),
            action="strategy_discussion",
            referral_id=referral["id"],
            detail={
                "strategy_discussion_id": str(discussion_id),
                "agencies": ["health", "local_authority", "police"],
                "actions": 1,
            },
        ),
    )
