"""Idempotency-Key: replay, a different body, in flight, and concurrent retries against a real server."""

from __future__ import annotations

import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.enums import IdempotencyState
from schemas.tables import IdempotencyRecord, Referral
from schemas.types import utc_now
from tests.conftest import Actor, LiveServer
from tests.validation_cases import valid_referral


def _count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(Referral)).scalar_one())


def test_a_retry_replays_the_first_answer(client: TestClient, police: Actor, engine: sa.Engine) -> None:
    body = valid_referral("police", today=dt.date.today())
    headers = {**police.headers, "Idempotency-Key": "retry-1"}
    first = client.post("/v1/referrals", json=body, headers=headers)
    second = client.post("/v1/referrals", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert _count(engine) == 1


def test_the_same_key_with_a_different_body_is_refused(client: TestClient, police: Actor, engine: sa.Engine) -> None:
    headers = {**police.headers, "Idempotency-Key": "retry-2"}
    assert (
        client.post("/v1/referrals", json=valid_referral("police", today=dt.date.today()), headers=headers).status_code
        == 201
    )
    other = client.post("/v1/referrals", json=valid_referral("police", today=dt.date.today()), headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert _count(engine) == 1


def test_keys_are_scoped_to_the_organisation(
    client: TestClient, police: Actor, make_org: Any, engine: sa.Engine
) -> None:
    other_police = make_org("police")
    body = valid_referral("police", today=dt.date.today())
    a = client.post("/v1/referrals", json=body, headers={**police.headers, "Idempotency-Key": "shared"})
    b = client.post("/v1/referrals", json=body, headers={**other_police.headers, "Idempotency-Key": "shared"})
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert client.get(f"/v1/referrals/{a.json()['id']}", headers=other_police.headers).status_code == 404


def test_a_retry_while_the_first_is_in_flight_gets_409(client: TestClient, police: Actor, engine: sa.Engine) -> None:
    body = valid_referral("police", today=dt.date.today())
    from triage.idempotency import body_hash

    with engine.begin() as conn:
        conn.execute(
            sa.insert(IdempotencyRecord).values(
                organisation_id=police.id,
                key="busy",
                request_hash=body_hash(body),
                state=IdempotencyState.in_flight,
                created_at=utc_now(),
                updated_at=utc_now(),
            )
        )
    response = client.post("/v1/referrals", json=body, headers={**police.headers, "Idempotency-Key": "busy"})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert _count(engine) == 0


def test_an_abandoned_claim_is_taken_over(client: TestClient, police: Actor, engine: sa.Engine) -> None:
    body = valid_referral("police", today=dt.date.today())
    from triage.idempotency import body_hash

    stale = utc_now() - dt.timedelta(minutes=5)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(IdempotencyRecord).values(
                organisation_id=police.id,
                key="stale",
                request_hash=body_hash(body),
                state=IdempotencyState.in_flight,
                created_at=stale,
                updated_at=stale,
            )
        )
    response = client.post("/v1/referrals", json=body, headers={**police.headers, "Idempotency-Key": "stale"})
    assert response.status_code == 201
    assert _count(engine) == 1


def test_an_empty_or_overlong_key_is_refused(client: TestClient, police: Actor) -> None:
    body = valid_referral("police", today=dt.date.today())
    long_key = client.post("/v1/referrals", json=body, headers={**police.headers, "Idempotency-Key": "k" * 256})
    assert long_key.status_code == 422
    assert long_key.json()["errors"][0]["parameter"] == "Idempotency-Key"


def test_concurrent_requests_with_one_key_create_one_referral(
    live_server_factory: Any, police: Actor, engine: sa.Engine
) -> None:
    server: LiveServer = live_server_factory(workers=2)
    body = valid_referral("police", today=dt.date.today())
    key = str(uuid.uuid4())

    def send(_: int) -> tuple[int, str | None]:
        with server.client(police) as http:
            response = http.post("/v1/referrals", json=body, headers={"Idempotency-Key": key})
            return response.status_code, response.json().get("id")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(send, range(8)))
    statuses = [status for status, _ in results]
    assert set(statuses) <= {201, 409}, results
    assert statuses.count(201) >= 1
    assert len({rid for status, rid in results if status == 201}) == 1
    assert _count(engine) == 1
    with server.client(police) as http:
        final = http.post("/v1/referrals", json=body, headers={"Idempotency-Key": key})
    assert final.status_code == 201 and final.json()["id"] == next(rid for s, rid in results if s == 201)


def _in_flight(engine: sa.Engine, police: Actor, key: str, body: dict[str, Any], *, age: dt.timedelta) -> None:
    from triage.idempotency import body_hash

    claimed = utc_now() - age
    with engine.begin() as conn:
        conn.execute(
            sa.insert(IdempotencyRecord).values(
                organisation_id=police.id,
                key=key,
                request_hash=body_hash(body),
                state=IdempotencyState.in_flight,
                created_at=claimed,
                updated_at=claimed,
            )
        )


@pytest.mark.postgres_only
def test_a_claim_whose_request_died_is_taken_over_within_seconds(
    client: TestClient, police: Actor, engine: sa.Engine
) -> None:
    # Nobody holds the claim's row lock: the request that made it is gone (killed, or its connection lost).
    body = valid_referral("police", today=dt.date.today())
    _in_flight(engine, police, "orphan", body, age=dt.timedelta(seconds=5))
    response = client.post("/v1/referrals", json=body, headers={**police.headers, "Idempotency-Key": "orphan"})
    assert response.status_code == 201
    assert _count(engine) == 1


@pytest.mark.postgres_only
def test_a_claim_held_by_a_live_request_is_never_taken_over(
    client: TestClient, police: Actor, engine: sa.Engine
) -> None:
    body = valid_referral("police", today=dt.date.today())
    _in_flight(engine, police, "slow", body, age=dt.timedelta(minutes=5))
    headers = {**police.headers, "Idempotency-Key": "slow"}
    with engine.connect() as live:
        # What a request still working on its referral holds (triage.idempotency.hold).
        live.execute(sa.select(IdempotencyRecord.key).where(IdempotencyRecord.key == "slow").with_for_update())
        assert client.post("/v1/referrals", json=body, headers=headers).status_code == 409
        live.rollback()
    assert client.post("/v1/referrals", json=body, headers=headers).status_code == 201
    assert _count(engine) == 1


def test_only_one_of_two_requests_holding_a_key_stores_its_referral(police: Actor, engine: sa.Engine) -> None:
    # A request that was taken over finishes late: its answer is refused and its referral rolled back.
    from sqlmodel import Session

    from triage import idempotency
    from triage.errors import Conflict

    body = valid_referral("police", today=dt.date.today())
    _in_flight(engine, police, "twice", body, age=dt.timedelta(0))
    with Session(engine) as first:
        idempotency.complete(session=first, organisation_id=police.id, key="twice", status_code=201, body={"id": "a"})
        first.commit()
    with Session(engine) as late, pytest.raises(Conflict):
        idempotency.hold(session=late, organisation_id=police.id, key="twice")
    with Session(engine) as late, pytest.raises(Conflict):
        idempotency.complete(session=late, organisation_id=police.id, key="twice", status_code=201, body={"id": "b"})
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(IdempotencyRecord.response).where(IdempotencyRecord.key == "twice")
        ).scalar_one()
    assert stored == {"id": "a"}


def test_a_batch_holds_and_finishes_only_the_keys_still_its_own(police: Actor, engine: sa.Engine) -> None:
    # What intake does for a batch of keyed referrals: one hold and one set of answers for all of them.
    from sqlmodel import Session

    from triage import idempotency
    from triage.errors import Conflict

    body = valid_referral("police", today=dt.date.today())
    for key in ("mine", "finished"):
        _in_flight(engine, police, key, body, age=dt.timedelta(0))
    with Session(engine) as other:
        idempotency.complete(session=other, organisation_id=police.id, key="finished", status_code=201, body={})
        other.commit()
    with Session(engine) as batch:
        keys = [(police.id, "mine"), (police.id, "finished"), (police.id, "never-claimed")]
        assert idempotency.hold_many(session=batch, keys=keys) == {(police.id, "mine")}
        idempotency.complete_many(session=batch, answers=[(police.id, "mine", 201, {"id": "a"})])
        batch.commit()
    with Session(engine) as late, pytest.raises(Conflict):
        idempotency.complete_many(session=late, answers=[(police.id, "mine", 201, {"id": "b"})])
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.select(IdempotencyRecord.key, IdempotencyRecord.response)).all())
    assert stored == {"mine": {"id": "a"}, "finished": {}}
