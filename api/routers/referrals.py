"""Partner and staff calls on referrals: send one, read one, list them."""

from __future__ import annotations

import functools
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse

from api.deps import CallerDep, CurrentReferral, IntakeCaller, JsonBody, SessionDep
from api.observability import REFERRALS_RECEIVED, REFERRALS_REJECTED
from api.openapi_docs import REFERRAL_CREATED_EXAMPLE, REFERRAL_REQUEST_BODY, RETRY_AFTER, PageCursor, problem
from schemas.enums import ReferralStatus
from triage import intake, views
from triage.auth import Caller
from triage.db import get_engine, session_scope
from triage.errors import Invalid
from triage.pagination import DEFAULT_LIMIT, MAX_LIMIT
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
        403: problem("Only a partner organisation's key may send referrals"),
        429: {"description": "Too many referrals from this key this minute; see Retry-After", "headers": RETRY_AFTER},
        422: {"description": "Problems to correct, each with a pointer and a prompt"},
    },
)
async def create_referral(
    body: JsonBody,
    caller: IntakeCaller,
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
        result = await anyio.to_thread.run_sync(
            functools.partial(_receive, caller=caller, body=body, idempotency_key=idempotency_key),
            limiter=_intake_threads(),
        )
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


# Referrals are stored on at most this many threads per process. More would only take turns at the interpreter
# lock while each holds a database connection and an open transaction; the rest wait their turn on the event loop.
INTAKE_THREADS = 8
_limiter: anyio.CapacityLimiter | None = None


def _intake_threads() -> anyio.CapacityLimiter:
    global _limiter
    if _limiter is None:
        _limiter = anyio.CapacityLimiter(INTAKE_THREADS)
    return _limiter


def _receive(*, caller: Caller, body: Any, idempotency_key: str | None) -> intake.IntakeResult:
    """One referral in one unit of work on one thread: committed before the 201 is sent, rolled back on any error."""
    with session_scope(get_engine()) as session:
        return intake.submit(session=session, caller=caller, body=body, idempotency_key=idempotency_key)


@router.get("", summary="List the referrals you may see, newest first")
def list_referrals(
    session: SessionDep,
    caller: CallerDep,
    status: Annotated[ReferralStatus | None, Query(description="Only referrals in this status.")] = None,
    cursor: PageCursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> dict[str, Any]:
    return views.list_referrals(session=session, caller=caller, status=status, cursor=cursor, limit=limit)


@router.get("/{referral_id}", summary="One referral: what was sent, its status and what you may see of its triage")
def get_referral(referral: CurrentReferral, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    return views.read_referral(session=session, caller=caller, referral=referral)
