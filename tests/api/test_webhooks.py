"""Webhooks: subscriptions, the outbox written with each event, and delivery to a real receiver that checks
every signature with the `standardwebhooks` package: retries, Retry-After, 410, timeouts, crashes, two workers."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session
from standardwebhooks.webhooks import Webhook

from schemas.enums import FeedbackEventKind
from schemas.tables import AuditEvent, Referral, WebhookSubscription
from tests.api.feedback_support import emit, send
from tests.api.webhook_support import ALL_KINDS, outbox
from tests.conftest import Actor
from triage import feedback
from triage.db import session_scope
from triage.settings import get_settings
from triage.webhook_message import DeliveryPolicy, backoff_seconds, retry_after_seconds, sign
from triage.webhooks import url_problems

# Subscriptions


def test_a_partner_subscribes_lists_and_deletes(client: TestClient, police: Actor, engine: sa.Engine) -> None:
    created = client.post(
        "/v1/webhooks",
        json={"url": "https://partner.example.org/hooks", "events": ["decision_made", "acknowledged"]},
        headers=police.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "secret", "url", "events", "created_at", "disabled_at"}
    assert body["secret"].startswith("whsec_") and len(base64.b64decode(body["secret"][6:])) >= 24
    assert body["events"] == ["acknowledged", "decision_made"] and body["disabled_at"] is None
    everything = client.post("/v1/webhooks", json={"url": "https://partner.example.org/all"}, headers=police.headers)
    assert everything.json()["events"] == ALL_KINDS
    listed = client.get("/v1/webhooks", headers=police.headers).json()
    assert [w["id"] for w in listed["items"]] == [body["id"], everything.json()["id"]]
    assert all("secret" not in w for w in listed["items"]) and listed["next_cursor"] is None
    assert client.delete(f"/v1/webhooks/{body['id']}", headers=police.headers).status_code == 204
    assert client.delete(f"/v1/webhooks/{body['id']}", headers=police.headers).status_code == 404
    assert [w["id"] for w in client.get("/v1/webhooks", headers=police.headers).json()["items"]] == [
        everything.json()["id"]
    ]
    with Session(engine) as session:
        trail = session.execute(
            sa.select(AuditEvent.action, AuditEvent.entity_id).where(AuditEvent.entity == "webhook_subscription")
        ).all()
    assert sorted(trail) == sorted(
        [("create", body["id"]), ("create", everything.json()["id"]), ("delete", body["id"])]
    )


def test_another_organisation_can_neither_see_nor_delete_a_subscription(
    client: TestClient, make_org: Callable[..., Actor]
) -> None:
    police, health = make_org("police"), make_org("health")
    theirs = client.post("/v1/webhooks", json={"url": "https://police.example.org/h"}, headers=police.headers).json()
    assert client.get("/v1/webhooks", headers=health.headers).json()["items"] == []
    assert client.delete(f"/v1/webhooks/{theirs['id']}", headers=health.headers).status_code == 404
    assert len(client.get("/v1/webhooks", headers=police.headers).json()["items"]) == 1


@pytest.mark.parametrize(
    ("body", "pointer", "code"),
    [
        ({"url": "ftp://partner.example.org/h"}, "/url", "webhook_url_invalid"),
        ({"url": "partner.example.org/h"}, "/url", "webhook_url_invalid"),
        ({"url": "https://partner.example.org:port/h"}, "/url", "webhook_url_invalid"),
        ({"url": "https://me:pw@partner.example.org/h"}, "/url", "webhook_url_credentials"),
        ({"url": "https://partner.example.org/h", "events": ["decided"]}, "/events/0", None),
        ({"url": "https://partner.example.org/h", "events": []}, "/events", None),
        ({"url": "https://partner.example.org/h", "secret": "mine"}, "/secret", None),
    ],
)
def test_an_unusable_subscription_is_refused_with_a_pointer(
    client: TestClient, police: Actor, body: dict[str, Any], pointer: str, code: str | None
) -> None:
    response = client.post("/v1/webhooks", json=body, headers=police.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [problem] = response.json()["errors"]
    assert problem["pointer"] == pointer
    if code:
        assert problem["code"] == code


def test_production_wants_https_to_a_public_address() -> None:
    def codes(url: str) -> list[str]:
        return [p.code for p in url_problems(url, production=True)]

    assert codes("https://partner.example.org/hooks") == []
    assert codes("http://partner.example.org/hooks") == ["webhook_url_not_https"]
    for private in ("https://localhost/h", "https://127.0.0.1/h", "https://10.1.2.3/h", "https://[::1]/h"):
        assert codes(private) == ["webhook_url_private"], private
    assert url_problems("http://127.0.0.1:9000/h", production=False) == []


def test_the_production_rule_applies_through_the_api(
    database_url: str, police: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.app import create_app

    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    get_settings.cache_clear()
    with TestClient(create_app(), raise_server_exceptions=False) as production:
        refused = production.post("/v1/webhooks", json={"url": "http://partner.example.org/h"}, headers=police.headers)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["code"] == "webhook_url_not_https"
        secure = {"url": "https://partner.example.org/h"}
        accepted = production.post("/v1/webhooks", json=secure, headers=police.headers)
        assert accepted.status_code == 201
    get_settings.cache_clear()


def test_an_organisation_has_at_most_ten_subscriptions(client: TestClient, police: Actor) -> None:
    for n in range(10):
        response = client.post("/v1/webhooks", json={"url": f"https://p.example.org/{n}"}, headers=police.headers)
        assert response.status_code == 201
    eleventh = client.post("/v1/webhooks", json={"url": "https://p.example.org/11"}, headers=police.headers)
    assert eleventh.status_code == 409


# The outbox


def test_the_outbox_row_is_written_with_the_event_for_each_subscription_that_wants_it(
    client: TestClient, make_org: Callable[..., Actor], engine: sa.Engine
) -> None:
    police, health = make_org("police"), make_org("health")

    def hook(actor: Actor, path: str, events: list[str] | None = None) -> str:
        body: dict[str, Any] = {"url": f"https://example.org/{path}"} | ({"events": events} if events else {})
        return str(client.post("/v1/webhooks", json=body, headers=actor.headers).json()["id"])

    every, decisions = hook(police, "every"), hook(police, "decisions", ["decision_made"])
    gone, elsewhere = hook(police, "gone"), hook(health, "health")
    with session_scope(engine) as session:
        session.get_one(WebhookSubscription, uuid.UUID(gone)).disabled_at = dt.datetime.now(dt.UTC)
    sent = send(client, police)
    assert [(str(d.subscription_id), d.state, d.attempts) for d in outbox(engine)] == [(every, "pending", 0)]
    emit(engine, sent["id"], FeedbackEventKind.decision_made)
    rows = outbox(engine)
    assert sorted(str(d.subscription_id) for d in rows[1:]) == sorted([every, decisions])
    assert elsewhere not in {str(d.subscription_id) for d in rows}
    # An event rolled back takes its outbox rows with it.
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        referral = session.get_one(Referral, uuid.UUID(sent["id"]))
        feedback.emit(session=session, referral=referral, event=FeedbackEventKind.closed, message="lost")
        raise RuntimeError("the cause failed")
    assert len(outbox(engine)) == 3


# The pieces of a delivery


def test_the_signature_is_the_one_standard_webhooks_computes() -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body = b'{"type":"referral.acknowledged"}'
    ours = sign(secret=secret, msg_id="msg_1", timestamp=1_700_000_000, body=body)
    theirs = Webhook(secret).sign("msg_1", dt.datetime.fromtimestamp(1_700_000_000, dt.UTC), body.decode())
    assert ours == theirs


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    assert retry_after_seconds("120", now=now) == 120
    assert retry_after_seconds("Mon, 30 Nov 2026 12:01:30 GMT", now=now) == 90
    assert retry_after_seconds("Mon, 30 Nov 2026 11:00:00 GMT", now=now) == 0
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds(None, now=now) is None


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    import random

    policy = DeliveryPolicy(backoff_base=10, backoff_max=300)
    rng = random.Random(7)
    for attempts, step in [(1, 10), (2, 20), (3, 40), (5, 160), (6, 300), (20, 300)]:
        waits = [backoff_seconds(attempts, policy=policy, rng=rng) for _ in range(50)]
        assert all(step / 2 <= w <= step for w in waits), (attempts, min(waits), max(waits))
        assert max(waits) - min(waits) > step / 10  # jitter spreads retries out


def test_a_lease_too_short_for_one_request_is_refused() -> None:
    with pytest.raises(ValueError, match="lease"):
        DeliveryPolicy(timeout=10, lease=30)
