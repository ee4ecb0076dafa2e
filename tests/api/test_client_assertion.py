"""Signed-JWT client credentials: register a public key, exchange an assertion, use the token."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from schemas.tables import ApiKey
from tests.conftest import Actor
from tests.validation_cases import valid_referral

AUDIENCE = "http://127.0.0.1:8000/oauth2/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(private: Any) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _assertion(private: Any, org: Actor, *, alg: str = "RS512", kid: str = "k1", **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": str(org.id), "sub": str(org.id), "aud": AUDIENCE, "jti": str(uuid.uuid4()), "exp": now + 120}
    payload.update(claims)
    return jwt.encode(payload, private, algorithm=alg, headers={"kid": kid})


def _exchange(client: TestClient, assertion: str) -> Any:
    return client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )


@pytest.fixture
def registered(client: TestClient, admin_user: Actor, police: Actor, rsa_key: Any, ec_key: Any) -> Actor:
    for kid, key in (("k1", rsa_key), ("k2", ec_key)):
        response = client.post(
            f"/v1/admin/organisations/{police.id}/public-keys",
            json={"kid": kid, "pem": _pem(key)},
            headers=admin_user.headers,
        )
        assert response.status_code == 201, response.text
    return police


@pytest.mark.parametrize(("alg", "kid", "key_name"), [("RS512", "k1", "rsa_key"), ("ES256", "k2", "ec_key")])
def test_a_signed_assertion_buys_a_token_that_can_send_referrals(
    client: TestClient, registered: Actor, request: pytest.FixtureRequest, alg: str, kid: str, key_name: str
) -> None:
    token = _exchange(client, _assertion(request.getfixturevalue(key_name), registered, alg=alg, kid=kid))
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "bearer" and 0 < body["expires_in"] <= 600
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    sent = client.post("/v1/referrals", json=valid_referral("police", today=dt.date.today()), headers=headers)
    assert sent.status_code == 201
    assert client.get(f"/v1/referrals/{sent.json()['id']}", headers=registered.headers).status_code == 200


def test_a_replayed_assertion_is_refused(client: TestClient, registered: Actor, rsa_key: Any) -> None:
    assertion = _assertion(rsa_key, registered)
    assert _exchange(client, assertion).status_code == 200
    replay = _exchange(client, assertion)
    assert replay.status_code == 401
    assert replay.headers["content-type"] == "application/problem+json"
    assert replay.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"aud": "https://elsewhere.example/oauth2/token"}, "wrong audience"),
        ({"exp": int(time.time()) + 3600}, "lives longer than 5 minutes"),
        ({"sub": str(uuid.uuid4())}, "sub is not the issuer"),
        ({"jti": None}, "no jti"),
    ],
)
def test_bad_assertions_are_refused(
    client: TestClient, registered: Actor, rsa_key: Any, claims: dict[str, Any], reason: str
) -> None:
    if claims.get("jti", "") is None:
        now = int(time.time())
        payload = {"iss": str(registered.id), "sub": str(registered.id), "aud": AUDIENCE, "exp": now + 60}
        assertion = jwt.encode(payload, rsa_key, algorithm="RS512", headers={"kid": "k1"})
    else:
        assertion = _assertion(rsa_key, registered, **claims)
    response = _exchange(client, assertion)
    assert response.status_code == 401, reason


def test_another_key_or_algorithm_is_refused(client: TestClient, registered: Actor, rsa_key: Any) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _exchange(client, _assertion(stranger, registered)).status_code == 401
    assert _exchange(client, _assertion(rsa_key, registered, kid="unknown")).status_code == 401
    hs = jwt.encode(
        {
            "iss": str(registered.id),
            "sub": str(registered.id),
            "aud": AUDIENCE,
            "jti": "x",
            "exp": int(time.time()) + 60,
        },
        "secret-secret-secret-secret-secret",
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    assert _exchange(client, hs).status_code == 401
    assert _exchange(client, "not a jwt").status_code == 401
    wrong_grant = client.post("/oauth2/token", data={"grant_type": "password"})
    assert wrong_grant.status_code == 400 and wrong_grant.json()["error"] == "unsupported_grant_type"


def test_an_expired_token_is_refused(client: TestClient, registered: Actor, rsa_key: Any, engine: sa.Engine) -> None:
    token = _exchange(client, _assertion(rsa_key, registered)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/referrals", headers=headers).status_code == 200
    with engine.begin() as conn:
        conn.execute(
            sa.update(ApiKey)
            .where(ApiKey.expires_at.is_not(None))
            .values(  # type: ignore[union-attr]
                expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            )
        )
    assert client.get("/v1/referrals", headers=headers).status_code == 401


def test_private_keys_and_rubbish_are_not_registered(
    client: TestClient, admin_user: Actor, police: Actor, rsa_key: Any
) -> None:
    private_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key, as_dict=True)
    sent = client.post(
        f"/v1/admin/organisations/{police.id}/public-keys",
        json={"kid": "p", "jwk": private_jwk},
        headers=admin_user.headers,
    )
    assert sent.status_code == 422 and sent.json()["errors"][0]["code"] == "private_key_sent"
    rubbish = client.post(
        f"/v1/admin/organisations/{police.id}/public-keys",
        json={"kid": "r", "pem": "nonsense"},
        headers=admin_user.headers,
    )
    assert rubbish.status_code == 422
    public_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)
    ok = client.post(
        f"/v1/admin/organisations/{police.id}/public-keys",
        json={"kid": "j", "jwk": public_jwk},
        headers=admin_user.headers,
    )
    assert ok.status_code == 201
    again = client.post(
        f"/v1/admin/organisations/{police.id}/public-keys",
        json={"kid": "j", "jwk": public_jwk},
        headers=admin_user.headers,
    )
    assert again.status_code == 422
