#!/usr/bin/env bash
# Cloudflare's official Python SDK against Portcullis's admin API: starts a gateway with nothing in
# it but a bootstrap admin token, and runs check.py, which creates a login method (SCIM on), a
# reusable policy and a self-hosted app through the SDK, reads, lists, updates and deletes them,
# refreshes the SCIM secret and revokes a user. Only the SDK's base URL and token are changed.
#
# Usage: e2e/cfapi/run.sh   (CFAPI_E2E_BIN overrides the binary; default: the release build;
#                            CFAPI_E2E_PORT the port, default 18492)

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/portcullis-target}"

# The SDK version this check was written against; a new one is a deliberate change here.
SDK_VERSION="5.9.0"

BIN="${CFAPI_E2E_BIN:-$CARGO_TARGET_DIR/release/portcullis}"
if [[ ! -x "$BIN" ]]; then
  cargo build --release -p portcullis
fi
VENV="$HOME/.cache/portcullis-cfapi-venv"
if [[ "$("$VENV/bin/python" -c 'import cloudflare; print(cloudflare.__version__)' 2>/dev/null)" != "$SDK_VERSION" ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "cloudflare==$SDK_VERSION"
fi

PORT="${CFAPI_E2E_PORT:-18492}"
TOKEN="cfapi-e2e-admin-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
dir="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-cfapi-e2e.XXXXXX")"
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

# No login method, app or policy: everything the check uses is made through the API.
cat >"$dir/portcullis.toml" <<TOML
[server]
team_domain = "localhost"
listen = "127.0.0.1:$PORT"
public_url = "http://localhost:$PORT"
data_dir = "$dir/data"
admin_token = "$TOKEN"
TOML

"$BIN" serve --config "$dir/portcullis.toml" >"$dir/gateway.log" 2>&1 &
pid=$!
API="http://localhost:$PORT/client/v4"
# Ready when our token is accepted (not merely when something answers on the port), and only while
# the gateway we started still runs.
for _ in $(seq 1 100); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "portcullis exited at start-up:"
    cat "$dir/gateway.log"
    exit 1
  fi
  code="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$API/accounts" || true)"
  [[ "$code" == 200 ]] && break
  sleep 0.1
done
if ! kill -0 "$pid" 2>/dev/null; then
  echo "portcullis exited at start-up:"
  cat "$dir/gateway.log"
  exit 1
fi

# The SDK reads these from the environment before its arguments for some; none may leak in.
status=0
env -u CLOUDFLARE_API_TOKEN -u CLOUDFLARE_API_KEY -u CLOUDFLARE_EMAIL \
  -u CLOUDFLARE_API_USER_SERVICE_KEY -u CLOUDFLARE_BASE_URL -u CLOUDFLARE_CUSTOM_HEADERS \
  "$VENV/bin/python" e2e/cfapi/check.py "$API" "$TOKEN" || status=1
if [[ $status != 0 ]]; then
  echo "--- gateway log (tail)"
  tail -n 40 "$dir/gateway.log"
fi
exit "$status"
