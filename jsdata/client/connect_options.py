"""The connect parameters, defined once: :class:`ConnectOptions`.

:func:`jsdata.aio.connect` (and so the blocking :func:`jsdata.connect`) spells its keyword
parameters out, so that ``inspect``, ``help()`` and mypy see them; it hands them over as one
:class:`ConnectOptions`, which is what the core's
:func:`~jsdata.client.jetstream.open_context` reads. The fields here are the definition:
their names, defaults and meaning. ``tests/test_signatures.py`` checks that the public
signature lists exactly these fields with these defaults, so the two cannot drift apart.

A nats CLI context (:mod:`jsdata.client.contexts`) fills in what a call leaves unset
(:meth:`ConnectOptions.with_context`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import Any

__all__ = ["DEFAULT_RESUME_WINDOW", "DEFAULT_TIMEOUT", "ConnectOptions"]

DEFAULT_TIMEOUT = 5.0
# How long a read waits for a lost connection to come back before it gives up with
# ReadInterruptedError (nats-py keeps reconnecting meanwhile; a closed connection ends it).
DEFAULT_RESUME_WINDOW = 30.0

_SECRET = frozenset({"password", "token", "creds", "nkeys_seed"})


@dataclass(frozen=True, kw_only=True, repr=False)
class ConnectOptions:
    """What ``connect`` was asked for, besides the servers and nats-py's own options.

    - ``user`` / ``password`` (or in the URL), ``token`` (or ``nats://token@host``),
      ``nkeys_seed`` (a seed string or a file holding one), ``creds`` (a ``.creds`` file,
      its text, or a (jwt_file, seed_file) pair): credentials.
    - ``tls``: an :class:`ssl.SSLContext`, True, or a dict of ``ca_file``, ``cert_file``,
      ``key_file``; ``tls_handshake_first`` for servers with
      ``tls { handshake_first: true }``.
    - ``name``: the connection name the server shows (default ``jsdata``).
    - ``domain`` or ``api_prefix``: where the JetStream API is (one of them).
    - ``inbox_prefix``: the prefix of every reply subject (default ``_INBOX``), for users
      whose permissions allow replies only under their own prefix.
    - ``timeout``: bounds the whole connect and is the default timeout of API requests.
    - ``resume_window``: how long a stream read or object read waits for a dropped
      connection to come back (it resumes where it was) before it raises
      :class:`~jsdata.errors.ReadInterruptedError`.
    - ``publish_async_max_pending``: unacknowledged ``publish_async`` calls before the next
      one waits.
    """

    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds: Any = None
    nkeys_seed: Any = None
    tls: Any = None
    tls_handshake_first: bool = False
    name: str | None = None
    domain: str | None = None
    api_prefix: str | None = None
    inbox_prefix: str | None = None
    timeout: float | timedelta = DEFAULT_TIMEOUT
    resume_window: float | timedelta = DEFAULT_RESUME_WINDOW
    publish_async_max_pending: int = 4000

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The field names, in signature order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def of(cls, values: dict[str, Any]) -> ConnectOptions:
        """The options among ``values`` (e.g. a function's ``locals()``): every field."""
        return cls(**{n: values[n] for n in cls.names()})

    def __repr__(self) -> str:
        shown = [f"{f.name}={'***' if f.name in _SECRET else getattr(self, f.name)!r}"
                 for f in fields(self) if getattr(self, f.name) != f.default]
        return f"ConnectOptions({', '.join(shown)})"

    def with_context(self, context: dict[str, Any]) -> ConnectOptions:
        """These options with what a nats context gives (its ``connect_options()``) filled in
        wherever they are unset; the context's domain / API prefix only when neither is
        given."""
        new: dict[str, Any] = {}
        for n in ("user", "password", "token", "creds", "nkeys_seed", "tls", "inbox_prefix"):
            if getattr(self, n) is None and context.get(n) is not None:
                new[n] = context[n]
        if not self.tls_handshake_first and context.get("tls_handshake_first"):
            new["tls_handshake_first"] = True
        if not (self.domain or self.api_prefix):
            new["domain"] = context.get("domain")
            new["api_prefix"] = context.get("api_prefix")
        return replace(self, **new)
