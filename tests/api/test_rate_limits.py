"""Per-key rate limits: 429 with Retry-After, counted across server processes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Actor
from tests.validation_cases import valid_referral


def test_intake_past_the_limit_is_429_with_retry_after(
    monkeypatch: pytest.MonkeyPatch, database_url: str, make_org: Any
) -> None:
    monkeypatch.setenv("RATE_LIMIT_INTAKE_PER_MINUTE", "3")
    from api.app import create_app
    from triage.settings import get_settings

    get_settings.cache_clear()
    police: Actor = make_org("police")
    other: Actor = make_org("police")
    with TestClient(create_app()) as client:
        responses = [
            client.post("/v1/referrals", json=valid_referral("police", today=dt.date.today()), headers=police.headers)
            for _ in range(7)
        ]
        fresh = client.post(
            "/v1/referrals", json=valid_referral("police", today=dt.date.today()), headers=other.headers
        )
    statuses = [r.status_code for r in responses]
    # Seven requests span at most two one-minute windows: at most six pass.
    assert set(statuses) == {201, 429} and statuses.count(201) <= 6
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.headers["content-type"] == "application/problem+json"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert fresh.status_code == 201, "the limit is per key"


def test_the_window_arithmetic(engine: Any) -> None:
    from triage import ratelimit

    limit = ratelimit.Limit(requests=2, window_seconds=60)
    at = dt.datetime(2026, 11, 29, 10, 0, 50, tzinfo=dt.UTC)
    ratelimit.hit(engine=engine, subject="k", bucket="intake", limit=limit, now=at)
    ratelimit.hit(engine=engine, subject="k", bucket="intake", limit=limit, now=at)
    with pytest.raises(ratelimit.RateLimited) as refused:
        ratelimit.hit(engine=engine, subject="k", bucket="intake", limit=limit, now=at)
    assert refused.value.extra["retry_after"] == 10
    ratelimit.hit(engine=engine, subject="k", bucket="polling", limit=limit, now=at)
    ratelimit.hit(engine=engine, subject="k", bucket="intake", limit=limit, now=at + dt.timedelta(seconds=10))


def test_the_count_is_shared_by_server_processes(live_server_factory: Any, make_org: Any) -> None:
    server = live_server_factory(workers=2, env={"RATE_LIMIT_INTAKE_PER_MINUTE": "4"})
    police: Actor = make_org("police")
    results = []
    with server.client(police) as http:
        for _ in range(12):
            # A fresh connection each time, so requests spread over both workers.
            response = http.post(
                "/v1/referrals", json=valid_referral("police", today=dt.date.today()), headers={"Connection": "close"}
            )
            results.append(response.status_code)
    assert set(results) <= {201, 429}
    assert results.count(201) <= 8, "two windows at most; never four per worker"
    assert results.count(429) >= 4


def test_a_key_well_under_its_limit_is_written_to_the_shared_count_at_most_once_a_second(
    engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy as sa

    from schemas.tables import RateLimitWindow
    from triage import ratelimit

    def shared() -> int:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.sum(RateLimitWindow.count))).scalar_one())

    limit = ratelimit.Limit(requests=1000, window_seconds=60)
    at = dt.datetime(2026, 11, 29, 10, 0, 5, tzinfo=dt.UTC)
    for _ in range(10):
        ratelimit.hit(engine=engine, subject="busy", bucket="intake", limit=limit, now=at)
    # The window's first request is written at once; the next nine are counted here until a second has passed.
    assert shared() == 1
    now = ratelimit.time.monotonic()
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: now + ratelimit.SYNC_SECONDS)
    ratelimit.hit(engine=engine, subject="busy", bucket="intake", limit=limit, now=at)
    assert shared() == 11


def test_near_the_limit_every_request_is_counted_in_the_database(engine: Any) -> None:
    from triage import ratelimit

    limit = ratelimit.Limit(requests=4, window_seconds=60)
    at = dt.datetime(2026, 11, 29, 10, 0, 5, tzinfo=dt.UTC)
    ratelimit.hit(engine=engine, subject="near", bucket="intake", limit=limit, now=at)
    # Another process counts three more in the same window.
    for _ in range(3):
        ratelimit.settle(
            ratelimit.Due(
                engine=engine,
                subject="near",
                bucket="intake",
                limit=limit,
                window=ratelimit._Window(start=at.replace(second=0)),
                added=1,
                now=at,
            )
        )
    # From half the limit on, this process asks the database, so it sees the other's requests at once.
    with pytest.raises(ratelimit.RateLimited):
        ratelimit.hit(engine=engine, subject="near", bucket="intake", limit=limit, now=at)
