"""Referrals stored together (intake.submit_many): one transaction for the batch, an answer of its own for each."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from schemas.enums import Role
from schemas.tables import AuditEvent, Child, FeedbackEvent, IdempotencyRecord, Referral
from tests.conftest import Actor
from tests.validation_cases import valid_referral
from triage import admin, intake
from triage.auth import SYSTEM, Caller
from triage.db import get_engine, session_scope
from triage.errors import Invalid, NotAuthenticated

TODAY = dt.date.today()


def _caller(org: Actor) -> Caller:
    return Caller(key_id=org.key_id, role=Role.referrer, organisation_id=org.id, agency=org.agency)


def _submission(org: Actor, *, surname: str, key: str | None = None, **changes: Any) -> intake.Submission:
    body = valid_referral(org.agency or "police", today=TODAY)
    body["children"][0]["last_name"] = surname
    body.update(changes)
    return intake.Submission(
        caller=_caller(org), body=body, idempotency_key=key, received_at=dt.datetime.now(dt.UTC), request_id=surname
    )


def _stored_surnames(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(Child.last_name)).scalars())


def test_each_submission_in_a_batch_gets_its_own_answer(make_org: Callable[..., Actor], database_url: str) -> None:
    police, school, revoked = make_org("police"), make_org("school"), make_org("police")
    with session_scope(get_engine()) as session:
        admin.revoke(session=session, caller=SYSTEM, key_id=revoked.key_id)
    batch = [
        _submission(police, surname="Adams", key="key-1"),
        _submission(police, surname="Baker", consent=None),
        _submission(school, surname="Clark"),
        _submission(revoked, surname="Dixon"),
        _submission(police, surname="Evans"),
    ]
    outcomes = intake.submit_many(engine=get_engine(), submissions=batch)

    assert [type(outcome).__name__ for outcome in outcomes] == [
        "IntakeResult",
        "Invalid",
        "IntakeResult",
        "NotAuthenticated",
        "IntakeResult",
    ]
    assert isinstance(outcomes[1], Invalid) and isinstance(outcomes[3], NotAuthenticated)
    answers = [outcome for outcome in outcomes if isinstance(outcome, intake.IntakeResult)]
    assert all(answer.status_code == 201 for answer in answers)
    assert len({answer.body["reference"] for answer in answers}) == 3
    engine = get_engine()
    assert _stored_surnames(engine) == ["Adams", "Clark", "Evans"]
    with engine.connect() as conn:
        audited = conn.execute(
            sa.select(AuditEvent.entity_id, AuditEvent.request_id, AuditEvent.organisation_id).where(
                AuditEvent.action == "create", AuditEvent.entity == "referral"
            )
        ).all()
        acknowledged = conn.execute(sa.select(FeedbackEvent.referral_id, FeedbackEvent.organisation_id)).all()
        record = conn.execute(sa.select(IdempotencyRecord.state, IdempotencyRecord.response)).one()
    # Each audit row names its own request and its own sender; each referrer is told of its own referral.
    by_id = {answer.body["id"]: answer for answer in answers}
    assert sorted(request for _, request, _ in audited) == ["Adams", "Clark", "Evans"]
    assert {(str(r), o) for r, o in acknowledged} == {(i, o) for i, _, o in audited}
    assert {i for i, _, _ in audited} == set(by_id)
    assert record.state == "done" and record.response == answers[0].body
    # A retry of the first with its key replays its answer and stores nothing more.
    (replay,) = intake.submit_many(engine=engine, submissions=[batch[0]])
    assert isinstance(replay, intake.IntakeResult) and replay.replayed and replay.body == answers[0].body
    assert _stored_surnames(engine) == ["Adams", "Clark", "Evans"]


def test_a_referral_that_breaks_its_batch_does_not_cost_the_others_their_place(
    make_org: Callable[..., Actor], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's transaction fails on one referral: the others are stored alone and answered 201; the one that
    failed gets its own error, stores nothing and gives its Idempotency-Key back."""
    police = make_org("police")
    rated = intake._rated

    def fails_for_fox(one: Any, **kwargs: Any) -> Any:
        if one.referral_in.children[0].last_name == "Fox":
            raise RuntimeError("this referral cannot be stored")
        return rated(one, **kwargs)

    monkeypatch.setattr(intake, "_rated", fails_for_fox)
    batch = [
        _submission(police, surname="Ellis", key="key-e"),
        _submission(police, surname="Fox", key="key-f"),
        _submission(police, surname="Grant"),
    ]
    outcomes = intake.submit_many(engine=get_engine(), submissions=batch)

    assert isinstance(outcomes[0], intake.IntakeResult) and outcomes[0].status_code == 201
    assert isinstance(outcomes[1], RuntimeError)
    assert isinstance(outcomes[2], intake.IntakeResult) and outcomes[2].status_code == 201
    engine = get_engine()
    assert _stored_surnames(engine) == ["Ellis", "Grant"]
    with engine.connect() as conn:
        keys = dict(conn.execute(sa.select(IdempotencyRecord.key, IdempotencyRecord.state)).all())
        stored = conn.execute(sa.select(sa.func.count()).select_from(Referral)).scalar_one()
        audited = conn.execute(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "create", AuditEvent.entity == "referral")
        ).scalar_one()
    assert keys == {"key-e": "done"}
    assert stored == audited == 2
    # Corrected and resent with the same key, the failed one is stored.
    monkeypatch.setattr(intake, "_rated", rated)
    (resent,) = intake.submit_many(engine=engine, submissions=[_submission(police, surname="Fox", key="key-f")])
    assert isinstance(resent, intake.IntakeResult) and resent.status_code == 201
    assert _stored_surnames(engine) == ["Ellis", "Fox", "Grant"]


def test_referrals_sent_at_once_over_http_are_all_stored_once(live_server: Any, make_org: Callable[..., Actor]) -> None:
    """Many partners posting at once, so the writers take them in batches: every 201 is a stored referral."""
    import concurrent.futures

    orgs = [make_org("police") for _ in range(4)]

    def post(number: int) -> dict[str, Any]:
        org = orgs[number % len(orgs)]
        body = valid_referral("police", today=TODAY)
        body["children"][0]["last_name"] = f"Batch{number}"
        with live_server.client(org) as client:
            response = client.post("/v1/referrals", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert response.status_code == 201, response.text
        return dict(response.json())

    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(pool.map(post, range(96)))
    engine = get_engine()
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.select(Referral.id, Referral.reference)).all())
    assert {uuid.UUID(a["id"]): a["reference"] for a in answers} == stored
    assert _stored_surnames(engine) == sorted(f"Batch{number}" for number in range(96))


def test_the_keys_of_a_batch_are_claimed_together_and_each_answered_as_alone(
    make_org: Callable[..., Actor], database_url: str
) -> None:
    police = make_org("police")
    engine = get_engine()
    sent, twice = _submission(police, surname="Adams", key="sent"), _submission(police, surname="Baker", key="new")
    (first,) = intake.submit_many(engine=engine, submissions=[sent])
    assert isinstance(first, intake.IntakeResult)
    batch = [
        sent,  # a retry of what was stored: the same answer
        _submission(police, surname="Other", key="sent"),  # the same key with another body: refused
        twice,
        twice,  # the same key twice in one batch: one is stored, the other told it is in flight
        _submission(police, surname="Clark", key="wrong", consent=None),  # invalid: its key is given back
        _submission(police, surname="Dixon", key="fine"),
    ]
    outcomes = intake.submit_many(engine=engine, submissions=batch)

    assert [type(outcome).__name__ for outcome in outcomes] == [
        "IntakeResult",
        "Invalid",
        "IntakeResult",
        "Conflict",
        "Invalid",
        "IntakeResult",
    ]
    replay, _, baker, _, _, dixon = outcomes
    assert isinstance(replay, intake.IntakeResult) and replay.replayed and replay.body == first.body
    assert isinstance(baker, intake.IntakeResult) and isinstance(dixon, intake.IntakeResult)
    assert not baker.replayed and not dixon.replayed
    assert _stored_surnames(engine) == ["Adams", "Baker", "Dixon"]
    with engine.connect() as conn:
        records = dict(conn.execute(sa.select(IdempotencyRecord.key, IdempotencyRecord.response)).all())
    assert records == {"sent": first.body, "new": baker.body, "fine": dixon.body}

    (corrected,) = intake.submit_many(engine=engine, submissions=[_submission(police, surname="Clark", key="wrong")])
    assert isinstance(corrected, intake.IntakeResult) and corrected.status_code == 201
