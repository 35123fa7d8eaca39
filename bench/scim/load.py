"""SCIM provisioning load against one Portcullis SCIM endpoint (driven by bench/scim.sh).

Usage: python3 load.py BASE_URL SECRET --users N --groups M [--threads T] [--samples S]
                       [--batch B]

Phases, each timed:
  1. N users created by POST /Users from T threads (users/s).
  2. M groups created: one "bench-all" group, and M-1 groups of 10 members each.
  3. Every user added to "bench-all" by PATCH in batches of B members (the server's
     members-per-request limit), from T threads, so concurrent PATCHes of one group are exercised.
  4. Latency of adding and then removing ONE member, S times, on the largest group and on a
     10-member group, interleaved so that drift of the machine hits both alike; the PATCH
     bodies are the ones Entra ID sends.
  5. Latency of GET /Groups?excludedAttributes=members (a full page) and of
     GET /Users?filter=userName eq "...", S times each.
Then the largest group is read once in full and must hold exactly N members.

Prints a table and one line `BENCH_JSON {...}`. Exits non-zero when any request fails.
Only the standard library: one keep-alive HTTP/1.1 connection per thread.
"""

import argparse
import http.client
import json
import random
import statistics
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

SCIM_JSON = "application/scim+json"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


class BenchError(Exception):
    """A request answered something other than what the phase expects."""


class Scim:
    """One keep-alive connection per thread to the SCIM base URL."""

    def __init__(self, base: str, secret: str):
        url = urllib.parse.urlsplit(base)
        self.host = url.hostname
        self.port = url.port or 80
        self.prefix = url.path.rstrip("/")
        self.headers = {"Authorization": f"Bearer {secret}", "Accept": SCIM_JSON}
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            self.local.conn = conn
        return conn

    def request(self, method: str, path: str, body=None, expect=(200,)):
        """Sends one request; returns (status, parsed body or None, seconds taken)."""
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = SCIM_JSON
        for attempt in (1, 2):
            conn = self._conn()
            start = time.perf_counter()
            try:
                conn.request(method, self.prefix + path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
            except (http.client.HTTPException, OSError):
                # A keep-alive connection the server closed: reconnect once.
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
                continue
            elapsed = time.perf_counter() - start
            break
        if resp.status not in expect:
            raise BenchError(f"{method} {path}: {resp.status} {raw[:300]!r}")
        parsed = json.loads(raw) if raw else None
        return resp.status, parsed, elapsed


def user_body(i: int) -> dict:
    email = f"bench-{i:06d}@example.com"
    return {
        "schemas": [USER_SCHEMA],
        "userName": email,
        "externalId": f"ext-{i:06d}",
        "active": True,
        "displayName": f"Bench User {i}",
        "name": {"givenName": "Bench", "familyName": f"User{i}"},
        "emails": [{"primary": True, "type": "work", "value": email}],
    }


def members(ids) -> list:
    return [{"value": i} for i in ids]


def patch(operations: list) -> dict:
    return {"schemas": [PATCH_OP], "Operations": operations}


def run_parallel(threads: int, fn, items) -> list:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(fn, items))


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def pct(samples: list, p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(samples: list) -> dict:
    return {"p50_ms": ms(statistics.median(samples)), "p99_ms": ms(pct(samples, 99)), "n": len(samples)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("secret")
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--groups", type=int, default=1_000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    if args.users < 11 or args.groups < 2:
        print("load: needs at least 11 users and 2 groups", file=sys.stderr)
        return 2
    scim = Scim(args.base, args.secret)
    out = {"mode": args.label, "users": args.users, "groups": args.groups, "threads": args.threads}

    # 1. users
    print(f"== users: creating {args.users} with {args.threads} threads", flush=True)
    t0 = time.perf_counter()
    created = run_parallel(
        args.threads,
        lambda i: scim.request("POST", "/Users", user_body(i), expect=(201,)),
        range(args.users),
    )
    user_secs = time.perf_counter() - t0
    user_ids = [body["id"] for _, body, _ in created]
    create_lat = [e for _, _, e in created]
    out["user_create"] = {"seconds": round(user_secs, 2), "per_s": round(args.users / user_secs, 1), **summary(create_lat)}
    # The member added and removed in phase 4: a user in no group.
    _, extra, _ = scim.request("POST", "/Users", user_body(args.users), expect=(201,))
    extra_id = extra["id"]

    # 2. groups
    print(f"== groups: creating {args.groups} (1 for all users, {args.groups - 1} of 10 members)", flush=True)
    t0 = time.perf_counter()
    _, big, _ = scim.request("POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "bench-all"}, expect=(201,))

    def small_group(g: int):
        ten = [user_ids[(g * 10 + k) % len(user_ids)] for k in range(10)]
        body = {"schemas": [GROUP_SCHEMA], "displayName": f"bench-group-{g:05d}", "members": members(ten)}
        return scim.request("POST", "/Groups", body, expect=(201,))[1]["id"]

    small_ids = run_parallel(args.threads, small_group, range(1, args.groups))
    group_secs = time.perf_counter() - t0
    out["group_create"] = {"seconds": round(group_secs, 2), "per_s": round(args.groups / group_secs, 1)}

    # 3. the largest group
    batches = [user_ids[i : i + args.batch] for i in range(0, len(user_ids), args.batch)]
    print(f"== largest group: adding {len(user_ids)} members in {len(batches)} PATCHes of <= {args.batch}", flush=True)
    t0 = time.perf_counter()
    filled = run_parallel(
        args.threads,
        lambda batch: scim.request(
            "PATCH", f"/Groups/{big['id']}", patch([{"op": "add", "path": "members", "value": members(batch)}]), expect=(200, 204)
        ),
        batches,
    )
    fill_secs = time.perf_counter() - t0
    out["big_group_fill"] = {
        "seconds": round(fill_secs, 2),
        "members_per_s": round(len(user_ids) / fill_secs, 1),
        **summary([e for _, _, e in filled]),
    }

    # 4. one member in and out: largest group vs a 10-member group, interleaved
    print(f"== one member added then removed, {args.samples} times per group", flush=True)
    target_small = small_ids[0]
    lat = {"big_add": [], "big_remove": [], "small_add": [], "small_remove": []}
    add = patch([{"op": "add", "path": "members", "value": [{"value": extra_id}]}])
    remove = patch([{"op": "remove", "path": f'members[value eq "{extra_id}"]'}])
    for _ in range(args.samples):
        for name, gid in (("big", big["id"]), ("small", target_small)):
            lat[f"{name}_add"].append(scim.request("PATCH", f"/Groups/{gid}", add, expect=(200, 204))[2])
            lat[f"{name}_remove"].append(scim.request("PATCH", f"/Groups/{gid}", remove, expect=(200, 204))[2])
    for key, samples in lat.items():
        out[f"member_{key}"] = summary(samples)

    # 5. reads
    print(f"== reads: {args.samples} of each", flush=True)
    page = [scim.request("GET", "/Groups?excludedAttributes=members")[2] for _ in range(args.samples)]
    _, first_page, _ = scim.request("GET", "/Groups?excludedAttributes=members")
    out["get_groups_no_members"] = {**summary(page), "page_size": len(first_page["Resources"])}
    if any("members" in g for g in first_page["Resources"]):
        raise BenchError("excludedAttributes=members returned members")
    rng = random.Random(7)
    by_name = []
    for _ in range(args.samples):
        i = rng.randrange(args.users)
        q = urllib.parse.quote(f'userName eq "bench-{i:06d}@example.com"')
        _, found, elapsed = scim.request("GET", f"/Users?filter={q}")
        if found["totalResults"] != 1:
            raise BenchError(f"user {i} not found by userName: {found}")
        by_name.append(elapsed)
    out["get_user_by_username"] = summary(by_name)

    # Check: the largest group holds every user, nothing lost to concurrent PATCHes.
    _, full, read_secs = scim.request("GET", f"/Groups/{big['id']}")
    held = len(full.get("members", []))
    out["big_group_full_read"] = {"seconds": round(read_secs, 3), "members": held}
    if held != args.users:
        raise BenchError(f"the largest group holds {held} members, expected {args.users}")

    rows = [
        ("create user (POST /Users)", out["user_create"], f"{out['user_create']['per_s']:.0f} users/s"),
        ("fill largest group (PATCH of <= %d)" % args.batch, out["big_group_fill"], f"{out['big_group_fill']['members_per_s']:.0f} members/s"),
        (f"add 1 member, group of {args.users}", out["member_big_add"], ""),
        ("add 1 member, group of 10", out["member_small_add"], ""),
        (f"remove 1 member, group of {args.users}", out["member_big_remove"], ""),
        ("remove 1 member, group of 10", out["member_small_remove"], ""),
        (f"GET /Groups?excludedAttributes=members ({out['get_groups_no_members']['page_size']}/page)", out["get_groups_no_members"], ""),
        ('GET /Users?filter=userName eq "…"', out["get_user_by_username"], ""),
    ]
    print()
    print(f"SCIM provisioning: {args.users} users, {args.groups} groups, {args.threads} client threads")
    print(f"{'operation':<48} {'p50 ms':>9} {'p99 ms':>9}  throughput")
    for name, s, extra_text in rows:
        print(f"{name:<48} {s['p50_ms']:>9.2f} {s['p99_ms']:>9.2f}  {extra_text}")
    print(f"full read of the largest group: {held} members in {read_secs * 1000:.0f} ms")
    print("BENCH_JSON " + json.dumps(out, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"load: {e}", file=sys.stderr)
        sys.exit(1)
