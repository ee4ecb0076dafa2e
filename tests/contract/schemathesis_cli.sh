#!/usr/bin/env bash
# The API against its own OpenAPI document, from outside: start `frontdoor serve` on a spare port with a fresh
# SQLite database, issue a key for each role, and run `schemathesis run` once per role over the operations the
# access matrix (tests/api/matrix) lets that role call, plus the public ones without a key. Bounded and seeded
# (tests/contract/schemathesis.toml). Exits non-zero on any finding; the server is stopped however it ends.
#
#     bash tests/contract/schemathesis_cli.sh        (from the project root, after `make install`)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/.venv/bin"
CONFIG="$ROOT/tests/contract/schemathesis.toml"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/frontdoor-fuzz.XXXXXX")"
SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# The server and the CLI run in the scratch folder, so no .env of the working tree changes their settings.
# The per-key limits are raised: thousands of generated calls would otherwise mostly meet 429 (tests/api covers
# the limits themselves).
cd "$WORK"
export DATABASE_URL="sqlite:///$WORK/frontdoor.db" ENVIRONMENT=test
export RATE_LIMIT_INTAKE_PER_MINUTE=1000000 RATE_LIMIT_POLLING_PER_MINUTE=1000000
PORT="$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"

ADMIN_KEY="$("$BIN/frontdoor" admin bootstrap --json | "$BIN/python" -c 'import json, sys; print(json.load(sys.stdin)["api_key"])')"

setsid "$BIN/frontdoor" serve --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
    if "$BIN/python" -c "import httpx, sys; sys.exit(httpx.get('$BASE/readyz', timeout=1).status_code != 200)" 2>/dev/null; then
        break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; echo "the server exited before it was ready" >&2; exit 2; }
    sleep 0.1
done

# A police organisation with a key, a member of staff of each staff role, and records for the ids in paths
# (a referral, its child, an information request, a webhook, a spare key), through the API.
KEYS="$(ADMIN_KEY="$ADMIN_KEY" BASE="$BASE" ROOT="$ROOT" "$BIN/python" - <<'PY'
import datetime as dt
import os
import sys

import httpx

http = httpx.Client(base_url=os.environ["BASE"], headers={"Authorization": f"Bearer {os.environ['ADMIN_KEY']}"})

def created(path: str, **body: str) -> dict:
    response = http.post(path, json=body or None)
    assert response.status_code == 201, response.text
    return response.json()

police = created("/v1/admin/organisations", name="Fuzz Constabulary", agency="police")
keys = {"referrer": created(f"/v1/admin/organisations/{police['id']}/keys")["api_key"]}
for role in ("practitioner", "manager"):
    user = created("/v1/admin/users", name=f"Fuzz {role}", email=f"{role}@fuzz.example.org", role=role)
    keys[role] = user["api_key"]
    staff_id = user["id"]

def as_(role: str, method: str, path: str, **kwargs: object) -> dict:
    response = http.request(method, path, headers={"Authorization": f"Bearer {keys[role]}"}, **kwargs)
    assert response.status_code in (200, 201), response.text
    return response.json()

sys.path.insert(0, os.environ["ROOT"])
from tests.validation_cases import valid_referral  # noqa: E402

referral = as_("referrer", "POST", "/v1/referrals", json=valid_referral("police", today=dt.date.today()))
child = as_("practitioner", "GET", f"/v1/referrals/{referral['id']}")["children"][0]
asked = as_("practitioner", "POST", f"/v1/referrals/{referral['id']}/information-requests",
            json={"organisation_id": police["id"], "question": "Were the children seen at home this year?"})
hook = as_("referrer", "POST", "/v1/webhooks", json={"url": "https://partner.example.org/hooks"})
spare = created(f"/v1/admin/organisations/{police['id']}/keys")
for role, key in keys.items():
    print(f"KEY_{role}={key}")
ids = {"REFERRAL": referral["id"], "CHILD": child["id"], "REQUEST": asked["id"], "ORGANISATION": police["id"],
       "USER": staff_id, "KEY": spare["id"], "WEBHOOK": hook["id"]}
for name, value in ids.items():
    print(f"export FUZZ_{name}_ID={value}")
PY
)"
eval "$KEYS"
KEY_admin="$ADMIN_KEY"

# The operations to run with ROLE's key, as --include-name options, from the access matrix the test suite
# enforces: each operation once, with the first role (partner, practitioner, manager, admin) that may call it.
# tests/api/test_schemathesis.py calls every operation with every role allowed to.
operations_for() {
    (cd "$ROOT" && "$BIN/python" - "$1" <<'PY'
import sys

from schemas.enums import Role
from tests.api.matrix import MATRIX, PUBLIC

ORDER = [Role.referrer, Role.practitioner, Role.manager, Role.admin]
role = sys.argv[1]
for (method, path), allowed in sorted(MATRIX.items()):
    runs_as = "public" if allowed == PUBLIC else next(str(r) for r in ORDER if r in allowed)
    if runs_as == role:
        print(f"--include-name={method} {path}")
PY
)
}

failed=()
for role in public referrer practitioner manager admin; do
    mapfile -t selection < <(operations_for "$role")
    auth=()
    if [[ "$role" != public ]]; then
        key_var="KEY_$role"
        auth=(-H "Authorization: Bearer ${!key_var}")
    fi
    echo "== schemathesis as $role: ${#selection[@]} operations"
    if ! "$BIN/schemathesis" --config-file "$CONFIG" run "$BASE/openapi.json" "${selection[@]}" "${auth[@]}" \
        --phases examples,coverage,fuzzing --workers 1 --no-color; then
        failed+=("$role")
    fi
done

if ((${#failed[@]})); then
    echo "schemathesis found problems for: ${failed[*]} (server log: see above)" >&2
    tail -n 50 "$WORK/server.log" >&2
    exit 1
fi
echo "schemathesis: every role's operations conform to the document"
