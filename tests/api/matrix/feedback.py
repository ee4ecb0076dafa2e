"""Feedback and webhook routes."""

from tests.api.matrix import EVERYONE, PARTNER

ENTRIES = {
    ("GET", "/v1/feedback"): EVERYONE,
    ("GET", "/v1/referrals/{referral_id}/feedback"): EVERYONE,
    ("POST", "/v1/webhooks"): PARTNER,
    ("GET", "/v1/webhooks"): PARTNER,
    ("DELETE", "/v1/webhooks/{webhook_id}"): PARTNER,
}
