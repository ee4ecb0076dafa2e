"""Who is calling: API keys and staff passwords, both stored only as hashes."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pwdlib import PasswordHash
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col

from schemas.enums import STAFF_ROLES, Role
from schemas.tables import ApiKey, Organisation, StaffUser
from schemas.types import utc_now
from triage.errors import NotAllowed, NotAuthenticated
from triage.settings import get_settings

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


def _check_token(token: str | None) -> None:
    if not token or len(token) > 200:
        raise NotAuthenticated("Send a valid API key as 'Authorization: Bearer <key>'.")


_LIVE_KEY = (
    sa.select(
        col(ApiKey.id),
        col(ApiKey.role),
        col(ApiKey.organisation_id),
        col(ApiKey.user_id),
        col(ApiKey.expires_at),
        col(Organisation.agency),
        col(StaffUser.disabled_at),
    )
    .select_from(ApiKey)
    .outerjoin(Organisation, col(Organisation.id) == col(ApiKey.organisation_id))
    .outerjoin(StaffUser, col(StaffUser.id) == col(ApiKey.user_id))
    .where(
        col(ApiKey.key_hash) == sa.bindparam("key_hash"),
        col(ApiKey.revoked_at).is_(None),
        sa.or_(col(ApiKey.expires_at).is_(None), col(ApiKey.expires_at) > sa.bindparam("now")),
    )
)


def _look_up(connection: Session | Connection, key_hash: str, now: dt.datetime) -> tuple[Caller, dt.datetime | None]:
    """The caller of a live key and when the key expires (401 when it is unknown, revoked, expired or disabled)."""
    row = connection.execute(_LIVE_KEY, {"key_hash": key_hash, "now": now}).first()
    if row is None or row.disabled_at is not None:
        raise NotAuthenticated("The API key is not valid or has been revoked.")
    caller = Caller(
        key_id=row.id,
        role=Role(row.role),
        organisation_id=row.organisation_id,
        agency=row.agency,
        user_id=row.user_id,
    )
    return caller, row.expires_at


def authenticate(*, session: Session, token: str | None) -> Caller:
    """The caller a bearer key belongs to; 401 when it is missing, unknown or revoked."""
    _check_token(token)
    assert token is not None
    return _look_up(session, hash_api_key(token), utc_now())[0]


# Partner keys sending referrals are looked up once per KEY_CACHE_SECONDS per process rather than once per
# request. Revocation still takes effect at once where it matters: intake checks, in the same statement that
# takes the referral's number, that the key is still live (key_is_live), so a revoked key never stores a
# referral; the process that revokes a key forgets it at once; and every process forgets it within the TTL.
KEY_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class _CachedKey:
    caller: Caller
    expires_at: dt.datetime | None
    cached_at: float


_key_cache: weakref.WeakKeyDictionary[Engine, dict[str, _CachedKey]] = weakref.WeakKeyDictionary()
_key_cache_lock = threading.Lock()


def _cache_for(engine: Engine) -> dict[str, _CachedKey]:
    with _key_cache_lock:
        found = _key_cache.get(engine)
        if found is None:
            found = _key_cache[engine] = {}
        return found


def cached_caller(*, engine: Engine, token: str | None) -> Caller | None:
    """The caller of a key looked up less than KEY_CACHE_SECONDS ago and not expired since; None otherwise."""
    _check_token(token)
    assert token is not None
    entry = _cache_for(engine).get(hash_api_key(token))
    if entry is None or time.monotonic() - entry.cached_at >= KEY_CACHE_SECONDS:
        return None
    if entry.expires_at is not None and entry.expires_at <= utc_now():
        return None
    return entry.caller


def authenticate_cached(*, engine: Engine, token: str | None) -> Caller:
    """The caller a bearer key belongs to, from the cache or else the database (which then refreshes the cache)."""
    found = cached_caller(engine=engine, token=token)
    if found is not None:
        return found
    assert token is not None
    key_hash = hash_api_key(token)
    with engine.connect() as connection:
        caller, expires_at = _look_up(connection, key_hash, utc_now())
    cache = _cache_for(engine)
    if len(cache) >= 10_000:
        cache.clear()
    cache[key_hash] = _CachedKey(caller=caller, expires_at=expires_at, cached_at=time.monotonic())
    return caller


def forget_key(*, engine: Engine, key_id: uuid.UUID) -> None:
    """Drop a key from this process's cache (it was revoked here)."""
    cache = _cache_for(engine)
    for key_hash, entry in list(cache.items()):
        if entry.caller.key_id == key_id:
            cache.pop(key_hash, None)


def key_is_live() -> sa.ScalarSelect[int]:
    """1 when the key `live_key_id` is live at `live_now` (not revoked, not expired, its user not disabled), else 0.

    Intake puts this in a statement it runs anyway, to check a cached key inside its own transaction."""
    return _KEY_IS_LIVE


def ensure_live(*, engine: Engine, caller: Caller) -> None:
    """Refuse (401) a caller whose key is no longer live: for answers that store no referral, so take no number."""
    if caller.key_id is None:
        return
    with engine.connect() as connection:
        live = connection.execute(sa.select(_KEY_IS_LIVE), {"live_key_id": caller.key_id, "live_now": utc_now()})
        if not live.scalar_one():
            raise NotAuthenticated("The API key is not valid or has been revoked.")


def live_key_count(key_id: sa.ColumnElement[Any], now: sa.ColumnElement[Any]) -> sa.ScalarSelect[int]:
    """1 when the key KEY_ID is live at NOW (not revoked, not expired, its user not disabled), else 0: a scalar
    subquery, for a statement that checks many keys at once."""
    return (
        sa.select(sa.func.count())
        .select_from(ApiKey)
        .outerjoin(StaffUser, col(StaffUser.id) == col(ApiKey.user_id))
        .where(
            col(ApiKey.id) == key_id,
            col(ApiKey.revoked_at).is_(None),
            sa.or_(col(ApiKey.expires_at).is_(None), col(ApiKey.expires_at) > now),
            col(StaffUser.disabled_at).is_(None),
        )
        .scalar_subquery()
    )


_KEY_IS_LIVE = live_key_count(sa.bindparam("live_key_id"), sa.bindparam("live_now"))


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
    engine = session.get_bind().engine
    forget_key(engine=engine, key_id=key_id)
    # Forget it again once the revocation commits, in case a request cached the key in between.
    sa.event.listen(session, "after_commit", lambda _session: forget_key(engine=engine, key_id=key_id), once=True)
    return True


def password_stamp(password_hash: str | None) -> str:
    """A keyed digest of a password hash: a new password ends every session signed in with the old one."""
    key = get_settings().secret_key.encode()
    return hmac.new(key, (password_hash or "").encode(), hashlib.sha256).hexdigest()[:24]


def staff_sign_in(*, session: Session, email: str, password: str) -> StaffUser | None:
    """The live member of staff with this email and password, or None (partner keys never sign in as staff)."""
    stmt = sa.select(StaffUser).where(col(StaffUser.email) == email.strip().lower())
    user = session.execute(stmt).scalar_one_or_none()
    if user is None or user.disabled_at is not None or user.role not in STAFF_ROLES:
        verify_password(password, None)  # the same work either way, so timing does not reveal accounts
        return None
    if not verify_password(password, user.password_hash):
        return None
    return user


def signed_in_staff(*, session: Session, user_id: uuid.UUID, stamp: str | None) -> StaffUser | None:
    """The member of staff a sign-in belongs to, while their account is live and their password unchanged."""
    user = session.get(StaffUser, user_id)
    if user is None or user.disabled_at is not None or user.role not in STAFF_ROLES:
        return None
    if not hmac.compare_digest(password_stamp(user.password_hash), stamp or ""):
        return None
    return user
