"""Signing in with an email address and a password, and signing out."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response
from sqlmodel import Session
from starlette.datastructures import FormData

from api.web.routing import error_page, see_other
from api.web.session import (
    anonymous,
    clear_session,
    new_session,
    read_session,
    staff_user,
    write_session,
)
from api.web.templating import render
from triage import audit, ratelimit
from triage.auth import staff_caller, staff_sign_in
from triage.db import get_engine
from triage.errors import FrontDoorError

# Attempts per email address: enough for typing slips, too few to guess a password.
SIGN_IN_LIMIT = ratelimit.Limit(requests=10, window_seconds=300)


def safe_next(value: object) -> str:
    """Only a path on this service: never another site (an open redirect)."""
    text = value if isinstance(value, str) else ""
    if text.startswith("/") and not text.startswith("//") and "\\" not in text and not text.startswith("/sign-"):
        return text
    return "/queue"


def page(*, request: Request, session: Session, next_url: str | None) -> Response:
    """The sign-in form (or, when already signed in, the page asked for)."""
    current = read_session(request)
    if current is not None and staff_user(db=session, session=current) is not None:
        return see_other(safe_next(next_url))
    web = anonymous(current)
    response = render(
        request,
        "sign_in.html",
        web_session=web,
        staff=None,
        next_url=safe_next(next_url),
        email="",
        field_errors={},
        notice="You have been signed out." if request.query_params.get("signed_out") else None,
    )
    write_session(response, web)
    return response


def submit(*, request: Request, session: Session, form: FormData) -> Response:
    """Sign in a live member of staff whose password matches; otherwise the form again, with the problem."""
    email = str(form.get("email") or "").strip()
    password = str(form.get("password") or "")
    web = anonymous(read_session(request))
    field_errors: dict[str, str] = {}
    if not email:
        field_errors["email"] = "Enter your email address"
    if not password:
        field_errors["password"] = "Enter your password"  # noqa: S105 - a prompt, not a secret
    user = None
    if not field_errors:
        # Counted by a digest of the address: the rate-limit table holds no email addresses.
        subject = "signin:" + hashlib.sha256(email.lower().encode()).hexdigest()[:40]
        try:
            ratelimit.hit(engine=get_engine(), subject=subject, bucket="sign_in", limit=SIGN_IN_LIMIT)
        except FrontDoorError as exc:
            return error_page(request, status=exc.status, detail="Too many attempts to sign in. Wait 5 minutes.")
        user = staff_sign_in(session=session, email=email, password=password)
        if user is None:
            field_errors["email"] = "Enter a correct email address and password"
    if user is None:
        response = render(
            request,
            "sign_in.html",
            web_session=web,
            status_code=401 if email and password else 422,
            staff=None,
            next_url=safe_next(form.get("next")),
            email=email,
            field_errors=field_errors,
            errors=[{"text": text, "href": f"#{field}"} for field, text in field_errors.items()],
            notice=None,
        )
        write_session(response, web)
        return response
    audit.record(session=session, caller=staff_caller(user), action="sign_in", entity="staff_user", entity_id=user.id)
    # A new session and CSRF token at sign-in: a token planted before sign-in is worth nothing after it.
    signed_in = see_other(safe_next(form.get("next")))
    write_session(signed_in, new_session(user))
    return signed_in


def sign_out(*, request: Request, session: Session) -> Response:
    """End the session (recorded in the audit trail) and go back to the sign-in page."""
    web = read_session(request)
    user = staff_user(db=session, session=web) if web else None
    if user is not None:
        audit.record(
            session=session, caller=staff_caller(user), action="sign_out", entity="staff_user", entity_id=user.id
        )
    response = see_other("/sign-in?signed_out=1")
    clear_session(response)
    return response
