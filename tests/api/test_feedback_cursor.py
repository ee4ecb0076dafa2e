"""The feed's cursor on PostgreSQL, where transactions commit in any order: nothing missed, nothing twice."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session

from schemas.enums import FeedbackEventKind
from schemas.tables import FeedbackEvent, Referral
from tests.api.feedback_support import TODAY, drain, poll, send
from tests.conftest import Actor
from tests.validation_cases import valid_referral
from triage import feedback

pytestmark = pytest.mark.postgres_only


def xid(session: Session) -> int:
    """Give SESSION's transaction its id now, and return it."""
    return int(session.execute(sa.text("SELECT pg_current_xact_id()::text::bigint")).scalar_one())


def emit_in(session: Session, referral_id: str, kind: FeedbackEventKind = FeedbackEventKind.in_triage) -> int:
    referral = session.get(Referral, uuid.UUID(referral_id))
    assert referral is not None
    row = feedback.emit(session=session, referral=referral, event=kind, message=f"{referral.reference}: {kind}")
    assert row.id is not None
    return row.id


def collect(client: TestClient, actor: Actor, after: str | None, count: int) -> tuple[list[int], str | None]:
    """Follow the feed until COUNT new events arrived (other writers on the server may delay them a moment)."""
    ids: list[int] = []
    deadline = time.monotonic() + 15
    while len(ids) < count and time.monotonic() < deadline:
        items, after = drain(client, actor, after)
        ids += [i["id"] for i in items]
        time.sleep(0.02)
    return ids, after


@pytest.mark.postgres_only
def test_a_lower_id_committed_later_is_not_skipped(client: TestClient, police: Actor, engine: sa.Engine) -> None:
    a, b = send(client, police), send(client, police)
    first_two, cursor = collect(client, police, None, 2)
    older, newer = Session(engine), Session(engine)
    try:
        assert xid(older) < xid(newer)
        low_id = emit_in(newer, b["id"])  # the newer transaction takes the lower id...
        high_id = emit_in(older, a["id"])  # ...and the older one the higher
        assert low_id < high_id
        older.commit()
        shown, cursor = collect(client, police, cursor, 1)
        assert shown == [high_id]
        # A cursor on ids alone would now stand past low_id, and never return it once it commits.
        newer.commit()
        late, cursor = collect(client, police, cursor, 1)
        assert late == [low_id]
    finally:
        older.close()
        newer.close()
    everything, _ = collect(client, police, None, 4)
    assert sorted(everything) == sorted([*first_two, low_id, high_id])


@pytest.mark.postgres_only
def test_an_event_is_held_back_while_an_older_writer_may_still_commit(
    client: TestClient, police: Actor, engine: sa.Engine
) -> None:
    a, b = send(client, police), send(client, police)
    _, cursor = collect(client, police, None, 2)
    older, newer = Session(engine), Session(engine)
    try:
        assert xid(older) < xid(newer)
        first = emit_in(older, a["id"])
        second = emit_in(newer, b["id"])
        newer.commit()
        time.sleep(0.2)
        # Committed, but not shown yet: were it shown, the poller would move past `first`.
        assert poll(client, police, cursor)["items"] == []
        older.commit()
        shown, _ = collect(client, police, cursor, 2)
        assert shown == [first, second]
    finally:
        older.close()
        newer.close()


@pytest.mark.postgres_only
def test_a_poller_gets_every_event_exactly_once_under_concurrent_writers(
    live_server_factory: Callable[..., Any], police: Actor, engine: sa.Engine
) -> None:
    unlimited = {"RATE_LIMIT_INTAKE_PER_MINUTE": "100000", "RATE_LIMIT_POLLING_PER_MINUTE": "100000"}
    server = live_server_factory(workers=2, env=unlimited)
    posted: list[str] = []
    received: list[dict[str, Any]] = []
    writers_done = threading.Event()
    failures: list[str] = []

    def post_referrals(count: int) -> None:
        with server.client(police) as http:
            for _ in range(count):
                response = http.post("/v1/referrals", json=valid_referral("police", today=TODAY))
                if response.status_code != 201:
                    failures.append(f"intake {response.status_code}")
                    continue
                posted.append(response.json()["id"])

    def slow_writers(count: int, seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(count):
            while not posted:
                time.sleep(0.01)
            with Session(engine) as session:
                xid(session)  # take a transaction id early, then take a while to commit
                time.sleep(rng.uniform(0, 0.03))
                emit_in(session, rng.choice(posted))
                time.sleep(rng.uniform(0, 0.06))
                session.commit()

    def poller() -> None:
        after: str | None = None
        give_up = float("inf")
        with server.client(police) as http:
            while time.monotonic() < give_up:
                params = {"limit": 7} | ({"after": after} if after else {})
                page = http.get("/v1/feedback", params=params)
                if page.status_code != 200:
                    failures.append(f"poll {page.status_code}")
                    return
                body = page.json()
                received.extend(body["items"])
                after = body["next_cursor"]
                if not body["items"]:
                    if writers_done.is_set():
                        if len(received) >= _event_count(engine):
                            return
                        give_up = min(give_up, time.monotonic() + 10)
                    time.sleep(0.005)

    threads = [threading.Thread(target=post_referrals, args=(8,)) for _ in range(6)]
    threads += [threading.Thread(target=slow_writers, args=(10, seed)) for seed in range(3)]
    watcher = threading.Thread(target=poller)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    writers_done.set()
    watcher.join(timeout=60)
    assert not watcher.is_alive()
    assert failures == []
    ids = [item["id"] for item in received]
    with Session(engine) as session:
        written = set(session.execute(sa.select(FeedbackEvent.id)).scalars())
    assert len(written) == 48 + 30
    assert len(ids) == len(set(ids)), "an event was received twice"
    assert set(ids) == written, "an event was missed"
    acknowledged = {item["referral_id"] for item in received if item["event"] == "acknowledged"}
    assert acknowledged == set(posted)


def _event_count(engine: sa.Engine) -> int:
    with Session(engine) as session:
        return int(session.execute(sa.select(sa.func.count()).select_from(FeedbackEvent)).scalar_one())


@pytest.mark.postgres_only
def test_a_long_transaction_in_another_database_does_not_hold_the_feed_back(
    client: TestClient, police: Actor, engine: sa.Engine
) -> None:
    _, cursor = collect(client, police, None, 0)
    elsewhere = sa.create_engine(engine.url.set(database="postgres"), poolclass=sa.pool.NullPool)
    try:
        with elsewhere.connect() as other:
            older = int(other.execute(sa.text("SELECT pg_current_xact_id()::text::bigint")).scalar_one())
            sent = send(client, police)
            with engine.connect() as conn:
                written = conn.execute(
                    sa.select(FeedbackEvent.tx_id).where(FeedbackEvent.referral_id == uuid.UUID(sent["id"]))  # type: ignore[arg-type]
                ).scalar_one()
            assert written is not None and written > older
            shown, _ = collect(client, police, cursor, 1)
            assert len(shown) == 1, "a transaction in another database held the feed back"
            other.rollback()
    finally:
        elsewhere.dispose()
