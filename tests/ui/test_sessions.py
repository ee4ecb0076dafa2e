"""Signing in and out: passwords only for live staff, cookie flags, the idle timeout, and CSRF on every form."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from api.web.session import COOKIE_NAME, IDLE_TIMEOUT_SECONDS, password_stamp
from schemas.enums import Role
from schemas.tables import AuditEvent, StaffUser
from schemas.types import utc_now
from tests.conftest import Actor
from tests.ui.support import PASSWORD, add_staff, csrf_token, sign_in
from triage.db import get_engine, session_scope
from triage.settings import get_settings


def _sign_in_form(client: TestClient, email: str, password: str, next_url: str = "/queue") -> Any:
    token = csrf_token(client.get("/sign-in").text)
    return client.post(
        "/sign-in",
        data={"csrf_token": token, "email": email, "password": password, "next": next_url},
        follow_redirects=False,
    )


def test_staff_sign_in_with_email_and_password_and_the_cookie_is_locked_down(client: TestClient) -> None:
    member = add_staff(Role.practitioner)
    response = _sign_in_form(client, member.email.upper(), PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/queue"
    cookie = response.headers["set-cookie"]
    assert f"{COOKIE_NAME}=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert f"Max-Age={IDLE_TIMEOUT_SECONDS}" in cookie
    assert "Secure" not in cookie  # a test environment serves plain HTTP on localhost
    queue = client.get("/queue")
    assert queue.status_code == 200
    assert member.name in queue.text
    assert queue.headers["cache-control"] == "no-store"
    with session_scope(get_engine()) as session:
        actions = session.execute(
            sa.select(AuditEvent.action).where(AuditEvent.actor_id == member.id)  # type: ignore[arg-type]
        ).scalars()
        assert "sign_in" in set(actions)


def test_a_wrong_password_an_unknown_email_and_a_partner_key_cannot_sign_in(client: TestClient, police: Actor) -> None:
    member = add_staff(Role.manager)
    no_password = add_staff(Role.practitioner, password=None)
    attempts = [
        (member.email, "not the password at all"),
        ("nobody@example.org", PASSWORD),
        (member.email, police.key),
        (member.email, member.api_key),
        (no_password.email, ""),
        (no_password.email, PASSWORD),
    ]
    for email, password in attempts:
        response = _sign_in_form(client, email, password)
        assert response.status_code in (401, 422), (email, response.status_code)
        assert "govuk-error-summary" in response.text
        assert client.get("/queue", follow_redirects=False).status_code == 303


def test_a_disabled_account_and_a_changed_password_end_the_session(client: TestClient) -> None:
    member = add_staff(Role.practitioner)
    assert sign_in(client, member).status_code == 303
    assert client.get("/queue").status_code == 200
    with session_scope(get_engine()) as session:
        user = session.get(StaffUser, member.id)
        assert user is not None
        user.password_hash = user.password_hash + "x"  # as if an admin had set a new password
    gone = client.get("/queue", follow_redirects=False)
    assert gone.status_code == 303
    assert gone.headers["location"] == "/sign-in?next=%2Fqueue"

    other = add_staff(Role.practitioner)
    assert sign_in(client, other).status_code == 303
    with session_scope(get_engine()) as session:
        user = session.get(StaffUser, other.id)
        assert user is not None
        user.disabled_at = utc_now()
    assert client.get("/queue", follow_redirects=False).status_code == 303
    assert _sign_in_form(client, other.email, PASSWORD).status_code == 401


class _SignedLongAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - IDLE_TIMEOUT_SECONDS - 60


def test_an_idle_session_times_out_and_a_forged_cookie_is_ignored(client: TestClient) -> None:
    member = add_staff(Role.practitioner)
    session_values = {"u": str(member.id), "c": "token", "p": _stamp(member.id), "s": int(time.time()) - 3600}
    secret = get_settings().secret_key
    idle = URLSafeTimedSerializer(secret, salt="frontdoor.staff-session", signer=_SignedLongAgo).dumps(session_values)
    client.cookies.set(COOKIE_NAME, idle)
    assert client.get("/queue", follow_redirects=False).status_code == 303
    fresh = URLSafeTimedSerializer(secret, salt="frontdoor.staff-session").dumps(session_values)
    client.cookies.clear()
    client.cookies.set(COOKIE_NAME, fresh)
    assert client.get("/queue", follow_redirects=False).status_code == 200
    forged = URLSafeTimedSerializer("another secret", salt="frontdoor.staff-session").dumps(session_values)
    client.cookies.clear()
    client.cookies.set(COOKIE_NAME, forged)
    assert client.get("/queue", follow_redirects=False).status_code == 303


def _stamp(user_id: uuid.UUID) -> str:
    with session_scope(get_engine()) as session:
        user = session.get(StaffUser, user_id)
        assert user is not None
        return password_stamp(user.password_hash)


def test_activity_renews_the_session_but_the_queue_refreshing_itself_does_not(client: TestClient) -> None:
    member = add_staff(Role.practitioner)
    assert sign_in(client, member).status_code == 303
    assert COOKIE_NAME in client.get("/queue").headers.get("set-cookie", "")
    polled = client.get("/queue/rows", headers={"HX-Request": "true"})
    assert polled.status_code == 200
    assert "set-cookie" not in polled.headers
    assert 'hx-trigger="every 30s"' in polled.text


def test_an_expired_session_sends_htmx_to_the_sign_in_page(client: TestClient) -> None:
    response = client.get("/queue/rows?rag=red", headers={"HX-Request": "true"}, follow_redirects=False)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/sign-in?next=%2Fqueue%2Frows%3Frag%3Dred"
    assert response.text == ""


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"])
def test_sign_in_only_returns_to_pages_of_this_service(client: TestClient, target: str) -> None:
    member = add_staff(Role.practitioner)
    response = _sign_in_form(client, member.email, PASSWORD, next_url=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/queue"


def test_every_form_needs_its_csrf_token(client: TestClient) -> None:
    member = add_staff(Role.practitioner)
    # The sign-in form itself: without the token of the sign-in page's session, nobody signs in.
    client.get("/sign-in")
    refused = client.post("/sign-in", data={"email": member.email, "password": PASSWORD}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/queue", follow_redirects=False).status_code == 303

    assert sign_in(client, member).status_code == 303
    token = csrf_token(client.get("/queue").text)
    referral = str(uuid.uuid4())
    for path in (
        "/sign-out",
        f"/referrals/{referral}/claim",
        f"/referrals/{referral}/decision",
        f"/referrals/{referral}/information-requests",
        f"/referrals/{referral}/strategy-discussion",
    ):
        for data in ({}, {"csrf_token": "forged"}, {"csrf_token": token + "x"}):
            response = client.post(path, data=data, follow_redirects=False)
            assert response.status_code == 403, (path, data)
            assert "did not come from this service" in response.text
        # The token travels in a header too (for htmx requests).
        with_header = client.post(path, headers={"X-CSRF-Token": token}, follow_redirects=False)
        assert with_header.status_code != 403, path
        if path == "/sign-out":
            assert sign_in(client, member).status_code == 303
            token = csrf_token(client.get("/queue").text)
    # Still signed in: none of the refused posts did anything.
    assert client.get("/queue", follow_redirects=False).status_code == 200


def test_signing_out_ends_the_session(client: TestClient) -> None:
    member = add_staff(Role.admin)
    assert sign_in(client, member).status_code == 303
    token = csrf_token(client.get("/rules").text)
    out = client.post("/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/sign-in?signed_out=1"
    assert f'{COOKIE_NAME}=""' in out.headers["set-cookie"]
    assert client.get("/rules", follow_redirects=False).status_code == 303
    assert "You have been signed out." in client.get("/sign-in?signed_out=1").text


def test_the_cookie_is_secure_in_production(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    member = add_staff(Role.practitioner)
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-of-more-than-thirty-two-characters")
    get_settings.cache_clear()
    with TestClient(app, base_url="https://testserver") as secure:
        response = sign_in(secure, member)
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]
    get_settings.cache_clear()
