"""Request and response shapes of the admin calls."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from schemas.enums import Agency, Role
from schemas.referral_in import EMAIL_JSON_SCHEMA
from schemas.text_io import TextIn


class OrganisationIn(TextIn):
    """A partner organisation to register."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Cambridgeshire Constabulary", "agency": "police"}]}
    )
    name: str = Field(min_length=1, max_length=200)
    agency: Agency


class OrganisationOut(BaseModel):
    """A registered partner organisation."""

    id: uuid.UUID
    name: str
    agency: Agency


class IssuedKeyOut(BaseModel):
    """A new key: shown once, stored only as a hash."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": "0b7c6f1e-2f4e-4f5e-9b1a-1d2c3b4a5f6e", "api_key": "fdk_..."}]}
    )
    id: uuid.UUID
    api_key: str


def _staff_only(role: Role) -> Role:
    if role == Role.referrer:
        raise PydanticCustomError(
            "role_not_staff", "choose practitioner, manager or admin: referrer keys belong to partner organisations"
        )
    return role


# Referrer keys belong to partner organisations, never to a member of staff.
StaffRole = Annotated[
    Role,
    AfterValidator(_staff_only),
    WithJsonSchema({"type": "string", "enum": [role.value for role in Role if role != Role.referrer]}),
]


class UserIn(TextIn):
    """A member of MASH staff to add."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Sam Social Worker", "email": "sam@example.org", "role": "practitioner"}]
        },
    )
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr = Field(json_schema_extra=EMAIL_JSON_SCHEMA)
    role: StaffRole
    password: str | None = Field(default=None, min_length=12, max_length=200, description="For the staff web pages.")


class UserOut(BaseModel):
    """A new staff user and their first key (shown once)."""

    id: uuid.UUID
    api_key: str
    key_id: uuid.UUID


class PasswordIn(TextIn):
    """A new password for a staff user's sign-in to the web pages."""

    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=12, max_length=200)


class PublicKeyIn(TextIn):
    """A partner system's public key for signed-JWT client authentication: a JWK or a PEM."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"kid": "police-2026-1", "pem": "-----BEGIN PUBLIC KEY-----\n..."}]},
    )
    kid: str | None = Field(default=None, min_length=1, max_length=200)
    jwk: dict[str, Any] | None = None
    pem: str | None = Field(default=None, max_length=10_000)


class PublicKeyOut(BaseModel):
    """A registered public key."""

    id: uuid.UUID
    organisation_id: uuid.UUID
    kid: str


class TokenOut(BaseModel):
    """An OAuth 2.0 access token (RFC 6749 section 5.1)."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
