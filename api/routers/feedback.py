"""Feedback for referrers: one referral's events, and the polling feed with ETags."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import JSONResponse

from api.deps import CallerDep, CurrentReferral, PollingLimit, SessionDep
from api.openapi_docs import CURSOR_PATTERN
from triage import feed
from triage.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(tags=["feedback"])

EVENT_EXAMPLE = {
    "id": 42,
    "cursor": "WzczMSw0Ml0",
    "referral_id": "6f1c1d3e-9f0a-4c55-8a61-0f0e7b1f2a3b",
    "reference": "MASH-2026-000042",
    "event": "decision_made",
    "at": "2026-11-30T10:15:00+00:00",
    "message": "Referral MASH-2026-000042: a decision has been made. A social worker will contact the family.",
    "outcomes": [{"child": "Alex S.", "outcome": "section_17_assessment", "next_steps": "..."}],
}
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Nothing changed since the ETag sent in If-None-Match; no body."}
}
IfNoneMatch = Annotated[
    str | None,
    Header(alias="If-None-Match", description="The ETag of your last answer: 304 with no body when nothing changed."),
]


@router.get(
    "/v1/feedback",
    summary="Poll every feedback event for your organisation after a cursor, oldest first",
    description=(
        "Follow `next_cursor` as `after` on the next poll: no event is missed and none is seen twice, even "
        "while events are still being written. `next_cursor` is where to poll from next (your `after` again "
        "when nothing is new); `has_more` says whether another page is waiting now. Send the `ETag` back in "
        "`If-None-Match`: an unchanged feed answers 304 with no body, so frequent polling costs almost nothing. "
        "Staff keys read every organisation's events. Each referral whose events an answer returns is recorded "
        "once in the audit trail (`read_feedback`); a 304 discloses nothing and records nothing."
    ),
    responses={
        200: {
            "description": "A page of events",
            "content": {
                "application/json": {
                    "example": {"items": [EVENT_EXAMPLE], "next_cursor": "WzczMSw0Ml0", "has_more": False}
                }
            },
        },
        **NOT_MODIFIED,
        422: {"description": "The cursor is not one this service issued"},
    },
)
def poll_feedback(
    session: SessionDep,
    caller: PollingLimit,
    if_none_match: IfNoneMatch = None,
    after: Annotated[
        str | None,
        Query(description="next_cursor from your previous poll.", min_length=1, max_length=200, pattern=CURSOR_PATTERN),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Response:
    tag = feed.feed_tag(session=session, caller=caller, after=after, limit=limit)
    if _matches(if_none_match, tag):
        return _not_modified(tag)
    return _fresh(feed.read_feed(session=session, caller=caller, after=after, limit=limit), tag)


@router.get(
    "/v1/referrals/{referral_id}/feedback",
    summary="The feedback events of one referral, oldest first",
    responses={
        200: {
            "description": "The referral's events",
            "content": {
                "application/json": {
                    "example": {
                        "referral_id": EVENT_EXAMPLE["referral_id"],
                        "reference": EVENT_EXAMPLE["reference"],
                        "items": [EVENT_EXAMPLE],
                        "next_cursor": None,
                    }
                }
            },
        },
        **NOT_MODIFIED,
        404: {"description": "No such referral, or not one of your organisation's"},
    },
)
def referral_feedback(
    # The limit is counted first, in its own transaction, before the referral is read in the request's.
    _limit: PollingLimit,
    referral: CurrentReferral,
    session: SessionDep,
    caller: CallerDep,
    if_none_match: IfNoneMatch = None,
) -> Response:
    tag = feed.referral_feedback_tag(session=session, caller=caller, referral=referral)
    if _matches(if_none_match, tag):
        return _not_modified(tag)
    return _fresh(feed.referral_feedback(session=session, caller=caller, referral=referral), tag)


def _matches(if_none_match: str | None, tag: str) -> bool:
    """Whether If-None-Match names TAG (RFC 9110: a list of tags, weak ones compared weakly, or *)."""
    if not if_none_match:
        return False
    candidates = {candidate.strip().removeprefix("W/") for candidate in if_none_match.split(",")}
    return tag in candidates or "*" in candidates


def _headers(tag: str) -> dict[str, str]:
    # Cache-Control (no-store) is set for every /v1 answer by the middleware: pollers keep the tag themselves.
    return {"ETag": tag}


def _not_modified(tag: str) -> Response:
    return Response(status_code=304, headers=_headers(tag))


def _fresh(body: dict[str, Any], tag: str) -> JSONResponse:
    return JSONResponse(body, headers=_headers(tag))
