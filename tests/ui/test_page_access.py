"""Every page route against every kind of visitor: a page route missing from this matrix fails the suite."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from schemas.enums import Role
from tests.ui.support import StaffMember, add_staff, csrf_token, sign_in

PUBLIC = "public"
STAFF = frozenset({Role.practitioner, Role.manager, Role.admin})
MANAGERS = frozenset({Role.manager, Role.admin})

PAGES: dict[tuple[str, str], frozenset[Role] | str] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/static/{path:path}"): PUBLIC,
    ("GET", "/sign-in"): PUBLIC,
    ("POST", "/sign-in"): PUBLIC,
    ("POST", "/sign-out"): PUBLIC,
    ("GET", "/queue"): STAFF,
    ("GET", "/queue/rows"): STAFF,
    ("GET", "/referrals/{referral_id}"): STAFF,
    ("POST", "/referrals/{referral_id}/claim"): STAFF,
    ("POST", "/referrals/{referral_id}/release"): STAFF,
    ("POST", "/referrals/{referral_id}/close"): STAFF,
    ("POST", "/referrals/{referral_id}/decision"): STAFF,
    ("POST", "/referrals/{referral_id}/information-requests"): STAFF,
    ("POST", "/referrals/{referral_id}/strategy-discussion"): STAFF,
    ("GET", "/approvals"): MANAGERS,
    ("POST", "/referrals/{referral_id}/approve"): MANAGERS,
    ("POST", "/referrals/{referral_id}/return"): MANAGERS,
    ("GET", "/dashboard"): MANAGERS,
    ("GET", "/dashboard.csv"): MANAGERS,
    ("GET", "/rules"): STAFF,
}


def _page_routes(app: Any) -> set[tuple[str, str]]:
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before included routers were kept as branches
        pairs = [(getattr(r, "path", None), r) for r in app.routes]
    else:
        pairs = [(rc.path, rc.original_route) for rc in iter_route_contexts(app.routes)]
    return {
        (method, path)
        for path, route in pairs
        if isinstance(route, APIRoute) and not route.include_in_schema
        for method in route.methods
        if method != "HEAD"
    }


def test_every_page_route_is_in_the_matrix(app: Any) -> None:
    routes = _page_routes(app)
    missing = sorted(routes - set(PAGES))
    assert not missing, f"add these page routes to the page access matrix: {missing}"
    stale = sorted(set(PAGES) - routes)
    assert not stale, f"these page matrix entries name no route: {stale}"


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "app.css" if m.group(0) == "{path:path}" else str(uuid.uuid4()), path)


@pytest.fixture
def visitors(app: Any) -> dict[Role, tuple[TestClient, StaffMember]]:
    signed_in = {}
    for role in (Role.practitioner, Role.manager, Role.admin):
        member = add_staff(role)
        client = TestClient(app, raise_server_exceptions=False)
        assert sign_in(client, member).status_code == 303
        signed_in[role] = (client, member)
    return signed_in


def test_each_role_gets_what_the_page_matrix_says(
    client: TestClient, visitors: dict[Role, tuple[TestClient, StaffMember]]
) -> None:
    failures = []
    for (method, path), allowed in sorted(PAGES.items()):
        url = _fill(path)
        if allowed == PUBLIC:
            # A public form still needs the token of the sign-in page's session.
            data = {"csrf_token": csrf_token(client.get("/sign-in").text)} if method == "POST" else None
            public = client.request(method, url, data=data, follow_redirects=False)
            if public.status_code in (401, 403) or public.status_code >= 500:
                failures.append(f"{method} {path} anonymous: {public.status_code}")
            continue
        anonymous = client.request(method, url, follow_redirects=False)
        if anonymous.status_code != 303 or not anonymous.headers["location"].startswith("/sign-in"):
            failures.append(f"{method} {path} anonymous: {anonymous.status_code}, expected 303 to /sign-in")
        for role, (visitor, _member) in visitors.items():
            data = {"csrf_token": csrf_token(visitor.get("/rules").text)} if method == "POST" else None
            response = visitor.request(method, url, data=data, follow_redirects=False)
            assert response.status_code < 500, f"{method} {path} {role}: {response.status_code}"
            signed_out = response.status_code == 303 and response.headers["location"].startswith("/sign-in")
            if role in allowed:  # type: ignore[operator]
                if response.status_code == 403 or signed_out:
                    failures.append(f"{method} {path} {role}: {response.status_code}, expected to be let through")
            elif response.status_code != 403:
                failures.append(f"{method} {path} {role}: {response.status_code} != 403")
    assert not failures, "\n".join(failures)


def test_pages_never_answer_with_the_api_problem_format(
    visitors: dict[Role, tuple[TestClient, StaffMember]],
) -> None:
    visitor, _ = visitors[Role.practitioner]
    missing = visitor.get(f"/referrals/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "Page not found" in missing.text
    malformed = visitor.get("/referrals/not-an-id")
    assert malformed.status_code == 404
    assert malformed.headers["content-type"].startswith("text/html")
    refused = visitor.get("/dashboard")
    assert refused.status_code == 403
    assert "You cannot do that" in refused.text
