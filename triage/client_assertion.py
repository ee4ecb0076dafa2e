"""Signed-JWT client credentials for partner systems (the NHS pattern): a short-lived assertion,
signed with the partner's private key, is exchanged for a short-lived access token."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import sqlalchemy as sa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from sqlmodel import Session, col

from schemas.enums import Role
from schemas.tables import Organisation, OrganisationPublicKey, UsedAssertion
from schemas.types import utc_now
from triage import audit
from triage.auth import Caller, new_api_key
from triage.errors import FrontDoorError, Invalid, NotFound, Problem

ALGORITHMS = ("RS512", "ES256")
MAX_ASSERTION_LIFETIME = dt.timedelta(minutes=5)
# Allows for clocks a little out of step between a partner's system and ours.
CLOCK_SKEW = dt.timedelta(seconds=10)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class OAuthError(FrontDoorError):
    """An RFC 6749 token error, rendered as problem details with the OAuth `error` code."""

    status, title, type_slug = 400, "Token request refused", "oauth"

    def __init__(self, error: str, detail: str, *, status: int = 400) -> None:
        super().__init__(detail, error=error, error_description=detail)
        self.status = status


@dataclass(frozen=True)
class AccessToken:
    """A bearer token for the API, valid for a few minutes."""

    access_token: str
    expires_in: int


def _public_jwk(*, jwk: dict[str, Any] | None, pem: str | None) -> dict[str, Any]:
    """The public JWK to store, from a JWK or a PEM public key; private material is refused."""
    if pem is not None:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        try:
            public_key = load_pem_public_key(pem.encode())
        except (ValueError, TypeError):
            raise _invalid("/pem", "public_key_invalid", "Give a PEM-encoded RSA or EC (P-256) public key.") from None
        if isinstance(public_key, rsa.RSAPublicKey):
            return json.loads(RSAAlgorithm.to_jwk(public_key))
        if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp256r1":
            return json.loads(ECAlgorithm.to_jwk(public_key))
        raise _invalid("/pem", "public_key_invalid", "Give an RSA or EC P-256 public key.")
    assert jwk is not None
    if any(private in jwk for private in ("d", "p", "q", "dp", "dq", "qi", "k")):
        raise _invalid("/jwk", "private_key_sent", "Remove the private parts: send only the public key (no 'd').")
    try:
        if jwk.get("kty") == "RSA":
            RSAAlgorithm.from_jwk(json.dumps(jwk))
        elif jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
            ECAlgorithm.from_jwk(json.dumps(jwk))
        else:
            raise ValueError("unsupported key type")
    except (ValueError, TypeError, jwt.InvalidKeyError):
        raise _invalid("/jwk", "public_key_invalid", "Give an RSA or EC P-256 public key as a JWK.") from None
    return {k: v for k, v in jwk.items() if k in ("kty", "n", "e", "crv", "x", "y", "kid", "alg", "use")}


def _invalid(pointer: str, code: str, message: str) -> Invalid:
    return Invalid(problems=[Problem(pointer=pointer, code=code, message=message)])


def register_public_key(
    *,
    session: Session,
    caller: Caller,
    organisation_id: uuid.UUID,
    kid: str | None,
    jwk: dict[str, Any] | None,
    pem: str | None,
) -> OrganisationPublicKey:
    """Register a partner system's public key under a key id (`kid`)."""
    if session.get(Organisation, organisation_id) is None:
        raise NotFound("There is no organisation with that id.")
    if (jwk is None) == (pem is None):
        raise _invalid("", "public_key_missing", "Give exactly one of jwk or pem.")
    public = _public_jwk(jwk=jwk, pem=pem)
    key_id = kid or public.get("kid")
    if not key_id:
        raise _invalid("/kid", "kid_missing", "Give the key id (kid) your assertions will carry in their header.")
    public["kid"] = key_id
    row = OrganisationPublicKey(organisation_id=organisation_id, kid=key_id, jwk=public)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except sa.exc.IntegrityError:
        raise _invalid(
            "/kid", "kid_taken", "Use a new kid: this organisation already has a key with that id."
        ) from None
    audit.record(session=session, caller=caller, action="create", entity="public_key", entity_id=row.id)
    return row


def exchange(
    *, session: Session, grant_type: str | None, assertion_type: str | None, assertion: str | None, audience: str
) -> AccessToken:
    """Verify a client assertion and issue an access token for its organisation."""
    from triage.settings import get_settings

    if grant_type != "client_credentials":
        raise OAuthError("unsupported_grant_type", "Use grant_type=client_credentials.")
    if assertion_type != ASSERTION_TYPE or not assertion:
        raise OAuthError("invalid_request", f"Send client_assertion_type={ASSERTION_TYPE} and a client_assertion.")
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise OAuthError("invalid_client", "The client assertion is not a well-formed JWT.", status=401) from None
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS or not kid:
        raise OAuthError(
            "invalid_client", "Sign the assertion with RS512 or ES256 and name the key in 'kid'.", status=401
        )
    issuer = unverified.get("iss")
    if not issuer or unverified.get("sub") != issuer:
        raise OAuthError("invalid_client", "'iss' and 'sub' must both be your organisation id.", status=401)
    try:
        organisation_id = uuid.UUID(str(issuer))
    except ValueError:
        raise OAuthError("invalid_client", "'iss' must be your organisation id.", status=401) from None
    row = session.execute(
        sa.select(OrganisationPublicKey).where(
            col(OrganisationPublicKey.organisation_id) == organisation_id,
            col(OrganisationPublicKey.kid) == kid,
            col(OrganisationPublicKey.revoked_at).is_(None),
        )
    ).scalar_one_or_none()
    if row is None:
        raise OAuthError("invalid_client", "No registered key matches this issuer and kid.", status=401)
    now = utc_now()
    try:
        key = jwt.PyJWK(row.jwk, algorithm=alg).key
        claims = jwt.decode(
            assertion,
            key=key,
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            leeway=CLOCK_SKEW,
            options={"require": ["iss", "sub", "aud", "jti", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise OAuthError("invalid_client", "The client assertion has expired.", status=401) from None
    except jwt.InvalidAudienceError:
        raise OAuthError("invalid_client", f"The assertion's 'aud' must be {audience}.", status=401) from None
    except jwt.PyJWTError:
        raise OAuthError(
            "invalid_client", "The client assertion's signature or claims are not valid.", status=401
        ) from None
    expires = dt.datetime.fromtimestamp(int(claims["exp"]), tz=dt.UTC)
    if expires - now > MAX_ASSERTION_LIFETIME + CLOCK_SKEW:
        raise OAuthError("invalid_client", "The assertion's 'exp' must be at most 5 minutes ahead.", status=401)
    jti = str(claims["jti"])[:200]
    try:
        with session.begin_nested():
            session.add(UsedAssertion(organisation_id=organisation_id, jti=jti, expires_at=expires + CLOCK_SKEW))
            session.flush()
    except sa.exc.IntegrityError:
        raise OAuthError("invalid_client", "This assertion (jti) has been used already.", status=401) from None
    session.execute(sa.delete(UsedAssertion).where(col(UsedAssertion.expires_at) < now))
    lifetime = get_settings().access_token_seconds
    token_row, plaintext = new_api_key(role=Role.referrer, organisation_id=organisation_id)
    token_row.expires_at = now + dt.timedelta(seconds=lifetime)
    session.add(token_row)
    session.flush()
    partner = Caller(key_id=token_row.id, role=Role.referrer, organisation_id=organisation_id)
    audit.record(session=session, caller=partner, action="issue_token", entity="api_key", entity_id=token_row.id)
    return AccessToken(access_token=plaintext, expires_in=lifetime)
