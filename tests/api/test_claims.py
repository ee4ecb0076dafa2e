"""Claiming and releasing a referral: one holder at a time, even when claims race across server processes."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.enums import Role
from tests.api.workflow_support import audit_actions, body, claim, decide, feedback_kinds, refer, referral_row
from tests.conftest import Actor, LiveServer


def test_the_first_claim_starts_triage_and_tells_the_referrer_once(
    client: TestClient, police: Actor, practitioner: Actor, engine: sa.Engine
) -> None:
    referral_id = refer(client, police)["id"]
    response = client.post(f"/v1/referrals/{referral_id}/claim", headers=practitioner.headers)
    assert response.status_code == 200
    held = response.json()
    assert held["status"] == "in_triage" and held["assigned_to"] == str(practitioner.id) and held["claimed_at"]
    row = referral_row(engine, referral_id)
    assert row.in_triage_at is not None and row.assigned_to == practitioner.id
    # Claiming again is harmless and tells the referrer nothing new.
    again = client.post(f"/v1/referrals/{referral_id}/claim", headers=practitioner.headers)
    assert again.status_code == 200 and again.json()["assigned_to"] == str(practitioner.id)
    assert referral_row(engine, referral_id).in_triage_at == row.in_triage_at
    assert feedback_kinds(engine, referral_id) == ["acknowledged", "in_triage"]
    assert client.get(f"/v1/referrals/{referral_id}", headers=police.headers).json()["status"] == "in_triage"


def test_a_referral_held_by_another_is_refused_naming_the_holder(
    client: TestClient, police: Actor, practitioner: Actor, make_user: Callable[..., Actor]
) -> None:
    colleague = make_user(Role.practitioner)
    referral_id = refer(client, police)["id"]
    claim(client, practitioner, referral_id)
    refused = client.post(f"/v1/referrals/{referral_id}/claim", headers=colleague.headers)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["assigned_to"] == str(practitioner.id)


def test_release_then_another_may_claim_without_a_second_in_triage_event(
    client: TestClient, police: Actor, practitioner: Actor, make_user: Callable[..., Actor], engine: sa.Engine
) -> None:
    colleague = make_user(Role.practitioner)
    referral_id = refer(client, police)["id"]
    claim(client, practitioner, referral_id)
    released = client.post(f"/v1/referrals/{referral_id}/release", headers=practitioner.headers)
    assert released.status_code == 200
    assert released.json()["assigned_to"] is None and released.json()["status"] == "in_triage"
    claim(client, colleague, referral_id)
    assert referral_row(engine, referral_id).assigned_to == colleague.id
    assert feedback_kinds(engine, referral_id) == ["acknowledged", "in_triage"]
    assert [a for a, _ in audit_actions(engine, referral_id) if a in ("claim", "release")] == [
        "claim",
        "release",
        "claim",
    ]
    actors = [actor for action, actor in audit_actions(engine, referral_id) if action in ("claim", "release")]
    assert actors == [practitioner.id, practitioner.id, colleague.id]


def test_only_the_holder_or_a_manager_may_release(
    client: TestClient, police: Actor, practitioner: Actor, manager: Actor, make_user: Callable[..., Actor]
) -> None:
    colleague = make_user(Role.practitioner)
    referral_id = refer(client, police)["id"]
    claim(client, practitioner, referral_id)
    assert client.post(f"/v1/referrals/{referral_id}/release", headers=colleague.headers).status_code == 403
    assert client.post(f"/v1/referrals/{referral_id}/release", headers=manager.headers).status_code == 200
    nobody = client.post(f"/v1/referrals/{referral_id}/release", headers=practitioner.headers)
    assert nobody.status_code == 409


def test_a_decided_referral_cannot_be_claimed(
    client: TestClient, police: Actor, practitioner: Actor, make_user: Callable[..., Actor]
) -> None:
    referral_id = refer(client, police)["id"]
    claim(client, practitioner, referral_id)
    assert decide(client, practitioner, referral_id).status_code == 201
    assert client.post(f"/v1/referrals/{referral_id}/release", headers=practitioner.headers).status_code == 200
    colleague = make_user(Role.practitioner)
    refused = client.post(f"/v1/referrals/{referral_id}/claim", headers=colleague.headers)
    assert refused.status_code == 409
    assert "decided" in refused.json()["detail"]


def test_an_unknown_referral_is_404(client: TestClient, practitioner: Actor) -> None:
    assert client.post(f"/v1/referrals/{uuid.uuid4()}/claim", headers=practitioner.headers).status_code == 404


def _race(server: LiveServer, claimants: list[Actor], referral_id: str) -> list[httpx.Response]:
    """Every claimant claims at the same moment, each from its own thread and connection."""
    clients = [server.client(actor) for actor in claimants]
    for c in clients:
        # Connect (and pass the key lookup's cold start) before the gun, so the claims really overlap.
        c.get("/healthz")
    barrier = threading.Barrier(len(clients))
    answers: list[Any] = [None] * len(clients)

    def run(index: int) -> None:
        barrier.wait()
        answers[index] = clients[index].post(f"/v1/referrals/{referral_id}/claim")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for c in clients:
        c.close()
    return answers


def test_concurrent_claims_on_a_multi_process_server_have_exactly_one_winner(
    live_server_factory: Callable[..., LiveServer],
    make_org: Callable[..., Actor],
    make_user: Callable[..., Actor],
    engine: sa.Engine,
) -> None:
    server = live_server_factory(workers=2)
    police = make_org("police")
    claimants = [make_user(Role.practitioner) for _ in range(6)]
    with server.client(police) as partner:
        referral_ids = [partner.post("/v1/referrals", json=body("amber")).json()["id"] for _ in range(3)]
    for referral_id in referral_ids:
        answers = _race(server, claimants, referral_id)
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [200] + [409] * (len(claimants) - 1), codes
        winner = next(a.json()["assigned_to"] for a in answers if a.status_code == 200)
        assert all(a.json()["assigned_to"] == winner for a in answers if a.status_code == 409)
        assert str(referral_row(engine, referral_id).assigned_to) == winner
        assert feedback_kinds(engine, referral_id) == ["acknowledged", "in_triage"]
