"""Intake's cached partner keys: a revoked key stores nothing, in the process that revoked it or any other."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import col

from schemas.tables import ApiKey, AuditEvent, Referral, RejectedSubmission
from tests.conftest import Actor, LiveServer
from tests.validation_cases import valid_referral
from triage import auth

TODAY = dt.date.today()


def count(engine: sa.Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def revoke_elsewhere(engine: sa.Engine, key_id: uuid.UUID) -> None:
    """Revoke a key as another server process would: in the database, leaving this process's cache as it was."""
    with engine.begin() as conn:
        conn.execute(sa.update(ApiKey).where(col(ApiKey.id) == key_id).values(revoked_at=dt.datetime.now(dt.UTC)))


def test_a_key_revoked_in_another_process_stores_nothing_while_still_cached(
    client: TestClient, police: Actor, engine: sa.Engine
) -> None:
    assert client.post("/v1/referrals", json=valid_referral("police", today=TODAY), headers=police.headers).is_success
    assert auth.cached_caller(engine=engine, token=police.key) is not None
    revoke_elsewhere(engine, police.key_id)
    # Still in this process's cache, yet intake checks the key in its own transaction.
    assert auth.cached_caller(engine=engine, token=police.key) is not None
    refused = client.post("/v1/referrals", json=valid_referral("police", today=TODAY), headers=police.headers)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    invalid = valid_referral("police", today=TODAY)
    del invalid["consent"]
    # A body that would be refused (422) is still answered 401, and counts no rejection for the revoked key.
    assert client.post("/v1/referrals", json=invalid, headers=police.headers).status_code == 401
    assert count(engine, Referral) == 1
    assert count(engine, RejectedSubmission) == 0
    with engine.connect() as conn:
        created = conn.execute(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(col(AuditEvent.action) == "create", col(AuditEvent.entity) == "referral")
        ).scalar_one()
    assert created == 1


def test_the_cache_forgets_a_key_within_its_ttl(
    police: Actor, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert auth.authenticate_cached(engine=engine, token=police.key).key_id == police.key_id
    revoke_elsewhere(engine, police.key_id)
    assert auth.cached_caller(engine=engine, token=police.key) is not None
    now = auth.time.monotonic()
    monkeypatch.setattr(auth.time, "monotonic", lambda: now + auth.KEY_CACHE_SECONDS)
    assert auth.cached_caller(engine=engine, token=police.key) is None
    with pytest.raises(auth.NotAuthenticated):
        auth.authenticate_cached(engine=engine, token=police.key)


def test_the_revoking_process_forgets_the_key_at_once(
    client: TestClient, police: Actor, admin_user: Actor, engine: sa.Engine
) -> None:
    assert client.post("/v1/referrals", json=valid_referral("police", today=TODAY), headers=police.headers).is_success
    assert client.delete(f"/v1/admin/keys/{police.key_id}", headers=admin_user.headers).status_code == 204
    assert auth.cached_caller(engine=engine, token=police.key) is None
    refused = client.post("/v1/referrals", json=valid_referral("police", today=TODAY), headers=police.headers)
    assert refused.status_code == 401


def test_unknown_and_expired_keys_are_never_served_from_the_cache(
    client: TestClient, police: Actor, engine: sa.Engine
) -> None:
    unknown = client.post(
        "/v1/referrals", json=valid_referral("police", today=TODAY), headers={"Authorization": "Bearer fdk_nope"}
    )
    assert unknown.status_code == 401
    assert auth.cached_caller(engine=engine, token="fdk_nope") is None
    with engine.begin() as conn:
        conn.execute(
            sa.update(ApiKey)
            .where(col(ApiKey.id) == police.key_id)
            .values(expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
        )
    assert client.post("/v1/referrals", json=valid_referral("police", today=TODAY), headers=police.headers).is_success
    cache = auth._cache_for(engine)
    entry = cache[auth.hash_api_key(police.key)]
    cache[auth.hash_api_key(police.key)] = auth._CachedKey(
        caller=entry.caller, expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1), cached_at=entry.cached_at
    )
    assert auth.cached_caller(engine=engine, token=police.key) is None


def test_every_server_process_refuses_a_revoked_key_at_once(
    live_server_factory: Callable[..., LiveServer], make_org: Callable[..., Actor], make_user: Callable[..., Any]
) -> None:
    from schemas.enums import Role

    server = live_server_factory(workers=2)
    police, admin_user = make_org("police"), make_user(Role.admin)
    with server.client(police) as partner, server.client(admin_user) as staff:
        # Fresh connections, so both workers see (and cache) the key.
        for _ in range(6):
            sent = partner.post(
                "/v1/referrals", json=valid_referral("police", today=TODAY), headers={"Connection": "close"}
            )
            assert sent.status_code == 201, sent.text
        assert staff.delete(f"/v1/admin/keys/{police.key_id}").status_code == 204
        after = [
            partner.post(
                "/v1/referrals", json=valid_referral("police", today=TODAY), headers={"Connection": "close"}
            ).status_code
            for _ in range(6)
        ]
    assert after == [401] * 6
