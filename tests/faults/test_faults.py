"""Faults with nothing lost: referrals keep arriving while PostgreSQL restarts and a worker is killed.

Run by `make test-faults` (PostgreSQL only, one test at a time: it restarts the database server).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from schemas.tables import FeedbackEvent, IdempotencyRecord, Referral
from tests.conftest import Actor, LiveServer
from tests.validation_cases import valid_referral

pytestmark = [pytest.mark.postgres_only, pytest.mark.faults]

CLIENTS = 32
RUN_SECONDS = float(os.environ.get("FAULT_RUN_SECONDS", "40"))


def _cluster() -> str:
    return sorted(os.listdir("/etc/postgresql"))[-1]


CLUSTER_NAME = os.environ.get("FAULT_PG_CLUSTER", "main")
PG_PORT = os.environ.get("FAULT_PG_PORT", "5432")


def _pg(action: str, *extra: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", _cluster(), CLUSTER_NAME, action, *extra],
        check=True,
        capture_output=True,
        timeout=60,
    )


def _pg_ready() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", PG_PORT, "-q"], check=False).returncode == 0


@pytest.fixture
def postgres_comes_back() -> Any:
    yield
    if not _pg_ready():
        _pg("start")
    for _ in range(60):
        if _pg_ready():
            return
        time.sleep(0.5)


@dataclass
class Tally:
    acknowledged: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> referral id
    statuses: Counter[int] = field(default_factory=Counter)
    unavailable_bodies: list[dict[str, Any]] = field(default_factory=list)
    transport_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client_loop(base_url: str, key: str, stop: threading.Event, tally: Tally) -> None:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=20) as http:
        while not stop.is_set():
            idempotency_key = str(uuid.uuid4())
            body = valid_referral("police", today=dt.date.today())
            for attempt in range(200):
                try:
                    response = http.post("/v1/referrals", json=body, headers={"Idempotency-Key": idempotency_key})
                except httpx.HTTPError:
                    with tally.lock:
                        tally.transport_errors += 1
                    time.sleep(min(0.1 * 2**attempt, 1.0))
                    continue
                with tally.lock:
                    tally.statuses[response.status_code] += 1
                    if response.status_code == 503 and len(tally.unavailable_bodies) < 5:
                        tally.unavailable_bodies.append(
                            {"type": response.headers.get("content-type"), "body": response.json()}
                        )
                if response.status_code == 201:
                    with tally.lock:
                        tally.acknowledged[idempotency_key] = response.json()["id"]
                    break
                if response.status_code == 422:
                    raise AssertionError(f"a valid referral was refused: {response.text}")
                # 409 (the first try is in flight or died mid-way), 429, 5xx: retry with the same key.
                time.sleep(min(0.1 * 2**attempt, 2.0))
            else:
                raise AssertionError("a referral was never acknowledged")


def _worker_pids(server: LiveServer) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def test_nothing_is_lost_through_restarts_and_a_killed_worker(
    live_server_factory: Any, make_org: Any, engine: sa.Engine, postgres_comes_back: None, tmp_path: Path
) -> None:
    server: LiveServer = live_server_factory(workers=2, env={"RATE_LIMIT_INTAKE_PER_MINUTE": "1000000"})
    police: Actor = make_org("police")
    tally = Tally()
    stop = threading.Event()
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            _client_loop(server.base_url, police.key, stop, tally)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    step = RUN_SECONDS / 5
    time.sleep(step)
    _pg("restart", "-m", "immediate")
    time.sleep(step)
    workers = _worker_pids(server)
    assert workers, "the server has worker processes"
    os.kill(workers[0], signal.SIGKILL)
    time.sleep(step)
    _pg("restart", "-m", "immediate")
    time.sleep(step * 2)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[:3]
    assert not any(t.is_alive() for t in threads)

    with engine.connect() as conn:
        referrals = conn.execute(sa.select(Referral.id)).scalars().all()
        done_keys = conn.execute(
            sa.select(IdempotencyRecord.key, IdempotencyRecord.referral_id, IdempotencyRecord.response)
        ).all()
        acknowledged_events = (
            conn.execute(sa.select(FeedbackEvent.referral_id).where(FeedbackEvent.event == "acknowledged"))
            .scalars()
            .all()
        )
    stored = {str(r) for r in referrals}
    acknowledged_ids = set(tally.acknowledged.values())
    print(
        f"\nfault run: {len(tally.acknowledged)} acknowledged, {len(stored)} stored, statuses {dict(tally.statuses)}, "
        f"transport errors {tally.transport_errors}"
    )
    assert len(tally.acknowledged) > 50, "the load generator made progress"
    assert acknowledged_ids <= stored, "every referral acknowledged with 201 exists"
    assert len(stored) == len(referrals), "no duplicates"
    by_key = Counter(str(row.response["id"]) for row in done_keys if row.response)
    assert all(count == 1 for count in by_key.values()), "no key produced two referrals"
    assert len(stored) == len(acknowledged_ids), "nothing stored that was never acknowledged to someone"
    assert Counter(str(r) for r in acknowledged_events) == Counter(stored), "every referral has one acknowledgement"
    assert tally.statuses[503] > 0, "the service said 503 while the database was away"
    assert all(b["type"] == "application/problem+json" for b in tally.unavailable_bodies)
    assert tally.statuses[500] == 0, "no 500s: a lost database is a 503"
    # And it recovered on its own.
    with httpx.Client(base_url=server.base_url) as http:
        assert http.get("/readyz").status_code == 200
