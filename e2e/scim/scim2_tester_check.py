"""Runs scim2-tester against a Portcullis SCIM endpoint.

Usage: python scim2_tester_check.py <base URL> <secret>
Exits non-zero when any check is worse than ACCEPTABLE (DEVIATION, ERROR, CRITICAL), except the
KNOWN_GAPS below, which are printed as such. SKIPPED checks are printed with the tester's reason.
"""

import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

# Checks that fail today, each with why. They are real gaps, not checks that cannot apply: the
# list exists so that the stage catches any *new* failure, and it should shrink to nothing.
KNOWN_GAPS = {
    # POST /.search (RFC 7644 §3.4.3) is not implemented; GET with a filter is.
    "search_with_attributes": "POST /.search is not implemented",
    # apply_user_patch (crates/scim) does not add/replace the enterprise extension as a whole
    # object addressed by its URN (attribute paths inside it work).
    "check_add_attribute": "PATCH of the whole enterprise extension object by its URN",
    "check_replace_attribute": "PATCH of the whole enterprise extension object by its URN",
    # `active` defaults to true when absent (RFC 7643 lets the server default it), so removing it
    # reads back true; removing the whole enterprise extension by URN is not supported either.
    "check_remove_attribute": "remove of `active` (defaulted) and of the extension by URN",
}

base, secret = sys.argv[1], sys.argv[2]
http = Client(base_url=base, headers={"Authorization": f"Bearer {secret}"})
client = SyncSCIMClient(http)
results = check_server(client)
bad = 0
known = 0
for r in results:
    status = r.status.name
    line = f"{status:<10} {r.title}"
    if r.reason:
        line += f" ({r.reason})"
    print(line)
    if r.status in (Status.DEVIATION, Status.ERROR, Status.CRITICAL):
        if r.title in KNOWN_GAPS:
            print(f"           known gap: {KNOWN_GAPS[r.title]}")
            known += 1
        else:
            bad += 1
print(f"scim2-tester: {len(results)} checks, {bad} failed, {known} known gaps")
sys.exit(1 if bad else 0)
