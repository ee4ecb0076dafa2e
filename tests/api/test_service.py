"""Operator endpoints, the OpenAPI document and the security headers."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from tests.conftest import Actor
from tests.validation_cases import valid_referral


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"


def test_readiness_fails_when_migrations_are_behind(client: TestClient, engine) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    with engine.begin() as conn:
        head = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0000'"))
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["database"] == "migrations pending"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :head"), {"head": head})


def test_metrics_count_referrals_by_agency_without_personal_data(client: TestClient, police: Actor) -> None:
    body = valid_referral("police", today=dt.date.today())
    assert client.post("/v1/referrals", json=body, headers=police.headers).status_code == 201
    text = client.get("/metrics").text
    assert 'frontdoor_referrals_received_total{agency="police"}' in text
    assert "frontdoor_http_request_duration_seconds_bucket" in text
    assert body["children"][0]["last_name"] not in text


def test_security_headers_on_every_answer(client: TestClient) -> None:
    for path in ("/healthz", "/v1/referrals", "/nowhere"):
        response = client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-request-id"]
    assert client.get("/v1/referrals").headers["cache-control"] == "no-store"


def test_unknown_paths_are_problem_details(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_openapi_describes_the_referral_body_with_an_example(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/v1/referrals"]["post"]
    content = operation["requestBody"]["content"]["application/json"]
    assert content["schema"]["$ref"] == "#/components/schemas/ReferralIn"
    assert content["example"]["children"][0]["voice"]["views"]
    schemas = document["components"]["schemas"]
    assert "ReferralIn" in schemas and "children" in schemas["ReferralIn"]["properties"]
    assert document["components"]["securitySchemes"]


def test_docs_can_be_turned_off(monkeypatch, database_url: str) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DOCS_ENABLED", "false")
    from api.app import create_app
    from triage.settings import get_settings

    get_settings.cache_clear()
    with TestClient(create_app()) as off:
        assert off.get("/docs").status_code == 404
        assert off.get("/redoc").status_code == 404
        assert off.get("/healthz").status_code == 200
