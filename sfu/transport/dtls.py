"""DTLS-SRTP (RFC 5764) for one participant, over datagrams the engine hands us.

pyOpenSSL with memory BIOs; the node is always the DTLS server (our SDP answer says `setup:passive`). After the
handshake the peer's certificate must match a fingerprint from its SDP, then the SRTP master keys are exported
and installed in the native engine. Nothing here touches RTP.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL, crypto

# (OpenSSL name, libsrtp profile id, key length, salt length); GCM first: cheaper per packet and preferred
SRTP_PROFILES = [
    (b"SRTP_AEAD_AES_256_GCM", 8, 32, 12),
    (b"SRTP_AEAD_AES_128_GCM", 7, 16, 12),
    (b"SRTP_AES128_CM_SHA1_80", 1, 16, 14),
]


class DtlsError(Exception):
    pass


@dataclass(frozen=True)
class SrtpKeys:
    profile: int
    rx_key: bytes  # key||salt of what we receive
    tx_key: bytes  # key||salt of what we send


class Certificate:
    """The node's DTLS identity: ECDSA P-256, self-signed, as browsers expect."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "castellan")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(self.key, hashes.SHA256())
        )
        self.fingerprint = fingerprint_of(self.cert.public_bytes(serialization.Encoding.DER))
        self._contexts: dict[tuple[bytes, ...], SSL.Context] = {}

    def context(self, profiles: list[tuple[bytes, int, int, int]] = SRTP_PROFILES) -> SSL.Context:
        """The DTLS context for these SRTP profiles, made once: every session shares it (OpenSSL contexts are
        shared by design). A context per session cost ~2 ms of the event loop per join and its own copies of the
        certificate, key and cipher tables in memory until the session's objects were collected."""
        key = tuple(p[0] for p in profiles)
        ctx = self._contexts.get(key)
        if ctx is None:
            ctx = self._contexts[key] = self._new_context(profiles)
        return ctx

    def _new_context(self, profiles: list[tuple[bytes, int, int, int]]) -> SSL.Context:
        ctx = SSL.Context(SSL.DTLS_METHOD)
        ctx.set_options(SSL.OP_NO_TICKET | SSL.OP_NO_QUERY_MTU)
        ctx.use_certificate(self.cert)  # cryptography objects: pyOpenSSL's own types are deprecated (a warning
        ctx.use_privatekey(self.key)    # per participant otherwise)
        # browsers present self-signed certificates: trust comes from the SDP fingerprint, checked after
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *args: True)
        ctx.set_tlsext_use_srtp(b":".join(p[0] for p in profiles))
        ctx.set_cipher_list(b"HIGH:!CAMELLIA:!aNULL")
        return ctx


def fingerprint_of(der: bytes, algorithm: str = "sha-256") -> str:
    digest = hashlib.new(algorithm.replace("-", ""), der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


class DtlsSession:
    """One DTLS association. `feed` incoming records; outgoing ones go to `send`."""

    def __init__(
        self,
        certificate: Certificate,
        remote_fingerprints: list[tuple[str, str]],
        send: Callable[[bytes], object],  # its result (e.g. Engine.send_raw's bool) is ignored
        server: bool = True,
        profiles: list[tuple[bytes, int, int, int]] = SRTP_PROFILES,
    ) -> None:
        self._send = send
        self._remote = [(alg.lower(), value.upper()) for alg, value in remote_fingerprints]
        if not self._remote:
            raise DtlsError("no remote fingerprint")
        self.server = server
        self.conn = SSL.Connection(certificate.context(profiles), None)
        self.conn.set_ciphertext_mtu(1200)
        if server:
            self.conn.set_accept_state()
        else:
            self.conn.set_connect_state()
        self.state = "new"
        self.keys: SrtpKeys | None = None
        self.error: str | None = None

    def start(self) -> None:
        if not self.server and self.state == "new":
            self._step()

    def feed(self, data: bytes) -> SrtpKeys | None:
        """Processes a record; returns the SRTP keys when this record completed the handshake."""
        if self.state in ("failed", "closed") or not data:
            return None  # an empty datagram carries no record (and OpenSSL's memory BIO refuses a 0-byte write)
        self.conn.bio_write(data)
        if self.state == "connected":
            try:
                self.conn.recv(1500)
            except SSL.ZeroReturnError:
                self.state = "closed"
            except SSL.WantReadError:
                pass
            except SSL.Error:
                pass  # a stray record after the handshake is harmless
            self._flush()
            return None
        return self._step()

    def _step(self) -> SrtpKeys | None:
        self.state = "connecting"
        try:
            self.conn.do_handshake()
        except SSL.WantReadError:
            self._flush()
            return None
        except SSL.Error as e:
            self._flush()
            self.state = "failed"
            self.error = f"DTLS handshake failed: {e}"
            return None
        self._flush()
        try:
            self.keys = self._verify_and_export()
        except DtlsError as e:
            self.state = "failed"
            self.error = str(e)
            return None
        self.state = "connected"
        return self.keys

    def _verify_and_export(self) -> SrtpKeys:
        cert = self.conn.get_peer_certificate()
        if cert is None:
            raise DtlsError("peer presented no certificate")
        der = crypto.dump_certificate(crypto.FILETYPE_ASN1, cert)
        if not any(fingerprint_of(der, alg) == value for alg, value in self._remote if alg in ("sha-256", "sha-384", "sha-512")):
            raise DtlsError("peer certificate does not match the SDP fingerprint")
        name = self.conn.get_selected_srtp_profile()
        profile = next((p for p in SRTP_PROFILES if p[0] == name), None)
        if profile is None:
            raise DtlsError(f"no SRTP profile negotiated ({name!r})")
        _, pid, klen, slen = profile
        km = self.conn.export_keying_material(b"EXTRACTOR-dtls_srtp", 2 * (klen + slen))
        client = km[:klen] + km[2 * klen : 2 * klen + slen]
        server = km[klen : 2 * klen] + km[2 * klen + slen :]
        if self.server:
            return SrtpKeys(pid, rx_key=client, tx_key=server)
        return SrtpKeys(pid, rx_key=server, tx_key=client)

    def _flush(self) -> None:
        while True:
            try:
                data = self.conn.bio_read(1500)
            except SSL.WantReadError:
                return
            if not data:
                return
            self._send(data)

    def timeout(self) -> float | None:
        if self.state != "connecting":
            return None
        return self.conn.DTLSv1_get_timeout()

    def handle_timeout(self) -> None:
        if self.state == "connecting" and self.conn.DTLSv1_handle_timeout():
            self._flush()

    def close(self) -> None:
        if self.state == "connected":
            try:
                self.conn.shutdown()
            except SSL.Error:
                pass
            self._flush()
        self.state = "closed"
