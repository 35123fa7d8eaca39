#!/usr/bin/env python3
"""Measures how long a revocation made by one process takes to reach the other gateway nodes.

For each (session id, token) line of TOKENS it runs the revoke command (one CLI process writing
to the shared database), then asks every node in NODES, every ~10 ms, for the application with
that token, until each has refused it. The time counted is from the end of the revoke command
to the first refusal, per node. Prints one JSON document: the samples and their median and p99.

Usage: propagation.py TOKENS APP_HOST NODE_URL... -- REVOKE_CMD... (the session id is appended)
"""

import http.client
import math
import json
import statistics
import subprocess
import sys
import time

POLL = 0.010
GIVE_UP = 10.0


def status(conn_cache, base, host, token):
    """The status of one request to `base` carrying the app token, on a kept-alive connection."""
    conn = conn_cache.get(base)
    if conn is None:
        hostport = base.split("://", 1)[1]
        conn = http.client.HTTPConnection(hostport, timeout=5)
        conn_cache[base] = conn
    try:
        conn.request(
            "GET",
            "/",
            headers={
                "Host": host,
                "Accept": "application/json",
                "Cookie": f"CF_Authorization={token}",
            },
        )
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (http.client.HTTPException, OSError):
        conn.close()
        conn_cache.pop(base, None)
        return 0


def main():
    sep = sys.argv.index("--")
    tokens_file, app_host, *nodes = sys.argv[1:sep]
    revoke = sys.argv[sep + 1 :]
    pairs = [line.split() for line in open(tokens_file) if line.strip()]
    conns = {}
    samples = []
    failures = []
    for session_id, token in pairs:
        before = {n: status(conns, n, app_host, token) for n in nodes}
        if any(code != 200 for code in before.values()):
            failures.append({"session": session_id, "before": before})
            continue
        subprocess.run(revoke + [session_id], check=True, stdout=subprocess.DEVNULL)
        revoked_at = time.monotonic()
        pending = set(nodes)
        refused = {}
        while pending and time.monotonic() - revoked_at < GIVE_UP:
            for n in sorted(pending):
                code = status(conns, n, app_host, token)
                if code != 200:
                    refused[n] = {"ms": (time.monotonic() - revoked_at) * 1000, "status": code}
                    pending.discard(n)
            if pending:
                time.sleep(POLL)
        if pending or any(r["status"] != 401 for r in refused.values()):
            failures.append({"session": session_id, "refused": refused, "pending": sorted(pending)})
            continue
        samples.extend(r["ms"] for r in refused.values())
    samples.sort()
    result = {"revocations": len(pairs), "samples": len(samples), "failures": failures}
    if samples:
        result["median_ms"] = round(statistics.median(samples), 1)
        result["p99_ms"] = round(samples[math.ceil(len(samples) * 0.99) - 1], 1)
        result["max_ms"] = round(samples[-1], 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
