"""Who is calling: API keys and staff passwords, both stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from pwdlib import PasswordHash
from sqlmodel import Session, col

from schemas.enums import STAFF_ROLES, Role
from schemas.tables import ApiKey, Organisation, StaffUser
from schemas.types import utc_now
from triage.errors import NotAllowed, NotAuthenticated

KEY_PREFIX = "fdk_"
_password_hash = PasswordHash.recommended()


@dataclass(frozen=True)
class Caller:
    """The authenticated party behind one request."""

    key_id: uuid.UUID | None
    role: Role
    organisation_id: uuid.UUID | None = None
    agency: str | None = None
    user_id: uuid.UUID | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def actor_id(self) -> uuid.UUID | None:
        return self.user_id or self.organisation_id

    @property
    def actor_kind(self) -> str:
        return "user" if self.user_id else "organisation" if self.organisation_id else "system"


SYSTEM = Caller(key_id=None, role=Role.admin)


def hash_api_key(plaintext: str) -> str:
    """SHA-256 of a key: keys are 256 random bits, so a fast digest is safe and lookups stay cheap."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def new_api_key(
    *, role: Role, organisation_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None
) -> tuple[ApiKey, str]:
    """A fresh key row and its plaintext, which is shown once and never stored."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        key_hash=hash_api_key(plaintext),
        prefix=plaintext[:10],
        role=role,
        organisation_id=organisation_id,
        user_id=user_id,
    )
    return row, plaintext


def authenticate(*, session: Session, token: str | None) -> Caller:
    """The caller a bearer key belongs to; 401 when it is missing, unknown or revoked."""
    if not token or len(token) > 200:
        raise NotAuthenticated("Send a valid API key as 'Authorization: Bearer <key>'.")
    stmt = (
        sa.select(
            col(ApiKey.id),
            col(ApiKey.role),
            col(ApiKey.organisation_id),
            col(ApiKey.user_id),
            col(Organisation.agency),
            col(StaffUser.disabled_at),
        )
        .select_from(ApiKey)
        .outerjoin(Organisation, col(Organisation.id) == col(ApiKey.organisation_id))
        .outerjoin(StaffUser, col(StaffUser.id) == col(ApiKey.user_id))
        .where(
            col(ApiKey.key_hash) == hash_api_key(token),
            col(ApiKey.revoked_at).is_(None),
            sa.or_(col(ApiKey.expires_at).is_(None), col(ApiKey.expires_at) > utc_now()),
        )
    )
    row = session.execute(stmt).first()
    if row is None or row.disabled_at is not None:
        raise NotAuthenticated("The API key is not valid or has been revoked.")
    return Caller(
        key_id=row.id,
        role=Role(row.role),
        organisation_id=row.organisation_id,
        agency=row.agency,
        user_id=row.user_id,
    )


def require_role(caller: Caller, *roles: Role) -> None:
    """Refuse (403) a caller whose role is not among ROLES."""
    if caller.role not in roles:
        raise NotAllowed(f"This action needs one of these roles: {', '.join(sorted(roles))}.")


def staff_caller(user: StaffUser) -> Caller:
    """The caller for a staff member signed in to the web pages."""
    return Caller(key_id=None, role=Role(user.role), user_id=user.id)


def hash_password(password: str) -> str:
    """An Argon2 hash of a staff password."""
    return _password_hash.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether PASSWORD matches; a user with no password set never matches."""
    if not password_hash:
        # Spend the same time as a real check so timing does not reveal which accounts exist.
        _password_hash.hash(password)
        return False
    return _password_hash.verify(password, password_hash)


def revoke_key(*, session: Session, key_id: uuid.UUID) -> bool:
    """Revoke a key at once; False when there is no such live key."""
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return False
    key.revoked_at = utc_now()
    session.add(key)
    session.flush()
    return True
