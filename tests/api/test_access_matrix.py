"""Every route against every kind of caller: a route missing from the matrix fails the suite."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from schemas.enums import Role
from tests.api.matrix import MATRIX, PUBLIC
from tests.conftest import Actor

UNDOCUMENTED = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _routes(app: Any) -> set[tuple[str, str]]:
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before included routers were kept as branches
        pairs = [(getattr(r, "path", None), r) for r in app.routes]
    else:
        pairs = [(rc.path, rc.original_route) for rc in iter_route_contexts(app.routes)]
    found = set()
    for path, route in pairs:
        # Staff web pages (cookie sessions, not in the API schema) have their own matrix in tests/ui.
        if isinstance(route, APIRoute) and route.include_in_schema:
            for method in route.methods:
                if method != "HEAD":
                    found.add((method, path))
    return found


def test_every_route_is_in_the_matrix(app: Any) -> None:
    missing = sorted(_routes(app) - set(MATRIX))
    assert not missing, f"add these routes to the access matrix: {missing}"
    stale = sorted(set(MATRIX) - _routes(app))
    assert not stale, f"these matrix entries name no route: {stale}"


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _m: str(uuid.uuid4()), path)


@pytest.fixture
def actors(make_org: Callable[..., Actor], make_user: Callable[..., Actor]) -> dict[str, Actor]:
    return {
        Role.referrer: make_org("police"),
        Role.practitioner: make_user(Role.practitioner),
        Role.manager: make_user(Role.manager),
        Role.admin: make_user(Role.admin),
    }


def test_each_role_gets_what_the_matrix_says(client: TestClient, actors: dict[str, Actor]) -> None:
    failures = []
    for (method, path), allowed in sorted(MATRIX.items()):
        url = _fill(path)
        anonymous = client.request(method, url, json={})
        if allowed == PUBLIC:
            if anonymous.status_code in (401, 403):
                failures.append(f"{method} {path} anonymous: {anonymous.status_code}")
            continue
        if anonymous.status_code != 401:
            failures.append(f"{method} {path} anonymous: {anonymous.status_code} != 401")
        bad = client.request(method, url, json={}, headers={"Authorization": "Bearer fdk_not-a-real-key"})
        if bad.status_code != 401:
            failures.append(f"{method} {path} bad key: {bad.status_code} != 401")
        for role, actor in actors.items():
            response = client.request(method, url, json={}, headers=actor.headers)
            assert response.headers["content-type"].split(";")[0] in (
                "application/json",
                "application/problem+json",
                "text/plain",
                "text/csv",
                "text/html",
            )
            if role in allowed:  # type: ignore[operator]
                if response.status_code in (401, 403):
                    failures.append(f"{method} {path} {role}: {response.status_code}, expected to be let through")
            elif response.status_code != 403:
                failures.append(f"{method} {path} {role}: {response.status_code} != 403")
    assert not failures, "\n".join(failures)


def test_refusals_are_problem_details(client: TestClient, actors: dict[str, Actor]) -> None:
    response = client.get("/v1/referrals")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["status"] == 401
    forbidden = client.post(
        "/v1/admin/organisations", json={"name": "x", "agency": "police"}, headers=actors[Role.referrer].headers
    )
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == "application/problem+json"


def test_a_revoked_key_is_refused_at_once(client: TestClient, actors: dict[str, Actor]) -> None:
    police = actors[Role.referrer]
    assert client.get("/v1/referrals", headers=police.headers).status_code == 200
    revoked = client.delete(f"/v1/admin/keys/{police.key_id}", headers=actors[Role.admin].headers)
    assert revoked.status_code == 204
    assert client.get("/v1/referrals", headers=police.headers).status_code == 401
    again = client.delete(f"/v1/admin/keys/{police.key_id}", headers=actors[Role.admin].headers)
    assert again.status_code == 404
