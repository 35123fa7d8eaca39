#!/usr/bin/env python3
"""Authenticated load across gateway nodes, for the database-outage check (stdlib only).

Usage: load.py SECONDS APP_HOST TOKEN NODE_URL...

Two threads per node send GET / for APP_HOST with the app token cookie on kept-alive
connections, back to back, for SECONDS. Every answer other than 200 is an error (a refused
connection or a timeout counts as status 0). Prints one JSON document: requests and errors in
total and per node, the statuses seen, and the slowest answer in ms.
"""

import collections
import http.client
import json
import sys
import threading
import time
import urllib.parse

THREADS_PER_NODE = 2


def main():
    seconds, host, token, *nodes = sys.argv[1:]
    deadline = time.monotonic() + float(seconds)
    lock = threading.Lock()
    per_node = {n: collections.Counter() for n in nodes}
    slowest = [0.0]

    def work(node):
        netloc = urllib.parse.urlsplit(node).netloc
        conn = None
        headers = {
            "Host": host,
            "Accept": "application/json",
            "Cookie": f"CF_Authorization={token}",
        }
        seen = collections.Counter()
        worst = 0.0
        while time.monotonic() < deadline:
            if conn is None:
                conn = http.client.HTTPConnection(netloc, timeout=10)
            began = time.monotonic()
            try:
                conn.request("GET", "/", headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = None
                status = 0
            worst = max(worst, time.monotonic() - began)
            seen[status] += 1
        with lock:
            per_node[node].update(seen)
            slowest[0] = max(slowest[0], worst)

    threads = [
        threading.Thread(target=work, args=(n,)) for n in nodes for _ in range(THREADS_PER_NODE)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = collections.Counter()
    for c in per_node.values():
        total.update(c)
    errors = sum(v for k, v in total.items() if k != 200)
    print(
        json.dumps(
            {
                "requests": sum(total.values()),
                "errors": errors,
                "statuses": {str(k): v for k, v in sorted(total.items())},
                "per_node": {
                    n: {"requests": sum(c.values()), "errors": sum(v for k, v in c.items() if k != 200)}
                    for n, c in per_node.items()
                },
                "slowest_ms": round(slowest[0] * 1000, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
