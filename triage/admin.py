"""Organisations, staff users and their keys: what an admin sets up."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.enums import Role
from schemas.tables import ApiKey, Organisation, StaffUser
from triage import audit
from triage.auth import SYSTEM, Caller, hash_password, new_api_key, revoke_key
from triage.errors import Conflict, Invalid, NotFound, Problem


@dataclass(frozen=True)
class IssuedKey:
    """A key row's id and its plaintext, shown once."""

    id: uuid.UUID
    api_key: str


def create_organisation(*, session: Session, caller: Caller, name: str, agency: str) -> Organisation:
    """Register a partner organisation."""
    organisation = Organisation(name=name, agency=agency)
    session.add(organisation)
    session.flush()
    audit.record(session=session, caller=caller, action="create", entity="organisation", entity_id=organisation.id)
    return organisation


def list_organisations(*, session: Session) -> list[Organisation]:
    """Every partner organisation, by name."""
    return list(session.execute(sa.select(Organisation).order_by(col(Organisation.name))).scalars())


def issue_organisation_key(*, session: Session, caller: Caller, organisation_id: uuid.UUID) -> IssuedKey:
    """A new referrer key for an organisation."""
    if session.get(Organisation, organisation_id) is None:
        raise NotFound("There is no organisation with that id.")
    row, plaintext = new_api_key(role=Role.referrer, organisation_id=organisation_id)
    session.add(row)
    session.flush()
    audit.record(session=session, caller=caller, action="create", entity="api_key", entity_id=row.id)
    return IssuedKey(id=row.id, api_key=plaintext)


def create_user(
    *, session: Session, caller: Caller, name: str, email: str, role: Role, password: str | None = None
) -> tuple[StaffUser, IssuedKey]:
    """A staff user with a first API key (and a password for the web pages when given)."""
    if role == Role.referrer:
        raise Invalid(
            problems=[
                Problem(
                    pointer="/role",
                    code="role_not_staff",
                    message="Choose practitioner, manager or admin: referrer keys belong to partner organisations.",
                )
            ],
        )
    email = email.strip().lower()
    if session.execute(sa.select(col(StaffUser.id)).where(col(StaffUser.email) == email)).first() is not None:
        raise Conflict("A user with that email address already exists.")
    user = StaffUser(name=name, email=email, role=role, password_hash=hash_password(password) if password else None)
    session.add(user)
    session.flush()
    row, plaintext = new_api_key(role=role, user_id=user.id)
    session.add(row)
    session.flush()
    audit.record(
        session=session, caller=caller, action="create", entity="staff_user", entity_id=user.id, detail={"role": role}
    )
    return user, IssuedKey(id=row.id, api_key=plaintext)


def set_password(*, session: Session, caller: Caller, user_id: uuid.UUID, password: str) -> None:
    """Set a staff user's password for the web pages."""
    user = session.get(StaffUser, user_id)
    if user is None:
        raise NotFound("There is no user with that id.")
    user.password_hash = hash_password(password)
    session.add(user)
    session.flush()
    audit.record(session=session, caller=caller, action="set_password", entity="staff_user", entity_id=user.id)


def revoke(*, session: Session, caller: Caller, key_id: uuid.UUID) -> None:
    """Revoke a key at once."""
    if not revoke_key(session=session, key_id=key_id):
        raise NotFound("There is no live key with that id.")
    audit.record(session=session, caller=caller, action="revoke", entity="api_key", entity_id=key_id)


def bootstrap_admin(*, session: Session) -> IssuedKey | None:
    """The first admin and its key, or None when an admin already exists."""
    exists = session.execute(sa.select(col(StaffUser.id)).where(col(StaffUser.role) == Role.admin).limit(1)).first()
    if exists is not None:
        return None
    _user, key = create_user(
        session=session, caller=SYSTEM, name="Administrator", email="admin@localhost", role=Role.admin
    )
    return key


def admin_key_count(*, session: Session) -> int:
    """How many live keys belong to admins (for start-up hints)."""
    stmt = (
        sa.select(sa.func.count())
        .select_from(ApiKey)
        .where(col(ApiKey.role) == Role.admin, col(ApiKey.revoked_at).is_(None))
    )
    return int(session.execute(stmt).scalar_one())
