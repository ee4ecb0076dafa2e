"""Staff sign-in sessions in signed cookies, with an idle timeout and a per-session CSRF token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session, col

from schemas.enums import STAFF_ROLES
from schemas.tables import StaffUser
from triage.auth import verify_password
from triage.settings import get_settings

COOKIE_NAME = "frontdoor_session"
IDLE_TIMEOUT_SECONDS = 30 * 60
# However active, a member of staff signs in again after a working day.
ABSOLUTE_LIFETIME_SECONDS = 12 * 60 * 60
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class WebSession:
    """What the session cookie holds: who (if signed in), the CSRF token, and when the session began."""

    user_id: uuid.UUID | None
    csrf_token: str
    password_stamp: str | None
    started_at: int

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None


class SignInRequired(Exception):
    """A page needs a signed-in member of staff and there is none."""


class CsrfRefused(Exception):
    """A form came without the session's CSRF token."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret_key, salt="frontdoor.staff-session")


def new_session(user: StaffUser | None = None) -> WebSession:
    """A fresh session (anonymous, or for USER) with a new CSRF token."""
    return WebSession(
        user_id=user.id if user else None,
        csrf_token=secrets.token_urlsafe(32),
        password_stamp=password_stamp(user.password_hash) if user else None,
        started_at=int(time.time()),
    )


def password_stamp(password_hash: str | None) -> str:
    """A keyed digest of the password hash: a new password ends every session signed in with the old one."""
    key = get_settings().secret_key.encode()
    return hmac.new(key, (password_hash or "").encode(), hashlib.sha256).hexdigest()[:24]


def read_session(request: Request) -> WebSession | None:
    """The session in the request's cookie, or None when absent, forged, idle too long or too old."""
    raw = request.cookies.get(COOKIE_NAME)
    if not raw or len(raw) > 4096:
        return None
    try:
        # The cookie is re-signed on each request, so its signature's age is the time since the last one.
        data: Any = _serializer().loads(raw, max_age=IDLE_TIMEOUT_SECONDS)
        session = WebSession(
            user_id=uuid.UUID(data["u"]) if data.get("u") else None,
            csrf_token=str(data["c"]),
            password_stamp=data.get("p"),
            started_at=int(data["s"]),
        )
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    if session.signed_in and time.time() - session.started_at > ABSOLUTE_LIFETIME_SECONDS:
        return None
    return session


def write_session(response: Response, session: WebSession) -> None:
    """Set (or refresh) the session cookie: HttpOnly, SameSite=Strict, Secure outside development and test."""
    value = _serializer().dumps(
        {
            "u": str(session.user_id) if session.user_id else None,
            "c": session.csrf_token,
            "p": session.password_stamp,
            "s": session.started_at,
        }
    )
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=IDLE_TIMEOUT_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=get_settings().environment == "production",
    )


def clear_session(response: Response) -> None:
    """Remove the session cookie."""
    response.delete_cookie(
        COOKIE_NAME, path="/", httponly=True, samesite="strict", secure=get_settings().environment == "production"
    )


def anonymous(session: WebSession | None) -> WebSession:
    """The session to use on the sign-in page: the current one's CSRF token, or a new one."""
    if session is None:
        return new_session()
    return replace(session, user_id=None, password_stamp=None)


def staff_user(*, db: Session, session: WebSession) -> StaffUser | None:
    """The signed-in member of staff, while their account is live and their password unchanged."""
    if session.user_id is None:
        return None
    user = db.get(StaffUser, session.user_id)
    if user is None or user.disabled_at is not None or user.role not in STAFF_ROLES:
        return None
    if not hmac.compare_digest(password_stamp(user.password_hash), session.password_stamp or ""):
        return None
    return user


def check_password(*, db: Session, email: str, password: str) -> StaffUser | None:
    """The live member of staff with this email and password, or None (partner keys never sign in here)."""
    user = db.execute(sa.select(StaffUser).where(col(StaffUser.email) == email.strip().lower())).scalar_one_or_none()
    if user is None or user.disabled_at is not None or user.role not in STAFF_ROLES:
        verify_password(password, None)  # the same work either way, so timing does not reveal accounts
        return None
    if not verify_password(password, user.password_hash):
        return None
    return user


def check_csrf(session: WebSession | None, submitted: str | None) -> None:
    """Refuse (CsrfRefused) a form whose token is missing or is not this session's."""
    if session is None or not submitted or not hmac.compare_digest(session.csrf_token, submitted):
        raise CsrfRefused
