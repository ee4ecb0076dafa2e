"""Report routes: managers and admins only."""

from tests.api.matrix import MANAGERS

ENTRIES = {
    ("GET", "/v1/reports/summary"): MANAGERS,
    ("GET", "/v1/reports/cin-referrals"): MANAGERS,
}
