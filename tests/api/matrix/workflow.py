"""The MASH workflow: the queue, holding and deciding referrals, information requests, strategy, rules, history."""

from tests.api.matrix import EVERYONE, MANAGERS, PARTNER, STAFF

ENTRIES = {
    ("GET", "/v1/queue"): STAFF,
    ("POST", "/v1/referrals/{referral_id}/claim"): STAFF,
    ("POST", "/v1/referrals/{referral_id}/release"): STAFF,
    ("POST", "/v1/referrals/{referral_id}/information-requests"): STAFF,
    ("POST", "/v1/referrals/{referral_id}/decision"): STAFF,
    ("POST", "/v1/referrals/{referral_id}/approve"): MANAGERS,
    ("POST", "/v1/referrals/{referral_id}/return"): MANAGERS,
    ("POST", "/v1/referrals/{referral_id}/close"): STAFF,
    ("POST", "/v1/referrals/{referral_id}/strategy-discussion"): STAFF,
    ("GET", "/v1/information-requests"): EVERYONE,
    ("POST", "/v1/information-requests/{request_id}/response"): PARTNER,
    ("GET", "/v1/children/{child_id}/history"): STAFF,
    ("GET", "/v1/rules"): STAFF,
    ("GET", "/v1/rules/versions"): STAFF,
    ("POST", "/v1/rules/validate"): MANAGERS,
    ("POST", "/v1/rules"): MANAGERS,
}
