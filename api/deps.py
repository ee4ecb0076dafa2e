"""Typed dependencies: the request's session, the caller, and records loaded through the caller's scope."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from schemas.enums import Role
from schemas.tables import Referral
from triage import access, ratelimit
from triage.auth import Caller, authenticate, authenticate_cached, cached_caller, require_role
from triage.db import get_engine
from triage.errors import BadRequest, Invalid, Problem
from triage.settings import get_settings

bearer = HTTPBearer(auto_error=False, description="An API key issued by the MASH administrator.")


def get_session() -> Iterator[Session]:
    """One transaction per request: commit when the handler returns, roll back on any exception."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# scope="function": the commit happens before the response is sent, so a 201 is never
# sent for a referral whose commit then failed.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_caller(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    """The authenticated caller (401 otherwise)."""
    caller = authenticate(session=session, token=credentials.credentials if credentials else None)
    # End the read-only transaction of the lookup, so the handler starts its own unit of work
    # (and, on SQLite, holds no lock while intake claims an Idempotency-Key in another transaction).
    session.commit()
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


def role_checker(*roles: Role):
    """A dependency refusing (403) callers without one of ROLES."""

    def check(caller: CallerDep) -> Caller:
        require_role(caller, *roles)
        return caller

    return check


StaffDep = Annotated[Caller, Depends(role_checker(Role.practitioner, Role.manager, Role.admin))]
ManagerDep = Annotated[Caller, Depends(role_checker(Role.manager, Role.admin))]
AdminDep = Annotated[Caller, Depends(role_checker(Role.admin))]
ReferrerDep = Annotated[Caller, Depends(role_checker(Role.referrer))]


def current_referral(
    session: SessionDep, caller: CallerDep, referral_id: Annotated[uuid.UUID, Path(description="The referral's id.")]
) -> Referral:
    """The referral named in the path, loaded through the caller's scope (404 when out of it)."""
    return access.get_referral(session=session, caller=caller, referral_id=referral_id)


CurrentReferral = Annotated[Referral, Depends(current_referral)]


async def json_body(request: Request) -> Any:
    """The request body parsed as JSON (400 problem+json when it is not)."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "application/json")
    if "json" not in content_type:
        raise BadRequest("Send the body as JSON with 'Content-Type: application/json'.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(
            f"The body is not valid JSON ({type(exc).__name__}); send a JSON object encoded in UTF-8."
        ) from None


def rate_limited(bucket: str) -> Callable[[Caller], Caller]:
    """A dependency counting the caller's key against BUCKET's per-minute limit (429 past it)."""

    def check(caller: CallerDep) -> Caller:
        settings = get_settings()
        per_minute = {
            "intake": settings.rate_limit_intake_per_minute,
            "polling": settings.rate_limit_polling_per_minute,
        }[bucket]
        subject = str(caller.key_id or caller.user_id or caller.organisation_id)
        ratelimit.hit(engine=get_engine(), subject=subject, bucket=bucket, limit=ratelimit.Limit(per_minute, 60))
        return caller

    return check


IntakeLimit = Annotated[Caller, Depends(rate_limited("intake"))]
PollingLimit = Annotated[Caller, Depends(rate_limited("polling"))]


async def no_body(request: Request) -> None:
    """Refuse (422) a body on a call that takes none: a field such as assigned_to or role is never silently dropped."""
    raw = await request.body()
    if not raw.strip():
        return
    try:
        sent = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        sent = None
    if sent == {}:
        return
    names = sorted(sent) if isinstance(sent, dict) else []
    message = "Remove this field: this call takes no body, and nothing in one is ever applied."
    problems = [
        Problem(pointer="/" + name.replace("~", "~0").replace("/", "~1"), code="extra_forbidden", message=message)
        for name in names
    ] or [Problem(pointer="", code="body_not_expected", message="Send no body with this call.")]
    raise Invalid(problems=problems, summary="This call takes no body.")


NoBody = Annotated[None, Depends(no_body)]


async def intake_caller(credentials: HTTPAuthorizationCredentials | None) -> Caller:
    """The partner sending a referral (401, 403), counted against its key's intake limit (429).

    Checked on the event loop while the key is cached and the count is in memory, so a referral
    takes no thread of its own until it is stored; the database is asked only on a cache miss and
    when the shared count is due to be written. Intake checks in its own transaction that a cached
    key is still live.
    """
    engine = get_engine()
    token = credentials.credentials if credentials else None
    caller = cached_caller(engine=engine, token=token)
    if caller is None:
        caller = await run_in_threadpool(lambda: authenticate_cached(engine=engine, token=token))
    require_role(caller, Role.referrer)
    subject = str(caller.key_id or caller.user_id or caller.organisation_id)
    limit = ratelimit.Limit(get_settings().rate_limit_intake_per_minute, 60)
    due = ratelimit.count(engine=engine, subject=subject, bucket="intake", limit=limit)
    if due is not None:
        await run_in_threadpool(ratelimit.settle, due)
    return caller
