"""Building blocks for the security tests: certificates, nkeys, operator-mode JWTs, configs.

Certificates come from ``trustme`` (a throwaway CA per test session); operator, account and
user JWTs are signed here with the ``nkeys`` package exactly as nats-io/jwt v2 encodes them
(header ``{"typ":"JWT","alg":"ed25519-nkey"}``, base64url without padding, ``jti`` the
base32 SHA-512/256 of the standard claims, the signature an ed25519 signature of
``header.payload`` by the issuer's key), so nats-server verifies them as it would ``nsc``'s.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nkeys

# -- nkeys ----------------------------------------------------------------------------------------

@dataclass
class NKey:
    """An nkey pair: ``seed`` (``S...``, secret) and ``public`` (``O...``/``A...``/``U...``)."""

    seed: str
    public: str

    def sign(self, data: bytes) -> bytes:
        kp = nkeys.from_seed(bytearray(self.seed.encode()))
        try:
            return kp.sign(data)
        finally:
            kp.wipe()


def new_nkey(prefix: int) -> NKey:
    """A fresh nkey of the given role (``nkeys.PREFIX_BYTE_USER`` etc.)."""
    seed = nkeys.encode_seed(os.urandom(32), prefix)
    kp = nkeys.from_seed(bytearray(seed))
    public = kp.public_key.decode()
    kp.wipe()
    return NKey(seed=seed.decode(), public=public)


# -- JWTs (nats-io/jwt v2) ------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode_jwt(issuer: NKey, subject: str, name: str, nats: dict[str, Any]) -> str:
    """A signed JWT with the standard claims of nats-io/jwt v2 and the ``nats`` section."""
    header = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"},
                             separators=(",", ":")).encode())
    claims: dict[str, Any] = {"iat": int(time.time()), "iss": issuer.public, "name": name,
                              "sub": subject}
    # jti: base32 (no padding) of SHA-512/256 over the claims data without jti, as jwt's hash()
    std = {k: claims[k] for k in ("iat", "iss", "name", "sub")}
    digest = hashlib.new("sha512_256", json.dumps(std, separators=(",", ":")).encode()).digest()
    claims = {"jti": base64.b32encode(digest).rstrip(b"=").decode(), **claims,
              "nats": {**nats, "version": 2}}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = issuer.sign(f"{header}.{payload}".encode())
    return f"{header}.{payload}.{_b64(sig)}"


UNLIMITED = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
             "wildcards": True, "conn": -1, "leaf": -1}
JETSTREAM_UNLIMITED = {"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}


def creds_text(user_jwt: str, user: NKey) -> str:
    """A ``.creds`` file's text (the layout ``nsc generate creds`` writes)."""
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{user_jwt}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{user.seed}\n"
        "------END USER NKEY SEED------\n\n"
        "*************************************************************\n"
    )


@dataclass
class Operator:
    """An operator with a system account and one JetStream-enabled account ``APP``.

    ``config`` is the nats-server configuration for it (memory resolver, accounts
    preloaded); :meth:`user_creds` issues users of ``APP``.
    """

    operator: NKey
    operator_jwt: str
    system: NKey
    system_jwt: str
    account: NKey
    account_jwt: str

    @classmethod
    def create(cls) -> Operator:
        op = new_nkey(nkeys.PREFIX_BYTE_OPERATOR)
        sys_acct = new_nkey(nkeys.PREFIX_BYTE_ACCOUNT)
        app = new_nkey(nkeys.PREFIX_BYTE_ACCOUNT)
        op_jwt = encode_jwt(op, op.public, "OP", {"type": "operator",
                                                   "system_account": sys_acct.public})
        sys_jwt = encode_jwt(op, sys_acct.public, "SYS", {
            "type": "account", "limits": dict(UNLIMITED),
            "default_permissions": {"pub": {}, "sub": {}}})
        app_jwt = encode_jwt(op, app.public, "APP", {
            "type": "account", "limits": {**UNLIMITED, **JETSTREAM_UNLIMITED},
            "default_permissions": {"pub": {}, "sub": {}}})
        return cls(op, op_jwt, sys_acct, sys_jwt, app, app_jwt)

    def user(self, name: str = "alice", pub: dict[str, Any] | None = None,
             sub: dict[str, Any] | None = None) -> tuple[NKey, str]:
        """A new user of APP: (its nkey, its JWT), with optional pub/sub permissions."""
        u = new_nkey(nkeys.PREFIX_BYTE_USER)
        jwt = encode_jwt(self.account, u.public, name, {
            "type": "user", "pub": pub or {}, "sub": sub or {},
            "subs": -1, "data": -1, "payload": -1})
        return u, jwt

    def user_creds(self, name: str = "alice", **perms: Any) -> str:
        """The creds text of a new user of APP."""
        u, jwt = self.user(name, **perms)
        return creds_text(jwt, u)

    @property
    def config(self) -> str:
        return (
            f"operator: {self.operator_jwt}\n"
            f"system_account: {self.system.public}\n"
            "resolver: MEMORY\n"
            "resolver_preload: {\n"
            f"  {self.system.public}: {self.system_jwt}\n"
            f"  {self.account.public}: {self.account_jwt}\n"
            "}\n"
        )


# -- TLS ------------------------------------------------------------------------------------------

@dataclass
class TLSFiles:
    """PEM files of a test CA, a server certificate for 127.0.0.1/localhost and a client one."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_config(self, *, verify: bool = False, handshake_first: bool = False) -> str:
        lines = [f"  cert_file: {json.dumps(str(self.server_cert))}",
                 f"  key_file: {json.dumps(str(self.server_key))}",
                 f"  ca_file: {json.dumps(str(self.ca))}",
                 "  timeout: 5"]
        if verify:
            lines.append("  verify: true")
        if handshake_first:
            lines.append("  handshake_first: true")
        return "tls {\n" + "\n".join(lines) + "\n}\n"

    def client_context(self, *, with_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        if with_cert:
            ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx


def make_tls_files(directory: Path) -> TLSFiles:
    """A trustme CA with server and client certificates, written to ``directory``."""
    import trustme

    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@example.com")
    files = TLSFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key",
                     directory / "client.pem", directory / "client.key")
    ca.cert_pem.write_to_path(str(files.ca))
    server.cert_chain_pems[0].write_to_path(str(files.server_cert))
    server.private_key_pem.write_to_path(str(files.server_key))
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    client.private_key_pem.write_to_path(str(files.client_key))
    return files


def other_ca_context() -> ssl.SSLContext:
    """A client context that trusts only an unrelated CA (verification must fail)."""
    import trustme

    return ssl.create_default_context(cadata=trustme.CA().cert_pem.bytes().decode())
