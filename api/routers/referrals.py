"""Partner and staff calls on referrals: send one, read one, list them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse

from api.deps import CallerDep, CurrentReferral, IntakeLimit, JsonBody, ReferrerDep, SessionDep
from api.observability import REFERRALS_RECEIVED, REFERRALS_REJECTED
from api.openapi_docs import REFERRAL_CREATED_EXAMPLE, REFERRAL_REQUEST_BODY
from triage import intake, views
from triage.errors import Invalid
from triage.pagination import DEFAULT_LIMIT
from triage.settings import get_settings

router = APIRouter(prefix="/v1/referrals", tags=["referrals"])


@router.post(
    "",
    status_code=201,
    summary="Send a referral about one or more children",
    openapi_extra={"requestBody": REFERRAL_REQUEST_BODY},
    responses={
        201: {
            "description": "Received and acknowledged",
            "content": {"application/json": {"example": REFERRAL_CREATED_EXAMPLE}},
        },
        400: {"description": "The body is not JSON"},
        409: {"description": "A request with the same Idempotency-Key is still in flight"},
        413: {"description": "The body is over 256 KiB"},
        429: {"description": "Too many referrals from this key this minute; see Retry-After"},
        422: {"description": "Problems to correct, each with a pointer and a prompt"},
    },
)
def create_referral(
    body: JsonBody,
    session: SessionDep,
    caller: ReferrerDep,
    _limit: IntakeLimit,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Retrying with the same key and body returns the first answer and creates nothing.",
        ),
    ] = None,
) -> JSONResponse:
    try:
        result = intake.submit(session=session, caller=caller, body=body, idempotency_key=idempotency_key)
    except Invalid:
        REFERRALS_REJECTED.labels(caller.agency or "unknown").inc()
        raise
    if not result.replayed:
        REFERRALS_RECEIVED.labels(caller.agency or "unknown").inc()
    base = get_settings().public_base_url.rstrip("/")
    payload = dict(result.body)
    payload["feedback_url"] = (
        base + payload["feedback_url"] if payload["feedback_url"].startswith("/") else payload["feedback_url"]
    )
    return JSONResponse(payload, status_code=result.status_code, headers={"Location": f"/v1/referrals/{payload['id']}"})


@router.get("", summary="List the referrals you may see, newest first")
def list_referrals(
    session: SessionDep,
    caller: CallerDep,
    status: Annotated[str | None, Query(description="Only referrals in this status.")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor from the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = DEFAULT_LIMIT,
) -> dict[str, Any]:
    return views.list_referrals(session=session, caller=caller, status=status, cursor=cursor, limit=limit)


@router.get("/{referral_id}", summary="One referral: what was sent, its status and what you may see of its triage")
def get_referral(referral: CurrentReferral, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    return views.read_referral(session=session, caller=caller, referral=referral)
