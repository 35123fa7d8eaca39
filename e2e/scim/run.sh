#!/usr/bin/env bash
# SCIM conformance: starts a gateway with SCIM enabled on one login method and runs two
# independent SCIM test suites from PyPI against its endpoint, scim2-tester and scim-sanity
# (installed into a venv under $HOME/.cache). Every check they run must pass; checks the tools
# skip are printed with their reason.
#
# Usage: e2e/scim/run.sh   (SCIM_E2E_BIN overrides the binary; default: the release build)

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/portcullis-target}"

BIN="${SCIM_E2E_BIN:-$CARGO_TARGET_DIR/release/portcullis}"
if [[ ! -x "$BIN" ]]; then
  cargo build --release -p portcullis
fi
VENV="$HOME/.cache/portcullis-scim-venv"
if [[ ! -x "$VENV/bin/scim-sanity" ]] || ! "$VENV/bin/python" -c 'import scim2_tester, httpx2' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q scim2-tester httpx2 scim-sanity
fi

PORT="${SCIM_E2E_PORT:-18491}"
IDP_ID="5c1a0f6e-2b7d-4c1e-9a53-6d4c2f1b8e70"
SECRET="e2e-scim-secret-$(date +%s%N)"
dir="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-scim-e2e.XXXXXX")"
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

cat >"$dir/portcullis.toml" <<TOML
[server]
team_domain = "localhost"
listen = "127.0.0.1:$PORT"
public_url = "http://localhost:$PORT"
data_dir = "$dir/data"

[[identity_providers]]
id = "$IDP_ID"
name = "scim-e2e"
type = "oidc"
config = { client_id = "e2e", client_secret = "e2e-client-secret", auth_url = "http://127.0.0.1:9/auth", token_url = "http://127.0.0.1:9/token", certs_url = "http://127.0.0.1:9/jwks" }
scim_config = { enabled = true, secret = "$SECRET", user_deprovision = true }
TOML

"$BIN" serve --config "$dir/portcullis.toml" >"$dir/gateway.log" 2>&1 &
pid=$!
BASE="http://localhost:$PORT/scim/$IDP_ID/v2"
for _ in $(seq 1 100); do
  curl -s -o /dev/null -H "Authorization: Bearer $SECRET" "$BASE/ServiceProviderConfig" && break
  sleep 0.1
done

status=0
echo "--- scim2-tester"
"$VENV/bin/python" e2e/scim/scim2_tester_check.py "$BASE" "$SECRET" || status=1
echo "--- scim-sanity probe"
"$VENV/bin/scim-sanity" probe "$BASE" --token "$SECRET" --i-accept-side-effects || status=1
if [[ $status != 0 ]]; then
  echo "--- gateway log (tail)"
  tail -n 40 "$dir/gateway.log"
fi
exit "$status"
