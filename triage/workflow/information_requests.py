"""Information requests: MASH staff ask a partner a question; the partner answers through the same API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.enums import FeedbackEventKind, InformationRequestStatus, ReferralStatus
from schemas.tables import Child, InformationRequest, Organisation, Referral
from schemas.types import utc_now
from triage import access, audit, feedback
from triage.auth import Caller
from triage.errors import Conflict, Invalid, Problem
from triage.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, invalid_cursor
from triage.validation import is_placeholder
from triage.workflow import state

MIN_QUESTION_LENGTH = 10
OPEN = InformationRequestStatus.open
ANSWERED = InformationRequestStatus.answered


def ask(
    *,
    session: Session,
    caller: Caller,
    referral: Referral,
    organisation_id: uuid.UUID,
    question: str,
    due_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Ask a partner organisation a question about the referral, which then awaits information."""
    now = now or utc_now()
    organisation = session.get(Organisation, organisation_id)
    problems = []
    if organisation is None:
        problems.append(
            Problem(
                pointer="/organisation_id",
                code="organisation_unknown",
                message="There is no partner organisation with that id; pick one from the organisation list.",
            )
        )
    if len(question.strip()) < MIN_QUESTION_LENGTH or is_placeholder(question):
        problems.append(
            Problem(
                pointer="/question",
                code="question_missing",
                message="Write the question so the partner can answer it: what you need to know and about whom.",
            )
        )
    if due_at is not None and due_at <= now:
        problems.append(
            Problem(pointer="/due_at", code="due_at_past", message="Give a time in the future for the answer.")
        )
    if problems:
        raise Invalid(problems=problems, summary="The information request has problems to correct.")
    assert organisation is not None and caller.user_id is not None
    # Lock the referral: concurrent asks and answers on one referral must see each other's status changes.
    session.refresh(referral, with_for_update=True)
    left = state.transition(referral=referral, to=ReferralStatus.awaiting_information, at=now)
    request = InformationRequest(
        referral_id=referral.id,
        organisation_id=organisation.id,
        question=question.strip(),
        due_at=due_at or referral.decision_due_at,
        status=OPEN,
        asked_by=caller.user_id,
        asked_at=now,
    )
    session.add_all([referral, request])
    session.flush()
    if left == ReferralStatus.received:
        feedback.emit(
            session=session,
            referral=referral,
            event=FeedbackEventKind.in_triage,
            message=f"Referral {referral.reference} is being triaged by the MASH.",
        )
    if organisation.id == referral.organisation_id:
        feedback.emit(
            session=session,
            referral=referral,
            event=FeedbackEventKind.information_requested,
            message=(
                f"The MASH has asked your organisation for more information about referral {referral.reference}. "
                "Answer it through GET /v1/information-requests?status=open."
            ),
        )
    audit.record(
        session=session,
        caller=caller,
        action="information_requested",
        entity="referral",
        entity_id=referral.id,
        purpose=access.INFORMATION_SHARING,
        detail={"information_request_id": str(request.id), "organisation_id": str(organisation.id)},
    )
    return request_view(request, referral=referral, children=_children_named(session, [referral.id]))


def answer(*, session: Session, caller: Caller, request_id: uuid.UUID, response: str) -> dict[str, Any]:
    """The addressed organisation answers; a second answer is 409; the last open answer resumes triage."""
    request = access.get_information_request(session=session, caller=caller, request_id=request_id)
    if not response.strip() or is_placeholder(response):
        raise Invalid(
            problems=[
                Problem(
                    pointer="/response",
                    code="response_missing",
                    message="Write what your organisation knows in answer to the question, or say that it holds "
                    "no information and why.",
                )
            ],
            summary="The answer has problems to correct.",
        )
    # The request is reached through the caller's scope above; its referral is locked (not shown) so that two
    # last answers arriving together cannot each see the other still open and leave the referral waiting.
    referral = session.get(Referral, request.referral_id, with_for_update=True, populate_existing=True)
    assert referral is not None
    now = utc_now()
    stmt = (
        sa.update(InformationRequest)
        .where(col(InformationRequest.id) == request.id, col(InformationRequest.status) == OPEN)
        .values(status=ANSWERED, response=response.strip(), answered_at=now, answered_by_key=caller.key_id)
        .returning(col(InformationRequest.id))
        .execution_options(synchronize_session=False)
    )
    if session.execute(stmt).first() is None:
        raise Conflict("This information request has already been answered.")
    session.refresh(request)
    still_open = session.execute(
        sa.select(sa.func.count())
        .select_from(InformationRequest)
        .where(col(InformationRequest.referral_id) == referral.id, col(InformationRequest.status) == OPEN)
    ).scalar_one()
    if still_open == 0 and referral.status == ReferralStatus.awaiting_information:
        state.transition(referral=referral, to=ReferralStatus.in_triage, at=now)
        session.add(referral)
        session.flush()
    audit.record(
        session=session,
        caller=caller,
        action="information_answered",
        entity="referral",
        entity_id=referral.id,
        purpose=access.INFORMATION_SHARING,
        detail={"information_request_id": str(request.id)},
    )
    return request_view(request, referral=referral, children=_children_named(session, [referral.id]))


def list_requests(
    *,
    session: Session,
    caller: Caller,
    status: str | None = None,
    referral_id: uuid.UUID | None = None,
    organisation_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """A page of the information requests the caller may see, oldest first (a partner: those addressed to it)."""
    problems = []
    if status is not None and status not in set(InformationRequestStatus):
        problems.append(Problem(pointer="", code="status_unknown", message="Use status=open or status=answered."))
    if not 1 <= limit <= MAX_LIMIT:
        problems.append(
            Problem(pointer="", code="limit_out_of_range", message=f"Give a limit between 1 and {MAX_LIMIT}.")
        )
    if problems:
        raise Invalid(problems=problems, summary="The filters have problems to correct.")
    stmt = access.readable_information_requests(caller)
    if status is not None:
        stmt = stmt.where(col(InformationRequest.status) == status)
    if referral_id is not None:
        stmt = stmt.where(col(InformationRequest.referral_id) == referral_id)
    if organisation_id is not None:
        stmt = stmt.where(col(InformationRequest.organisation_id) == organisation_id)
    after = decode_cursor(cursor, size=2)
    if after is not None:
        try:
            key = (dt.datetime.fromisoformat(str(after[0])), uuid.UUID(str(after[1])))
        except ValueError:
            raise invalid_cursor() from None
        stmt = stmt.where(sa.tuple_(col(InformationRequest.asked_at), col(InformationRequest.id)) > key)
    stmt = stmt.order_by(col(InformationRequest.asked_at), col(InformationRequest.id)).limit(limit + 1)
    rows: list[InformationRequest] = list(session.execute(stmt).scalars())
    page, more = rows[:limit], len(rows) > limit
    referral_ids = sorted({r.referral_id for r in page})
    references = _references(session, referral_ids)
    children = _children_named(session, referral_ids)
    # The page shows who each referral is about: a read of those referrals, on their audit trails.
    audit.record_many(
        session=session,
        caller=caller,
        action="list_information_requests",
        entity="referral",
        entity_ids=referral_ids,
        purpose=access.INFORMATION_SHARING,
        detail={"information_requests": len(page)},
    )
    last = page[-1] if page and more else None
    return {
        "items": [request_view(r, reference=references.get(r.referral_id), children=children) for r in page],
        "next_cursor": encode_cursor([last.asked_at.isoformat(), str(last.id)]) if last is not None else None,
    }


def for_referral(session: Session, referral_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every information request about a referral, with its answer, oldest first (for the staff view)."""
    stmt = (
        sa.select(InformationRequest, col(Organisation.name))
        .join(Organisation, col(Organisation.id) == col(InformationRequest.organisation_id))
        .where(col(InformationRequest.referral_id) == referral_id)
        .order_by(col(InformationRequest.asked_at), col(InformationRequest.id))
    )
    found = []
    for request, organisation_name in session.execute(stmt):
        item = request_view(request)
        item["organisation_name"] = organisation_name
        item["asked_by"] = str(request.asked_by)
        found.append(item)
    return found


def request_view(
    request: InformationRequest,
    *,
    referral: Referral | None = None,
    reference: str | None = None,
    children: dict[uuid.UUID, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """An information request as the API shows it."""
    view: dict[str, Any] = {
        "id": str(request.id),
        "referral_id": str(request.referral_id),
        "organisation_id": str(request.organisation_id),
        "question": request.question,
        "status": request.status,
        "asked_at": request.asked_at.isoformat(),
        "due_at": request.due_at.isoformat(),
        "overdue": request.status == OPEN and request.due_at < utc_now(),
        "response": request.response,
        "answered_at": request.answered_at.isoformat() if request.answered_at else None,
    }
    if referral is not None or reference is not None:
        view["reference"] = referral.reference if referral is not None else reference
    if children is not None:
        # The partner needs to know whom the question is about to look them up in its own records.
        view["children"] = children.get(request.referral_id, [])
    return view


def _references(session: Session, referral_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not referral_ids:
        return {}
    stmt = sa.select(col(Referral.id), col(Referral.reference)).where(col(Referral.id).in_(referral_ids))
    return {row.id: row.reference for row in session.execute(stmt)}


def _children_named(session: Session, referral_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Who each referral is about: names and dates of birth, in one query."""
    found: dict[uuid.UUID, list[dict[str, Any]]] = {}
    if not referral_ids:
        return found
    stmt = (
        sa.select(
            col(Child.referral_id),
            col(Child.first_name),
            col(Child.last_name),
            col(Child.date_of_birth),
            col(Child.expected_date_of_birth),
            col(Child.nhs_number),
        )
        .where(col(Child.referral_id).in_(referral_ids))
        .order_by(col(Child.referral_id), col(Child.position))
    )
    for row in session.execute(stmt):
        found.setdefault(row.referral_id, []).append(
            {
                "first_name": row.first_name,
                "last_name": row.last_name,
                "date_of_birth": row.date_of_birth.isoformat() if row.date_of_birth else None,
                "expected_date_of_birth": row.expected_date_of_birth.isoformat()
                if row.expected_date_of_birth
                else None,
                "nhs_number": row.nhs_number,
            }
        )
    return found
