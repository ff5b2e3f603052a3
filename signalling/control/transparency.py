"""The control plane's side of verifiable residency (docs/residency.md): receipts from nodes into the tenants'
logs, signed heads and proofs for tenants, the per-meeting evidence and summary, and the webhook that delivers
each new head to the tenant.

Webhook targets are tenant-chosen URLs the control plane POSTs to, so they are limited to what a tenant should
reach: https, or http to a loopback address (development); no redirects are followed; 3 s per delivery.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from residency import receipts as rc
from residency.collection import collect
from residency.errors import InvalidInput, VerificationFailed
from residency.service import ResidencyService
from residency.signing import public_key_pem
from residency.tenantlog import TenantLog
from residency.transparency import ProofError
from residency.verify import PinnedKeys, summary_line, verify_meeting

log = logging.getLogger("castellan.transparency")
WEBHOOK_TIMEOUT = 3.0


def check_webhook_url(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise InvalidInput("invalid_webhook", "the webhook is not a valid URL") from None
    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if parts.scheme == "https" and host or parts.scheme == "http" and loopback:
        return url
    raise InvalidInput("invalid_webhook", "a webhook is an https:// URL (http:// only to a loopback address)")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Transparency:
    def __init__(self, service: ResidencyService, tenant_log: TenantLog,
                 on_receipt: Callable[[str], None] | None = None) -> None:
        self.service = service
        self.log = tenant_log
        self.on_receipt = on_receipt  # outcome counter: "logged", "duplicate" or the refusal code
        self._opener = urllib.request.build_opener(_NoRedirect)

    def receive(self, doc: object) -> dict[str, Any]:
        """A node's receipt; ReceiptRejected (counted) when no enrolled key of its region signed it."""
        try:
            got = collect(doc, self.service.store, self.service.audit, self.service.trust.keys())
        except rc.ReceiptRejected as e:
            self._count(e.code)
            raise
        self._count("logged" if got.record else "duplicate")
        return {"logged": got.record is not None, "tenant": got.receipt.tenant,
                "seq": got.record.seq if got.record else None}

    def _count(self, outcome: str) -> None:
        if self.on_receipt is not None:
            self.on_receipt(outcome)

    def head(self, tenant: str) -> dict[str, object]:
        return self.log.head(tenant).to_line()

    def consistency(self, tenant: str, first: int, second: int) -> dict[str, object]:
        try:
            proof = self.log.consistency(tenant, first, second)
        except ProofError as e:
            raise InvalidInput("proof_out_of_range", str(e)) from None
        return {"first": first, "second": second, "proof": [p.hex() for p in proof]}

    def inclusion(self, tenant: str, index: int, size: int) -> dict[str, object]:
        try:
            proof = self.log.inclusion(tenant, index, size)
        except ProofError as e:
            raise InvalidInput("proof_out_of_range", str(e)) from None
        return {"index": index, "tree_size": size, "proof": [p.hex() for p in proof]}

    def evidence(self, tenant: str, meeting: str, held: int | None) -> dict[str, object]:
        return self.log.evidence(tenant, meeting, [held] if held else [])

    def pinned(self) -> PinnedKeys:
        return PinnedKeys(keys=self.service.trust.keys(), regions=self.service.regions())

    def node_keys(self) -> dict[str, object]:
        """What a tenant pins (`castellan audit fetch --node-keys`): the regions and every enrolled node key."""
        pinned = self.pinned()
        return {"regions": [r.to_dict() for r in pinned.regions.values()],
                "keys": [{k: v for k, v in key.to_dict().items()} for key in pinned.keys.values()]}

    def log_key_pem(self) -> str:
        return public_key_pem(self.log.signer.public_key())

    def summary(self, tenant: str, meeting: str) -> dict[str, Any]:
        """The admin console's line for a meeting: the same check the tenant runs offline, against the log's own
        heads ("This meeting was processed in: ... - verified")."""
        evidence = self.log.evidence(tenant, meeting)
        try:
            report = verify_meeting(evidence, meeting, self.log.heads(tenant), self.log.signer.public_key(),
                                    self.pinned())
        except VerificationFailed as e:
            return {"tenant": tenant, "meeting": meeting, "verified": False, "error": e.to_dict()}
        out = report.to_dict()
        out["text"] = summary_line(report)
        return out

    # -- webhooks ------------------------------------------------------------------------------------------------
    def set_webhook(self, tenant: str, url: str | None) -> None:
        self.log.set_webhook(tenant, check_webhook_url(url) if url else None)

    def deliver(self) -> int:
        """POST each tenant's new head (with the consistency proof from the last one delivered); returns how
        many were delivered. A failed delivery is retried on the next round."""
        sent = 0
        for tenant, url, delivered in self.log.webhooks():
            head = self.log.head(tenant)
            if head.tree_size <= delivered:
                continue
            proof = self.log.consistency(tenant, delivered, head.tree_size) if delivered else []
            body = json.dumps({"tenant": tenant, "head": head.to_line(),
                               "consistency": {"first": delivered, "proof": [p.hex() for p in proof]}}).encode()
            req = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                with self._opener.open(req, timeout=WEBHOOK_TIMEOUT) as resp:
                    ok = 200 <= resp.status < 300
            except (urllib.error.URLError, OSError, ValueError) as e:
                log.warning("head webhook of tenant %s failed: %s", tenant, e)
                continue
            if ok:
                self.log.delivered(tenant, head.tree_size)
                sent += 1
        return sent
