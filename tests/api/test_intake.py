"""Intake through the HTTP API: acknowledgement, scoping, idempotency, size limits, atomicity."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.tables import (
    AuditEvent,
    Child,
    FeedbackEvent,
    IdempotencyRecord,
    Referral,
    RejectedRule,
    RejectedSubmission,
)
from tests.conftest import Actor
from tests.validation_cases import valid_referral

TODAY = dt.date.today()


def body(agency: str = "police", **changes: Any) -> dict[str, Any]:
    referral = valid_referral(agency, today=TODAY)
    referral.update(changes)
    return referral


def count(engine: sa.Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_complete_referral_is_acknowledged(client: TestClient, police: Actor, engine: sa.Engine) -> None:
    response = client.post("/v1/referrals", json=body(), headers=police.headers)
    assert response.status_code == 201, response.text
    ack = response.json()
    assert set(ack) == {"id", "reference", "status", "received_at", "decision_due_at", "feedback_url"}
    assert response.headers["location"] == f"/v1/referrals/{ack['id']}"
    assert re.fullmatch(r"MASH-\d{4}-\d{6,}", ack["reference"])
    assert ack["status"] == "received"
    received = dt.datetime.fromisoformat(ack["received_at"])
    due = dt.datetime.fromisoformat(ack["decision_due_at"])
    assert received.utcoffset() == dt.timedelta(0) and due > received
    assert ack["feedback_url"].endswith(f"/v1/referrals/{ack['id']}/feedback")
    with engine.connect() as conn:
        events = (
            conn.execute(sa.select(FeedbackEvent.event).where(FeedbackEvent.referral_id == uuid.UUID(ack["id"])))
            .scalars()
            .all()
        )
        audits = (
            conn.execute(
                sa.select(AuditEvent.action).where(AuditEvent.entity == "referral", AuditEvent.entity_id == ack["id"])
            )
            .scalars()
            .all()
        )
    assert events == ["acknowledged"]
    assert audits == ["create"]


def test_references_are_unique_and_in_order(client: TestClient, police: Actor) -> None:
    references = [
        client.post("/v1/referrals", json=body(), headers=police.headers).json()["reference"] for _ in range(3)
    ]
    numbers = [int(r.rsplit("-", 1)[1]) for r in references]
    assert len(set(references)) == 3
    assert numbers == sorted(numbers)


def test_a_red_referral_is_due_in_four_hours(client: TestClient, police: Actor) -> None:
    response = client.post("/v1/referrals", json=body(immediate_danger=True), headers=police.headers)
    ack = response.json()
    gap = dt.datetime.fromisoformat(ack["decision_due_at"]) - dt.datetime.fromisoformat(ack["received_at"])
    assert gap == dt.timedelta(hours=4)


def test_the_referrer_sees_what_it_sent_but_not_the_rating(
    client: TestClient, police: Actor, practitioner: Actor
) -> None:
    sent = body()
    ack = client.post("/v1/referrals", json=sent, headers=police.headers).json()
    mine = client.get(f"/v1/referrals/{ack['id']}", headers=police.headers)
    assert mine.status_code == 200
    view = mine.json()
    assert "triage" not in view and "triage" not in json.dumps(view["children"])
    assert view["children"][0]["first_name"] == sent["children"][0]["first_name"]
    assert view["children"][0]["voice"]["views"] == sent["children"][0]["voice"]["views"]
    assert view["status"] == "received"
    staff = client.get(f"/v1/referrals/{ack['id']}", headers=practitioner.headers).json()
    assert staff["triage"]["reasons"] and staff["triage"]["rule_set_version"] == 1
    assert staff["children"][0]["id"] and staff["children"][0]["triage"]["rag"] in ("red", "amber", "green")


def test_another_agency_cannot_see_it(client: TestClient, police: Actor, make_org: Any) -> None:
    health = make_org("health")
    ack = client.post("/v1/referrals", json=body(), headers=police.headers).json()
    other = client.get(f"/v1/referrals/{ack['id']}", headers=health.headers)
    assert other.status_code == 404
    assert (
        other.json()["detail"] == client.get(f"/v1/referrals/{uuid.uuid4()}", headers=health.headers).json()["detail"]
    )
    assert client.get("/v1/referrals", headers=health.headers).json()["items"] == []
    assert [i["id"] for i in client.get("/v1/referrals", headers=police.headers).json()["items"]] == [ack["id"]]


def test_the_list_pages_by_cursor_without_repeats(client: TestClient, police: Actor) -> None:
    ids = {client.post("/v1/referrals", json=body(), headers=police.headers).json()["id"] for _ in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/referrals", params=params, headers=police.headers).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5 and set(seen) == ids
    bad = client.get("/v1/referrals", params={"cursor": "nonsense!"}, headers=police.headers)
    assert bad.status_code == 422
    assert client.get("/v1/referrals", params={"limit": 201}, headers=police.headers).status_code == 422


def test_malformed_json_is_a_400_problem(client: TestClient, police: Actor) -> None:
    response = client.post(
        "/v1/referrals", content=b'{"referrer": ', headers={**police.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "JSON" in response.json()["detail"]


def test_a_body_over_256_kib_is_refused(client: TestClient, police: Actor, engine: sa.Engine) -> None:
    big = body()
    big["concerns"]["summary"] = "x" * (300 * 1024)
    response = client.post("/v1/referrals", json=big, headers=police.headers)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"

    def chunks() -> Any:
        payload = json.dumps(big).encode()
        for start in range(0, len(payload), 16 * 1024):
            yield payload[start : start + 16 * 1024]

    chunked = client.post(
        "/v1/referrals", content=chunks(), headers={**police.headers, "Content-Type": "application/json"}
    )
    assert chunked.status_code == 413
    assert count(engine, Referral) == 0


def test_an_unknown_field_is_refused_and_nothing_is_stored(
    client: TestClient, police: Actor, engine: sa.Engine
) -> None:
    response = client.post("/v1/referrals", json=body(immediate_dangr=True), headers=police.headers)
    assert response.status_code == 422
    pointers = [e["pointer"] for e in response.json()["errors"]]
    assert "/immediate_dangr" in pointers
    assert count(engine, Referral) == 0


def test_rejections_are_counted_without_personal_data(client: TestClient, police: Actor, engine: sa.Engine) -> None:
    bad = body()
    surname = bad["children"][0]["last_name"]
    del bad["children"][0]["voice"]
    bad["consent"] = {"status": "not_obtained"}
    response = client.post("/v1/referrals", json=bad, headers=police.headers)
    assert response.status_code == 422
    with engine.connect() as conn:
        submissions = conn.execute(sa.select(RejectedSubmission)).all()
        rules = conn.execute(sa.select(RejectedRule.code, RejectedRule.pointer)).all()
        everything = json.dumps([list(map(str, r)) for r in conn.execute(sa.select(RejectedRule)).all()])
    assert len(submissions) == 1 and submissions[0].organisation_id == police.id
    assert ("child_voice_missing", "/children/*/voice") in {(r.code, r.pointer) for r in rules}
    assert any(r.code == "consent_reason_missing" for r in rules)
    assert surname not in everything


def test_a_staff_key_cannot_send_a_referral(client: TestClient, practitioner: Actor) -> None:
    assert client.post("/v1/referrals", json=body(), headers=practitioner.headers).status_code == 403


def test_a_failure_mid_intake_stores_nothing(
    client: TestClient, police: Actor, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from triage import idempotency

    def broken(**_kwargs: Any) -> None:
        raise RuntimeError("idempotency store unavailable")

    # The key's answer is stored after the referral, its children, its acknowledgement and its audit row.
    monkeypatch.setattr(idempotency, "complete_many", broken)
    key = str(uuid.uuid4())
    response = client.post("/v1/referrals", json=body(), headers={**police.headers, "Idempotency-Key": key})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in response.text
    for table in (Referral, Child, AuditEvent, IdempotencyRecord):
        if table is AuditEvent:
            with engine.connect() as conn:
                n = conn.execute(
                    sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.entity == "referral")
                ).scalar_one()
            assert n == 0
        else:
            assert count(engine, table) == 0, table
    monkeypatch.undo()
    retry = client.post("/v1/referrals", json=body(), headers={**police.headers, "Idempotency-Key": key})
    assert retry.status_code == 201
