#!/usr/bin/env bash
# SCIM provisioning benchmark: a release gateway with SCIM enabled on one login method (SQLite
# store), loaded through its SCIM API the way a large identity provider tenant would be:
#
#   users     N users created by POST /Users from several client threads        -> users/s
#   groups    M groups: one that will hold all N users, M-1 of 10 members each
#   fill      all N users added to the largest group by PATCH, in batches of the
#             members-per-request limit, concurrently                         -> members/s
#   member    adding then removing ONE member, on the largest group and on a 10-member group,
#             interleaved (p50/p99): it must not grow with the size of the group
#   reads     GET /Groups?excludedAttributes=members and GET /Users?filter=userName eq "..."
#
# At the end the largest group is read in full and must hold exactly N members (no member lost
# to concurrent PATCHes). The client is bench/scim/load.py (Python standard library only, one
# keep-alive connection per thread).
#
# Usage: bench/scim.sh [--smoke] [--users N] [--groups M] [--threads T] [--samples S]
#   --smoke   300 users, 10 groups (one with all 300), 20 samples: proves it works (CI runs this)
# Defaults: 100000 users, 1000 groups, 8 client threads, 200 samples per latency.
# Needs: python3, curl, the release gateway binary (built when missing; GATEWAY_BIN overrides).
# All traffic stays on 127.0.0.1. Output: a table, then one line `BENCH_JSON {...}`.
# Exits non-zero when any request fails or the largest group's member count is wrong.
#
# Reference run (`bench/scim.sh`, defaults; 2 shared cores, load average ~4 from other work,
# SQLite): 351 users/s (100,000 in 285 s); largest group filled at 9,222 members/s; one member
# added/removed p50 7.3/7.5 ms (p99 11.3/12.0) on the 100,000-member group vs 6.3/7.1 ms
# (p99 12.0/15.5) on a 10-member group; GET /Groups?excludedAttributes=members (200 per page)
# p50 3.3 ms, p99 13.5 ms; GET /Users?filter=userName eq "..." p50 0.5 ms, p99 9.3 ms.

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=e2e/lib/common.sh
source "$BENCH_DIR/../e2e/lib/common.sh"

USERS=100000
NGROUPS=1000
THREADS=8
SAMPLES=200
MODE=full
while (($# > 0)); do
  case "$1" in
    --smoke) MODE=smoke; USERS=300; NGROUPS=10; SAMPLES=20 ;;
    --users) USERS="$2"; shift ;;
    --groups) NGROUPS="$2"; shift ;;
    --threads) THREADS="$2"; shift ;;
    --samples) SAMPLES="$2"; shift ;;
    -h | --help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-scim-bench.XXXXXX")"
cleanup() {
  stop_all
  if [[ -n "${BENCH_KEEP:-}" ]]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

clean_gateway_env
ensure_gateway_bin
read -r GW_PORT <<<"$(free_ports 1)"
IDP_ID="7b0e2c1d-5a4f-4e8b-9c3d-2f6a1b8e4d90"
SECRET="bench-scim-secret-$(date +%s%N)"
mkdir -p "$WORK/gateway"
# The login method's OIDC endpoints are never contacted: only its SCIM endpoint is used.
cat >"$WORK/gateway/portcullis.toml" <<EOF
[server]
team_domain = "localhost"
listen = "127.0.0.1:$GW_PORT"
public_url = "http://localhost:$GW_PORT"
data_dir = "$WORK/gateway/data"

[[identity_providers]]
id = "$IDP_ID"
name = "scim-bench"
type = "oidc"
config = { client_id = "bench", client_secret = "bench-client-secret", auth_url = "http://127.0.0.1:9/auth", token_url = "http://127.0.0.1:9/token", certs_url = "http://127.0.0.1:9/jwks" }
scim_config = { enabled = true, secret = "$SECRET", user_deprovision = true }
EOF
BASE="http://localhost:$GW_PORT/scim/$IDP_ID/v2"
echo "== bench: starting Portcullis ($MODE: $USERS users, $NGROUPS groups)"
# Per-request logging would measure the log, not the provisioning.
start gateway "$WORK/gateway/gateway.log" env PORTCULLIS_LOG="${BENCH_GATEWAY_LOG:-warn}" \
  "$(gateway_bin)" serve --config "$WORK/gateway/portcullis.toml"
GW_PID=$LAST_PID
wait_http "$BASE/ServiceProviderConfig" "$GW_PID" 30 -H "Authorization: Bearer $SECRET"

# Member values per PATCH in the fill phase: the gateway's limit (scim Limits::default(),
# max_members_per_request); one more and the PATCH is refused with 413.
BATCH="${BENCH_SCIM_BATCH:-1000}"

status=0
python3 "$BENCH_DIR/scim/load.py" "$BASE" "$SECRET" --users "$USERS" --groups "$NGROUPS" \
  --threads "$THREADS" --samples "$SAMPLES" --batch "$BATCH" --label "$MODE" || status=$?
if [[ $status != 0 ]]; then
  echo "--- gateway log (tail)"
  tail -n 40 "$WORK/gateway/gateway.log" || true
fi
exit "$status"
