"""The token endpoint: partner systems exchange a signed client assertion for an access token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from api.deps import SessionDep
from schemas.admin_io import TokenOut
from triage import client_assertion as assertions
from triage.settings import get_settings

router = APIRouter(tags=["authentication"])


@router.post(
    "/oauth2/token",
    response_model=TokenOut,
    summary="Exchange a signed JWT client assertion (RS512 or ES256) for a short-lived access token",
    responses={400: {"description": "Malformed token request"}, 401: {"description": "The assertion was refused"}},
)
def token(
    session: SessionDep,
    grant_type: Annotated[str | None, Form()] = None,
    client_assertion_type: Annotated[str | None, Form()] = None,
    client_assertion: Annotated[str | None, Form(max_length=16_000)] = None,
) -> TokenOut:
    audience = get_settings().public_base_url.rstrip("/") + "/oauth2/token"
    issued = assertions.exchange(
        session=session,
        grant_type=grant_type,
        assertion_type=client_assertion_type,
        assertion=client_assertion,
        audience=audience,
    )
    return TokenOut(access_token=issued.access_token, expires_in=issued.expires_in)
