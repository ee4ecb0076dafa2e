"""Children in Need census referral source codes, derived from the referring agency."""

from __future__ import annotations

from schemas.enums import Agency

# DfE Children in Need census: the source of a referral (module "Referrals", item N00152).
CIN_REFERRAL_SOURCE: dict[str, str] = {
    Agency.police: "6",
    Agency.health: "3F",
    Agency.gp: "3A",
    Agency.dental: "3D",
    Agency.probation: "7",
    Agency.youth_justice: "7",
    Agency.school: "2A",
    Agency.early_years: "2B",
    Agency.housing: "4",
    Agency.local_authority: "5B",
    Agency.voluntary: "8",
    Agency.other: "8",
}

CIN_REFERRAL_SOURCE_LABEL: dict[str, str] = {
    "2A": "Schools",
    "2B": "Education services",
    "3A": "Health services: GP",
    "3D": "Health services: other primary health services",
    "3F": "Health services: other",
    "4": "Housing",
    "5B": "LA services: other internal",
    "6": "Police",
    "7": "Other legal agency",
    "8": "Other",
}


def cin_referral_source(agency: str) -> str:
    """The census source code for a referral from AGENCY."""
    return CIN_REFERRAL_SOURCE.get(agency, "8")
