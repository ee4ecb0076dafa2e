"""The object matrix: every route that names a record by id, the kind of record it names, the state the record is
prepared in (one in which a caller entitled to it succeeds) and that caller's status. Who is entitled is the role
matrix (ENTRIES of the other modules here) narrowed by ownership: a partner reaches only its own organisation's
records, and everything else is 404 to it, exactly as if the record did not exist (tests/api/test_object_matrix.py).
"""

from __future__ import annotations

from dataclasses import dataclass

# The records a route can name, and which organisation owns each variant built for the matrix ("a" and "b" are two
# partner organisations; None is a record no partner owns, such as a member of staff or a staff key).
VARIANTS: dict[str, dict[str, str | None]] = {
    "referral": {"a": "a", "b": "b"},
    "child": {"a": "a", "b": "b"},
    # An information request belongs to the organisation it is addressed to, whoever referred.
    "information_request": {"a": "a", "b": "b", "a_about_b": "a"},
    "webhook": {"a": "a", "b": "b"},
    "organisation": {"a": "a", "b": "b"},
    "api_key": {"a": "a", "b": "b", "staff": None},
    "staff_user": {"staff": None},
}


@dataclass(frozen=True)
class ObjectRoute:
    """A route naming one record: which kind, the state it is prepared in, and the status of an entitled caller."""

    kind: str
    state: str
    success: int


OBJECT_ROUTES: dict[tuple[str, str], ObjectRoute] = {
    ("GET", "/v1/referrals/{referral_id}"): ObjectRoute("referral", "received", 200),
    ("GET", "/v1/referrals/{referral_id}/feedback"): ObjectRoute("referral", "received", 200),
    ("POST", "/v1/referrals/{referral_id}/claim"): ObjectRoute("referral", "received", 200),
    ("POST", "/v1/referrals/{referral_id}/release"): ObjectRoute("referral", "held", 200),
    ("POST", "/v1/referrals/{referral_id}/information-requests"): ObjectRoute("referral", "received", 201),
    ("POST", "/v1/referrals/{referral_id}/decision"): ObjectRoute("referral", "held", 201),
    ("POST", "/v1/referrals/{referral_id}/approve"): ObjectRoute("referral", "awaiting_approval", 200),
    ("POST", "/v1/referrals/{referral_id}/return"): ObjectRoute("referral", "awaiting_approval", 200),
    ("POST", "/v1/referrals/{referral_id}/close"): ObjectRoute("referral", "decided", 200),
    ("POST", "/v1/referrals/{referral_id}/strategy-discussion"): ObjectRoute("referral", "received", 201),
    ("GET", "/v1/children/{child_id}/history"): ObjectRoute("child", "received", 200),
    ("POST", "/v1/information-requests/{request_id}/response"): ObjectRoute("information_request", "open", 200),
    ("DELETE", "/v1/webhooks/{webhook_id}"): ObjectRoute("webhook", "live", 204),
    ("POST", "/v1/admin/organisations/{organisation_id}/keys"): ObjectRoute("organisation", "registered", 201),
    ("POST", "/v1/admin/organisations/{organisation_id}/public-keys"): ObjectRoute("organisation", "registered", 201),
    ("PUT", "/v1/admin/users/{user_id}/password"): ObjectRoute("staff_user", "active", 204),
    ("DELETE", "/v1/admin/keys/{key_id}"): ObjectRoute("api_key", "live", 204),
}

# Routes that take a record's id in the query string: the filter narrows the caller's scope, never widens it.
ID_QUERIES: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/v1/information-requests"): frozenset({"referral_id", "organisation_id"}),
}
