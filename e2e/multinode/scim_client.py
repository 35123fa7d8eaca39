#!/usr/bin/env python3
"""SCIM traffic for the multi-node checks, from threads on kept-alive connections (stdlib only).

  scim_client.py users BASE SECRET N THREADS IDS_OUT
      Creates users u0…u(N-1) (POST /Users) from THREADS threads; appends the id of every user
      acknowledged with 2xx to IDS_OUT at once (one per line, flushed), so that a caller killing
      the node mid-run knows exactly which writes were acknowledged. A thread stops at its first
      failed connection. Prints {"acknowledged", "failed", "seconds"}.

  scim_client.py verify BASE SECRET IDS_FILE
      GETs every id of IDS_FILE; prints {"ids", "found", "missing": [first few]}.

  scim_client.py group-race SECRET N THREADS BASE...
      Creates N * len(BASE) users and one group, then every BASE (one per node) adds its N users
      to the group concurrently, one member per PATCH, from THREADS threads each. Prints
      {"expected", "members", "patch_statuses", "seconds"} after a GET of the group.

  scim_client.py probe BASE SECRET
      One GET /Users?count=1 (for an outage): prints {"status", "seconds", "scim_error"}.
"""

import collections
import http.client
import json
import sys
import threading
import time
import urllib.parse

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


class Client:
    """One kept-alive connection to a SCIM base URL (`http://host:port/scim/<idp>/v2`). The
    connection goes to 127.0.0.1 with the URL's host in `Host`, so that `*.localhost` team
    domains work without a resolver that knows them."""

    def __init__(self, base, secret, timeout=20):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.netloc, url.port or 80
        self.prefix = url.path.rstrip("/")
        self.secret, self.timeout = secret, timeout
        self.conn = None

    def request(self, method, path, body=None):
        """(status, parsed body or None); status 0 when the connection failed."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        headers = {
            "Host": self.host,
            "Authorization": f"Bearer {self.secret}",
            "Accept": "application/scim+json",
        }
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/scim+json"
        try:
            self.conn.request(method, self.prefix + path, body=data, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = None
            return 0, None
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return resp.status, parsed


def user_body(name):
    return {
        "schemas": [USER],
        "userName": f"{name}@example.com",
        "emails": [{"value": f"{name}@example.com", "primary": True}],
        "active": True,
    }


def run_threads(count, target):
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def create_users(base, secret, names, threads, on_created=None):
    """Creates the users named; returns (ids of 2xx answers in order of names, failures)."""
    ids = [None] * len(names)
    failed = collections.Counter()
    lock = threading.Lock()

    def work(k):
        client = Client(base, secret)
        for i in range(k, len(names), threads):
            status, body = client.request("POST", "/Users", user_body(names[i]))
            if 200 <= status < 300 and body and "id" in body:
                ids[i] = body["id"]
                if on_created:
                    with lock:
                        on_created(body["id"])
            else:
                with lock:
                    failed[status] += 1
                if status == 0:
                    return

    run_threads(threads, work)
    return ids, failed


def cmd_users(base, secret, n, threads, out_path):
    start = time.monotonic()
    run = f"{int(time.time() * 1000):x}"
    with open(out_path, "a") as out:

        def record(user_id):
            out.write(user_id + "\n")
            out.flush()

        ids, failed = create_users(
            base, secret, [f"crash-{run}-{i}" for i in range(int(n))], int(threads), record
        )
    print(
        json.dumps(
            {
                "acknowledged": sum(1 for i in ids if i),
                "failed": dict(failed),
                "seconds": round(time.monotonic() - start, 2),
            }
        )
    )


def cmd_verify(base, secret, ids_path):
    ids = [line.strip() for line in open(ids_path) if line.strip()]
    client = Client(base, secret)
    missing = [i for i in ids if client.request("GET", f"/Users/{i}")[0] != 200]
    print(json.dumps({"ids": len(ids), "found": len(ids) - len(missing), "missing": missing[:5]}))


def cmd_group_race(secret, n, threads, bases):
    n, threads = int(n), int(threads)
    run = f"{int(time.time() * 1000):x}"
    per_node = []
    for k, base in enumerate(bases):
        ids, failed = create_users(base, secret, [f"race-{run}-{k}-{i}" for i in range(n)], 4)
        if failed or not all(ids):
            print(json.dumps({"error": "creating users failed", "failed": dict(failed)}))
            return
        per_node.append(ids)
    status, group = Client(bases[0], secret).request(
        "POST", "/Groups", {"schemas": [GROUP], "displayName": f"race-{run}"}
    )
    if status != 201:
        print(json.dumps({"error": f"creating the group answered {status}", "body": group}))
        return
    gid = group["id"]
    statuses = collections.Counter()
    lock = threading.Lock()
    start = time.monotonic()

    def adder(base, ids):
        def work(k):
            client = Client(base, secret)
            for i in range(k, len(ids), threads):
                op = {"op": "add", "path": "members", "value": [{"value": ids[i]}]}
                status, _ = client.request(
                    "PATCH",
                    f"/Groups/{gid}?excludedAttributes=members",
                    {"schemas": [PATCH], "Operations": [op]},
                )
                with lock:
                    statuses[status] += 1

        return lambda: run_threads(threads, work)

    # One driver per node, all at once: the nodes' writes interleave on the database.
    drivers = [threading.Thread(target=adder(b, ids)) for b, ids in zip(bases, per_node)]
    for d in drivers:
        d.start()
    for d in drivers:
        d.join()
    seconds = time.monotonic() - start
    status, body = Client(bases[-1], secret, timeout=60).request("GET", f"/Groups/{gid}")
    members = [m["value"] for m in (body or {}).get("members", [])]
    expected = {i for ids in per_node for i in ids}
    print(
        json.dumps(
            {
                "expected": len(expected),
                "members": len(members),
                "distinct_expected_present": len(expected & set(members)),
                "get_status": status,
                "patch_statuses": {str(k): v for k, v in statuses.items()},
                "seconds": round(seconds, 2),
            }
        )
    )


def cmd_probe(base, secret):
    start = time.monotonic()
    status, body = Client(base, secret, timeout=30).request("GET", "/Users?count=1")
    print(
        json.dumps(
            {
                "status": status,
                "seconds": round(time.monotonic() - start, 2),
                "scim_error": bool(body and ERROR in body.get("schemas", [])),
                "detail": (body or {}).get("detail"),
            }
        )
    )


def main():
    cmd, *args = sys.argv[1:] or [""]
    if cmd == "group-race":
        secret, n, threads, *bases = args
        cmd_group_race(secret, n, threads, bases)
    elif cmd == "users":
        cmd_users(*args)
    elif cmd == "verify":
        cmd_verify(*args)
    elif cmd == "probe":
        cmd_probe(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
