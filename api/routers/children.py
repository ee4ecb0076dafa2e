"""A child's chronology across referrals."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from api.deps import SessionDep, StaffDep
from api.openapi_docs import problem
from triage.workflow import history

router = APIRouter(prefix="/v1/children", tags=["children"])

HISTORY_EXAMPLE: dict[str, Any] = {
    "child": {
        "id": "3c2b1a0f-9e8d-4c7b-a6f5-e4d3c2b1a0f9",
        "first_name": "Alex",
        "last_name": "Example",
        "date_of_birth": "2016-05-04",
        "expected_date_of_birth": None,
        "nhs_number": "9434765919",
    },
    "order": "oldest",
    "referrals": [
        {
            "referral_id": "6f1c1d3e-9f0a-4c55-8a61-0f0e7b1f2a3b",
            "reference": "MASH-2026-000041",
            "child_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
            "date": "2026-03-02T11:20:00+00:00",
            "agency": "school",
            "concerns": ["neglect"],
            "rating": {"level": 3, "rag": "amber", "pathway": "section_17_assessment"},
            "outcome": "early_help",
            "status": "closed",
            "this_record": False,
        }
    ],
}


@router.get(
    "/{child_id}/history",
    summary="One child's chronology: every referral of the same child, oldest first unless order=newest",
    responses={
        200: {"content": {"application/json": {"example": HISTORY_EXAMPLE}}},
        404: problem("No child with that id"),
    },
)
def child_history(
    session: SessionDep,
    caller: StaffDep,
    child_id: Annotated[uuid.UUID, Path(description="A child's id, as in the staff view of a referral.")],
    order: Annotated[Literal["oldest", "newest"], Query(description="oldest (default) or newest first.")] = "oldest",
) -> dict[str, Any]:
    return history.chronology(session=session, caller=caller, child_id=child_id, order=order)
