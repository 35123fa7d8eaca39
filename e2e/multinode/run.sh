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
#   - `organizations/revoke_user` through C's admin API: A and B refuse alice's first token;
#   - an application created through C's admin API is routed by A and B (login redirect), and
#     no longer once it is deleted there;
#   - `portcullis keys rotate` with B's configuration: A, B and C publish the new key within a
#     second; a token B mints afterwards is accepted on A, and so is one minted before;
#   - SCIM: A and B each add MULTINODE_MEMBERS users to one group at once, one member per PATCH;
#     the group then holds all of them;
#   - database outage: while authenticated requests run against A, B and C, PostgreSQL is
#     stopped (pg_ctlcluster) for a few seconds: no token-carrying request fails, a login answers
#     503 with the page that says so, SCIM answers 503 with a SCIM error body without hanging;
#     once it
#     is started again, logins work through every node without a restart and a revocation
#     still reaches A and B (PostgreSQL is started again on exit whatever happens);
#   - crash safety: node C is killed with SIGKILL in the middle of a SCIM provisioning run
#     (4 threads), restarted, and every user acknowledged with 2xx is there; the same with a
#     single node on SQLite.
# From the rotation on, logins are bob's (alice's re-login is blocked for a minute by then), and
# every gateway request of a login goes to the node under test (`follow_on`), as when a load
# balancer sends that browser there: login, callback and the app token all happen on that node.
# The outage stops the machine's cluster (needs root, as in CI): anything else using it fails
# for those ~10 seconds.
#
# Usage: e2e/multinode/run.sh       (needs PostgreSQL; builds the release binary when missing)
#   PORTCULLIS_TEST_POSTGRES=postgres://user@host:port/db   the server (default
#                              postgres://postgres@127.0.0.1:5432/postgres); a fresh database is
#                              created on it and dropped at the end
#   MULTINODE_SESSIONS=100     how many revocations to measure
#   MULTINODE_MEMBERS=1000     members each of A and B adds to the shared SCIM group
#   MULTINODE_PROVISION=2000   users the crash-safety runs set out to create (the node is
#                              killed after MULTINODE_KILL_AFTER=1000 are acknowledged)
#   MULTINODE_LOAD_SECONDS=15  length of the authenticated load around the database outage
#   E2E_KEEP=1                 keep the work directory with configs and logs
# Closes with "multinode: N checks passed, M failed; revocation propagation median X ms p99 Y ms".

set -euo pipefail

# shellcheck source=e2e/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
HERE="$E2E_DIR/multinode"

SERVER_URL="${PORTCULLIS_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"
SESSIONS="${MULTINODE_SESSIONS:-100}"
MEMBERS="${MULTINODE_MEMBERS:-1000}"
PROVISION="${MULTINODE_PROVISION:-2000}"
KILL_AFTER="${MULTINODE_KILL_AFTER:-1000}"
LOAD_SECONDS="${MULTINODE_LOAD_SECONDS:-15}"
DB="portcullis_multinode_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
DB_URL="${SERVER_URL%/*}/$DB"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-multinode.XXXXXX")"
# The PostgreSQL cluster serving SERVER_URL's port (Debian's pg_ctlcluster names it), for the
# outage; set once it has been stopped, so that the exit trap starts it again.
PG_STOPPED=""
cleanup() {
  if [[ -n "$PG_STOPPED" ]]; then
    pg_ctlcluster $PG_STOPPED start || echo "  could not start PostgreSQL cluster $PG_STOPPED again" >&2
  fi
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

read -r A_PORT B_PORT C_PORT D_PORT IDP_PORT ORIGIN_PORT <<<"$(free_ports 6)"
# The address users know (a load balancer's, in production): node A's here, because the e2e
# IdP sends logins back to one callback URL.
TEAM="http://auth.localhost:$A_PORT"
APP_HOST="whoami.localhost"
SECRET="$(python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')"
AUD="$(random_aud)"
IDP_ID="3e8c7a52-0d6f-4b1e-9c27-5a4f1e6b8d90"
SCIM_SECRET="multinode-scim-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"

start_idp "$IDP_PORT" "$A_PORT" "$WORK/idp.log"
mkdir -p "$WORK/www"
echo '{"origin": "multinode"}' >"$WORK/www/index.html"
start origin "$WORK/origin.log" python3 -m http.server --bind 127.0.0.1 --directory "$WORK/www" "$ORIGIN_PORT"
wait_http "http://127.0.0.1:$ORIGIN_PORT/" "$LAST_PID" 20

# write_config NAME PORT [DATABASE_URL]: node NAME's configuration (SQLite in its data_dir when
# DATABASE_URL is empty). A short acquire_timeout keeps answers quick while the database is down.
write_config() {
  local name="$1" port="$2" db="${3-$DB_URL?max_connections=4&acquire_timeout=2s}" db_line=""
  [[ -z "$db" ]] || db_line="database_url = \"$db\""
  mkdir -p "$WORK/$name"
  cat >"$WORK/$name/portcullis.toml" <<TOML
[server]
team_domain = "auth.localhost"
listen = "127.0.0.1:$port"
public_url = "$TEAM"
data_dir = "$WORK/$name/data"
$db_line
secret_key = "$SECRET"
admin_token = "$ADMIN_TOKEN"

[[identity_providers]]
id = "$IDP_ID"
name = "oidc-provider"
type = "oidc"
config = { client_id = "portcullis-rs256", client_secret = "$E2E_CLIENT_SECRET", discovery_url = "$IDP_URL/.well-known/openid-configuration", pkce_enabled = true }
scim_config = { enabled = true, secret = "$SCIM_SECRET" }

[[applications]]
name = "whoami"
domain = "$APP_HOST"
origin = "http://127.0.0.1:$ORIGIN_PORT"
aud = "$AUD"
policies = [{ name = "staff", decision = "allow", include = [{ email_domain = { domain = "example.com" } }, { email = { email = "bob@example.org" } }] }]
TOML
}

ADMIN_TOKEN="multinode-admin-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
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

# follow_on PORT JAR URL OUT [CURL ARGS...]: requests URL and follows its redirects one hop at a
# time, as a browser would, but sends every request meant for the gateway (the team domain or the
# application) to node PORT: a load balancer that happens to send this browser to that node.
# Prints "<status> <url>" of the last response, whose body is left in OUT.
follow_on() {
  local port="$1" jar="$2" url="$3" out="$4" code next i
  shift 4
  for i in $(seq 1 15); do
    url="$(sed -E "s#^http://(auth\.localhost|$APP_HOST):[0-9]+#http://\1:$port#" <<<"$url")"
    read -r code next < <(curl -sS --max-time 20 -b "$jar" -c "$jar" -H 'Accept: text/html' \
      -o "$out" -w '%{http_code} %{redirect_url}\n' "$@" "$url" || echo 000)
    set --
    if [[ "$code" != 30* || -z "$next" ]]; then
      echo "$code $url"
      return 0
    fi
    url="$next"
  done
  echo "$code $url"
}

# login_on PORT JAR USER OUT: USER signs in to the application with every gateway request going
# to node PORT (login, callback and the application's token all on that node); the e2e IdP's
# form is filled in. Prints "<status> <url>" of the last response.
login_on() {
  local port="$1" jar="$2" user="$3" out="$4" form resp action
  form="$out.form.html"
  resp="$(follow_on "$port" "$jar" "http://$APP_HOST:$port/" "$form")"
  action=$(grep -o 'action="/interaction/[^"]*/login"' "$form" | head -n1 | sed 's/^action="//; s/"$//') || true
  if [[ -z "$action" ]]; then
    echo "  login through port $port: no IdP form at ${resp#* }" >&2
    return 1
  fi
  local idp="${resp#* }"
  follow_on "$port" "$jar" "${idp%%/interaction/*}$action" "$out" \
    --data-urlencode "login=$user" --data-urlencode "password=$user-password"
}

# login_token JAR [USER] [PORT]: USER (alice) signs in with every gateway request going to node
# PORT (A's), which therefore mints the app token; prints the app token.
login_token() {
  local jar="$1" user="${2:-alice}" port="${3:-$A_PORT}" resp
  resp=$(login_on "$port" "$jar" "$user" "$jar.body") || return 1
  if [[ "$resp" != "200 http://$APP_HOST:$port/" ]]; then
    echo "  login through port $port ended at: $resp" >&2
    return 1
  fi
  jar_cookie "$jar" "$APP_HOST" CF_Authorization
}

# token_kid TOKEN: the kid in a token's header.
token_kid() {
  python3 -c '
import base64, json, sys
h = sys.argv[1].split(".")[0]
print(json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))["kid"])' "$1"
}

# jq_py FILE EXPR: prints the Python expression EXPR of `d`, the JSON in FILE.
jq_py() {
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
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

echo "== organizations/revoke_user through C's admin API"
ACCOUNT="$(curl -s --max-time 5 -H "Authorization: Bearer $ADMIN_TOKEN" "http://auth.localhost:$C_PORT/client/v4/accounts" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["result"][0]["id"])')"
REVOKED="$(curl -s --max-time 5 -X POST -H "Authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' \
  -d '{"email": "alice@example.com"}' \
  "http://auth.localhost:$C_PORT/client/v4/accounts/$ACCOUNT/access/organizations/revoke_user" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["success"])')"
check_eq "C's admin API revokes the user" True "$REVOKED"
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

echo "== an application made and deleted through C's admin API, served by A and B"
NEW_HOST="wiki.localhost"
host_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Host: $NEW_HOST" -H 'Accept: text/html' "http://127.0.0.1:$1/"
}
# wait_status PORT CODE: polls node PORT for up to five seconds until NEW_HOST answers CODE.
wait_status() {
  local deadline=$((SECONDS + 5)) code
  while :; do
    code=$(host_status "$1")
    [[ "$code" != "$2" && $SECONDS -lt $deadline ]] || break
    sleep 0.01
  done
  echo "$code"
}
check_eq "node A routes no application for $NEW_HOST yet" 404 "$(host_status "$A_PORT")"
APPS_URL="http://auth.localhost:$C_PORT/client/v4/accounts/$ACCOUNT/access/apps"
NEW_APP_ID="$(curl -s --max-time 5 -X POST -H "Authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' \
  -d "{\"name\": \"wiki\", \"domain\": \"$NEW_HOST\", \"origin\": \"http://127.0.0.1:$ORIGIN_PORT\",
       \"policies\": [{\"name\": \"staff\", \"decision\": \"allow\", \"include\": [{\"email_domain\": {\"domain\": \"example.com\"}}]}]}" \
  "$APPS_URL" | python3 -c 'import json, sys; print(json.load(sys.stdin)["result"]["id"])' 2>/dev/null || echo none)"
check_eq "C's admin API creates the application" 36 "${#NEW_APP_ID}"
for node in A B; do
  check_eq "node $node sends visitors of the new application to sign in" 302 "$(wait_status "${PORT[$node]}" 302)"
done
curl -s --max-time 5 -o /dev/null -X DELETE -H "Authorization: Bearer $ADMIN_TOKEN" "$APPS_URL/$NEW_APP_ID"
for node in A B; do
  check_eq "node $node stops routing the deleted application" 404 "$(wait_status "${PORT[$node]}" 404)"
done

# certs_kids PORT: "<kid of public_cert> <every published kid, sorted>" of node PORT.
certs_kids() {
  curl -s --max-time 5 "http://auth.localhost:$1/cdn-cgi/access/certs" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["public_cert"]["kid"], " ".join(sorted(k["kid"] for k in d["keys"])))' 2>/dev/null || echo none
}

echo "== keys rotate through the CLI on B's configuration"
BEFORE="$(login_token "$WORK/before.jar" bob "$A_PORT" || true)"
check_eq "a token minted on A before the rotation works on A" 200 "$(app_status "$A_PORT" "$BEFORE")"
# Every node's certs, polled every 2 ms from before the rotation until each shows another kid;
# the instants are compared with the end of the rotate command.
python3 - "$(token_kid "$BEFORE")" "$A_PORT" "$B_PORT" "$C_PORT" >"$WORK/certs-changed.json" <<'PY' &
import http.client, json, sys, time
old, ports = sys.argv[1], sys.argv[2:]
conns = {n: http.client.HTTPConnection("127.0.0.1", int(p), timeout=5) for n, p in zip("ABC", ports)}
changed, deadline = {}, time.time() + 10
while len(changed) < len(ports) and time.time() < deadline:
    for name, conn in conns.items():
        if name in changed:
            continue
        conn.request("GET", "/cdn-cgi/access/certs", headers={"Host": "auth.localhost"})
        if json.loads(conn.getresponse().read())["public_cert"]["kid"] != old:
            changed[name] = time.time_ns()
    time.sleep(0.002)
print(json.dumps(changed))
PY
POLLER=$!
sleep 0.3
"$BIN" keys rotate --json --config "$WORK/B/portcullis.toml" >"$WORK/rotate.json"
rotated_at=$(date +%s%N)
wait "$POLLER" || true
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(json.dumps({n: round((t - int(sys.argv[2])) / 1e6, 1) for n, t in d.items()}))' \
  "$WORK/certs-changed.json" "$rotated_at" >"$WORK/certs-seen.json"
NEW_KID="$(jq_py "$WORK/rotate.json" 'd["kid"]')"
check_eq "the rotation retired the key the token was signed with" "$(token_kid "$BEFORE")" \
  "$(jq_py "$WORK/rotate.json" 'd["previous_kid"]')"
echo "   new kid $NEW_KID; ms from the end of the rotate command until each node published it (negative: before the command had exited): $(cat "$WORK/certs-seen.json")"
for node in A B C; do
  check_json "node $node publishes the new key within a second" "$WORK/certs-seen.json" "d.$node < 1000"
done
check_eq "nodes B and A publish the same keys after the rotation" "$(certs_kids "$A_PORT")" "$(certs_kids "$B_PORT")"
check_eq "nodes C and A publish the same keys after the rotation" "$(certs_kids "$A_PORT")" "$(certs_kids "$C_PORT")"
AFTER="$(login_token "$WORK/after.jar" bob "$B_PORT" || true)"
check_eq "a token minted on B after the rotation carries the new kid" "$NEW_KID" "$(token_kid "$AFTER" 2>/dev/null || true)"
check_eq "node A accepts the token B minted with the new key" 200 "$(app_status "$A_PORT" "$AFTER")"
check_eq "node C accepts the token B minted with the new key" 200 "$(app_status "$C_PORT" "$AFTER")"
check_eq "node A still accepts the token minted before the rotation" 200 "$(app_status "$A_PORT" "$BEFORE")"

SCIM_PATH="/scim/$IDP_ID/v2"
scim_base() { echo "http://auth.localhost:$1$SCIM_PATH"; }

echo "== SCIM: nodes A and B each add $MEMBERS members to one group at once"
"$HERE/scim_client.py" group-race "$SCIM_SECRET" "$MEMBERS" 4 "$(scim_base "$A_PORT")" "$(scim_base "$B_PORT")" \
  >"$WORK/race.json"
echo "   $(cat "$WORK/race.json")"
check_json "every PATCH answered 200" "$WORK/race.json" \
  "eq(Object.keys(d.patch_statuses), ['200']) && d.patch_statuses['200'] === 2 * $MEMBERS"
check_json "the group holds all $((2 * MEMBERS)) members, none lost" "$WORK/race.json" \
  "d.members === 2 * $MEMBERS && d.distinct_expected_present === 2 * $MEMBERS"

# crash_run NAME PORT PID_VAR RESTART_CMD: provisions users through node PORT from 4 threads,
# SIGKILLs the node once KILL_AFTER users are acknowledged, runs RESTART_CMD, and checks that
# every acknowledged user is there.
crash_run() {
  local name="$1" port="$2" pid="$3" restart="$4" ids="$WORK/crash-$1.ids" client
  : >"$ids"
  "$HERE/scim_client.py" users "$(scim_base "$port")" "$SCIM_SECRET" "$PROVISION" 4 "$ids" \
    >"$WORK/crash-$name.json" &
  client=$!
  local deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)) && (($(wc -l <"$ids") < KILL_AFTER)) && kill -0 "$client" 2>/dev/null; do
    sleep 0.02
  done
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  wait "$client" || true
  echo "   $name: $(cat "$WORK/crash-$name.json") (killed after $KILL_AFTER acknowledgements)"
  check_json "$name: SIGKILL landed mid-run ($PROVISION users asked for)" "$WORK/crash-$name.json" \
    "d.acknowledged >= $KILL_AFTER && d.acknowledged < $PROVISION"
  $restart
  if wait_http "$(scim_base "$port")/ServiceProviderConfig" "$LAST_PID" 30 -H "Authorization: Bearer $SCIM_SECRET"; then
    pass "$name: the killed node starts again"
  else
    fail "$name: the killed node starts again"
  fi
  "$HERE/scim_client.py" verify "$(scim_base "$port")" "$SCIM_SECRET" "$ids" >"$WORK/verify-$name.json"
  echo "   $name: $(cat "$WORK/verify-$name.json")"
  check_json "$name: every user acknowledged with 2xx is present after the crash" "$WORK/verify-$name.json" \
    "d.ids > 0 && d.found === d.ids"
}

echo "== crash safety: node C killed (SIGKILL) during SCIM provisioning, on PostgreSQL"
crash_run postgres "$C_PORT" "${NODE_PID[C]}" "start_node C"

echo "== crash safety: a single node on SQLite killed (SIGKILL) during SCIM provisioning"
write_config D "$D_PORT" ""
start_sqlite_node() {
  start "node D (SQLite)" "$WORK/D/gateway.log" "$BIN" serve --config "$WORK/D/portcullis.toml"
  NODE_PID[D]=$LAST_PID
}
start_sqlite_node
wait_http "http://auth.localhost:$D_PORT/cdn-cgi/access/certs" "${NODE_PID[D]}" 30 || true
crash_run sqlite "$D_PORT" "${NODE_PID[D]}" start_sqlite_node
stop "${NODE_PID[D]}"

echo "== database outage during authenticated load ($LOAD_SECONDS s across A, B and C)"
PG_PORT="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urlsplit(sys.argv[1]).port or 5432)' "$SERVER_URL")"
CLUSTER="$(pg_lsclusters --no-header 2>/dev/null | awk -v port="$PG_PORT" '$3 == port && $4 == "online" { print $1, $2; exit }' || true)"
LOADED="$(login_token "$WORK/load.jar" bob "$A_PORT" || true)"
for node in A B C; do
  check_eq "node $node serves the load's token before the outage" 200 "$(app_status "${PORT[$node]}" "$LOADED")"
done
if [[ -z "$CLUSTER" ]]; then
  fail "a local PostgreSQL cluster on port $PG_PORT to stop (pg_lsclusters)"
else
  "$HERE/load.py" "$LOAD_SECONDS" "$APP_HOST" "$LOADED" \
    "http://127.0.0.1:$A_PORT" "http://127.0.0.1:$B_PORT" "http://127.0.0.1:$C_PORT" >"$WORK/load.json" &
  LOAD_PID=$!
  sleep 3
  PG_STOPPED="$CLUSTER"
  # shellcheck disable=SC2086
  pg_ctlcluster $CLUSTER stop
  down_at=$SECONDS
  echo "   PostgreSQL $CLUSTER stopped"
  resp="$(login "$WORK/outage.jar" bob bob-password "http://$APP_HOST:$A_PORT/" "$WORK/outage.body" || true)"
  check_eq "a login during the outage answers 503" 503 "${resp%% *}"
  check "the 503 page says the database cannot be reached" grep -q "cannot reach its database" "$WORK/outage.body"
  "$HERE/scim_client.py" probe "$(scim_base "$B_PORT")" "$SCIM_SECRET" >"$WORK/scim-outage.json"
  echo "   SCIM during the outage: $(cat "$WORK/scim-outage.json")"
  check_json "SCIM during the outage answers 503 with a SCIM error body, within 10 s" "$WORK/scim-outage.json" \
    "d.status === 503 && d.scim_error && d.seconds < 10"
  if "$BIN" users revoke bob@example.com --config "$WORK/C/portcullis.toml" >"$WORK/cli-outage.txt" 2>&1; then
    fail "the CLI fails during the outage"
  else
    pass "the CLI fails during the outage"
  fi
  while ((SECONDS - down_at < 8)); do sleep 0.2; done
  # shellcheck disable=SC2086
  pg_ctlcluster $CLUSTER start
  PG_STOPPED=""
  up_at=$(date +%s%N)
  echo "   PostgreSQL started again after $((SECONDS - down_at)) s"
  wait "$LOAD_PID" || true
  echo "   load: $(cat "$WORK/load.json")"
  check_json "the load ran on every node" "$WORK/load.json" \
    "Object.values(d.per_node).every(n => n.requests > 100)"
  check_json "zero errors for token-carrying requests during the outage" "$WORK/load.json" "d.errors === 0"

  RECOVERED=""
  for node in A B C; do
    token=""
    deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
      rm -f "$WORK/recover-$node.jar"
      token="$(login_token "$WORK/recover-$node.jar" bob "${PORT[$node]}" || true)"
      [[ -z "$token" ]] || break
      sleep 0.25
    done
    if [[ -n "$token" ]]; then
      pass "login through node $node works again, no restart ($((($(date +%s%N) - up_at) / 1000000)) ms after the start)"
      [[ -n "$RECOVERED" ]] || RECOVERED="$token"
    else
      fail "login through node $node works again, no restart"
    fi
  done
  for node in A B C; do
    check "node $node kept running through the outage" kill -0 "${NODE_PID[$node]}"
  done
  if [[ -n "$RECOVERED" ]]; then
    echo "$(nonce "$RECOVERED") $RECOVERED" >"$WORK/recovered.txt"
    "$HERE/propagation.py" "$WORK/recovered.txt" "$APP_HOST" "http://127.0.0.1:$A_PORT" "http://127.0.0.1:$B_PORT" \
      -- "$BIN" sessions revoke --config "$WORK/C/portcullis.toml" -- >"$WORK/recovered.json"
    echo "   $(cat "$WORK/recovered.json")"
    check_json "a revocation after the recovery reaches A and B within a second" "$WORK/recovered.json" \
      'd.failures.length === 0 && d.samples === 2 && d.max_ms < 1000'
  else
    fail "a revocation after the recovery reaches A and B within a second"
  fi
fi

summary || true
echo "multinode: $PASSED checks passed, $FAILED failed; revocation propagation median $MEDIAN ms p99 $P99 ms"
((FAILED == 0))
