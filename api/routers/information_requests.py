"""Information requests: partners list those addressed to them and answer; staff list them all."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from api.deps import CallerDep, ReferrerDep, SessionDep
from api.openapi_docs import INFORMATION_REQUEST_EXAMPLE, PageCursor
from schemas.workflow_io import InformationResponseIn
from triage.pagination import DEFAULT_LIMIT, MAX_LIMIT
from triage.workflow import information_requests

router = APIRouter(prefix="/v1/information-requests", tags=["information requests"])
LIST_EXAMPLE = {"items": [INFORMATION_REQUEST_EXAMPLE], "next_cursor": None}


@router.get(
    "",
    summary="Information requests: a partner sees those addressed to it; staff see all (filterable)",
    responses={200: {"content": {"application/json": {"example": LIST_EXAMPLE}}}},
)
def list_requests(
    session: SessionDep,
    caller: CallerDep,
    status: Annotated[Literal["open", "answered"] | None, Query(description="open or answered.")] = None,
    referral_id: Annotated[uuid.UUID | None, Query(description="Only those about this referral.")] = None,
    organisation_id: Annotated[
        uuid.UUID | None, Query(description="Staff: only those addressed to this organisation.")
    ] = None,
    cursor: PageCursor = None,
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
        200: {"content": {"application/json": {"example": {**INFORMATION_REQUEST_EXAMPLE, "status": "answered"}}}},
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
