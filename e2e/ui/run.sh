#!/usr/bin/env bash
# The web admin UI in a real browser: Debian's headless Chromium, driven by playwright-core,
# against a release `portcullis serve` whose only login method is the e2e node oidc-provider.
#
#   gateway: team domain auth.localhost, SQLite in a fresh data_dir, [admin] = IdP group "admins"
#            (alice), one application whoami.localhost with an Allow policy (example.com) and a
#            Service Auth policy (any valid service token)
#   IdP:     e2e/idp.mjs (alice / alice-password, bob / bob-password)
#   origin:  e2e/origin.mjs, verifying the app token as Cloudflare documents; ui.mjs starts a
#            second one (port chosen here) for the application it makes in the forms, with the AUD
#            tag that application's page shows
#   browser: e2e/ui/ui.mjs, the scenarios (sign-in, service tokens, Test of a login method, a
#            login method added from its discovery URL and tested, a wrong client secret diagnosed,
#            a reusable policy and an application made in the forms and signed in to, policy
#            tester, users and logs, accessibility smoke, screenshots)
#
# Usage: e2e/ui/run.sh           (needs /usr/bin/chromium and the release binary; builds it when missing)
#   GATEWAY_BIN=path             another gateway binary
#   CHROMIUM=path                another Chromium
#   E2E_KEEP=1                   keep the work directory with config and logs
#   UI_DOCS_SHOTS=1              also copy the key screenshots (the forms) to docs/screenshots/
# Screenshots go to a directory of their own that is kept; their paths are printed.
# Closes with "ui: N passed, M failed"; exits non-zero on any failure.

set -euo pipefail

# shellcheck source=e2e/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

UI_DIR="$E2E_DIR/ui"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-ui.XXXXXX")"
SHOTS="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-ui-shots.XXXXXX")"
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

# ensure_ui_deps: playwright-core from e2e/ui's own lockfile (it downloads no browser).
ensure_ui_deps() {
  if [[ ! -d "$UI_DIR/node_modules/playwright-core" \
    || "$UI_DIR/package-lock.json" -nt "$UI_DIR/node_modules/.package-lock.json" ]]; then
    echo "  npm ci in e2e/ui/"
    (cd "$UI_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

echo "== ui: preparing"
if [[ ! -x "$CHROMIUM" ]]; then
  echo "ui: $CHROMIUM missing (apt-get install chromium)" >&2
  exit 1
fi
clean_gateway_env
ensure_node_deps
ensure_ui_deps
ensure_gateway_bin
BIN="$(gateway_bin)"
"$CHROMIUM" --version 2>/dev/null | sed 's/^/  /' || true

read -r GW_PORT IDP_PORT ORIGIN_PORT ORIGIN2_PORT <<<"$(free_ports 4)"
TEAM="http://auth.localhost:$GW_PORT"
APP="http://whoami.localhost:$GW_PORT"
ORIGIN="http://127.0.0.1:$ORIGIN_PORT"
AUD="$(random_aud)"

start_idp "$IDP_PORT" "$GW_PORT" "$WORK/idp.log"

cat >"$WORK/portcullis.toml" <<EOF
[server]
team_domain = "auth.localhost"
listen = "127.0.0.1:$GW_PORT"
public_url = "$TEAM"
data_dir = "$WORK/data"

[[identity_providers]]
name = "oidc-provider"
type = "oidc"
config = { client_id = "portcullis-rs256", client_secret = "$E2E_CLIENT_SECRET", discovery_url = "$IDP_URL/.well-known/openid-configuration", pkce_enabled = true, claims = ["employee_id", "roles"] }

[admin]
policies = [{ name = "admins", decision = "allow", include = [{ oidc = { claim_name = "groups", claim_value = "admins" } }] }]

[[applications]]
name = "whoami"
domain = "whoami.localhost"
origin = "$ORIGIN"
aud = "$AUD"
policies = [{ name = "machines", decision = "non_identity", include = [{ any_valid_service_token = {} }], precedence = 1 },
            { name = "staff", decision = "allow", include = [{ email_domain = { domain = "example.com" } }], precedence = 2 }]
EOF

start gateway "$WORK/gateway.log" "$BIN" serve --config "$WORK/portcullis.toml"
GW_PID=$LAST_PID
if ! wait_http "$TEAM/cdn-cgi/access/certs" "$GW_PID" 30; then
  tail -n 30 "$WORK/gateway.log" >&2
  echo "ui: 0 passed, 1 failed"
  exit 1
fi
start origin "$WORK/origin.log" env TEAM_DOMAIN="$TEAM" POLICY_AUD="$AUD" PORT="$ORIGIN_PORT" \
  node --import "$E2E_DIR/lib/localhost-resolver.mjs" "$E2E_DIR/origin.mjs"
wait_http "$ORIGIN/__e2e/stats" "$LAST_PID" 20

rc=0
TEAM="$TEAM" APP="$APP" IDP_URL="$IDP_URL" CHROMIUM="$CHROMIUM" SHOTS="$SHOTS" \
  CLIENT_SECRET="$E2E_CLIENT_SECRET" E2E_DIR="$E2E_DIR" ORIGIN2_PORT="$ORIGIN2_PORT" \
  node "$UI_DIR/ui.mjs" 2>&1 | tee "$WORK/ui.out" || rc=$?
if ((rc == 0)) && [[ -n "${UI_DOCS_SHOTS:-}" ]]; then
  mkdir -p "$REPO_ROOT/docs/screenshots"
  for shot in login-method-form policy-form-error app-form test-wrong-secret; do
    cp "$SHOTS/$shot.png" "$REPO_ROOT/docs/screenshots/admin-$shot.png"
  done
  echo "  key screenshots copied to docs/screenshots/"
fi
if ((rc != 0)); then
  for f in "$WORK/gateway.log" "$WORK/idp.log" "$WORK/origin.log"; do
    echo "  --- last lines of $f"
    tail -n 20 "$f" | sed 's/^/  | /'
  done
  # The closing line again, last, for readers of the log.
  grep -E '^ui: [0-9]+ passed, [0-9]+ failed$' "$WORK/ui.out" | tail -n 1 || echo "ui: 0 passed, 1 failed"
fi
exit "$rc"
