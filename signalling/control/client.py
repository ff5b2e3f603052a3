"""The CLI's two ways to act: directly on the control plane's database (`Direct`), or over the admin API
(`Remote`, with an admin key). Both offer the same methods and return the API's JSON shapes."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

from .errors import ApiError
from .service import ControlPlane


class RedirectRefused(Exception):
    """The control plane's URL answered with a redirect: refused, because urllib would carry the request's
    `Authorization: Bearer` admin key to wherever the redirect points (another host, a hostile proxy's)."""

    def __init__(self, code: int, location: str) -> None:
        super().__init__(f"the control plane redirected to {location}; the admin key is only sent to the URL given")
        self.code, self.location = code, location


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        raise RedirectRefused(code, newurl)


def key_safe_opener() -> urllib.request.OpenerDirector:
    """An opener for requests that carry the admin key: it follows no redirect (`RedirectRefused`)."""
    return urllib.request.build_opener(_NoRedirect)


class Direct:
    """Acts as `actor` on the local database (the operator at the console)."""

    def __init__(self, control: ControlPlane, actor: str) -> None:
        self.cp = control
        self.actor = actor

    def close(self) -> None:
        self.cp.close()
        self.cp.store.close()
        service = getattr(self.cp.residency, "service", None)
        if service is not None:
            service.db.close()

    def create_tenant(self, tenant: str, name: str, jurisdiction: str) -> dict[str, Any]:
        return self.cp.create_tenant(self.actor, tenant=tenant, name=name, jurisdiction=jurisdiction)

    def list_tenants(self) -> dict[str, Any]:
        return {"tenants": self.cp.residency.list_tenants()}

    def show_tenant(self, tenant: str) -> dict[str, Any]:
        return self.cp.tenant(tenant)

    def set_tenant_regions(self, tenant: str, allowed_regions: list[str] | None, opt_ins: dict[str, str],
                           reason: str) -> dict[str, Any]:
        return self.cp.set_tenant_regions(self.actor, tenant=tenant, allowed_regions=allowed_regions,
                                          opt_ins=opt_ins, reason=reason)

    def meetings(self, tenant: str) -> dict[str, Any]:
        return {"meetings": self.cp.meetings(tenant)}

    def end_meeting(self, tenant: str, link: str) -> dict[str, Any]:
        return asyncio.run(self.cp.end_meeting(self.actor, tenant=tenant, link=link))

    def create_admin_key(self, tenant: str, label: str) -> dict[str, Any]:
        rec, secret = self.cp.create_admin_key(self.actor, tenant=tenant, label=label)
        return {**rec, "key": secret}

    def list_admin_keys(self, tenant: str) -> dict[str, Any]:
        return {"keys": self.cp.list_admin_keys(tenant)}

    def revoke_admin_key(self, tenant: str, key_id: str) -> dict[str, Any]:
        self.cp.revoke_admin_key(self.actor, tenant=tenant, key_id=key_id)
        return {"key_id": key_id, "revoked": True}

    def create_link(self, tenant: str, **opts: Any) -> dict[str, Any]:
        return self.cp.create_link(self.actor, tenant=tenant, **opts)

    def list_links(self, tenant: str) -> dict[str, Any]:
        return {"links": self.cp.list_links(tenant)}

    def get_link(self, tenant: str, link: str) -> dict[str, Any]:
        return self.cp.get_link(tenant, link).public()

    def revoke_link(self, tenant: str, link: str, end_meeting: bool) -> dict[str, Any]:
        return asyncio.run(self.cp.revoke_link(self.actor, tenant=tenant, link=link, end_meeting=end_meeting))

    def lockouts(self, tenant: str) -> dict[str, Any]:
        raise ApiError(400, "needs_api", "lockouts live in the running control plane: use --api URL --key KEY")

    def clear_lockout(self, tenant: str, scope: str, key: str) -> dict[str, Any]:
        raise ApiError(400, "needs_api", "lockouts live in the running control plane: use --api URL --key KEY")

    def rotate_signing_key(self) -> dict[str, Any]:
        return self.cp.rotate_signing_key(self.actor)

    def define_region(self, **fields: Any) -> dict[str, Any]:
        return self.cp.define_region(self.actor, **fields)

    def list_regions(self) -> dict[str, Any]:
        return self.cp.list_regions()

    def enroll_node_key(self, region: str, public_key: str, reason: str) -> dict[str, Any]:
        return self.cp.enroll_node_key(self.actor, region=region, public_key=public_key, reason=reason)

    def list_node_keys(self) -> dict[str, Any]:
        return self.cp.list_node_keys()

    def revoke_node_key(self, key_id: str, reason: str) -> dict[str, Any]:
        return self.cp.revoke_node_key(self.actor, key_id=key_id, reason=reason)


class Remote:
    def __init__(self, base_url: str, key: str | None, timeout: float = 30.0) -> None:
        self.base = base_url.rstrip("/")
        self.key = key
        self.timeout = timeout
        self.opener = key_safe_opener()

    def close(self) -> None:
        pass

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=self.timeout) as r:
                return json.loads(r.read())  # type: ignore[no-any-return]
        except RedirectRefused as e:
            raise ApiError(e.code, "redirect_refused", f"{e} (use that URL with --api)") from None
        except urllib.error.HTTPError as e:
            try:
                err = json.loads(e.read())
                raise ApiError(e.code, str(err.get("error")), str(err.get("message"))) from None
            except ValueError:
                raise ApiError(e.code, "http_error", f"HTTP {e.code}") from None
        except OSError as e:
            raise ApiError(503, "unreachable", f"control plane unreachable: {e}") from None

    def create_tenant(self, tenant: str, name: str, jurisdiction: str) -> dict[str, Any]:
        return self._call("POST", "/v1/tenants", {"tenant": tenant, "name": name, "jurisdiction": jurisdiction})

    def list_tenants(self) -> dict[str, Any]:
        return self._call("GET", "/v1/tenants")

    def show_tenant(self, tenant: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/tenants/{tenant}")

    def set_tenant_regions(self, tenant: str, allowed_regions: list[str] | None, opt_ins: dict[str, str],
                           reason: str) -> dict[str, Any]:
        body: dict[str, Any] = {"reason": reason}
        if allowed_regions is None:
            body["default"] = True
        else:
            body["allowed_regions"] = allowed_regions
        if opt_ins:
            body["opt_ins"] = opt_ins
        return self._call("PUT", f"/v1/tenants/{tenant}/regions", body)

    def meetings(self, tenant: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/tenants/{tenant}/meetings")

    def end_meeting(self, tenant: str, link: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/tenants/{tenant}/links/{link}/end", {})

    def create_admin_key(self, tenant: str, label: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/tenants/{tenant}/admin-keys", {"label": label})

    def list_admin_keys(self, tenant: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/tenants/{tenant}/admin-keys")

    def revoke_admin_key(self, tenant: str, key_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/v1/tenants/{tenant}/admin-keys/{key_id}")

    def create_link(self, tenant: str, **opts: Any) -> dict[str, Any]:
        return self._call("POST", f"/v1/tenants/{tenant}/links", {k: v for k, v in opts.items() if v is not None})

    def list_links(self, tenant: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/tenants/{tenant}/links")

    def get_link(self, tenant: str, link: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/tenants/{tenant}/links/{link}")

    def revoke_link(self, tenant: str, link: str, end_meeting: bool) -> dict[str, Any]:
        return self._call("POST", f"/v1/tenants/{tenant}/links/{link}/revoke", {"end_meeting": end_meeting})

    def lockouts(self, tenant: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/tenants/{tenant}/lockouts")

    def clear_lockout(self, tenant: str, scope: str, key: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/tenants/{tenant}/lockouts/clear", {"scope": scope, "key": key})

    def rotate_signing_key(self) -> dict[str, Any]:
        return self._call("POST", "/v1/operator/signing-keys/rotate", {})

    def define_region(self, **fields: Any) -> dict[str, Any]:
        return self._call("POST", "/v1/operator/regions", fields)

    def list_regions(self) -> dict[str, Any]:
        return self._call("GET", "/v1/operator/regions")

    def enroll_node_key(self, region: str, public_key: str, reason: str) -> dict[str, Any]:
        return self._call("POST", "/v1/operator/node-keys", {"region": region, "public_key": public_key,
                                                              "reason": reason})

    def list_node_keys(self) -> dict[str, Any]:
        return self._call("GET", "/v1/operator/node-keys")

    def revoke_node_key(self, key_id: str, reason: str) -> dict[str, Any]:
        return self._call("DELETE", f"/v1/operator/node-keys/{key_id}", {"reason": reason})
