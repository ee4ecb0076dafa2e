"""Typed dependencies: the request's session, the caller, and records loaded through the caller's scope."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from schemas.enums import Role
from schemas.tables import Referral
from triage import access, ratelimit
from triage.auth import Caller, authenticate, require_role
from triage.db import get_engine
from triage.errors import BadRequest
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


JsonBody = Annotated[Any, Depends(json_body)]


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
