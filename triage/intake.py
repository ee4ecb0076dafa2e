"""Intake: validate a referral, match each child's history, rate, time, store and acknowledge it."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session

from schemas.enums import RAG_RANK, FeedbackEventKind, Rag, ReferralStatus, concern_bits
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
from triage import audit, auth, bulk, feedback, idempotency, rulesets
from triage.auth import Caller
from triage.cin import cin_referral_source
from triage.clock import LONDON, decision_due_at
from triage.db import session_scope
from triage.errors import Conflict, Invalid, NotAllowed, NotAuthenticated
from triage.history import ChildKey, EarlierReferral, find_earlier_referrals_many, name_key
from triage.rules import Rating
from triage.validation import age_on, rejection_pointer_pattern, validate_referral

YEAR = dt.timedelta(days=365)
_new_id = uuid.uuid4


@dataclass(frozen=True)
class IntakeResult:
    """What the partner is told: 201 with the acknowledgement, or a replay of an earlier answer."""

    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def acknowledgement(referral: Referral | StoredReferral, *, base_url: str = "") -> dict[str, Any]:
    """The 201 body of API.md for a stored referral."""
    return {
        "id": str(referral.id),
        "reference": referral.reference,
        "status": referral.status,
        "received_at": referral.received_at.isoformat(),
        "decision_due_at": referral.decision_due_at.isoformat(),
        "feedback_url": f"{base_url}/v1/referrals/{referral.id}/feedback",
    }


@dataclass(frozen=True)
class Submission:
    """One POST of a referral, as it arrived: who sent it, the parsed body, its Idempotency-Key, when it came, and
    the request id its audit row carries."""

    caller: Caller
    body: Any
    idempotency_key: str | None
    received_at: dt.datetime
    request_id: str | None = None


@dataclass(frozen=True)
class _Admitted:
    """A submission whose body is a valid referral and whose Idempotency-Key (if any) this request now holds."""

    submission: Submission
    referral_in: ReferralIn


def submit(
    *,
    session: Session,
    caller: Caller,
    body: Any,
    idempotency_key: str | None,
    now: dt.datetime | None = None,
) -> IntakeResult:
    """Receive one referral from a partner organisation, all or nothing, in SESSION's transaction."""
    engine = session.get_bind().engine
    submission = Submission(caller, body, idempotency_key, now or utc_now(), audit.current_request_id())
    admitted = _admit(engine=engine, submission=submission)
    if isinstance(admitted, IntakeResult):
        return admitted
    try:
        (outcome,) = _store_admitted(session=session, admitted=[admitted])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome
    except BaseException:
        # End our transaction before releasing the claim in another one (SQLite allows one writer).
        session.rollback()
        _release(engine=engine, admitted=admitted)
        raise


def submit_many(*, engine: Any, submissions: list[Submission]) -> list[IntakeResult | BaseException]:
    """Receive several referrals at once: each is checked and answered on its own, and those with valid bodies are
    stored together, in one transaction with one commit. If that transaction fails other than by losing the
    database, each is stored again alone, so no referral is ever refused for another's fault."""
    outcomes: list[IntakeResult | BaseException | None] = [None] * len(submissions)
    admitted: list[tuple[int, _Admitted]] = []
    claimed = _claim_fresh_keys(engine=engine, submissions=submissions)
    for position, submission in enumerate(submissions):
        try:
            answer = _admit(engine=engine, submission=submission, claimed=position in claimed)
        except Exception as error:  # noqa: BLE001 - this submission's own answer (400s, 401, 409, 422, 503)
            outcomes[position] = error
            continue
        if isinstance(answer, IntakeResult):
            outcomes[position] = answer
        else:
            admitted.append((position, answer))
    if admitted:
        try:
            with session_scope(engine) as session:
                stored = _store_admitted(session=session, admitted=[a for _, a in admitted])
            for (position, one), outcome in zip(admitted, stored, strict=True):
                outcomes[position] = outcome
                if isinstance(outcome, BaseException):
                    _release(engine=engine, admitted=one)
        except Exception as error:  # noqa: BLE001 - whatever stopped them, each referral gets its own answer
            alone = len(admitted) > 1 and not _database_lost(error)
            for position, one in admitted:
                if alone:
                    outcomes[position] = _store_alone(engine=engine, admitted=one)
                else:
                    outcomes[position] = error
                    _release_quietly(engine=engine, admitted=one)
    return [outcome for outcome in outcomes if outcome is not None]


def _claim_fresh_keys(*, engine: Any, submissions: list[Submission]) -> set[int]:
    """The positions of the submissions whose Idempotency-Keys were new and are now claimed, all in one short
    transaction. The others (no key, a key used before, a batch claim that failed) are claimed or answered one by
    one (_admit)."""
    keyed: list[int] = []
    claims: list[tuple[uuid.UUID, str, str]] = []
    for position, submission in enumerate(submissions):
        caller, key = submission.caller, submission.idempotency_key
        organisation_id = caller.organisation_id
        if key is not None and organisation_id is not None and caller.agency is not None:  # else _admit refuses it
            keyed.append(position)
            claims.append((organisation_id, key, idempotency.body_hash(submission.body)))
    if not claims:
        return set()
    try:
        fresh = idempotency.claim_many(engine=engine, claims=claims)
    except Exception:  # noqa: BLE001 - each is then claimed alone, and answered with what stops it
        return set()
    return {position for position, new in zip(keyed, fresh, strict=True) if new}


def _admit(*, engine: Any, submission: Submission, claimed: bool = False) -> _Admitted | IntakeResult:
    """The submission's body as a valid referral, with its Idempotency-Key claimed (now, unless CLAIMED says it
    already is); or the answer to replay.

    Invalid (422) for a body that is not a valid referral, counted (without its personal data) and with its key
    released; NotAuthenticated (401) for a revoked key, whatever the body."""
    caller, key = submission.caller, submission.idempotency_key
    if caller.organisation_id is None or caller.agency is None:
        raise NotAllowed("Only a partner organisation's key can send referrals.")
    org_id = caller.organisation_id
    if key is not None and not claimed:
        replay = idempotency.claim(
            engine=engine, organisation_id=org_id, key=key, request_hash=idempotency.body_hash(submission.body)
        )
        if replay is not None:
            auth.ensure_live(engine=engine, caller=caller)
            return IntakeResult(status_code=replay.status_code, body=replay.body, replayed=True)
    received_at = submission.received_at
    try:
        referral_in = validate_referral(
            submission.body, agency=caller.agency, today=received_at.astimezone(LONDON).date()
        )
    except Invalid as invalid:
        try:
            # A revoked key learns it is revoked (401), not what was wrong with the body.
            auth.ensure_live(engine=engine, caller=caller)
            _count_rejection(engine=engine, caller=caller, invalid=invalid, at=received_at)
        finally:
            if key is not None:
                idempotency.release(engine=engine, organisation_id=org_id, key=key)
        raise
    return _Admitted(submission=submission, referral_in=referral_in)


def _store_admitted(*, session: Session, admitted: list[_Admitted]) -> list[IntakeResult | BaseException]:
    """Store the admitted referrals in SESSION's transaction, each with its acknowledgement as its key's answer.

    A referral whose key has been revoked since it was checked is not stored: its outcome is NotAuthenticated. Nor
    is one whose Idempotency-Key is no longer its own to finish (a retry took it over): its outcome is Conflict."""
    keyed = [(a.submission.caller.organisation_id, a.submission.idempotency_key) for a in admitted]
    # Locked until this transaction ends: a retry can tell these requests are alive (triage/idempotency.py).
    held = idempotency.hold_many(
        session=session, keys=[(org_id, key) for org_id, key in keyed if org_id is not None and key is not None]
    )
    mine = [key is None or (org_id, key) in held for org_id, key in keyed]
    stored = iter(_store_many(session=session, admitted=[a for a, ok in zip(admitted, mine, strict=True) if ok]))
    outcomes: list[IntakeResult | BaseException] = []
    answers: list[tuple[uuid.UUID, str, int, dict[str, Any]]] = []
    for (org_id, key), ok in zip(keyed, mine, strict=True):
        if not ok:
            outcomes.append(Conflict(idempotency.IN_FLIGHT))
            continue
        referral = next(stored)
        if isinstance(referral, BaseException):
            outcomes.append(referral)
            continue
        result = IntakeResult(status_code=201, body=acknowledgement(referral))
        if key is not None and org_id is not None:
            answers.append((org_id, key, 201, result.body))
        outcomes.append(result)
    idempotency.complete_many(session=session, answers=answers)
    return outcomes


def _store_alone(*, engine: Any, admitted: _Admitted) -> IntakeResult | BaseException:
    """One admitted referral stored in a transaction of its own: its outcome, or what stopped it."""
    try:
        with session_scope(engine) as session:
            (outcome,) = _store_admitted(session=session, admitted=[admitted])
    except Exception as error:  # noqa: BLE001 - this referral's own answer
        outcome = error
    if isinstance(outcome, BaseException):
        _release_quietly(engine=engine, admitted=admitted)
    return outcome


def _database_lost(error: BaseException) -> bool:
    """Whether ERROR says the database could not be reached or the connection broke (storing alone would fail too)."""
    return isinstance(error, sa.exc.DBAPIError) and (
        error.connection_invalidated or isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError)
    )


def _release(*, engine: Any, admitted: _Admitted) -> None:
    """Give up the claim on an Idempotency-Key whose referral was not stored, so it can be corrected and resent."""
    caller, key = admitted.submission.caller, admitted.submission.idempotency_key
    if key is not None and caller.organisation_id is not None:
        idempotency.release(engine=engine, organisation_id=caller.organisation_id, key=key)


def _release_quietly(*, engine: Any, admitted: _Admitted) -> None:
    """_release, where the referral's own failure is the answer: a claim that cannot be released now (the
    database is down) is taken over by the referrer's retry once it is abandoned (triage/idempotency.py)."""
    with contextlib.suppress(Exception):
        _release(engine=engine, admitted=admitted)


class StoredReferral(SimpleNamespace):
    """A referral as intake stored it, its columns as attributes (what the acknowledgement and audit need)."""

    id: uuid.UUID
    reference: str
    organisation_id: uuid.UUID
    status: str
    received_at: dt.datetime
    decision_due_at: dt.datetime
    rule_set_version: int


# Tables written with Core statements built once: ids come from Python (or the database's own sequences), so no
# row needs the ORM's unit of work, and each table is one statement however many rows it gets.
_REFERRAL: sa.Table = Referral.__table__  # type: ignore[attr-defined]
_CHILD: sa.Table = Child.__table__  # type: ignore[attr-defined]
_CONCERN: sa.Table = ReferralConcern.__table__  # type: ignore[attr-defined]
_MATCH: sa.Table = ChildMatch.__table__  # type: ignore[attr-defined]
# What intake reads before rating: the active rule set's version (read in this transaction, so a new version
# rates the next referral in every process), whether the sender's key is still live (it may have been revoked
# since this process cached it) and whether its organisation has a webhook subscription to write deliveries for.
_CHECKS = (rulesets.ACTIVE_VERSION, auth.key_is_live(), feedback.live_subscriptions())
_NUMBER_TABLE: sa.Table = ReferralNumber.__table__  # type: ignore[attr-defined]
_NUMBER = sa.insert(_NUMBER_TABLE).returning(_NUMBER_TABLE.c.id)
_SELECT_CHECKS = sa.select(*_CHECKS)


@dataclass(frozen=True)
class _Read:
    """What intake reads for one referral before rating it: its number, the active rule set version, whether the
    sender's key is live, whether its organisation has a webhook subscription, and each child's earlier referrals."""

    number: int
    version: int | None
    key_live: bool
    subscribed: bool
    earlier: list[list[EarlierReferral]]


def _read(*, session: Session, wanted: list[tuple[Caller, list[ChildKey], dt.datetime]]) -> list[_Read]:
    """The reads of each wanted referral (its sender, its children and when it was received); on PostgreSQL three
    statements for them all."""
    connection = session.connection()
    histories = find_earlier_referrals_many(
        connection=connection, wanted=[(children, before) for _, children, before in wanted]
    )
    if connection.dialect.name == "postgresql":
        checked = _checks_postgresql(connection, [caller for caller, _, _ in wanted])
    else:
        at, checked = utc_now(), []
        for caller, _, _ in wanted:
            number = connection.execute(_NUMBER).scalar_one()
            checks = {"live_key_id": caller.key_id, "live_now": at, "subscribed_organisation": caller.organisation_id}
            checked.append((number, *connection.execute(_SELECT_CHECKS, checks).one()))
    return [
        _Read(number, version, caller.key_id is None or live > 0, subscriptions > 0, earlier)
        for (number, version, live, subscriptions), (caller, _, _), earlier in zip(
            checked, wanted, histories, strict=True
        )
    ]


# PostgreSQL takes the numbers of a whole batch in one statement, and reads the checks of every referral in one
# more: the referrals travel as one JSON document of (position, key, organisation).
_NUMBERS = sa.text("INSERT INTO referral_number SELECT FROM generate_series(1, :count) RETURNING id")
_WANTED = (
    sa.func.jsonb_to_recordset(sa.cast(sa.bindparam("wanted", type_=sa.Text), JSONB))
    .table_valued(
        sa.column("position", sa.Integer), sa.column("key_id", sa.Uuid), sa.column("organisation_id", sa.Uuid)
    )
    .render_derived(with_types=True)
)
_CHECKS_MANY = sa.select(
    _WANTED.c.position,
    rulesets.ACTIVE_VERSION,
    auth.live_key_count(_WANTED.c.key_id, sa.bindparam("live_now")),
    feedback.live_subscription_count(_WANTED.c.organisation_id),
).order_by(_WANTED.c.position)


def _checks_postgresql(connection: sa.Connection, callers: list[Caller]) -> list[tuple[int, int | None, int, int]]:
    """For each caller's referral: its number, the active rule set version, and the live key and subscription
    counts; in two statements for them all."""
    numbers = sorted(number for (number,) in bulk.fetch(connection, _NUMBERS, {"count": len(callers)}))
    senders = [
        {"position": position, "key_id": caller.key_id, "organisation_id": caller.organisation_id}
        for position, caller in enumerate(callers)
    ]
    checks = bulk.fetch(connection, _CHECKS_MANY, {"wanted": bulk.document(senders), "live_now": utc_now()})
    return [(number, *check[1:]) for number, check in zip(numbers, checks, strict=True)]


def store(*, session: Session, caller: Caller, referral_in: ReferralIn, received_at: dt.datetime) -> StoredReferral:
    """Store a validated referral with its children, matches, ratings, clock, acknowledgement and audit."""
    submission = Submission(caller, None, None, received_at, audit.current_request_id())
    (stored,) = _store_many(session=session, admitted=[_Admitted(submission, referral_in)])
    if isinstance(stored, BaseException):
        raise stored
    return stored


@dataclass
class _Rows:
    """The rows of the referrals stored together, one statement per table."""

    referrals: list[dict[str, Any]] = field(default_factory=list)
    concerns: list[dict[str, Any]] = field(default_factory=list)
    children: list[dict[str, Any]] = field(default_factory=list)
    matches: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)


def _store_many(*, session: Session, admitted: list[_Admitted]) -> list[StoredReferral | BaseException]:
    """Store validated referrals in SESSION's transaction: for each, its children, matches, ratings, clock,
    acknowledgement and audit; NotAuthenticated in place of one whose key has been revoked (nothing stored)."""
    if not admitted:
        return []
    keys = []
    for one in admitted:
        today = one.submission.received_at.astimezone(LONDON).date()
        keys.append([_child_key(child, today=today) for child in one.referral_in.children])
    reads = _read(
        session=session,
        wanted=[(a.submission.caller, k, a.submission.received_at) for a, k in zip(admitted, keys, strict=True)],
    )
    rows = _Rows()
    stored: list[StoredReferral | BaseException] = []
    # The acknowledgement's event: written with the rows when the organisation has no webhook subscription,
    # after them (its id read back for the outbox) when it has.
    unsubscribed: list[StoredReferral] = []
    subscribed: list[StoredReferral] = []
    for one, child_keys, read in zip(admitted, keys, reads, strict=True):
        if not read.key_live:
            stored.append(NotAuthenticated("The API key is not valid or has been revoked."))
            continue
        rule_set = rulesets.rule_set_of(session=session, version=read.version)
        referral = _rated(one, keys=child_keys, read=read, rule_set=rule_set, rows=rows)
        stored.append(referral)
        (subscribed if read.subscribed else unsubscribed).append(referral)
    # One statement for all the rows (the ORM has no objects to track here).
    acknowledged = [(r, FeedbackEventKind.acknowledged, acknowledgement_message(r)) for r in unsubscribed]
    bulk.insert_all(
        session.connection(),
        [
            (_REFERRAL, rows.referrals),
            (_CONCERN, rows.concerns),
            (_CHILD, rows.children),
            (_MATCH, rows.matches),
            (feedback.TABLE, feedback.unsubscribed_rows(acknowledged)),
            (audit.TABLE, rows.audit),
        ],
    )
    for referral in subscribed:
        # Writing the webhook outbox reads the event's id back: one event at a time, after the rows.
        feedback.emit(
            session=session,
            referral=referral,
            event=FeedbackEventKind.acknowledged,
            message=acknowledgement_message(referral),
        )
    return stored


def _rated(one: _Admitted, *, keys: list[ChildKey], read: _Read, rule_set: Any, rows: _Rows) -> StoredReferral:
    """Rate one referral's children and add its rows (and its audit row) to ROWS; the referral as stored."""
    caller, received_at, referral_in = one.submission.caller, one.submission.received_at, one.referral_in
    assert caller.organisation_id is not None and caller.agency is not None
    concerns = sorted({str(c) for c in referral_in.concerns.categories})
    indicators = sorted({str(i) for i in (referral_in.concerns.indicators or [])})
    agency_details = dict(referral_in.agency_details)
    referral_id = _new_id()

    children: list[dict[str, Any]] = []
    ratings: list[Rating] = []
    for position, (child_in, key) in enumerate(zip(referral_in.children, keys, strict=True)):
        history = read.earlier[position]
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
        child = _child_row(child_in, key=key, position=position, rating=rating, facts=facts)
        child.update(id=_new_id(), referral_id=referral_id, **copied_to_child(caller.agency, concerns, received_at))
        children.append(child)
        rows.matches.extend(
            {"child_id": child["id"], "earlier_child_id": e.child_id, "earlier_referral_id": e.referral_id}
            for e in history
        )

    top = most_urgent(ratings)
    referral = StoredReferral(
        id=referral_id,
        reference=f"MASH-{received_at.astimezone(LONDON).year}-{read.number:06d}",
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
        child_count=len(children),
        concern_bits=concern_bits(concerns),
        told=False,
    )
    rows.referrals.append(vars(referral))
    rows.concerns.extend(concern_rows(referral_id, concerns))
    rows.children.extend(children)
    rows.audit.append(
        audit.row(
            caller=caller,
            action="create",
            entity="referral",
            entity_id=referral.id,
            purpose="referral received",
            detail={"reference": referral.reference, "children": len(children), "rule_set_version": rule_set.version},
            at=utc_now(),
            request_id=one.submission.request_id,
        )
    )
    return referral


def acknowledgement_message(referral: Referral | StoredReferral) -> str:
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


def rated_child(facts: dict[str, Any], rating: Rating) -> dict[str, Any]:
    """A child row's history counts and rating, as intake stores them (and the simulator after it)."""
    return {
        "referrals_12m": facts["history"]["referrals_12m"],
        "neglect_referrals_12m": facts["history"]["neglect_referrals_12m"],
        "level": rating.level,
        "rag": rating.rag,
        "pathway": rating.pathway,
        "reasons": rating.reasons_json(),
        "outcome": None,
        "step_down": None,
    }


def copied_to_child(agency: str, concerns: list[str], received_at: dt.datetime) -> dict[str, Any]:
    """What a child row copies of its referral, so the reports count children without joining referrals."""
    return {"received_at": received_at, "agency": agency, "neglect": "neglect" in concerns}


def concern_rows(referral_id: uuid.UUID, concerns: list[str]) -> list[dict[str, Any]]:
    """A row per concern category."""
    return [{"referral_id": referral_id, "category": c} for c in concerns]


def _child_row(
    child_in: ChildIn, *, key: ChildKey, position: int, rating: Rating, facts: dict[str, Any]
) -> dict[str, Any]:
    voice = child_in.voice
    return {
        "position": position,
        "first_name": child_in.first_name,
        "last_name": child_in.last_name,
        "name_key": key.name_key,
        "date_of_birth": child_in.date_of_birth,
        "expected_date_of_birth": child_in.expected_date_of_birth,
        "unborn": key.unborn,
        "age_years": key.age_years,
        "nhs_number": child_in.nhs_number,
        "gender": child_in.gender,
        "address": child_in.address.model_dump(mode="json", exclude_none=True),
        "postcode": child_in.address.postcode,
        "details": child_in.model_dump(mode="json", exclude_none=True),
        "voice": voice.model_dump(mode="json", exclude_none=True),
        "voice_heard": voice.views is not None,
        "voice_not_obtained_reason": str(voice.not_obtained_reason) if voice.not_obtained_reason else None,
        "history": child_in.history.model_dump(mode="json", exclude_none=True),
        "current_plan": str(child_in.history.current_plan),
        **rated_child(facts, rating),
    }


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
