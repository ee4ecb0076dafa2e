"""Helpers shared by the page tests: staff who can sign in, referrals sent through the API, and form tokens."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpx
from fastapi.testclient import TestClient

from schemas.enums import Role
from tests.validation_cases import valid_referral
from triage import admin
from triage.auth import SYSTEM, hash_password
from triage.db import get_engine, session_scope

PASSWORD = "a long staff password 2026"
TODAY = dt.date.today()


@dataclass
class StaffMember:
    """A member of staff who signs in to the pages with an email address and a password."""

    id: uuid.UUID
    name: str
    email: str
    role: Role
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@lru_cache
def _password_hash(password: str) -> str:
    # Argon2 is slow on purpose; one hash per password per test worker keeps the tests quick.
    return hash_password(password)


def add_staff(role: Role, *, name: str | None = None, password: str | None = PASSWORD) -> StaffMember:
    """A staff user with a password (and an API key, for the API calls a test makes as them)."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    display = name or f"{str(role).capitalize()} {uuid.uuid4().hex[:4]}"
    with session_scope(get_engine()) as session:
        user, issued = admin.create_user(session=session, caller=SYSTEM, name=display, email=email, role=role)
        if password is not None:
            user.password_hash = _password_hash(password)
            session.add(user)
    return StaffMember(id=user.id, name=display, email=email, role=role, api_key=issued.api_key)


def send_referral(client: httpx.Client | TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    """Send a referral through the API, as a partner would, and return the 201 body."""
    response = client.post("/v1/referrals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, member: StaffMember, *, password: str = PASSWORD) -> Any:
    """Sign in through the sign-in form, as a browser would."""
    token = csrf_token(client.get("/sign-in").text)
    return client.post(
        "/sign-in",
        data={"csrf_token": token, "email": member.email, "password": password, "next": "/queue"},
        follow_redirects=False,
    )


def referral_body(urgency: str = "amber", *, agency: str = "police") -> dict[str, Any]:
    """A valid referral the default rules rate red (immediate danger), amber (neglect) or green (housing)."""
    body = valid_referral(agency, today=TODAY)
    if urgency == "red":
        body["immediate_danger"] = True
    elif urgency == "green":
        body["concerns"]["categories"] = ["housing"]
        body["concerns"]["indicators"] = []
    return body


def signed_in_client(app: Any, member: StaffMember) -> TestClient:
    """A browser-like client with MEMBER signed in."""
    client = TestClient(app, raise_server_exceptions=False)
    assert sign_in(client, member).status_code == 303
    return client


def page_token(client: TestClient, path: str = "/rules") -> str:
    """The signed-in session's CSRF token, read from a page as a browser would."""
    return csrf_token(client.get(path).text)


def error_summary(html: str) -> list[tuple[str, str]]:
    """The GOV.UK error summary's links: (href, text)."""
    block = re.search(r'govuk-error-summary__list">(.*?)</ul>', html, re.S)
    assert block, "the page has no error summary"
    return [
        (href, " ".join(text.split()))
        for href, text in re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', block.group(1), re.S)
    ]
