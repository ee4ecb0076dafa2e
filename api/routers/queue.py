"""The triage queue: undecided referrals, most urgent first."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.deps import SessionDep, StaffDep
from api.openapi_docs import PageCursor
from triage.pagination import DEFAULT_LIMIT, MAX_LIMIT
from triage.workflow import queue

router = APIRouter(prefix="/v1/queue", tags=["triage queue"])

QUEUE_EXAMPLE: dict[str, Any] = {
    "items": [
        {
            "id": "6f1c1d3e-9f0a-4c55-8a61-0f0e7b1f2a3b",
            "reference": "MASH-2026-000123",
            "status": "in_triage",
            "rag": "red",
            "level": 4,
            "pathway": "strategy_discussion",
            "received_at": "2026-11-28T10:15:00+00:00",
            "decision_due_at": "2026-11-28T14:15:00+00:00",
            "overdue": False,
            "assigned_to": "0b7c6f1e-2f4e-4f5e-9b1a-1d2c3b4a5f6e",
            "agency": "police",
            "children": [
                {"name": "Alex Example", "age_or_unborn": 9},
                {"name": "Unborn Example", "age_or_unborn": "unborn"},
            ],
        }
    ],
    "next_cursor": "WzAsIjIwMjYtMTEtMjhUMTQ6MTU6MDArMDA6MDAiLCI2ZjFjMWQzZSJd",
}


@router.get(
    "",
    summary="Referrals not yet decided: red, amber, green, then earliest decision due",
    responses={200: {"content": {"application/json": {"example": QUEUE_EXAMPLE}}}},
)
def get_queue(
    session: SessionDep,
    caller: StaffDep,
    status: Annotated[
        Literal["received", "in_triage", "awaiting_information", "awaiting_approval"] | None,
        Query(description="Only referrals in this status."),
    ] = None,
    rag: Annotated[Literal["red", "amber", "green"] | None, Query(description="Only this urgency.")] = None,
    assigned: Annotated[
        Literal["me", "unassigned"] | None, Query(description="me: those you hold; unassigned: those nobody holds.")
    ] = None,
    overdue: Annotated[bool | None, Query(description="true: only those past decision_due_at.")] = None,
    cursor: PageCursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> dict[str, Any]:
    return queue.queue_page(
        session=session, caller=caller, status=status, rag=rag, assigned=assigned, overdue=overdue, cursor=cursor,
        limit=limit,
    )  # fmt: skip
