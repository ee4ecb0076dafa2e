"""Admin calls: organisations, their keys, staff users, revocation."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from api.deps import AdminDep, NoBody, SessionDep
from api.openapi_docs import problem
from schemas.admin_io import (
    IssuedKeyOut,
    OrganisationIn,
    OrganisationOut,
    PasswordIn,
    PublicKeyIn,
    PublicKeyOut,
    UserIn,
    UserOut,
)
from triage import admin, client_assertion

router = APIRouter(prefix="/v1/admin", tags=["admin"])

NO_ORGANISATION: dict[int | str, dict[str, Any]] = {404: problem("No organisation with that id")}


@router.post(
    "/organisations", status_code=201, response_model=OrganisationOut, summary="Register a partner organisation"
)
def create_organisation(body: OrganisationIn, session: SessionDep, caller: AdminDep) -> OrganisationOut:
    organisation = admin.create_organisation(session=session, caller=caller, name=body.name, agency=body.agency)
    return OrganisationOut(id=organisation.id, name=organisation.name, agency=organisation.agency)


@router.get("/organisations", response_model=list[OrganisationOut], summary="List partner organisations")
def list_organisations(session: SessionDep, caller: AdminDep) -> list[OrganisationOut]:
    return [OrganisationOut(id=o.id, name=o.name, agency=o.agency) for o in admin.list_organisations(session=session)]


@router.post(
    "/organisations/{organisation_id}/keys",
    status_code=201,
    response_model=IssuedKeyOut,
    summary="Issue an API key to a partner organisation (shown once)",
    responses=NO_ORGANISATION,
)
def issue_key(organisation_id: uuid.UUID, session: SessionDep, caller: AdminDep, _body: NoBody) -> IssuedKeyOut:
    issued = admin.issue_organisation_key(session=session, caller=caller, organisation_id=organisation_id)
    return IssuedKeyOut(id=issued.id, api_key=issued.api_key)


@router.post(
    "/users",
    status_code=201,
    response_model=UserOut,
    summary="Add a member of MASH staff, with a first key",
    responses={409: problem("A user with that email address already exists")},
)
def create_user(body: UserIn, session: SessionDep, caller: AdminDep) -> UserOut:
    user, issued = admin.create_user(
        session=session, caller=caller, name=body.name, email=str(body.email), role=body.role, password=body.password
    )
    return UserOut(id=user.id, api_key=issued.api_key, key_id=issued.id)


@router.put(
    "/users/{user_id}/password",
    status_code=204,
    summary="Set a staff user's password for the web pages",
    responses={404: problem("No staff user with that id")},
)
def set_password(user_id: uuid.UUID, body: PasswordIn, session: SessionDep, caller: AdminDep) -> Response:
    admin.set_password(session=session, caller=caller, user_id=user_id, password=body.password)
    return Response(status_code=204)


@router.delete(
    "/keys/{key_id}",
    status_code=204,
    summary="Revoke a key at once",
    responses={404: problem("No live key with that id (never issued, or already revoked)")},
)
def revoke_key(key_id: uuid.UUID, session: SessionDep, caller: AdminDep, _body: NoBody) -> Response:
    admin.revoke(session=session, caller=caller, key_id=key_id)
    return Response(status_code=204)


@router.post(
    "/organisations/{organisation_id}/public-keys",
    status_code=201,
    response_model=PublicKeyOut,
    summary="Register a partner system's public key for signed-JWT authentication",
    responses=NO_ORGANISATION,
)
def register_public_key(
    organisation_id: uuid.UUID, body: PublicKeyIn, session: SessionDep, caller: AdminDep
) -> PublicKeyOut:
    row = client_assertion.register_public_key(
        session=session, caller=caller, organisation_id=organisation_id, kid=body.kid, jwk=body.jwk, pem=body.pem
    )
    return PublicKeyOut(id=row.id, organisation_id=row.organisation_id, kid=row.kid)
