# shellcheck shell=bash
# Shell helpers shared by e2e/run.sh and bench/proxy.sh: starting and stopping the processes a run
# needs, free ports, waiting for readiness, the headless login through the e2e IdP, and counting
# checks. Sourced, never run. Expects `set -euo pipefail` in the caller.

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_ROOT="$(cd "$E2E_DIR/.." && pwd)"

# --- processes -------------------------------------------------------------------------------

STARTED_PIDS=()

# start NAME LOGFILE CMD...: runs CMD in the background, output to LOGFILE; sets LAST_PID.
start() {
  local name="$1" log="$2"
  shift 2
  "$@" >"$log" 2>&1 &
  LAST_PID=$!
  STARTED_PIDS+=("$LAST_PID")
  echo "  started $name (pid $LAST_PID, log $log)"
}

# stop PID: ends one process this script started, waiting briefly before SIGKILL.
stop() {
  local pid="$1" i
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# stop_all: the EXIT trap. Ends everything started through `start`, newest first.
stop_all() {
  local i
  for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
    stop "${STARTED_PIDS[$i]}"
  done
  STARTED_PIDS=()
}

# free_ports N: prints N distinct TCP ports on 127.0.0.1 that nothing listens on right now.
free_ports() {
  python3 -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()' "$1"
}

# wait_http URL PID [SECONDS] [CURL ARGS...]: waits until URL answers 2xx, failing early if PID died.
wait_http() {
  local url="$1" pid="$2" secs="${3:-30}" deadline code
  shift 3 || shift $#
  deadline=$((SECONDS + secs))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "  process $pid exited while waiting for $url" >&2
      return 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" || true)
    if [[ "$code" == 2* ]]; then return 0; fi
    sleep 0.2
  done
  echo "  timed out after ${secs}s waiting for $url" >&2
  return 1
}

# gateway_bin: the release binary of the gateway (GATEWAY_BIN overrides).
gateway_bin() {
  if [[ -n "${GATEWAY_BIN:-}" ]]; then
    echo "$GATEWAY_BIN"
  else
    echo "${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/portcullis"
  fi
}

# ensure_gateway_bin: builds the release binary when it is missing.
ensure_gateway_bin() {
  local bin
  bin="$(gateway_bin)"
  if [[ ! -x "$bin" ]]; then
    echo "  $bin missing: cargo build --release -p portcullis"
    (cd "$REPO_ROOT" && cargo build --release -p portcullis)
  fi
  [[ -x "$bin" ]]
}

# clean_gateway_env: PORTCULLIS_* variables from the caller's environment would override the
# generated config, so the runs drop them.
clean_gateway_env() {
  local v
  for v in $(compgen -e | grep '^PORTCULLIS_' || true); do
    unset "$v"
  done
}

# ensure_node_deps: installs e2e/node_modules from the committed lockfile when needed.
ensure_node_deps() {
  if [[ ! -d "$E2E_DIR/node_modules/oidc-provider" || ! -d "$E2E_DIR/node_modules/jose" \
    || "$E2E_DIR/package-lock.json" -nt "$E2E_DIR/node_modules/.package-lock.json" ]]; then
    echo "  npm ci in e2e/"
    (cd "$E2E_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# --- the e2e IdP and the gateway config ------------------------------------------------------

E2E_CLIENT_SECRET="e2e-client-secret-9f2c41"

# start_idp PORT GATEWAY_PORT LOGFILE: node oidc-provider on 127.0.0.1:PORT whose clients
# redirect to the gateway's callback on GATEWAY_PORT. Sets IDP_PID and IDP_URL.
start_idp() {
  local port="$1" gw_port="$2" log="$3"
  start "oidc-provider" "$log" node "$E2E_DIR/idp.mjs" --port "$port" \
    --redirect-uri "http://auth.localhost:$gw_port/cdn-cgi/access/callback" --secret "$E2E_CLIENT_SECRET"
  IDP_PID=$LAST_PID
  IDP_URL="http://127.0.0.1:$port"
  wait_http "$IDP_URL/.well-known/openid-configuration" "$IDP_PID" 30
}

# random_aud: a 64-hex AUD tag, as Cloudflare shows them.
random_aud() {
  python3 -c 'import secrets; print(secrets.token_hex(32))'
}

# --- headless login --------------------------------------------------------------------------

# jar_cookie JAR HOST NAME: prints the value of cookie NAME set for HOST in a curl cookie jar.
jar_cookie() {
  local jar="$1" host="$2" name="$3"
  awk -v host="$host" -v name="$name" -F '\t' '
    { d = $1; sub(/^#HttpOnly_/, "", d) }
    NF >= 7 && (d == host || d == "." host) && $6 == name { v = $7 }
    END { if (v != "") print v }' "$jar"
}

# login JAR USER PASSWORD URL BODY_OUT: follows URL (as a browser would: Accept text/html,
# redirects, cookies in JAR) to the e2e IdP's login form, posts USER/PASSWORD and follows the
# redirects back through the gateway. Prints "<status> <final url>" of the last response and
# leaves its body in BODY_OUT. Returns 1 when the IdP's form was never reached.
login() {
  local jar="$1" user="$2" password="$3" url="$4" out="$5" page eff action
  page="$out.form.html"
  eff=$(curl -sS -L --max-redirs 15 --max-time 20 -b "$jar" -c "$jar" -H 'Accept: text/html' \
    -o "$page" -w '%{url_effective}' "$url") || return 1
  action=$(grep -o 'action="/interaction/[^"]*/login"' "$page" | head -n1 | sed 's/^action="//; s/"$//') || true
  if [[ -z "$action" ]]; then
    echo "  login: no IdP form at $eff" >&2
    return 1
  fi
  curl -sS -L --max-redirs 15 --max-time 20 -b "$jar" -c "$jar" -H 'Accept: text/html' \
    --data-urlencode "login=$user" --data-urlencode "password=$password" \
    -o "$out" -w '%{http_code} %{url_effective}' "${eff%%/interaction/*}$action"
}

# --- checks ----------------------------------------------------------------------------------

PASSED=0
FAILED=0
FAILED_NAMES=()

pass() {
  PASSED=$((PASSED + 1))
  echo "  ok   $1"
}

fail() {
  FAILED=$((FAILED + 1))
  FAILED_NAMES+=("$1")
  echo "  FAIL $1${2:+ — $2}"
}

# check NAME CMD...: passes when CMD succeeds.
check() {
  local name="$1"
  shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}

# check_eq NAME EXPECTED ACTUAL
check_eq() {
  if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi
}

# json_ok FILE EXPR: true when the JS expression EXPR holds for `d`, the JSON in FILE. The
# expression sees `env` (process.env) and `eq(a, b)` (deep equality).
json_ok() {
  node -e '
    const fs = require("node:fs"); const util = require("node:util");
    const env = process.env; const eq = (a, b) => util.isDeepStrictEqual(a, b);
    let d; try { d = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch { process.exit(1); }
    let ok = false; try { ok = Boolean(eval(process.argv[2])); } catch { ok = false; }
    process.exit(ok ? 0 : 1);' "$1" "$2"
}

# check_json NAME FILE EXPR
check_json() {
  if json_ok "$2" "$3"; then
    pass "$1"
  else
    fail "$1" "$3 on $(head -c 400 "$2" 2>/dev/null | tr '\n' ' ')"
  fi
}

# summary: the closing line the CI reads; returns non-zero when anything failed.
summary() {
  local n
  if ((FAILED > 0)); then
    echo "failed checks:"
    for n in "${FAILED_NAMES[@]}"; do echo "  - $n"; done
  fi
  echo "$PASSED passed, $FAILED failed"
  ((FAILED == 0))
}
