"""The access matrix: (method, path template) -> the roles let through. Each area adds its own module
here defining ENTRIES; everyone not listed gets 403, and a caller with no key 401."""

from __future__ import annotations

import importlib
import pkgutil

from schemas.enums import Role

PUBLIC = "public"  # no key needed
PARTNER = frozenset({Role.referrer})
STAFF = frozenset({Role.practitioner, Role.manager, Role.admin})
MANAGERS = frozenset({Role.manager, Role.admin})
ADMIN = frozenset({Role.admin})
EVERYONE = PARTNER | STAFF


def _collect() -> dict[tuple[str, str], frozenset[Role] | str]:
    merged: dict[tuple[str, str], frozenset[Role] | str] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        # Modules without ENTRIES hold other matrices (objects.py: the records each id-route names).
        for route, roles in getattr(module, "ENTRIES", {}).items():
            assert route not in merged, f"{route} is in the matrix twice"
            merged[route] = roles
    return merged


MATRIX = _collect()
