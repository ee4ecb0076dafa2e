"""Staff work on one referral: hold it, ask partners, decide, approve or return, close, record a strategy discussion."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CurrentReferral, ManagerDep, NoBody, SessionDep, StaffDep
from api.openapi_docs import INFORMATION_REQUEST_EXAMPLE
from schemas.workflow_io import DecisionIn, InformationRequestIn, ReturnIn, StrategyDiscussionIn
from triage.workflow import claims, decisions, information_requests, strategy

router = APIRouter(prefix="/v1/referrals", tags=["triage workflow"])

# The role dependency comes before CurrentReferral in each signature, so a caller without the role gets 403
# whatever the referral id, and never learns whether it exists.

HOLDING_EXAMPLE = {
    "id": "6f1c1d3e-9f0a-4c55-8a61-0f0e7b1f2a3b",
    "reference": "MASH-2026-000123",
    "status": "in_triage",
    "assigned_to": "0b7c6f1e-2f4e-4f5e-9b1a-1d2c3b4a5f6e",
    "claimed_at": "2026-11-28T10:20:00+00:00",
}
HELD_BY_OTHER = {
    "description": "Another member of staff holds it (`assigned_to` names them), or it is already decided",
    "content": {
        "application/problem+json": {
            "example": {
                "type": "/problems/conflict",
                "title": "Conflict",
                "status": 409,
                "detail": "Another member of staff holds this referral; ask them or a manager to release it.",
                "instance": "/v1/referrals/6f1c1d3e-9f0a-4c55-8a61-0f0e7b1f2a3b/claim",
                "assigned_to": "0b7c6f1e-2f4e-4f5e-9b1a-1d2c3b4a5f6e",
            }
        }
    },
}
DECISION_EXAMPLE = {
    "id": "1d2c3b4a-5f6e-4f5e-9b1a-0b7c6f1e2f4e",
    "referral_id": "6f1c1d3e-9f0a-4c55-8a61-0f0e7b1f2a3b",
    "state": "final",
    "decided_by": "0b7c6f1e-2f4e-4f5e-9b1a-1d2c3b4a5f6e",
    "decided_at": "2026-11-28T12:05:00+00:00",
    "outcomes": [
        {
            "child_id": "3c2b1a0f-9e8d-4c7b-a6f5-e4d3c2b1a0f9",
            "outcome": "section_17_assessment",
            "recommended": "section_17_assessment",
            "step_down": False,
            "rationale": "Repeated domestic abuse witnessed by the child; needs an assessment.",
            "override_reason": None,
        }
    ],
    "feedback": "A social worker will contact the family this week to begin an assessment.",
    "step_down": False,
    "reviewed_by": None,
    "reviewed_at": None,
    "review_comment": None,
    "referral_status": "decided",
    "decided_on_time": True,
}

STRATEGY_EXAMPLE = {
    "id": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
    "referral_id": "6f1c1d3e-9f0a-4c55-8a61-0f0e7b1f2a3b",
    "held_at": "2026-11-28T14:00:00+00:00",
    "participants": [
        {"agency": "local_authority", "name": "Sam Social Worker"},
        {"agency": "police", "name": "DC Example"},
        {"agency": "health", "name": "Named Nurse Example"},
    ],
    "safety_plan": "Father to stay with his brother and have no unsupervised contact until the conference.",
    "actions": [{"action": "Section 47 enquiry to begin today", "owner": "Children's social care", "due_by": None}],
    "recorded_by": "0b7c6f1e-2f4e-4f5e-9b1a-1d2c3b4a5f6e",
    "recorded_at": "2026-11-28T15:10:00+00:00",
}


@router.post(
    "/{referral_id}/claim",
    summary="Hold the referral for triage (exactly one of several concurrent claims wins)",
    responses={200: {"content": {"application/json": {"example": HOLDING_EXAMPLE}}}, 409: HELD_BY_OTHER},
)
def claim(caller: StaffDep, referral: CurrentReferral, session: SessionDep, _body: NoBody) -> dict[str, Any]:
    return claims.claim(session=session, caller=caller, referral=referral)


@router.post(
    "/{referral_id}/release",
    summary="Let go of the referral (its holder, or a manager)",
    responses={
        200: {"content": {"application/json": {"example": {**HOLDING_EXAMPLE, "assigned_to": None}}}},
        403: {"description": "Someone else holds it and you are not a manager"},
        409: {"description": "Nobody holds it, or its step-down is waiting for approval"},
    },
)
def release(caller: StaffDep, referral: CurrentReferral, session: SessionDep, _body: NoBody) -> dict[str, Any]:
    return claims.release(session=session, caller=caller, referral=referral)


@router.post(
    "/{referral_id}/information-requests",
    status_code=201,
    summary="Ask a partner organisation for information about the referral",
    responses={
        201: {"content": {"application/json": {"example": INFORMATION_REQUEST_EXAMPLE}}},
        409: {"description": "The referral is decided, closed or waiting for approval"},
    },
)
def ask(body: InformationRequestIn, caller: StaffDep, referral: CurrentReferral, session: SessionDep) -> JSONResponse:
    created = information_requests.ask(
        session=session,
        caller=caller,
        referral=referral,
        organisation_id=body.organisation_id,
        question=body.question,
        due_at=body.due_at,
    )
    return JSONResponse(created, status_code=201, headers={"Location": f"/v1/information-requests/{created['id']}"})


@router.post(
    "/{referral_id}/decision",
    status_code=201,
    summary="Decide an outcome for every child (only the practitioner holding the referral)",
    description=(
        "Every child needs exactly one outcome with a rationale. An outcome below the rules' recommended pathway "
        "is a step-down and needs `override_reason`. A step-down on a red referral waits in `awaiting_approval` "
        "for a manager; anything else is final at once and the referrer is told (`decision_made`, with the "
        "`feedback` text, never the rationale). 409 when the referral is not claimed, is held by someone else "
        "(`assigned_to` names them), or is not in a state that can be decided."
    ),
    responses={201: {"content": {"application/json": {"example": DECISION_EXAMPLE}}}, 409: HELD_BY_OTHER},
)
def decide(body: DecisionIn, caller: StaffDep, referral: CurrentReferral, session: SessionDep) -> dict[str, Any]:
    return decisions.decide(
        session=session, caller=caller, referral=referral, outcomes=body.outcomes, feedback_text=body.feedback
    )


@router.post(
    "/{referral_id}/approve",
    summary="Approve a step-down on a red referral (manager); the decision becomes final",
    responses={
        200: {"content": {"application/json": {"example": {**DECISION_EXAMPLE, "state": "approved"}}}},
        403: {"description": "Not a manager, or the decision is your own"},
        409: {"description": "No decision is waiting for approval"},
    },
)
def approve(caller: ManagerDep, referral: CurrentReferral, session: SessionDep, _body: NoBody) -> dict[str, Any]:
    return decisions.approve(session=session, caller=caller, referral=referral)


@router.post(
    "/{referral_id}/return",
    summary="Return a step-down to the practitioner with a comment (manager); the referral is back in triage",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        **DECISION_EXAMPLE,
                        "state": "returned",
                        "review_comment": "Check the school's attendance data before stepping down.",
                        "referral_status": "in_triage",
                        "decided_on_time": None,
                    }
                }
            }
        },
        409: {"description": "No decision is waiting for approval"},
    },
)
def return_decision(
    body: ReturnIn, caller: ManagerDep, referral: CurrentReferral, session: SessionDep
) -> dict[str, Any]:
    return decisions.return_to_practitioner(session=session, caller=caller, referral=referral, comment=body.comment)


@router.post(
    "/{referral_id}/close",
    summary="Close a decided referral; the referrer is told",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "id": "6f1c1d3e-9f0a-4c55-8a61-0f0e7b1f2a3b",
                        "reference": "MASH-2026-000123",
                        "status": "closed",
                        "closed_at": "2026-11-30T09:00:00+00:00",
                    }
                }
            }
        },
        409: {"description": "The referral is not decided yet"},
    },
)
def close(caller: StaffDep, referral: CurrentReferral, session: SessionDep, _body: NoBody) -> dict[str, Any]:
    return decisions.close(session=session, caller=caller, referral=referral)


@router.post(
    "/{referral_id}/strategy-discussion",
    status_code=201,
    summary="Record a strategy discussion: social care, police and health, and a safety plan",
    responses={
        201: {"content": {"application/json": {"example": STRATEGY_EXAMPLE}}},
        422: {"description": "A required agency is missing (named), or the safety plan is not written"},
    },
)
def strategy_discussion(
    body: StrategyDiscussionIn, caller: StaffDep, referral: CurrentReferral, session: SessionDep
) -> dict[str, Any]:
    return strategy.record(
        session=session,
        caller=caller,
        referral=referral,
        held_at=body.held_at,
        participants=body.participants,
        safety_plan=body.safety_plan,
        actions=body.actions,
    )
