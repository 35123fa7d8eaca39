#!/usr/bin/env bash
# Multi-node check: three `portcullis serve` processes on one PostgreSQL database, as behind a
# load balancer (same secret_key, same public_url, each its own port and data_dir).
#
#   - every node publishes the same signing keys;
#   - alice logs in through node A (node oidc-provider, as in e2e/run.sh); her app token works
#     on B and C;
#   - 100 sessions of alice are revoked one by one with `portcullis sessions revoke` run against
#     C's configuration (a separate process writing to the database); A and B are polled every
#     ~10 ms until they refuse the token: the propagation time's median and p99 are reported;
#   - `portcullis users revoke` through C: A and B refuse alice's first token.
# Key rotation on one node is not exercised: there is no rotate command, and
# key_rotation_interval cannot be shorter than an hour.
#
# Usage: e2e/multinode/run.sh       (needs PostgreSQL; builds the release binary when missing)
#   PORTCULLIS_TEST_POSTGRES=postgres://user@host:port/db   the server (default
#                              postgres://postgres@127.0.0.1:5432/postgres); a fresh database is
#                              created on it and dropped at the end
#   MULTINODE_SESSIONS=100     how many revocations to measure
#   E2E_KEEP=1                 keep the work directory with configs and logs
# Closes with "multinode: N checks passed, M failed; revocation propagation median X ms p99 Y ms".

set -euo pipefail

# shellcheck source=e2e/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
HERE="$E2E_DIR/multinode"

SERVER_URL="${PORTCULLIS_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"
SESSIONS="${MULTINODE_SESSIONS:-100}"
DB="portcullis_multinode_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
DB_URL="${SERVER_URL%/*}/$DB"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-multinode.XXXXXX")"
cleanup() {
  stop_all
  psql "$SERVER_URL" -qtAc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  if [[ -n "${E2E_KEEP:-}" ]]; then
    echo "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== multinode: preparing"
clean_gateway_env
ensure_node_deps
ensure_gateway_bin
BIN="$(gateway_bin)"
psql "$SERVER_URL" -qtAc "CREATE DATABASE $DB" >/dev/null
echo "  database $DB"

read -r A_PORT B_PORT C_PORT IDP_PORT ORIGIN_PORT <<<"$(free_ports 5)"
# The address users know (a load balancer's, in production): node A's here, because the e2e
# IdP sends logins back to one callback URL.
TEAM="http://auth.localhost:$A_PORT"
APP_HOST="whoami.localhost"
SECRET="$(python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')"
AUD="$(random_aud)"

start_idp "$IDP_PORT" "$A_PORT" "$WORK/idp.log"
mkdir -p "$WORK/www"
echo '{"origin": "multinode"}' >"$WORK/www/index.html"
start origin "$WORK/origin.log" python3 -m http.server --bind 127.0.0.1 --directory "$WORK/www" "$ORIGIN_PORT"
wait_http "http://127.0.0.1:$ORIGIN_PORT/" "$LAST_PID" 20

# write_config NAME PORT: node NAME's configuration.
write_config() {
  local name="$1" port="$2"
  mkdir -p "$WORK/$name"
  cat >"$WORK/$name/portcullis.toml" <<TOML
[server]
team_domain = "auth.localhost"
listen = "127.0.0.1:$port"
public_url = "$TEAM"
data_dir = "$WORK/$name/data"
database_url = "$DB_URL?max_connections=4"
secret_key = "$SECRET"

[[identity_providers]]
name = "oidc-provider"
type = "oidc"
config = { client_id = "portcullis-rs256", client_secret = "$E2E_CLIENT_SECRET", discovery_url = "$IDP_URL/.well-known/openid-configuration", pkce_enabled = true }

[[applications]]
name = "whoami"
domain = "$APP_HOST"
origin = "http://127.0.0.1:$ORIGIN_PORT"
aud = "$AUD"
policies = [{ name = "staff", decision = "allow", include = [{ email_domain = { domain = "example.com" } }] }]
TOML
}

declare -A PORT=([A]=$A_PORT [B]=$B_PORT [C]=$C_PORT)
for node in A B C; do
  write_config "$node" "${PORT[$node]}"
done

# Node A first (it creates the schema and the first signing key), then B and C together.
start_node() {
  local node="$1"
  start "node $node" "$WORK/$node/gateway.log" "$BIN" serve --config "$WORK/$node/portcullis.toml"
  NODE_PID[$node]=$LAST_PID
}
declare -A NODE_PID=()
start_node A
if wait_http "http://auth.localhost:$A_PORT/cdn-cgi/access/certs" "${NODE_PID[A]}" 30; then
  pass "node A serves on PostgreSQL"
else
  fail "node A serves on PostgreSQL"
fi
start_node B
start_node C
for node in B C; do
  if wait_http "http://auth.localhost:${PORT[$node]}/cdn-cgi/access/certs" "${NODE_PID[$node]}" 30; then
    pass "node $node serves on the same database"
  else
    fail "node $node serves on the same database"
    tail -n 20 "$WORK/$node/gateway.log" | sed 's/^/  | /'
  fi
done

kids() {
  curl -s --max-time 5 "http://auth.localhost:$1/cdn-cgi/access/certs" \
    | python3 -c 'import json, sys; print(" ".join(sorted(k["kid"] for k in json.load(sys.stdin)["keys"])))'
}
check_eq "nodes B and A publish the same signing keys" "$(kids "$A_PORT")" "$(kids "$B_PORT")"
check_eq "nodes C and A publish the same signing keys" "$(kids "$A_PORT")" "$(kids "$C_PORT")"

# app_status PORT TOKEN: the status node PORT answers a JSON client carrying TOKEN.
app_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Accept: application/json' \
    -H "Cookie: CF_Authorization=$2" "http://$APP_HOST:$1/" || echo 000
}

# login_token JAR: logs alice in through node A; prints her app token.
login_token() {
  local jar="$1" resp
  resp=$(login "$jar" alice alice-password "http://$APP_HOST:$A_PORT/" "$jar.body") || return 1
  [[ "$resp" == "200 http://$APP_HOST:$A_PORT/" ]] || return 1
  jar_cookie "$jar" "$APP_HOST" CF_Authorization
}

# nonce TOKEN: the session id (identity_nonce) an app token carries.
nonce() {
  python3 -c '
import base64, json, sys
p = sys.argv[1].split(".")[1]
print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["identity_nonce"])' "$1"
}

echo "== login through node A, token on B and C"
FIRST="$(login_token "$WORK/first.jar" || true)"
if [[ -n "$FIRST" ]]; then pass "alice logs in through node A"; else fail "alice logs in through node A"; fi
for node in A B C; do
  check_eq "alice's app token accepted by node $node" 200 "$(app_status "${PORT[$node]}" "$FIRST")"
done

echo "== $SESSIONS sessions, each revoked through the CLI on C's configuration"
: >"$WORK/tokens.txt"
made=0
for i in $(seq 1 "$SESSIONS"); do
  token="$(login_token "$WORK/s$i.jar" || true)"
  [[ -n "$token" ]] || continue
  echo "$(nonce "$token") $token" >>"$WORK/tokens.txt"
  made=$((made + 1))
done
check_eq "$SESSIONS logins through node A" "$SESSIONS" "$made"
"$HERE/propagation.py" "$WORK/tokens.txt" "$APP_HOST" "http://127.0.0.1:$A_PORT" "http://127.0.0.1:$B_PORT" \
  -- "$BIN" sessions revoke --config "$WORK/C/portcullis.toml" -- >"$WORK/propagation.json"
cat "$WORK/propagation.json" | python3 -c 'import json, sys; d = json.load(sys.stdin); d["failures"] = d["failures"][:3]; print("  ", json.dumps(d))'
check_json "every revocation refused on A and B (401), none lost" "$WORK/propagation.json" \
  'd.failures.length === 0 && d.samples === 2 * d.revocations'
check_json "revocation propagation p99 under one second" "$WORK/propagation.json" 'd.p99_ms < 1000'
MEDIAN=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("median_ms", "n/a"))' "$WORK/propagation.json")
P99=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("p99_ms", "n/a"))' "$WORK/propagation.json")

echo "== users revoke through the CLI on C's configuration"
"$BIN" users revoke alice@example.com --config "$WORK/C/portcullis.toml" >/dev/null
deadline=$((SECONDS + 5))
for node in A B; do
  code=200
  while ((SECONDS < deadline)); do
    code=$(app_status "${PORT[$node]}" "$FIRST")
    [[ "$code" == 200 ]] || break
    sleep 0.01
  done
  check_eq "node $node refuses the revoked user's token" 401 "$code"
done

echo "note: key rotation on one node is not exercised (no rotate command; key_rotation_interval is at least 1h)"
summary || true
echo "multinode: $PASSED checks passed, $FAILED failed; revocation propagation median $MEDIAN ms p99 $P99 ms"
((FAILED == 0))
