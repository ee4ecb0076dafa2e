"""Webhook delivery to a real receiver that checks every signature with `standardwebhooks`: each event, retries
with backoff, Retry-After, 410, timeouts, a worker killed mid-batch, two workers at once, the command and the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.enums import FeedbackEventKind
from tests.api.feedback_support import FEEDBACK_TEXT, TODAY, emit, journey, send
from tests.api.webhook_support import (
    ALL_KINDS,
    FAST,
    Receiver,
    event_of,
    outbox,
    running,
    settled,
    subscribe,
    workers,
)
from tests.conftest import Actor, LiveServer
from tests.validation_cases import valid_referral
from triage.webhook_message import DeliveryPolicy
from triage.webhook_worker import run_worker

# Delivery


def test_every_kind_of_event_is_delivered_signed_and_thin(
    client: TestClient, police: Actor, practitioner: Actor, engine: sa.Engine
) -> None:
    with running(Receiver()) as receiver:
        subscribe(client, police, receiver)
        sent = journey(client, police, practitioner)
        assert run_worker(engine=engine, once=True, policy=FAST) == 5
    assert receiver.rejected == []
    assert [event_of(d) for d in receiver.deliveries] == ALL_KINDS
    for delivery in receiver.deliveries:
        payload = delivery.payload
        assert payload["type"] == f"referral.{payload['data']['event']}"
        assert set(payload["data"]) == {"event_id", "referral_id", "reference", "event", "url"}
        assert payload["data"]["referral_id"] == sent["id"] and payload["data"]["reference"] == sent["reference"]
        assert payload["data"]["url"].endswith(f"/v1/referrals/{sent['id']}/feedback")
        assert delivery.headers["content-type"] == "application/json"
        # Thin: no message, no outcomes, nothing about the children.
        assert FEEDBACK_TEXT not in repr(payload) and "outcomes" not in repr(payload)
    # The details are read with the partner's own key, so the disclosure is authorised and audited.
    details = client.get(f"/v1/referrals/{sent['id']}/feedback", headers=police.headers).json()["items"]
    assert [e["id"] for e in details] == [d.payload["data"]["event_id"] for d in receiver.deliveries]
    assert all(d.state == "delivered" and d.attempts == 1 and d.delivered_at for d in outbox(engine))


def test_a_receiver_failing_twice_is_retried_with_growing_backoff(
    client: TestClient, police: Actor, engine: sa.Engine
) -> None:
    policy = DeliveryPolicy(max_attempts=5, backoff_base=0.3, backoff_max=5.0, timeout=2.0, lease=30.0, poll=0.02)
    receiver = Receiver(script=lambda _id, n: (500, {}) if n <= 2 else (204, {}))
    with running(receiver), workers(engine, policy):
        subscribe(client, police, receiver)
        send(client, police)
        receiver.wait_for(lambda r: len(r.deliveries) == 3)
        receiver.wait_for(settled(engine, 1))
    [first, second, third] = receiver.deliveries
    assert first.msg_id == second.msg_id == third.msg_id
    assert [d.answered for d in receiver.deliveries] == [500, 500, 204]
    # Half of each step is fixed: at least 0.15 s after the first failure, 0.3 s after the second.
    assert second.arrived - first.arrived >= 0.15
    assert third.arrived - second.arrived >= 0.3
    [row] = outbox(engine)
    assert (row.state, row.attempts, row.last_status, row.lease_until) == ("delivered", 3, 204, None)


def test_retry_after_is_respected(client: TestClient, police: Actor, engine: sa.Engine) -> None:
    receiver = Receiver(script=lambda _id, n: (503, {"Retry-After": "1"}) if n == 1 else (200, {}))
    with running(receiver), workers(engine):
        subscribe(client, police, receiver)
        send(client, police)
        receiver.wait_for(lambda r: len(r.deliveries) == 2)
    first, second = receiver.deliveries
    # The policy's own backoff would have retried after 0.05 s at most.
    assert 0.95 <= second.arrived - first.arrived < 3


def test_410_gone_disables_the_subscription(client: TestClient, police: Actor, engine: sa.Engine) -> None:
    receiver = Receiver(script=lambda _id, _n: (410, {}))
    with running(receiver):
        hook = subscribe(client, police, receiver)
        sent = send(client, police)
        emit(engine, sent["id"], FeedbackEventKind.in_triage)
        run_worker(engine=engine, once=True, policy=DeliveryPolicy(batch_size=1, timeout=2.0))
    assert len(receiver.deliveries) == 1
    assert [(d.state, d.attempts) for d in outbox(engine)] == [("failed", 1), ("failed", 0)]
    [listed] = client.get("/v1/webhooks", headers=police.headers).json()["items"]
    assert listed["id"] == hook["id"] and listed["disabled_at"] is not None
    send(client, police)
    assert len(outbox(engine)) == 2


def test_a_delivery_is_failed_after_its_last_attempt(client: TestClient, police: Actor, engine: sa.Engine) -> None:
    policy = DeliveryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.05, timeout=2.0, lease=30.0, poll=0.02)
    receiver = Receiver(script=lambda _id, _n: (500, {}))
    with running(receiver), workers(engine, policy):
        subscribe(client, police, receiver)
        send(client, police)
        receiver.wait_for(settled(engine, 1))
    [row] = outbox(engine)
    assert (row.state, row.attempts, row.last_status) == ("failed", 3, 500)
    assert len(receiver.deliveries) == 3


def test_a_receiver_that_does_not_answer_in_time_is_retried(
    client: TestClient, police: Actor, engine: sa.Engine
) -> None:
    policy = DeliveryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.05, timeout=0.3, lease=30.0, poll=0.02)
    receiver = Receiver(delay=lambda n: 1.0 if n == 1 else 0.0)
    with running(receiver), workers(engine, policy):
        subscribe(client, police, receiver)
        send(client, police)
        receiver.wait_for(settled(engine, 1))
    [row] = outbox(engine)
    assert (row.state, row.attempts) == ("delivered", 2)
    assert len({d.msg_id for d in receiver.deliveries}) == 1


def test_a_deleted_subscription_gets_nothing_more(client: TestClient, police: Actor, engine: sa.Engine) -> None:
    with running(Receiver()) as receiver:
        hook = subscribe(client, police, receiver)
        send(client, police)
        assert client.delete(f"/v1/webhooks/{hook['id']}", headers=police.headers).status_code == 204
        assert run_worker(engine=engine, once=True, policy=FAST) == 0
    assert receiver.deliveries == [] and outbox(engine) == []


def test_two_workers_deliver_each_event_exactly_once(client: TestClient, police: Actor, engine: sa.Engine) -> None:
    policy = DeliveryPolicy(backoff_base=0.05, timeout=2.0, lease=30.0, batch_size=3, poll=0.01)
    receiver = Receiver(delay=lambda _n: 0.01)
    with running(receiver):
        subscribe(client, police, receiver)
        sent = send(client, police)
        emit(engine, sent["id"], FeedbackEventKind.in_triage, times=29)
        with workers(engine, policy, count=2):
            receiver.wait_for(settled(engine, 30), timeout=30)
    assert receiver.rejected == []
    ids = receiver.ids()
    assert len(ids) == 30 and len(set(ids)) == 30
    assert {(d.state, d.attempts) for d in outbox(engine)} == {("delivered", 1)}


def _frontdoor(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    exe = str(Path(sys.executable).parent / "frontdoor")
    return subprocess.Popen(
        [exe, *args], env=dict(os.environ, **env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def test_a_worker_killed_mid_batch_loses_nothing(
    client: TestClient, police: Actor, engine: sa.Engine, database_url: str, tmp_path: Path
) -> None:
    receiver = Receiver(delay=lambda _n: 0.2)
    env = {
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "test",
        "WEBHOOK_TIMEOUT_SECONDS": "0.5",
        "WEBHOOK_LEASE_SECONDS": "4",
        "WEBHOOK_POLL_SECONDS": "0.05",
    }
    with running(receiver):
        subscribe(client, police, receiver)
        sent = send(client, police)
        emit(engine, sent["id"], FeedbackEventKind.in_triage, times=9)
        doomed = _frontdoor("worker", env=env, cwd=tmp_path)
        try:
            receiver.wait_for(lambda r: len(r.deliveries) >= 2, timeout=20)
        finally:
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=10)
        assert len(receiver.deliveries) < 10, "the worker finished before it was killed"
        assert any(d.leased_by for d in outbox(engine)), "the killed worker held no lease"
        # Another worker picks up the rows once the dead one's leases run out.
        with workers(engine, DeliveryPolicy(timeout=0.5, lease=30.0, poll=0.05)):
            receiver.wait_for(settled(engine, 10), timeout=30)
    rows = outbox(engine)
    assert {d.state for d in rows} == {"delivered"}
    assert {f"msg_{d.id.hex}" for d in rows} == set(receiver.ids())
    # At least once: only the request in flight when the worker died may have arrived twice.
    assert len(receiver.ids()) - len(set(receiver.ids())) <= 1
    assert receiver.rejected == []


def test_the_worker_command_delivers_what_is_due_and_stops(
    client: TestClient, police: Actor, database_url: str, tmp_path: Path
) -> None:
    with running(Receiver()) as receiver:
        subscribe(client, police, receiver)
        send(client, police)
        once = _frontdoor("worker", "--once", env={"DATABASE_URL": database_url, "ENVIRONMENT": "test"}, cwd=tmp_path)
        output, _ = once.communicate(timeout=60)
    assert once.returncode == 0, output.decode()
    assert b"1 webhook deliveries attempted" in output
    assert [event_of(d) for d in receiver.deliveries] == ["acknowledged"]


def test_the_server_delivers_webhooks_itself_when_asked_and_stops_cleanly(
    live_server_factory: Callable[..., LiveServer], police: Actor
) -> None:
    server = live_server_factory(env={"RUN_WORKER_IN_SERVER": "true", "WEBHOOK_POLL_SECONDS": "0.05"})
    with running(Receiver()) as receiver, server.client(police) as http:
        created = http.post("/v1/webhooks", json={"url": receiver.url})
        receiver.secret = created.json()["secret"]
        assert http.post("/v1/referrals", json=valid_referral("police", today=TODAY)).status_code == 201
        receiver.wait_for(lambda r: len(r.deliveries) == 1)
    assert receiver.rejected == [] and event_of(receiver.deliveries[0]) == "acknowledged"
    os.killpg(server.process.pid, signal.SIGTERM)
    server.process.wait(timeout=15)  # uvicorn re-raises the signal once shut down, so the code is -15
    log = server.log_path.read_bytes()
    assert b"Application shutdown complete" in log
    assert b"webhook_worker_still_busy_at_shutdown" not in log and b"webhook_worker_stopped_by_error" not in log
