"""The token endpoint: partner systems exchange a signed client assertion for an access token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from api.deps import SessionDep
from schemas.admin_io import TokenOut
from triage import client_assertion as assertions
from triage.settings import get_settings

router = APIRouter(tags=["authentication"])

FORM = "application/x-www-form-urlencoded"
TOKEN_FIELDS = ("grant_type", "client_assertion_type", "client_assertion")


@router.post(
    "/oauth2/token",
    response_model=TokenOut,
    summary="Exchange a signed JWT client assertion (RS512 or ES256) for a short-lived access token",
    responses={400: {"description": "Malformed token request"}, 401: {"description": "The assertion was refused"}},
    # Required by RFC 7523; a request without one gets RFC 6749's 400 invalid_request rather than FastAPI's 422.
    openapi_extra={"requestBody": {"required": True, "content": {FORM: {"schema": {"required": list(TOKEN_FIELDS)}}}}},
)
def token(
    session: SessionDep,
    # Typed loosely and checked in triage, so a wrong or missing value gets the RFC 6749 error (400 or 401)
    # that OAuth clients read; the document still says what a well-formed request holds.
    grant_type: Annotated[str | None, Form(json_schema_extra={"enum": ["client_credentials"]})] = None,
    client_assertion_type: Annotated[str | None, Form(json_schema_extra={"enum": [assertions.ASSERTION_TYPE]})] = None,
    client_assertion: Annotated[
        str | None, Form(max_length=16_000, json_schema_extra={"minLength": 1, "description": "A signed JWT."})
    ] = None,
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
