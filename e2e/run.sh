#!/usr/bin/env bash
# End-to-end suite: Portcullis between real peers written by others.
#
#   IdP:    node oidc-provider (OpenID-certified), one client per ID-token signing alg (e2e/idp.mjs)
#   origin: verifies Cf-Access-Jwt-Assertion exactly as Cloudflare documents (e2e/origin.mjs)
#   client: curl with a cookie jar, logging in headless through the IdP's form
#
# For each alg (and once with client_secret_post and explicit endpoint URLs instead of discovery)
# it starts a fresh `portcullis serve`, logs alice in, and checks what the origin verified, the
# 401/302 answers without a token, header spoofing, get-identity, logout; bob (outside the policy)
# must get the block page and never reach the origin.
#
# Usage: e2e/run.sh            (needs the release binary; builds it when missing)
#   E2E_ALGS="RS256 ES512"     only these algs
#   GATEWAY_BIN=path           another gateway binary
#   E2E_KEEP=1                 keep the work directory with configs and logs
# Closes with "N passed, M failed"; exits non-zero on any failure.

set -euo pipefail

# shellcheck source=e2e/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ALL_ALGS="RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA"
ALGS="${E2E_ALGS:-$ALL_ALGS}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-e2e.XXXXXX")"
cleanup() {
  stop_all
  if [[ -n "${E2E_KEEP:-}" ]]; then
    echo "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== e2e: preparing"
clean_gateway_env
ensure_node_deps
ensure_gateway_bin
BIN="$(gateway_bin)"

read -r GW_PORT IDP_PORT ORIGIN_PORT <<<"$(free_ports 3)"
TEAM="http://auth.localhost:$GW_PORT"
APP_HOST="whoami.localhost"
APP="http://$APP_HOST:$GW_PORT"
ORIGIN="http://127.0.0.1:$ORIGIN_PORT"
export TEAM

start_idp "$IDP_PORT" "$GW_PORT" "$WORK/idp.log"

# write_config FILE DATA_DIR CLIENT_ID MODE AUD: a gateway config; MODE is "discovery" (basic
# auth, discovery URL) or "explicit" (client_secret_post, explicit endpoint URLs).
write_config() {
  local file="$1" data="$2" client="$3" mode="$4" aud="$5" idp_config
  if [[ "$mode" == discovery ]]; then
    idp_config="{ client_id = \"$client\", client_secret = \"$E2E_CLIENT_SECRET\", discovery_url = \"$IDP_URL/.well-known/openid-configuration\", pkce_enabled = true, claims = [\"employee_id\", \"roles\"] }"
  else
    idp_config="{ client_id = \"$client\", client_secret = \"$E2E_CLIENT_SECRET\", auth_url = \"$IDP_URL/auth\", token_url = \"$IDP_URL/token\", certs_url = \"$IDP_URL/jwks\", token_endpoint_auth_method = \"client_secret_post\", pkce_enabled = true, claims = [\"employee_id\", \"roles\"] }"
  fi
  cat >"$file" <<EOF
[server]
team_domain = "auth.localhost"
listen = "127.0.0.1:$GW_PORT"
public_url = "$TEAM"
data_dir = "$data"

[[identity_providers]]
name = "oidc-provider"
type = "oidc"
config = $idp_config

[[applications]]
name = "whoami"
domain = "$APP_HOST"
origin = "$ORIGIN"
aud = "$aud"
policies = [{ name = "staff", decision = "allow", include = [{ email_domain = { domain = "example.com" } }] }]
EOF
}

origin_requests() {
  curl -s --max-time 5 "$ORIGIN/__e2e/stats" | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>console.log(JSON.parse(s).requests))'
}

# http_code OUT CURL_ARGS...: prints the status code, body to OUT.
http_code() {
  local out="$1"
  shift
  curl -sS --max-time 20 -o "$out" -w '%{http_code}' "$@" || echo "000"
}

# location CURL_ARGS...: prints "<status> <Location>" of one request, without following.
location() {
  curl -sS --max-time 20 -o /dev/null -w '%{http_code} %{redirect_url}' "$@" || echo "000 "
}

# redirects_to "<status> <location>" PREFIX: a 302/303 whose Location starts with PREFIX.
redirects_to() {
  [[ "${1%% *}" == 30[23] && "${1#* }" == "$2"* ]]
}

# not_redirects_to "<status> <location>" PREFIX: anything but a redirect to PREFIX.
not_redirects_to() {
  [[ "${1#* }" != "$2"* ]]
}

success_or_redirect() {
  [[ "$1" == 2* || "$1" == 3* ]]
}

show_logs() {
  local dir="$1" f
  for f in "$dir/gateway.log" "$dir/origin.log"; do
    [[ -f "$f" ]] || continue
    echo "  --- last lines of $f"
    tail -n 25 "$f" | sed 's/^/  | /'
  done
}

# round LABEL CLIENT MODE ALG CHECK_BOB
round() {
  local label="$1" client="$2" mode="$3" alg="$4" check_bob="$5"
  local dir="$WORK/$label" aud gw_pid origin_pid before code loc resp token failed_before=$FAILED
  mkdir -p "$dir"
  aud="$(random_aud)"
  export AUD="$aud" ALG="$alg" CLIENT="$client"
  echo "== $label: $client ($mode), ID token $alg"
  write_config "$dir/portcullis.toml" "$dir/data" "$client" "$mode" "$aud"

  start gateway "$dir/gateway.log" "$BIN" serve --config "$dir/portcullis.toml"
  gw_pid=$LAST_PID
  if ! wait_http "$TEAM/cdn-cgi/access/certs" "$gw_pid" 30; then
    fail "$label: gateway serves /cdn-cgi/access/certs"
    show_logs "$dir"
    stop "$gw_pid"
    return 0
  fi
  pass "$label: gateway serves /cdn-cgi/access/certs"

  start origin "$dir/origin.log" env TEAM_DOMAIN="$TEAM" POLICY_AUD="$aud" PORT="$ORIGIN_PORT" \
    node --import "$E2E_DIR/lib/localhost-resolver.mjs" "$E2E_DIR/origin.mjs"
  origin_pid=$LAST_PID
  wait_http "$ORIGIN/__e2e/stats" "$origin_pid" 20

  # Cloudflare's certs format.
  code=$(http_code "$dir/certs.json" "$TEAM/cdn-cgi/access/certs")
  check_json "$label: certs in Cloudflare's format (keys, public_cert, public_certs)" "$dir/certs.json" '
    Array.isArray(d.keys) && d.keys.length >= 1 && d.keys.every(k => k.kid && k.kty && k.alg && k.use === "sig")
    && typeof d.public_cert?.kid === "string" && d.public_cert.cert.includes("-----BEGIN CERTIFICATE-----")
    && Array.isArray(d.public_certs) && d.public_certs.some(c => c.kid === d.public_cert.kid)
    && d.public_certs.every(c => d.keys.some(k => k.kid === c.kid) && c.cert.includes("BEGIN CERTIFICATE"))'

  # Without a token: 401 for non-HTML and XHR clients, login redirect for browsers; the origin sees nothing.
  before=$(origin_requests)
  code=$(http_code "$dir/noauth.txt" -H 'Accept: application/json' "$APP/")
  check_eq "$label: no token, JSON client -> 401" 401 "$code"
  code=$(http_code "$dir/noauth-xhr.txt" -H 'Accept: text/html' -H 'X-Requested-With: XMLHttpRequest' "$APP/")
  check_eq "$label: no token, XMLHttpRequest -> 401" 401 "$code"
  code=$(http_code "$dir/forged.txt" -H 'Accept: application/json' -H 'Cookie: CF_Authorization=eyJhbGciOiJub25lIn0.eyJlbWFpbCI6Im1hbGxvcnlAZXhhbXBsZS5jb20ifQ.' "$APP/")
  check_eq "$label: forged alg=none cookie -> 401" 401 "$code"
  loc=$(location -H 'Accept: text/html' "$APP/e2e/path?x=1")
  check "$label: no token, browser -> 302 to the team login ($loc)" redirects_to "$loc" "$TEAM/cdn-cgi/access/login/"
  check_eq "$label: origin reached by no unauthenticated request" "$before" "$(origin_requests)"

  # Headless login as alice, landing on a deep link with a query string.
  resp=$(login "$dir/alice.jar" alice alice-password "$APP/e2e/path?x=1&y=two" "$dir/alice.json") || resp="000 login-failed"
  check_eq "$label: alice logs in and lands on the original URL" "200 $APP/e2e/path?x=1&y=two" "$resp"
  check_json "$label: origin verified the token (jose createRemoteJWKSet + jwtVerify)" "$dir/alice.json" \
    'd.verified === true && d.payload.iss === env.TEAM && Array.isArray(d.payload.aud) && d.payload.aud.includes(env.AUD)'
  check_json "$label: app token claims (email, type, sub, identity_nonce, iat/nbf/exp)" "$dir/alice.json" '
    d.payload.email === "alice@example.com" && d.payload.type === "app"
    && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(d.payload.sub)
    && typeof d.payload.identity_nonce === "string" && d.payload.identity_nonce.length > 0
    && d.payload.iat <= Date.now() / 1000 + 5 && d.payload.nbf <= Date.now() / 1000 + 5 && d.payload.exp > Date.now() / 1000'
  check_json "$label: custom claims carried (employee_id, roles as an array)" "$dir/alice.json" \
    'd.payload.custom?.employee_id === "E-1001" && eq(d.payload.custom?.roles, ["reader", "writer"])'
  check_json "$label: app token signed RS256 with a kid" "$dir/alice.json" \
    'd.header.alg === "RS256" && typeof d.header.kid === "string"'
  check_json "$label: origin got Cf-Access-Authenticated-User-Email and the original path" "$dir/alice.json" \
    'd.email_header === "alice@example.com" && d.url === "/e2e/path?x=1&y=two"'
  curl -s --max-time 5 "$IDP_URL/__e2e/issued" >"$dir/issued.json"
  check_json "$label: the IdP signed the gateway's ID token with $alg" "$dir/issued.json" \
    'd[env.CLIENT]?.alg === env.ALG && d[env.CLIENT].sub === "alice"'

  # Spoofed identity headers from the client are replaced, never passed on.
  code=$(http_code "$dir/spoof.json" -b "$dir/alice.jar" -H 'Accept: application/json' \
    -H 'Cf-Access-Authenticated-User-Email: mallory@example.com' -H 'Cf-Access-Jwt-Assertion: forged' "$APP/spoof")
  check_eq "$label: spoofing request still served" 200 "$code"
  check_json "$label: spoofed Cf-Access-* headers stripped" "$dir/spoof.json" \
    'd.verified === true && d.email_header === "alice@example.com" && d.payload.email === "alice@example.com"'

  # The app token also works as the cf-access-token header.
  token=$(jar_cookie "$dir/alice.jar" "$APP_HOST" CF_Authorization || true)
  if [[ -n "$token" ]]; then
    pass "$label: app cookie CF_Authorization set on $APP_HOST"
  else
    fail "$label: app cookie CF_Authorization set on $APP_HOST"
  fi
  code=$(http_code "$dir/header.json" -H 'Accept: application/json' -H "cf-access-token: $token" "$APP/via-header")
  check_eq "$label: cf-access-token header accepted" 200 "$code"

  # An open redirect through /authorized must be impossible.
  loc=$(location -H 'Accept: text/html' "$APP/cdn-cgi/access/authorized?token=$token&redirect_url=http%3A%2F%2Fevil.example%2F")
  check "$label: /authorized refuses an off-app redirect_url ($loc)" not_redirects_to "$loc" "http://evil.example"

  # get-identity on the app domain and on the team domain.
  code=$(http_code "$dir/identity-app.json" -b "$dir/alice.jar" "$APP/cdn-cgi/access/get-identity")
  check_eq "$label: get-identity on the app domain -> 200" 200 "$code"
  check_json "$label: get-identity has email and oidc_fields" "$dir/identity-app.json" \
    'd.email === "alice@example.com" && d.oidc_fields?.employee_id === "E-1001" && eq(d.oidc_fields?.roles, ["reader", "writer"])'
  code=$(http_code "$dir/identity-team.json" -b "$dir/alice.jar" "$TEAM/cdn-cgi/access/get-identity")
  check_eq "$label: get-identity on the team domain -> 200" 200 "$code"
  check_json "$label: team get-identity is alice" "$dir/identity-team.json" 'd.email === "alice@example.com"'

  # Logout on the app domain ends the session everywhere, old tokens included.
  code=$(http_code "$dir/logout.html" -b "$dir/alice.jar" -c "$dir/alice.jar" "$APP/cdn-cgi/access/logout")
  check "$label: logout answers ($code)" success_or_redirect "$code"
  code=$(http_code "$dir/after-logout.txt" -b "$dir/alice.jar" -H 'Accept: application/json' "$APP/")
  check_eq "$label: after logout the jar gets 401" 401 "$code"
  for _ in $(seq 1 25); do
    code=$(http_code "$dir/old-token.txt" -H 'Accept: application/json' -H "cf-access-token: $token" "$APP/")
    [[ "$code" == 401 ]] && break
    sleep 0.2
  done
  check_eq "$label: after logout the old app token is refused" 401 "$code"
  code=$(http_code "$dir/identity-after.json" -b "$dir/alice.jar" "$TEAM/cdn-cgi/access/get-identity")
  check "$label: after logout the team session is gone (get-identity $code)" test "$code" != 200

  if [[ "$check_bob" == yes ]]; then
    before=$(origin_requests)
    resp=$(login "$dir/bob.jar" bob bob-password "$APP/" "$dir/bob.html") || resp="000 login-failed"
    check_eq "$label: bob (outside the policy) gets 403" 403 "${resp%% *}"
    check "$label: block page says 'That account does not have access'" \
      grep -q 'That account does not have access' "$dir/bob.html"
    check_eq "$label: bob never reaches the origin" "$before" "$(origin_requests)"
  fi

  if ((FAILED > failed_before)); then show_logs "$dir"; fi
  stop "$origin_pid"
  stop "$gw_pid"
}

first=yes
for alg in $ALGS; do
  round "$alg" "portcullis-$(tr '[:upper:]' '[:lower:]' <<<"$alg")" discovery "$alg" "$first"
  first=no
done
if [[ -z "${E2E_ALGS:-}" ]]; then
  round "client_secret_post" portcullis-post explicit RS256 no
fi

summary
