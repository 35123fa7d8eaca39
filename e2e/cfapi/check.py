"""Drives Portcullis's admin API with Cloudflare's official Python SDK (`cloudflare` on PyPI).

Usage: python check.py <API base URL, e.g. http://localhost:PORT/client/v4> <API token>

Only the base URL and the token differ from talking to Cloudflare. Each SDK call below is the one a
Cloudflare user would write; endpoints the SDK has no method for go through the SDK's own
`client.post(...)`, so the transport, auth headers and error mapping are still the SDK's. SCIM and
the proxied application are checked with plain HTTP, as a SCIM client or a browser would see them.
Prints one line per check and exits 1 at the first failure, naming the check and what was seen.
"""

import json
import re
import sys
import urllib.error
import urllib.request
import uuid
from typing import Any, Callable, Iterable

import cloudflare
from cloudflare import Cloudflare

# Following `page=N` until an empty page is how the SDK iterates a list; more pages than this for
# the handful of objects this check creates means the server never answers an empty page.
MAX_PAGES = 5

IDP_NAME = "cfapi-e2e-oidc"
POLICY_NAME = "cfapi-e2e-alice"
APP_NAME = "cfapi-e2e-app"
APP_DOMAIN = "cfapi-app.localhost"
ALICE = "alice@example.com"
BOB = "bob@example.com"


# Checks that fail today, each with why; printed as such on every run, and the walk goes on with the
# first page. Only for a real gap being worked on; remove an entry as soon as it is fixed (the run
# says so when it no longer occurs).
KNOWN_GAPS: dict[str, str] = {}


class CheckFailed(Exception):
    pass


checks = 0
known = 0


def ok(label: str, condition: bool, seen: Any = None) -> None:
    """Passes when condition holds; otherwise fails with what was seen."""
    global checks
    if not condition:
        raise CheckFailed(f"{label}: saw {seen!r}")
    checks += 1
    print(f"ok    {label}")


def call(label: str, fn: Callable[[], Any]) -> Any:
    """Runs one SDK call; an HTTP error or a parse error fails the check with the request named."""
    try:
        return fn()
    except cloudflare.APIStatusError as e:
        raise CheckFailed(
            f"{label}: {type(e).__name__} for {e.request.method} {e.request.url}: "
            f"HTTP {e.status_code} {json.dumps(e.body)}"
        ) from e
    except cloudflare.APIError as e:
        raise CheckFailed(f"{label}: {type(e).__name__}: {e}") from e


def gone(label: str, fn: Callable[[], Any]) -> None:
    """Passes when the SDK raises NotFoundError (HTTP 404)."""
    try:
        fn()
    except cloudflare.NotFoundError:
        ok(label, True)
        return
    except cloudflare.APIStatusError as e:
        ok(label, False, f"HTTP {e.status_code} {e.body}")
    ok(label, False, "an answer, not NotFoundError")


def all_items(label: str, pager: Any) -> list:
    """Every item of an SDK list, the way `for x in client....list()` walks it (page=1, 2, …)."""
    global known
    items = []
    for n, page in enumerate(pager.iter_pages(), start=1):
        if n > MAX_PAGES:
            seen = (f"{MAX_PAGES} pages fetched and none empty: ?page=N is not honoured "
                    f"(every page repeats the same {len(page.result)} item(s))")
            if "paging" not in KNOWN_GAPS:
                ok(f"{label}: the SDK's auto-paging ends", False, seen)
            known += 1
            print(f"gap   {label}: the SDK's auto-paging ends: {seen}")
            if known == 1:
                print(f"      known gap `paging`: {KNOWN_GAPS['paging']}")
            return list(pager.result)
        items.extend(page.result)
    ok(f"{label}: the SDK's auto-paging ends ({n} request(s))", True)
    # An empty first page ends any walk; only a walk past a full page says anything about paging.
    if "paging" in KNOWN_GAPS and items:
        print("note  the known gap `paging` no longer occurs: remove it from KNOWN_GAPS in "
              "e2e/cfapi/check.py")
    return items


def http(method: str, url: str, token: str | None = None, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """A plain HTTP request without following redirects: (status, headers, read without regard
    to case)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/scim+json")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, resp.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers


def seconds(duration: Any) -> float | None:
    """A Go duration such as `12h` or `12h0m0s` in seconds (None when it is not one): answers may
    write the same duration either way."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", str(duration))
    if not parts or "".join(n + u for n, u in parts) != str(duration):
        return None
    return sum(float(n) * units[u] for n, u in parts)


def ids(objects: Iterable[Any]) -> list[str]:
    return [o.id for o in objects]


def run(base_url: str, token: str) -> None:
    client = Cloudflare(api_token=token, base_url=base_url, max_retries=0)
    origin = re.sub(r"/client/v4/?$", "", base_url)

    # Authentication: a wrong token is refused the way the SDK expects.
    try:
        Cloudflare(api_token="not-" + token, base_url=base_url, max_retries=0).accounts.list()
        ok("a wrong token raises AuthenticationError", False, "an answer")
    except cloudflare.AuthenticationError:
        ok("a wrong token raises AuthenticationError", True)

    # The account id, as Cloudflare users find theirs.
    first = call("accounts.list", lambda: client.accounts.list())
    ok("accounts.list: one account", len(first.result) == 1, first.result)
    account_id = first.result[0].id
    ok("accounts.list: the account has an id", bool(account_id), account_id)
    accounts = all_items("accounts.list", client.accounts.list())
    ok("accounts.list walked: the same one account", ids(accounts) == [account_id], ids(accounts))
    idps_api = client.zero_trust.identity_providers
    policies_api = client.zero_trust.access.policies
    apps_api = client.zero_trust.access.applications

    # 1. A login method with SCIM on from the start: its secret is shown in this answer only.
    idp_config = {
        "client_id": "cfapi-e2e",
        "client_secret": "cfapi-e2e-client-secret",
        "auth_url": "http://127.0.0.1:9/auth",
        "token_url": "http://127.0.0.1:9/token",
        "certs_url": "http://127.0.0.1:9/jwks",
        "scopes": ["openid", "email", "profile"],
    }
    idp = call("identity_providers.create", lambda: idps_api.create(
        account_id=account_id, name=IDP_NAME, type="oidc", config=idp_config,
        scim_config={"enabled": True, "user_deprovision": True},
    ))
    ok("identity_providers.create: answer has an id", idp is not None and bool(idp.id), idp)
    idp_id = idp.id
    ok("identity_providers.create: name and type", (idp.name, idp.type) == (IDP_NAME, "oidc"),
       (idp.name, idp.type))
    scim = idp.scim_config
    ok("identity_providers.create: scim_config.enabled", scim is not None and scim.enabled is True,
       scim)
    first_secret = scim.secret
    ok("identity_providers.create: scim_config.secret shown once", bool(first_secret), first_secret)
    scim_base = scim.scim_base_url or ""
    ok("identity_providers.create: scim_config.scim_base_url names the login method",
       scim_base.rstrip("/").endswith(f"/scim/{idp_id}/v2"), scim_base)
    got = call("identity_providers.get", lambda: idps_api.get(idp_id, account_id=account_id))
    ok("identity_providers.get: same login method", (got.id, got.name) == (idp_id, IDP_NAME),
       (got.id, got.name))
    ok("identity_providers.get: the SCIM secret is not shown again",
       got.scim_config is not None and not got.scim_config.secret, got.scim_config)
    ok("identity_providers.get: client_secret is not shown",
       getattr(got.config, "client_secret", None) in (None, ""), got.config)
    listed = all_items("identity_providers.list",
                       idps_api.list(account_id=account_id))
    ok("identity_providers.list: contains it", idp_id in ids(listed), ids(listed))

    # 2. A reusable policy.
    policy = call("access.policies.create", lambda: policies_api.create(
        account_id=account_id, name=POLICY_NAME, decision="allow",
        include=[{"email": {"email": ALICE}}],
    ))
    ok("access.policies.create: answer has an id", policy is not None and bool(policy.id), policy)
    policy_id = policy.id
    ok("access.policies.create: decision and include",
       policy.decision == "allow" and policy.include is not None
       and policy.include[0].email.email == ALICE, policy)
    got = call("access.policies.get", lambda: policies_api.get(policy_id, account_id=account_id))
    ok("access.policies.get: same policy", (got.id, got.name) == (policy_id, POLICY_NAME),
       (got.id, got.name))
    listed = all_items("access.policies.list", policies_api.list(account_id=account_id))
    ok("access.policies.list: contains it", policy_id in ids(listed), ids(listed))

    # 3. A self-hosted application using both; `origin` is Portcullis's own field.
    app_origin = "http://127.0.0.1:9"
    app = call("access.applications.create", lambda: apps_api.create(
        account_id=account_id, type="self_hosted", name=APP_NAME, domain=APP_DOMAIN,
        allowed_idps=[idp_id], policies=[{"id": policy_id, "precedence": 1}],
        extra_body={"origin": app_origin},
    ))
    ok("access.applications.create: answer has an id", app is not None and bool(app.id), app)
    app_id = app.id
    aud = getattr(app, "aud", None)
    ok("access.applications.create: aud is 64 hex digits",
       isinstance(aud, str) and re.fullmatch(r"[0-9a-f]{64}", aud) is not None, aud)
    ok("access.applications.create: name, domain, type",
       (app.name, app.domain, app.type) == (APP_NAME, APP_DOMAIN, "self_hosted"),
       (app.name, app.domain, app.type))
    ok("access.applications.create: allowed_idps", list(app.allowed_idps or []) == [idp_id],
       app.allowed_idps)
    ok("access.applications.create: origin (extension) kept",
       str(getattr(app, "origin", "")).rstrip("/") == app_origin, getattr(app, "origin", None))
    linked = [(p.id, p.precedence) for p in (app.policies or [])]
    ok("access.applications.create: policies link the reusable policy",
       linked == [(policy_id, 1)], linked)
    got = call("access.applications.get", lambda: apps_api.get(app_id, account_id=account_id))
    ok("access.applications.get: same app, same aud", (got.id, got.aud) == (app_id, aud),
       (got.id, got.aud))
    got = call("access.applications.get by aud",
               lambda: apps_api.get(aud, account_id=account_id))
    ok("access.applications.get by aud: same app", got.id == app_id, got.id)
    listed = all_items("access.applications.list", apps_api.list(account_id=account_id))
    mine = [a for a in listed if a.id == app_id]
    ok("access.applications.list: contains it with the same aud",
       len(mine) == 1 and mine[0].aud == aud, [(a.id, getattr(a, "aud", None)) for a in listed])
    got = call("access.policies.get", lambda: policies_api.get(policy_id, account_id=account_id))
    ok("access.policies.get: app_count counts the app", got.app_count == 1, got.app_count)
    status, headers = http("GET", f"{origin}/", headers={"Host": APP_DOMAIN,
                                                         "Accept": "text/html"})
    location = headers.get("Location") or ""
    ok("the new app is live: a browser is sent to the team login",
       status == 302 and f"/cdn-cgi/access/login/{APP_DOMAIN}" in location, (status, location))

    # 4. Users: one provisioned over SCIM with the secret from step 1, then listed by the SDK.
    user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": ALICE,
            "emails": [{"value": ALICE, "primary": True}], "active": True,
            "externalId": str(uuid.uuid4())}
    status, _ = http("POST", f"{scim_base}/Users", first_secret, user)
    ok("SCIM: the secret from identity_providers.create provisions a user", status == 201, status)
    users = all_items("access.users.list",
                      client.zero_trust.access.users.list(account_id=account_id))
    ok("access.users.list: contains the provisioned user", ALICE in [u.email for u in users],
       [u.email for u in users])

    # 5. A new SCIM secret; the old one stops working at once.
    refreshed = call("refresh_scim_secret", lambda: client.post(
        f"/accounts/{account_id}/access/identity_providers/{idp_id}/refresh_scim_secret",
        cast_to=object,
    ))
    ok("refresh_scim_secret: success envelope", isinstance(refreshed, dict)
       and refreshed.get("success") is True, refreshed and {"success": refreshed.get("success")})
    result = refreshed.get("result") or {}
    new_secret = (result.get("scim_config") or {}).get("secret")
    ok("refresh_scim_secret: result.scim_config.secret is new",
       bool(new_secret) and new_secret != first_secret, "missing or unchanged")
    ok("refresh_scim_secret: result is the login method", result.get("id") == idp_id,
       result.get("id"))
    status, _ = http("GET", f"{scim_base}/Users", first_secret)
    ok("SCIM: the old secret is refused (401)", status == 401, status)
    status, _ = http("GET", f"{scim_base}/Users", new_secret)
    ok("SCIM: the new secret works (200)", status == 200, status)

    # 6. Revoking a user.
    revoked = call("organizations.revoke_users", lambda: client.zero_trust.organizations
                   .revoke_users(account_id=account_id, email=ALICE))
    ok("organizations.revoke_users: true", revoked is True, revoked)

    # 7. Updates (PUT), then deletes.
    updated = call("access.policies.update", lambda: policies_api.update(
        policy_id, account_id=account_id, name=POLICY_NAME + "-2", decision="allow",
        include=[{"email": {"email": BOB}}],
    ))
    ok("access.policies.update: answer shows the change",
       updated.name == POLICY_NAME + "-2" and updated.include[0].email.email == BOB, updated)
    got = call("access.policies.get", lambda: policies_api.get(policy_id, account_id=account_id))
    ok("access.policies.get: the change is kept",
       got.name == POLICY_NAME + "-2" and got.include[0].email.email == BOB, got)

    updated = call("access.applications.update", lambda: apps_api.update(
        app_id, account_id=account_id, type="self_hosted", name=APP_NAME + "-2",
        domain=APP_DOMAIN, session_duration="12h", allowed_idps=[idp_id],
        policies=[{"id": policy_id, "precedence": 1}], extra_body={"origin": app_origin},
    ))
    ok("access.applications.update: answer shows the change",
       (updated.name, seconds(updated.session_duration)) == (APP_NAME + "-2", 12 * 3600),
       (updated.name, updated.session_duration))
    ok("access.applications.update: aud unchanged", updated.aud == aud, updated.aud)
    got = call("access.applications.get", lambda: apps_api.get(app_id, account_id=account_id))
    ok("access.applications.get: the change is kept",
       (got.name, seconds(got.session_duration), got.aud) == (APP_NAME + "-2", 12 * 3600, aud),
       (got.name, got.session_duration, got.aud))

    updated = call("identity_providers.update", lambda: idps_api.update(
        idp_id, account_id=account_id, name=IDP_NAME + "-2", type="oidc", config=idp_config,
        scim_config={"enabled": True, "user_deprovision": True},
    ))
    ok("identity_providers.update: answer shows the change", updated.name == IDP_NAME + "-2",
       updated.name)
    ok("identity_providers.update: no SCIM secret in the answer",
       updated.scim_config is None or not updated.scim_config.secret, updated.scim_config)
    status, _ = http("GET", f"{scim_base}/Users", new_secret)
    ok("SCIM: the secret still works after the update (200)", status == 200, status)

    deleted = call("access.applications.delete",
                   lambda: apps_api.delete(app_id, account_id=account_id))
    ok("access.applications.delete: answer names the app",
       deleted is not None and deleted.id == app_id, deleted)
    gone("access.applications.get after delete: NotFoundError",
         lambda: apps_api.get(app_id, account_id=account_id))
    listed = all_items("access.applications.list", apps_api.list(account_id=account_id))
    ok("access.applications.list: no longer contains it", app_id not in ids(listed), ids(listed))
    status, _ = http("GET", f"{origin}/", headers={"Host": APP_DOMAIN, "Accept": "text/html"})
    ok("the deleted app is gone from the proxy (404)", status == 404, status)

    deleted = call("access.policies.delete",
                   lambda: policies_api.delete(policy_id, account_id=account_id))
    ok("access.policies.delete: answer names the policy",
       deleted is not None and deleted.id == policy_id, deleted)
    gone("access.policies.get after delete: NotFoundError",
         lambda: policies_api.get(policy_id, account_id=account_id))

    deleted = call("identity_providers.delete",
                   lambda: idps_api.delete(idp_id, account_id=account_id))
    ok("identity_providers.delete: answer names the login method",
       deleted is not None and deleted.id == idp_id, deleted)
    gone("identity_providers.get after delete: NotFoundError",
         lambda: idps_api.get(idp_id, account_id=account_id))
    status, _ = http("GET", f"{scim_base}/Users", new_secret)
    ok("SCIM: the deleted login method's endpoint refuses its secret", status in (401, 404),
       status)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    print(f"cloudflare SDK {cloudflare.__version__}")
    try:
        run(sys.argv[1], sys.argv[2])
    except CheckFailed as e:
        print(f"FAIL  {e}")
        print(f"cfapi: {checks} passed, 1 failed")
        return 1
    if known:
        print(f"cfapi: {known} known gap(s) seen, see KNOWN_GAPS in e2e/cfapi/check.py")
    print(f"cfapi: {checks} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
