"""Staff sign-in sessions in signed cookies, with an idle timeout and a per-session CSRF token."""

from __future__ import annotations

import hmac
import secrets
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session

from schemas.tables import StaffUser
from triage.auth import password_stamp, signed_in_staff
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
    return signed_in_staff(session=db, user_id=session.user_id, stamp=session.password_stamp)


def check_csrf(session: WebSession | None, submitted: str | None) -> None:
    """Refuse (CsrfRefused) a form whose token is missing or is not this session's."""
    if session is None or not submitted or not hmac.compare_digest(session.csrf_token, submitted):
        raise CsrfRefused
