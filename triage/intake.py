"""Intake: validate a referral, match each child's history, rate, time, store and acknowledge it."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.enums import RAG_RANK, FeedbackEventKind, Rag, ReferralStatus
from schemas.referral_in import ChildIn, ReferralIn
from schemas.tables import (
    Child,
    ChildMatch,
    Referral,
    ReferralConcern,
    ReferralNumber,
    RejectedRule,
    RejectedSubmission,
)
from schemas.types import utc_now
from triage import audit, feedback, idempotency
from triage.auth import Caller
from triage.cin import cin_referral_source
from triage.clock import LONDON, decision_due_at
from triage.db import session_scope
from triage.errors import Invalid, NotAllowed
from triage.history import ChildKey, find_earlier_referrals, name_key
from triage.rules import Rating
from triage.rulesets import active_rule_set
from triage.validation import age_on, rejection_pointer_pattern, validate_referral

YEAR = dt.timedelta(days=365)


@dataclass(frozen=True)
class IntakeResult:
    """What the partner is told: 201 with the acknowledgement, or a replay of an earlier answer."""

    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def acknowledgement(referral: Referral, *, base_url: str = "") -> dict[str, Any]:
    """The 201 body of API.md for a stored referral."""
    return {
        "id": str(referral.id),
        "reference": referral.reference,
        "status": referral.status,
        "received_at": referral.received_at.isoformat(),
        "decision_due_at": referral.decision_due_at.isoformat(),
        "feedback_url": f"{base_url}/v1/referrals/{referral.id}/feedback",
    }


def submit(
    *,
    session: Session,
    caller: Caller,
    body: Any,
    idempotency_key: str | None,
    now: dt.datetime | None = None,
) -> IntakeResult:
    """Receive one referral from a partner organisation, all or nothing."""
    if caller.organisation_id is None or caller.agency is None:
        raise NotAllowed("Only a partner organisation's key can send referrals.")
    engine = session.get_bind().engine
    org_id = caller.organisation_id
    if idempotency_key is not None:
        replay = idempotency.claim(
            engine=engine, organisation_id=org_id, key=idempotency_key, request_hash=idempotency.body_hash(body)
        )
        if replay is not None:
            return IntakeResult(status_code=replay.status_code, body=replay.body, replayed=True)
    received_at = now or utc_now()
    try:
        referral_in = validate_referral(body, agency=caller.agency, today=received_at.astimezone(LONDON).date())
    except Invalid as invalid:
        _count_rejection(engine=engine, caller=caller, invalid=invalid, at=received_at)
        if idempotency_key is not None:
            idempotency.release(engine=engine, organisation_id=org_id, key=idempotency_key)
        raise
    try:
        referral = store(session=session, caller=caller, referral_in=referral_in, received_at=received_at)
        result = IntakeResult(status_code=201, body=acknowledgement(referral))
        if idempotency_key is not None:
            idempotency.complete(
                session=session, organisation_id=org_id, key=idempotency_key, status_code=201, body=result.body
            )
        return result
    except BaseException:
        # End our transaction before releasing the claim in another one (SQLite allows one writer).
        session.rollback()
        if idempotency_key is not None:
            idempotency.release(engine=engine, organisation_id=org_id, key=idempotency_key)
        raise


def store(*, session: Session, caller: Caller, referral_in: ReferralIn, received_at: dt.datetime) -> Referral:
    """Store a validated referral with its children, matches, ratings, clock, acknowledgement and audit."""
    assert caller.organisation_id is not None and caller.agency is not None
    rule_set = active_rule_set(session)
    today = received_at.astimezone(LONDON).date()
    keys = [_child_key(child, today=today) for child in referral_in.children]
    earlier = find_earlier_referrals(session=session, children=keys, before=received_at)
    concerns = sorted({str(c) for c in referral_in.concerns.categories})
    indicators = sorted({str(i) for i in (referral_in.concerns.indicators or [])})
    agency_details = dict(referral_in.agency_details)

    children: list[Child] = []
    ratings: list[Rating] = []
    for position, (child_in, key) in enumerate(zip(referral_in.children, keys, strict=True)):
        history = earlier[position]
        recent = [e for e in history if e.received_at >= received_at - YEAR]
        facts = {
            "immediate_danger": referral_in.immediate_danger,
            "agency": caller.agency,
            "concerns": concerns,
            "indicators": indicators,
            "child": {
                "age_years": key.age_years,
                "unborn": key.unborn,
                "current_plan": str(child_in.history.current_plan),
            },
            "agency_details": agency_details,
            "history": {
                "referrals_12m": len(recent),
                "neglect_referrals_12m": sum(1 for e in recent if e.neglect),
            },
        }
        rating = rule_set.rate(facts)
        ratings.append(rating)
        children.append(_child_row(child_in, key=key, position=position, rating=rating, facts=facts))

    top = most_urgent(ratings)
    number = session.execute(sa.insert(ReferralNumber).returning(col(ReferralNumber.id))).scalar_one()
    referral = Referral(
        reference=f"MASH-{received_at.astimezone(LONDON).year}-{number:06d}",
        organisation_id=caller.organisation_id,
        agency=caller.agency,
        cin_referral_source=cin_referral_source(caller.agency),
        status=ReferralStatus.received,
        decided=False,
        received_at=received_at,
        decision_due_at=decision_due_at(received_at=received_at, rag=top.rag),
        level=top.level,
        rag=top.rag,
        rag_rank=RAG_RANK[Rag(top.rag)],
        pathway=top.pathway,
        rule_set_version=rule_set.version,
        reasons=union_reasons(ratings),
        immediate_danger=referral_in.immediate_danger,
        concerns_summary=referral_in.concerns.summary,
        indicators=indicators,
        referrer=referral_in.referrer.model_dump(mode="json", exclude_none=True),
        household=[m.model_dump(mode="json", exclude_none=True) for m in referral_in.household or []],
        consent=referral_in.consent.model_dump(mode="json", exclude_none=True),
        consent_status=str(referral_in.consent.status),
        agency_details=jsonable(agency_details),
        created_by_key=caller.key_id,
    )
    session.add(referral)
    session.flush()
    session.execute(
        sa.insert(ReferralConcern), [{"referral_id": referral.id, "category": category} for category in concerns]
    )
    for child in children:
        child.referral_id = referral.id
    session.add_all(children)
    session.flush()
    matches = [
        {"child_id": child.id, "earlier_child_id": e.child_id, "earlier_referral_id": e.referral_id}
        for child, history in zip(children, (earlier[i] for i in range(len(children))), strict=True)
        for e in history
    ]
    if matches:
        session.execute(sa.insert(ChildMatch), matches)
    feedback.emit(
        session=session,
        referral=referral,
        event=FeedbackEventKind.acknowledged,
        message=acknowledgement_message(referral),
    )
    audit.record(
        session=session,
        caller=caller,
        action="create",
        entity="referral",
        entity_id=referral.id,
        purpose="referral received",
        detail={"reference": referral.reference, "children": len(children), "rule_set_version": rule_set.version},
    )
    return referral


def acknowledgement_message(referral: Referral) -> str:
    """What the referrer reads when the MASH has received the referral."""
    due = referral.decision_due_at.astimezone(LONDON).strftime("%A %d %B %Y at %H:%M")
    return (
        f"Referral {referral.reference} has been received by the MASH. A decision on what happens next "
        f"is due by {due}; you will be told the outcome."
    )


def _child_key(child: ChildIn, *, today: dt.date) -> ChildKey:
    dob = child.date_of_birth
    return ChildKey(
        name_key=name_key(child.first_name, child.last_name),
        date_of_birth=dob,
        nhs_number=child.nhs_number,
        unborn=dob is None,
        age_years=age_on(dob, today) if dob is not None else None,
    )


def _child_row(child_in: ChildIn, *, key: ChildKey, position: int, rating: Rating, facts: dict[str, Any]) -> Child:
    voice = child_in.voice
    return Child(
        referral_id=uuid.UUID(int=0),
        position=position,
        first_name=child_in.first_name,
        last_name=child_in.last_name,
        name_key=key.name_key,
        date_of_birth=child_in.date_of_birth,
        expected_date_of_birth=child_in.expected_date_of_birth,
        unborn=key.unborn,
        age_years=key.age_years,
        nhs_number=child_in.nhs_number,
        gender=child_in.gender,
        address=child_in.address.model_dump(mode="json", exclude_none=True),
        postcode=child_in.address.postcode,
        details=child_in.model_dump(mode="json", exclude_none=True),
        voice=voice.model_dump(mode="json", exclude_none=True),
        voice_heard=voice.views is not None,
        voice_not_obtained_reason=str(voice.not_obtained_reason) if voice.not_obtained_reason else None,
        history=child_in.history.model_dump(mode="json", exclude_none=True),
        current_plan=str(child_in.history.current_plan),
        referrals_12m=facts["history"]["referrals_12m"],
        neglect_referrals_12m=facts["history"]["neglect_referrals_12m"],
        level=rating.level,
        rag=rating.rag,
        pathway=rating.pathway,
        reasons=rating.reasons_json(),
    )


def most_urgent(ratings: list[Rating]) -> Rating:
    """The referral takes the rating of its most urgent child: RAG first, then level."""
    return min(ratings, key=lambda r: (RAG_RANK[Rag(r.rag)], -r.level))


def union_reasons(ratings: list[Rating]) -> list[dict[str, str]]:
    seen: dict[str, dict[str, str]] = {}
    for rating in ratings:
        for reason in rating.reasons_json():
            seen.setdefault(reason["rule_id"], reason)
    return list(seen.values())


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date | uuid.UUID):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    return value


def _count_rejection(*, engine: Any, caller: Caller, invalid: Invalid, at: dt.datetime) -> None:
    """Count a refused submission per organisation and rule, keeping none of its personal data."""
    assert caller.organisation_id is not None and caller.agency is not None
    submission = RejectedSubmission(organisation_id=caller.organisation_id, agency=caller.agency, at=at)
    with session_scope(engine) as session:
        session.add(submission)
        session.flush()
        rules = {(p.code, rejection_pointer_pattern(p.pointer)) for p in invalid.problems}
        session.execute(
            sa.insert(RejectedRule),
            [
                {
                    "id": uuid.uuid4(),
                    "submission_id": submission.id,
                    "organisation_id": caller.organisation_id,
                    "at": at,
                    "code": code,
                    "pointer": pointer[:200],
                }
                for code, pointer in sorted(rules)
            ],
        )
