"""nats CLI contexts (ADR-21): connection settings saved by ``nats context save``.

A context is a JSON file ``$XDG_CONFIG_HOME/nats/context/<name>.json`` (default
``~/.config/nats/context``). ``jsdata.connect(context="prod")`` (or with ``NATS_CONTEXT``
set and no URL; the nats CLI's own selection in ``context.txt`` is not used, so a script
never connects somewhere just because the CLI was switched) reads the URL, credentials
(user/password, token, creds file, nkey seed file), TLS files (``cert``/``key``/``ca``,
``tls_first``), the JetStream domain or API prefix and the inbox prefix from it. Explicit
``connect`` arguments win over the context. Secrets read from a context never appear in
reprs or errors.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .. import errors

_SECRET = frozenset({"password", "token", "user_jwt"})


@dataclass(repr=False)
class NatsContext:
    """The settings of one nats CLI context (file fields as the nats CLI writes them)."""

    name: str = ""
    description: str = ""
    url: str = ""
    token: str = ""
    user: str = ""
    password: str = ""
    creds: str = ""
    nkey: str = ""
    cert: str = ""
    key: str = ""
    ca: str = ""
    jetstream_domain: str = ""
    jetstream_api_prefix: str = ""
    inbox_prefix: str = ""
    user_jwt: str = ""
    tls_first: bool = False

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            v = getattr(self, f.name)
            if v:
                shown.append(f"{f.name}={'***' if f.name in _SECRET else v!r}")
        return f"NatsContext({', '.join(shown)})"

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`jsdata.connect` this context gives (only those set)."""
        out: dict[str, Any] = {}
        if self.url:
            out["servers"] = self.url
        if self.user:
            out["user"] = self.user
        if self.password:
            out["password"] = self.password
        if self.token:
            out["token"] = self.token
        if self.creds:
            out["creds"] = _expand(self.creds)
        if self.nkey:
            out["nkeys_seed"] = _expand(self.nkey)
        tls = {k: _expand(v) for k, v in (("ca_file", self.ca), ("cert_file", self.cert),
                                           ("key_file", self.key)) if v}
        if tls:
            out["tls"] = tls
        if self.tls_first:
            out["tls_handshake_first"] = True
        if self.jetstream_domain:
            out["domain"] = self.jetstream_domain
        if self.jetstream_api_prefix:
            out["api_prefix"] = self.jetstream_api_prefix
        if self.inbox_prefix:
            out["inbox_prefix"] = self.inbox_prefix
        return out


def _expand(p: str) -> str:
    return os.path.expandvars(os.path.expanduser(p))


def context_dir() -> Path:
    """Where the nats CLI keeps contexts."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "nats" / "context"


def load_context(name: str) -> NatsContext:
    """Read the context ``name`` (or a path to a context JSON file)."""
    if not isinstance(name, str) or not name:
        raise errors.InvalidArgumentError(f"context must be a context name, got {name!r}")
    path = Path(_expand(name)) if name.endswith(".json") or os.sep in name else (
        context_dir() / f"{name}.json")
    try:
        raw = path.read_text()
    except FileNotFoundError:
        known = sorted(p.stem for p in context_dir().glob("*.json"))
        raise errors.ContextNotFoundError(
            f"nats context {name!r} not found (looked for {path}); known contexts: "
            f"{', '.join(known) or 'none'}") from None
    except OSError as e:
        raise errors.ContextNotFoundError(f"nats context {name!r}: cannot read {path}: "
                                          f"{e.strerror}") from None
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise errors.InvalidConfigError(f"nats context {name!r} ({path}) is not valid JSON: "
                                        f"{e.msg} at line {e.lineno}") from None
    if not isinstance(data, dict):
        raise errors.InvalidConfigError(f"nats context {name!r} ({path}) is not a JSON object")
    known_fields = {f.name for f in fields(NatsContext)}
    kw = {k: v for k, v in data.items() if k in known_fields and v not in (None, "")}
    return NatsContext(**{**kw, "name": path.stem})
