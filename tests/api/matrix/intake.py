"""Service, admin and intake routes."""

from tests.api.matrix import ADMIN, EVERYONE, PARTNER, PUBLIC

ENTRIES = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("POST", "/v1/admin/organisations"): ADMIN,
    ("GET", "/v1/admin/organisations"): ADMIN,
    ("POST", "/v1/admin/organisations/{organisation_id}/keys"): ADMIN,
    ("POST", "/v1/admin/users"): ADMIN,
    ("PUT", "/v1/admin/users/{user_id}/password"): ADMIN,
    ("DELETE", "/v1/admin/keys/{key_id}"): ADMIN,
    ("POST", "/v1/admin/organisations/{organisation_id}/public-keys"): ADMIN,
    ("POST", "/oauth2/token"): PUBLIC,
    ("POST", "/v1/referrals"): PARTNER,
    ("GET", "/v1/referrals"): EVERYONE,
    ("GET", "/v1/referrals/{referral_id}"): EVERYONE,
}
