"""Information requests: partners list those addressed to them and answer; staff list them all."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from api.deps import CallerDep, ReferrerDep, SessionDep
from api.openapi_docs import CURSOR_PATTERN
from schemas.workflow_io import InformationResponseIn
from triage.pagination import DEFAULT_LIMIT, MAX_LIMIT
from triage.workflow import information_requests

router = APIRouter(prefix="/v1/information-requests", tags=["information requests"])

REQUEST_EXAMPLE: dict[str, Any] = {
    "id": "5e4f3a2b-1c0d-4e9f-8a7b-6c5d4e3f2a1b",
    "referral_id": "6f1c1d3e-9f0a-4c55-8a61-0f0e7b1f2a3b",
    "organisation_id": "0b7c6f1e-2f4e-4f5e-9b1a-1d2c3b4a5f6e",
    "question": "Is the family registered with your practice, and were the children seen in the last 12 months?",
    "status": "open",
    "asked_at": "2026-11-28T10:40:00+00:00",
    "due_at": "2026-11-29T10:15:00+00:00",
    "overdue": False,
    "response": None,
    "answered_at": None,
    "reference": "MASH-2026-000123",
    "children": [
        {
            "first_name": "Alex",
            "last_name": "Example",
            "date_of_birth": "2016-05-04",
            "expected_date_of_birth": None,
            "nhs_number": "9434765919",
        }
    ],
}


@router.get(
    "",
    summary="Information requests: a partner sees those addressed to it; staff see all (filterable)",
    responses={200: {"content": {"application/json": {"example": {"items": [REQUEST_EXAMPLE], "next_cursor": None}}}}},
)
def list_requests(
    session: SessionDep,
    caller: CallerDep,
    status: Annotated[Literal["open", "answered"] | None, Query(description="open or answered.")] = None,
    referral_id: Annotated[uuid.UUID | None, Query(description="Only those about this referral.")] = None,
    organisation_id: Annotated[
        uuid.UUID | None, Query(description="Staff: only those addressed to this organisation.")
    ] = None,
    cursor: Annotated[
        str | None,
        Query(description="next_cursor from the previous page.", min_length=1, max_length=500, pattern=CURSOR_PATTERN),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> dict[str, Any]:
    return information_requests.list_requests(
        session=session, caller=caller, status=status, referral_id=referral_id, organisation_id=organisation_id,
        cursor=cursor, limit=limit,
    )  # fmt: skip


@router.post(
    "/{request_id}/response",
    summary="Answer an information request addressed to your organisation (once)",
    responses={
        200: {"content": {"application/json": {"example": {**REQUEST_EXAMPLE, "status": "answered"}}}},
        404: {"description": "No such request addressed to your organisation"},
        409: {"description": "Already answered"},
    },
)
def answer(
    body: InformationResponseIn,
    caller: ReferrerDep,
    session: SessionDep,
    request_id: Annotated[uuid.UUID, Path(description="The information request's id.")],
) -> dict[str, Any]:
    return information_requests.answer(session=session, caller=caller, request_id=request_id, response=body.response)
