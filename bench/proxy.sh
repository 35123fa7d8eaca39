#!/usr/bin/env bash
# Proxy benchmark: authenticated requests through Portcullis against the same origin reached
# directly and through a plain nginx reverse proxy that checks nothing, measured in one run on
# loopback with wrk.
#
#   direct      wrk -> origin (nginx serving a 62-byte static file)
#   nginx       wrk -> nginx reverse proxy (keepalive upstream) -> origin
#   portcullis  wrk -> portcullis serve (app cookie of a headless login, token checked on every
#               request) -> origin
#
# Repetitions are interleaved (direct, nginx, portcullis, direct, …) so that drift of the machine
# hits all three alike; the table shows medians. CPU µs/request is the proxy process's own CPU time
# (user + system, from /proc) divided by the requests it served.
#
# Usage: bench/proxy.sh [--smoke] [--duration SECONDS] [--reps N] [--threads T] [--connections C]
#                       [--targets direct,nginx,portcullis]
#   --smoke   2 s per run, 1 repetition, 1 thread, 8 connections: proves the harness works (CI)
# Defaults: 10 s x 3 repetitions, wrk -t2 -c50 (the setting DESIGN.md's numbers were taken with).
# Needs: nginx and wrk (Debian packages), node + npm (for the e2e IdP), the release gateway binary
# (built when missing; GATEWAY_BIN overrides). All traffic stays on 127.0.0.1.
# Output: a table, then one line `BENCH_JSON {...}`. Exits non-zero when a target answers wrongly or
# wrk reports errors.

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=e2e/lib/common.sh
source "$BENCH_DIR/../e2e/lib/common.sh"

DURATION=10
REPS=3
THREADS=2
CONNECTIONS=50
TARGETS="direct,nginx,portcullis"
MODE=full
while (($# > 0)); do
  case "$1" in
    --smoke) MODE=smoke; DURATION=2; REPS=1; THREADS=1; CONNECTIONS=8 ;;
    --duration) DURATION="$2"; shift ;;
    --reps) REPS="$2"; shift ;;
    --threads) THREADS="$2"; shift ;;
    --connections) CONNECTIONS="$2"; shift ;;
    --targets) TARGETS="$2"; shift ;;
    -h | --help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
IFS=',' read -r -a TARGET_LIST <<<"$TARGETS"
has_target() {
  local t
  for t in "${TARGET_LIST[@]}"; do [[ "$t" == "$1" ]] && return 0; done
  return 1
}

for tool in nginx wrk curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "bench: $tool not found (apt-get install nginx wrk curl)" >&2
    exit 1
  fi
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-bench.XXXXXX")"
# nginx workers may run as another user when started by root: let them read the document root.
chmod 755 "$WORK"
cleanup() {
  stop_all
  if [[ -n "${BENCH_KEEP:-}" ]]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r ORIGIN_PORT NGINX_PORT GW_PORT IDP_PORT <<<"$(free_ports 4)"
BODY_FILE="$WORK/www/bench.txt"
mkdir -p "$WORK/www"
# 62 bytes, like the file DESIGN.md's measurements used.
printf '%-61.61s\n' 'portcullis proxy benchmark: a small static origin response' >"$BODY_FILE"
chmod -R a+rX "$WORK/www"

# nginx_conf DIR SERVER_BLOCK: a self-contained nginx config under DIR (no system paths).
nginx_conf() {
  local dir="$1" server="$2"
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_body_temp_path $dir/client_body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
$server
}
EOF
}

# start_nginx NAME DIR: nginx in the foreground (daemon off) with its own prefix; sets LAST_PID.
start_nginx() {
  start "$1" "$2/stdout.log" nginx -p "$2" -c "$2/nginx.conf" -e "$2/error.log" -g 'daemon off;'
}

echo "== bench: starting the origin and the nginx proxy"
nginx_conf "$WORK/origin" "  server { listen 127.0.0.1:$ORIGIN_PORT; location / { root $WORK/www; } }"
start_nginx origin-nginx "$WORK/origin"
ORIGIN_PID=$LAST_PID
wait_http "http://127.0.0.1:$ORIGIN_PORT/bench.txt" "$ORIGIN_PID" 10

nginx_conf "$WORK/proxy" "  upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }"
start_nginx proxy-nginx "$WORK/proxy"
NGINX_PID=$LAST_PID
wait_http "http://127.0.0.1:$NGINX_PORT/bench.txt" "$NGINX_PID" 10

GW_PID=""
APP_HOST="whoami.localhost"
TEAM="http://auth.localhost:$GW_PORT"
COOKIE=""
if has_target portcullis; then
  echo "== bench: starting Portcullis and logging in"
  clean_gateway_env
  ensure_node_deps
  ensure_gateway_bin
  start_idp "$IDP_PORT" "$GW_PORT" "$WORK/idp.log"
  mkdir -p "$WORK/gateway"
  cat >"$WORK/gateway/portcullis.toml" <<EOF
[server]
team_domain = "auth.localhost"
listen = "127.0.0.1:$GW_PORT"
public_url = "$TEAM"
data_dir = "$WORK/gateway/data"

[[identity_providers]]
name = "oidc-provider"
type = "oidc"
config = { client_id = "portcullis-rs256", client_secret = "$E2E_CLIENT_SECRET", discovery_url = "$IDP_URL/.well-known/openid-configuration", pkce_enabled = true, claims = ["employee_id", "roles"] }

[[applications]]
name = "whoami"
domain = "$APP_HOST"
origin = "http://127.0.0.1:$ORIGIN_PORT"
policies = [{ name = "staff", decision = "allow", include = [{ email_domain = { domain = "example.com" } }] }]
EOF
  # Per-request logging would be a cost nginx (access_log off) does not pay.
  start gateway "$WORK/gateway/gateway.log" env PORTCULLIS_LOG="${BENCH_GATEWAY_LOG:-warn}" \
    "$(gateway_bin)" serve --config "$WORK/gateway/portcullis.toml"
  GW_PID=$LAST_PID
  wait_http "$TEAM/cdn-cgi/access/certs" "$GW_PID" 30
fi

# portcullis_login: a fresh headless login; sets COOKIE to the app token.
portcullis_login() {
  local jar="$WORK/alice.jar" resp
  rm -f "$jar"
  resp=$(login "$jar" alice alice-password "http://$APP_HOST:$GW_PORT/bench.txt" "$WORK/login.out") || resp="000 login failed"
  if [[ "${resp%% *}" != 200 ]] || ! cmp -s "$WORK/login.out" "$BODY_FILE"; then
    echo "bench: headless login through Portcullis failed ($resp)" >&2
    tail -n 30 "$WORK/gateway/gateway.log" >&2 || true
    return 1
  fi
  COOKIE=$(jar_cookie "$jar" "$APP_HOST" CF_Authorization)
  [[ -n "$COOKIE" ]] || { echo "bench: no CF_Authorization cookie for $APP_HOST after login" >&2; return 1; }
}

# token_seconds_left: how long the app token in COOKIE stays valid.
token_seconds_left() {
  node -e '
    const p = JSON.parse(Buffer.from(process.argv[1].split(".")[1], "base64url").toString());
    console.log(Math.floor(p.exp - Date.now() / 1000));' "$COOKIE"
}

# target_url / target_args NAME: what wrk and curl send for each target.
target_url() {
  case "$1" in
    direct) echo "http://127.0.0.1:$ORIGIN_PORT/bench.txt" ;;
    nginx) echo "http://127.0.0.1:$NGINX_PORT/bench.txt" ;;
    portcullis) echo "http://127.0.0.1:$GW_PORT/bench.txt" ;;
  esac
}
target_headers() {
  if [[ "$1" == portcullis ]]; then
    printf '%s\n' "Host: $APP_HOST:$GW_PORT" "Cookie: CF_Authorization=$COOKIE"
  fi
}
proxy_pids() {
  case "$1" in
    direct) echo "$ORIGIN_PID $(pgrep -P "$ORIGIN_PID" | tr '\n' ' ')" ;;
    nginx) echo "$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')" ;;
    portcullis) echo "$GW_PID" ;;
  esac
}

# cpu_ticks PIDS...: user + system clock ticks used so far by these processes.
cpu_ticks() {
  local total=0 pid stat rest
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    rest="${stat##*) }"
    read -r -a f <<<"$rest"
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}

# verify NAME: one request answered 200 with exactly the origin's file.
verify() {
  local name="$1" args=() h code
  while IFS= read -r h; do [[ -n "$h" ]] && args+=(-H "$h"); done < <(target_headers "$name")
  code=$(curl -sS --max-time 5 -o "$WORK/verify-$name.out" -w '%{http_code}' "${args[@]}" "$(target_url "$name")" || echo 000)
  if [[ "$code" != 200 ]] || ! cmp -s "$WORK/verify-$name.out" "$BODY_FILE"; then
    echo "bench: $name did not answer 200 with the origin's file (status $code)" >&2
    return 1
  fi
}

if has_target portcullis; then portcullis_login; fi
for t in "${TARGET_LIST[@]}"; do verify "$t"; done

CLK_TCK=$(getconf CLK_TCK)
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
echo "== bench: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $REPS repetition(s), targets: ${TARGET_LIST[*]}"
for rep in $(seq 1 "$REPS"); do
  for t in "${TARGET_LIST[@]}"; do
    if [[ "$t" == portcullis ]] && (($(token_seconds_left) < DURATION + 30)); then portcullis_login; fi
    args=()
    while IFS= read -r h; do [[ -n "$h" ]] && args+=(-H "$h"); done < <(target_headers "$t")
    read -r -a pids <<<"$(proxy_pids "$t")"
    before=$(cpu_ticks "${pids[@]}")
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s -s "$BENCH_DIR/wrk-report.lua" \
      "${args[@]}" "$(target_url "$t")")
    after=$(cpu_ticks "${pids[@]}")
    line=$(grep '^WRK_JSON ' <<<"$out" | sed 's/^WRK_JSON //') || true
    if [[ -z "$line" ]]; then
      echo "bench: wrk printed no report for $t:" >&2
      echo "$out" >&2
      exit 1
    fi
    echo "{\"target\":\"$t\",\"rep\":$rep,\"cpu_ticks\":$((after - before)),\"clk_tck\":$CLK_TCK,\"wrk\":$line}" >>"$RESULTS"
    # shellcheck disable=SC2016 # JavaScript, not shell
    echo "  rep $rep $t: $(node -e '
      const w = JSON.parse(process.argv[1]);
      console.log(`${Math.round(w.requests / (w.duration_us / 1e6))} req/s, p50 ${w.p50_us} µs, p99 ${w.p99_us} µs, errors ${w.status_errors + w.connect_errors + w.read_errors + w.write_errors + w.timeouts}`);' "$line")"
  done
done

# Correctness after the load: still the right answer everywhere (the token was not dropped mid-run).
for t in "${TARGET_LIST[@]}"; do verify "$t"; done

node - "$RESULTS" "$MODE" "$DURATION" "$REPS" "$THREADS" "$CONNECTIONS" <<'EOF'
const fs = require('node:fs');
const [file, mode, duration, reps, threads, connections] = process.argv.slice(2);
const rows = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const order = ['direct', 'nginx', 'portcullis'];
const summary = {};
let errors = 0;
for (const target of order) {
  const rs = rows.filter((r) => r.target === target);
  if (rs.length === 0) continue;
  const rps = rs.map((r) => r.wrk.requests / (r.wrk.duration_us / 1e6));
  const cpu = rs.map((r) => (r.cpu_ticks / r.clk_tck) * 1e6 / r.wrk.requests);
  const errs = rs.reduce((n, r) => n + r.wrk.status_errors + r.wrk.connect_errors + r.wrk.read_errors
    + r.wrk.write_errors + r.wrk.timeouts, 0);
  errors += errs;
  summary[target] = {
    rps: Math.round(median(rps)),
    p50_us: median(rs.map((r) => r.wrk.p50_us)),
    p99_us: median(rs.map((r) => r.wrk.p99_us)),
    cpu_us_per_req: Number(median(cpu).toFixed(1)),
    requests: rs.reduce((n, r) => n + r.wrk.requests, 0),
    errors: errs,
  };
}
const ratio = (a, b) => (summary[a] && summary[b] ? Number((summary[a].rps / summary[b].rps).toFixed(3)) : null);
const ratios = {
  portcullis_vs_nginx: ratio('portcullis', 'nginx'),
  portcullis_vs_direct: ratio('portcullis', 'direct'),
  nginx_vs_direct: ratio('nginx', 'direct'),
};
const pad = (s, n) => String(s).padStart(n);
console.log('');
console.log(`target       req/s (median)   p50 µs   p99 µs   proxy CPU µs/req   x nginx   x direct`);
for (const target of order) {
  const s = summary[target];
  if (!s) continue;
  const xn = summary.nginx ? (s.rps / summary.nginx.rps).toFixed(2) : '-';
  const xd = summary.direct ? (s.rps / summary.direct.rps).toFixed(2) : '-';
  const cpu = target === 'direct' ? `${s.cpu_us_per_req} (origin)` : s.cpu_us_per_req;
  console.log(`${target.padEnd(12)} ${pad(s.rps, 14)}   ${pad(s.p50_us, 6)}   ${pad(s.p99_us, 6)}   ${pad(cpu, 16)}   ${pad(xn, 7)}   ${pad(xd, 8)}`);
}
if (summary.portcullis && summary.nginx) {
  const met = summary.portcullis.rps >= summary.nginx.rps;
  console.log(`goal (authenticated Portcullis >= plain nginx proxy): ${met ? 'met' : 'not met'} (${ratios.portcullis_vs_nginx}x)`);
}
console.log('BENCH_JSON ' + JSON.stringify({
  mode, duration_s: Number(duration), reps: Number(reps), threads: Number(threads),
  connections: Number(connections), targets: summary, ratios,
}));
if (errors > 0) {
  console.error(`bench: ${errors} failed requests (non-2xx/3xx, socket errors or timeouts)`);
  process.exit(1);
}
for (const [target, s] of Object.entries(summary)) {
  if (s.requests === 0) {
    console.error(`bench: no request completed against ${target}`);
    process.exit(1);
  }
}
EOF
