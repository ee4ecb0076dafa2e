"""Faults with nothing lost: referrals keep arriving while PostgreSQL restarts, a worker is killed and the
partner's webhook receiver is down.

Run by `make test-faults` (PostgreSQL only, one test at a time: it restarts the database server).
FAULT_PG_CLUSTER and FAULT_PG_PORT name the cluster to restart (default: main on 5432, as in CI);
TEST_DATABASE_URL must point at that same cluster.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from schemas.tables import FeedbackEvent, IdempotencyRecord, Referral, WebhookDelivery
from tests.conftest import Actor, LiveServer, free_port
from tests.faults.support import HANG_SECONDS, FeedReader, RestartableReceiver, Tally, referrer_loop

pytestmark = [pytest.mark.postgres_only, pytest.mark.faults]

CLIENTS = 32
RUN_SECONDS = float(os.environ.get("FAULT_RUN_SECONDS", "40"))
CLUSTER_NAME = os.environ.get("FAULT_PG_CLUSTER", "main")
PG_PORT = os.environ.get("FAULT_PG_PORT", "5432")
# After the run: how long the outbox may take to empty (leases of the killed worker, backoff after the outage).
SETTLE_SECONDS = 120.0
# A referral may wait for its 201 as long as the longest outage, and this much more (backoff, takeover, queueing).
ORPHAN_SLACK_SECONDS = 20.0

SERVER_ENV = {
    "RATE_LIMIT_INTAKE_PER_MINUTE": "1000000",
    "RATE_LIMIT_POLLING_PER_MINUTE": "1000000",
    # Each server worker process delivers webhooks too, so the SIGKILL also kills a delivery worker mid-lease.
    "RUN_WORKER_IN_SERVER": "true",
    # Production's minutes scaled to seconds so that the run stays short; the mechanisms are the same.
    "WEBHOOK_POLL_SECONDS": "0.2",
    "WEBHOOK_BACKOFF_BASE_SECONDS": "0.5",
    "WEBHOOK_BACKOFF_MAX_SECONDS": "4",
    "WEBHOOK_TIMEOUT_SECONDS": "2",
    "WEBHOOK_LEASE_SECONDS": "12",
}


def _pg_version() -> str:
    return sorted(os.listdir("/etc/postgresql"))[-1]


def _pg(action: str, *extra: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", _pg_version(), CLUSTER_NAME, action, *extra],
        check=True,
        capture_output=True,
        timeout=60,
    )


def _restart_postgres() -> float:
    """Restart the cluster as a crash would (no checkpoint): how long it was away, in seconds."""
    started = time.monotonic()
    _pg("restart", "-m", "immediate")
    return time.monotonic() - started


def _pg_ready() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", PG_PORT, "-q"], check=False).returncode == 0


@pytest.fixture
def postgres_comes_back(database_url: str) -> Iterator[None]:
    port = sa.engine.make_url(database_url).port or 5432
    if str(port) != PG_PORT:
        pytest.fail(f"TEST_DATABASE_URL is on port {port}, FAULT_PG_PORT is {PG_PORT}: the wrong cluster would restart")
    yield
    if not _pg_ready():
        _pg("start")
    for _ in range(60):
        if _pg_ready():
            return
        time.sleep(0.5)


@pytest.fixture
def webhook_receiver() -> Iterator[RestartableReceiver]:
    receiver = RestartableReceiver(free_port())
    receiver.up()
    yield receiver
    receiver.down()


def _worker_pids(server: LiveServer) -> list[int]:
    """uvicorn's worker processes (its other child is multiprocessing's resource tracker)."""
    out = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True, check=False)
    pids = []
    for pid in map(int, out.stdout.split()):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
        except OSError:
            continue
    return pids


def _wait_until(condition: Callable[[], bool], timeout: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def _pending_deliveries(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(WebhookDelivery).where(WebhookDelivery.state == "pending")
            ).scalar_one()
        )


def test_nothing_is_lost_through_restarts_a_killed_worker_and_a_receiver_outage(
    live_server_factory: Any,
    make_org: Any,
    engine: sa.Engine,
    postgres_comes_back: None,
    webhook_receiver: RestartableReceiver,
) -> None:
    started = time.monotonic()
    server: LiveServer = live_server_factory(workers=2, env=SERVER_ENV)
    police: Actor = make_org("police")
    with server.client(police) as http:
        created = http.post("/v1/webhooks", json={"url": webhook_receiver.url})
    assert created.status_code == 201, created.text
    webhook_receiver.receiver.secret = created.json()["secret"]

    tally = Tally()
    stop = threading.Event()
    errors: list[BaseException] = []

    def referrer() -> None:
        try:
            referrer_loop(server.base_url, police.key, stop, tally)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    feed = FeedReader(server.base_url, police.key)
    stop_polling = threading.Event()
    threads = [threading.Thread(target=referrer, daemon=True) for _ in range(CLIENTS)]
    poller = threading.Thread(target=feed.follow, args=(stop_polling,), daemon=True)
    for thread in [*threads, poller]:
        thread.start()

    load_started = time.monotonic()
    # Five steps of load, each fault a step apart; a restart returns once PostgreSQL is back, so however long
    # it takes, the service always runs a while between two faults.
    step = RUN_SECONDS / 5
    time.sleep(step / 2)
    webhook_receiver.down()
    time.sleep(step / 2)
    outages = [_restart_postgres()]
    time.sleep(step)
    workers = _worker_pids(server)
    assert len(workers) == 2, "the server has two worker processes"
    killed = workers[0]
    os.kill(killed, signal.SIGKILL)
    time.sleep(step / 2)
    webhook_receiver.up()
    time.sleep(step / 2)
    outages.append(_restart_postgres())
    time.sleep(step * 2)
    stop.set()
    # Each client finishes the referral in hand (its retries keep the same key).
    for thread in threads:
        thread.join(timeout=90)
    load_seconds = time.monotonic() - load_started
    stop_polling.set()
    poller.join(timeout=30)
    assert not errors, errors[:3]
    assert not any(t.is_alive() for t in threads), "every referrer finished"

    # Everything the run wrote, read once the writers have stopped.
    with engine.connect() as conn:
        referrals = [str(r) for r in conn.execute(sa.select(Referral.id)).scalars()]
        keys = conn.execute(sa.select(IdempotencyRecord.key, IdempotencyRecord.state, IdempotencyRecord.response)).all()
        events = conn.execute(sa.select(FeedbackEvent.id, FeedbackEvent.referral_id, FeedbackEvent.event)).all()
    feed.drain(expected=len(events))
    settled = _wait_until(lambda: _pending_deliveries(engine) == 0, timeout=SETTLE_SECONDS)
    with engine.connect() as conn:
        outbox = conn.execute(
            sa.select(WebhookDelivery.id, WebhookDelivery.event_id, WebhookDelivery.state, WebhookDelivery.attempts)
        ).all()
    with httpx.Client(base_url=server.base_url) as http:
        ready = http.get("/readyz").status_code
    survivors = _worker_pids(server)
    log = server.log_path.read_text(errors="replace")

    stored = set(referrals)
    acknowledged_ids = list(tally.acknowledged.values())
    event_ids = {row.id for row in events}
    feed_ids = [int(e["id"]) for e in feed.events]
    delivered_ids = webhook_receiver.event_ids()
    states = Counter(row.state for row in outbox)
    print(
        "\nfault run:"
        f"\n  referrals acknowledged (201): {len(tally.acknowledged)} from {CLIENTS} clients in {load_seconds:.0f} s;"
        f" stored {len(referrals)}; duplicates {len(referrals) - len(stored)}"
        f"\n  requests {tally.requests}: retries {tally.retries}, replays checked {tally.replays},"
        f" statuses {dict(sorted(tally.statuses.items()))}, transport errors {dict(tally.transport_errors)}"
        f"\n  503s seen: {tally.statuses[503]} (slowest {tally.slowest_unavailable:.2f} s);"
        f" slowest answer {tally.slowest:.2f} s; longest wait for a 201 {tally.longest_wait:.1f} s"
        f"\n  feedback events: {len(events)} stored, {len(feed_ids)} read from the feed"
        f" ({len(feed_ids) - len(set(feed_ids))} twice) in {feed.polls} polls ({feed.failed_polls} failed)"
        f"\n  webhook events: {len(set(delivered_ids))} delivered in {len(delivered_ids)} deliveries"
        f" ({len(delivered_ids) - len(set(delivered_ids))} repeats), outbox {dict(states)},"
        f" most attempts {max((row.attempts for row in outbox), default=0)},"
        f" receiver outages {webhook_receiver.outages}"
        f"\n  PostgreSQL away {', '.join(f'{o:.1f}' for o in outages)} s; worker {killed} killed,"
        f" workers now {survivors}; whole test {time.monotonic() - started:.0f} s"
    )

    # Every referral acknowledged with 201 exists exactly once, and nothing else was stored.
    assert len(tally.acknowledged) > 50, "the load generator made progress"
    assert len(set(acknowledged_ids)) == len(acknowledged_ids), "two keys were acknowledged with one referral"
    assert set(acknowledged_ids) == stored, "stored referrals are exactly the acknowledged ones"
    assert len(referrals) == len(stored)
    # No key produced two referrals: one finished record per key, each naming its own referral.
    done = {row.key: str(row.response["id"]) for row in keys if row.state == "done"}
    assert done == tally.acknowledged, "each key's stored answer is the referral its client was given"
    assert all(row.state == "done" for row in keys), "no claim was left behind"
    # Every referral was acknowledged once, and every feedback event reached the feed, once, in order of arrival.
    assert Counter(str(row.referral_id) for row in events if row.event == "acknowledged") == Counter(stored)
    assert len(feed_ids) == len(set(feed_ids)), "the feed gave an event twice"
    assert set(feed_ids) == event_ids, "every feedback event reached the feed"
    # Every webhook event was delivered at least once, signed.
    assert settled, f"the outbox did not empty in {SETTLE_SECONDS:.0f} s: {dict(states)}"
    assert states == Counter({"delivered": len(event_ids)}), "one delivered outbox row per event"
    assert {row.event_id for row in outbox} == event_ids
    assert set(delivered_ids) == event_ids, "every webhook event reached the receiver"
    assert webhook_receiver.receiver.rejected == [], "every delivery was signed"
    # While the database was away the service said so: 503 problem+json with Retry-After, at once, never a 500.
    assert tally.statuses[503] > 0, "the service said 503 while the database was away"
    for answer in tally.unavailable:
        assert answer["content_type"] == "application/problem+json", answer
        assert answer["retry_after"] and answer["retry_after"].isdigit(), answer
        body = json.loads(answer["body"])
        assert body["status"] == 503 and body["type"] == "/problems/unavailable", body
        assert "Traceback" not in answer["body"] and "psycopg" not in answer["body"], answer
    assert not tally.server_errors, f"no 500s: a lost database is a 503: {tally.server_errors[:3]}"
    assert tally.slowest < HANG_SECONDS and "ReadTimeout" not in tally.transport_errors, "no request hung"
    # A retry takes over a claim whose request died (killed, or cut off by the restart) as soon as the database
    # is back, instead of waiting out the 30 s after which a claim is presumed abandoned.
    assert tally.longest_wait < max(outages) + ORPHAN_SLACK_SECONDS, "a retry waited for an orphaned claim"
    assert "unexpected_error" not in log and "Exception in ASGI application" not in log
    assert "webhook_worker_stopped_by_error" not in log
    for line in log.splitlines():
        if line.startswith("{"):
            json.loads(line)  # one JSON object a line, even with two processes and their threads writing
    # And it recovered on its own: the killed worker was replaced, and the service is ready.
    assert killed not in survivors and len(survivors) == 2, "uvicorn replaced the killed worker"
    assert ready == 200
