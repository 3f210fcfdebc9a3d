"""Connecting safely: URL checks, credential options, typed failures, no secret anywhere.

:func:`jsdata.aio.connect` (in :mod:`jsdata.jetstream`) uses these pieces: server URLs are
checked before anything is sent (an unknown scheme is an :class:`~jsdata.errors.InvalidURLError`,
not a DNS failure), credentials are turned into nats-py options (an nkeys seed or creds given
as text or as a file, each validated without ever echoing it), and whatever nats-py or the
``ssl`` module raised is turned into a :class:`~jsdata.errors.JetStreamConnectionError`
subclass that says what failed, with every secret scrubbed from its message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import nats.errors
from nats.aio.client import Client, RawCredentials

from .. import errors
from ._conn import Connection, redact

SCHEMES = ("nats", "tls", "ws", "wss")
"""URL schemes nats-py connects with."""

_SEED_RE = re.compile(r"S[A-Z2-7]{57}")
_CREDS_JWT_MARK = "BEGIN NATS USER JWT"
_CREDS_SEED_MARK = "BEGIN USER NKEY SEED"


# -- URLs -------------------------------------------------------------------------------------

def split_servers(servers: str | Sequence[str]) -> list[str]:
    """The server URLs of a string (comma-separated, as NATS_URL) or a list of them."""
    if isinstance(servers, str):
        servers = [servers]
    elif not isinstance(servers, Sequence) or not all(isinstance(s, str) for s in servers):
        raise errors.InvalidURLError(
            f"servers must be a URL string or a list of them, not {type(servers).__name__}")
    out = [u.strip() for s in servers for u in s.split(",") if u.strip()]
    if not out:
        raise errors.InvalidURLError("no server URL given")
    return out


def check_url(url: str) -> tuple[str, list[str]]:
    """Validate one server URL; returns (the URL to connect to, secrets in its user info).

    ``host:port`` without a scheme means ``nats://host:port`` (as nats-py reads it).
    """
    shown = redact(url)
    full = url if "://" in url else f"nats://{url}"
    scheme = full.split("://", 1)[0]
    if scheme.lower() not in SCHEMES:
        raise errors.InvalidURLError(
            f"unsupported URL scheme {scheme + '://'!r} in {shown}: use "
            + ", ".join(f"{s}://" for s in SCHEMES))
    try:
        parts = urlsplit(full)
        port = parts.port
    except ValueError as e:
        raise errors.InvalidURLError(f"invalid server URL {shown}: {e}") from None
    if not parts.hostname:
        raise errors.InvalidURLError(f"invalid server URL {shown}: no host")
    if port is not None and port == 0:
        raise errors.InvalidURLError(f"invalid server URL {shown}: port 0")
    if parts.path not in ("", "/") and scheme.lower() not in ("ws", "wss"):
        raise errors.InvalidURLError(f"invalid server URL {shown}: unexpected path {parts.path!r}")
    found = [unquote(p) for p in (parts.username, parts.password) if p]
    return full, found


# -- credentials ------------------------------------------------------------------------------

def _looks_like_path(value: str) -> bool:
    """Whether ``value`` reads as a file path we may print (never a seed, JWT or creds)."""
    return (
        "\n" not in value and len(value) < 1024 and not _SEED_RE.fullmatch(value.strip())
        and not value.startswith("eyJ") and any(c in value for c in "/\\.~")
    )


def _where(value: str) -> str:
    return f" ({value!r})" if _looks_like_path(value) else ""


def _read_text(path: Path, what: str, value: str) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise errors.InvalidArgumentError(
            f"{what} file{_where(value)} cannot be read: {e.strerror or type(e).__name__}"
        ) from None


def _valid_seed(seed: str) -> bool:
    """Whether ``seed`` is an nkey seed with a correct checksum (``nkeys.from_seed`` does
    not check the CRC, so a mistyped seed would otherwise be accepted)."""
    import base64
    import binascii

    import nkeys

    try:
        raw = base64.b32decode(seed + "=" * (-len(seed) % 8))
    except (binascii.Error, ValueError):
        return False
    if len(raw) < 4 or nkeys.crc16_checksum(raw[:-2]) != raw[-2:]:
        return False
    try:
        kp = nkeys.from_seed(bytearray(seed.encode()))
    except Exception:  # noqa: BLE001 - nkeys raises its own and binascii errors
        return False
    kp.wipe()
    return True


def _need_nkeys(what: str) -> None:
    try:
        import nkeys  # noqa: F401
    except ImportError:
        raise errors.InvalidArgumentError(
            f"{what} needs the 'nkeys' package: pip install nkeys") from None


@dataclass
class Credentials:
    """nats-py options for the credentials given, the secrets to scrub and how auth is done."""

    options: dict[str, Any] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    method: str = ""


def _seed_options(value: Any, creds: Credentials) -> None:
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise errors.InvalidArgumentError(
            "nkeys_seed must be an nkey seed (S...) or the path of a file holding one")
    _need_nkeys("nkeys_seed")
    text = value.strip()
    if _SEED_RE.fullmatch(text):
        creds.secrets.append(text)
        if not _valid_seed(text):
            raise errors.InvalidArgumentError("nkeys_seed is not a valid nkey seed")
        creds.options["nkeys_seed_str"] = text
        return
    creds.secrets.append(text)  # not shown unless it reads as a path
    path = Path(value).expanduser()
    if not path.is_file():
        raise errors.InvalidArgumentError(
            f"nkeys_seed is neither an nkey seed (S...) nor an existing file{_where(value)}")
    content = _read_text(path, "nkeys_seed", value).strip()
    creds.secrets.append(content)
    if not _valid_seed(content):
        raise errors.InvalidArgumentError(
            f"nkeys_seed file{_where(value)} does not hold a valid nkey seed")
    creds.options["nkeys_seed"] = str(path)


def _check_creds_text(text: str, where: str, creds: Credentials) -> None:
    creds.secrets.extend(_creds_secrets(text))
    if _CREDS_JWT_MARK not in text:
        raise errors.InvalidArgumentError(f"creds{where} has no '{_CREDS_JWT_MARK}' section")
    if _CREDS_SEED_MARK not in text:
        raise errors.InvalidArgumentError(f"creds{where} has no '{_CREDS_SEED_MARK}' section")
    seed = _section(text, _CREDS_SEED_MARK)
    if not seed or not _valid_seed(seed):
        raise errors.InvalidArgumentError(f"creds{where} does not hold a valid user nkey seed")
    if not _section(text, _CREDS_JWT_MARK):
        raise errors.InvalidArgumentError(f"creds{where} holds an empty user JWT")


def _section(text: str, mark: str) -> str:
    """The first non-empty line after the ``-----BEGIN ...-----`` line containing ``mark``."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if mark in line:
            for nxt in lines[i + 1:]:
                if nxt.strip():
                    return "" if nxt.strip().startswith("---") else nxt.strip()
    return ""


def _creds_secrets(text: str) -> list[str]:
    return [s for s in (_section(text, _CREDS_JWT_MARK), _section(text, _CREDS_SEED_MARK)) if s]


def _creds_options(value: Any, creds: Credentials) -> None:
    _need_nkeys("creds")
    if isinstance(value, tuple):
        if len(value) != 2:
            raise errors.InvalidArgumentError("creds as a tuple is (jwt_file, seed_file)")
        jwt_file, seed_file = (os.fspath(v) for v in value)
        for label, f in (("JWT", jwt_file), ("seed", seed_file)):
            if not Path(f).expanduser().is_file():
                raise errors.InvalidArgumentError(
                    f"creds {label} file{_where(f)} does not exist")
        jwt_text = _read_text(Path(jwt_file).expanduser(), "creds JWT", jwt_file).strip()
        seed_text = _read_text(Path(seed_file).expanduser(), "creds seed", seed_file).strip()
        creds.secrets += [jwt_text, seed_text]
        if not _valid_seed(seed_text):
            raise errors.InvalidArgumentError(
                f"creds seed file{_where(seed_file)} does not hold a valid nkey seed")
        creds.options["user_credentials"] = (str(Path(jwt_file).expanduser()),
                                             str(Path(seed_file).expanduser()))
        return
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise errors.InvalidArgumentError(
            "creds must be the path of a .creds file or the credentials text")
    if _CREDS_JWT_MARK in value or _CREDS_SEED_MARK in value:
        _check_creds_text(value, " text", creds)
        creds.options["user_credentials"] = RawCredentials(value)
        return
    path = Path(value).expanduser()
    if not path.is_file():
        raise errors.InvalidArgumentError(
            f"creds is neither credentials text nor an existing file{_where(value)}")
    text = _read_text(path, "creds", value)
    _check_creds_text(text, f" file{_where(value)}", creds)
    creds.options["user_credentials"] = str(path)


def tls_context(tls: Any) -> ssl.SSLContext | None:
    """``tls``: an :class:`ssl.SSLContext`, True (system CAs) or a mapping of ``ca_file``,
    ``cert_file`` and ``key_file`` (mutual TLS)."""
    if tls is None or tls is False:
        return None
    if isinstance(tls, ssl.SSLContext):
        return tls
    if tls is True:
        return ssl.create_default_context()
    if isinstance(tls, Mapping):
        unknown = set(tls) - {"ca_file", "cert_file", "key_file"}
        if unknown:
            raise errors.InvalidArgumentError(
                f"unknown tls option(s) {sorted(unknown)}: use ca_file, cert_file, key_file")
        for k, v in tls.items():
            if v is not None and not Path(os.fspath(v)).expanduser().is_file():
                raise errors.InvalidArgumentError(f"tls {k} {os.fspath(v)!r} does not exist")
        try:
            ca = tls.get("ca_file")
            ctx = ssl.create_default_context(
                cafile=os.fspath(Path(os.fspath(ca)).expanduser()) if ca else None)
            if tls.get("cert_file"):
                key = tls.get("key_file")
                ctx.load_cert_chain(os.fspath(Path(os.fspath(tls["cert_file"])).expanduser()),
                                    os.fspath(Path(os.fspath(key)).expanduser()) if key else None)
            elif tls.get("key_file"):
                raise errors.InvalidArgumentError("tls key_file needs cert_file")
        except ssl.SSLError as e:
            raise errors.InvalidArgumentError(
                f"tls files could not be loaded: {e.reason or e}") from None
        return ctx
    raise errors.InvalidArgumentError(
        f"tls must be an ssl.SSLContext, True or a dict of ca_file/cert_file/key_file, "
        f"not {type(tls).__name__}")


def credentials(*, user: str | None = None, password: str | None = None,
                token: str | None = None, creds: Any = None, nkeys_seed: Any = None,
                tls: Any = None, url_secrets: Iterable[str] = ()) -> Credentials:
    """Validate the connect keywords' credentials and build nats-py's options for them."""
    c = Credentials()
    c.secrets.extend(s for s in url_secrets if s)
    methods = []
    if user is not None or password is not None:
        if password is not None:
            c.secrets.append(password)
        c.options.update({k: v for k, v in (("user", user), ("password", password))
                          if v is not None})
        methods.append("user/password")
    if token is not None:
        c.secrets.append(token)
        c.options["token"] = token
        methods.append("token")
    if creds is not None and nkeys_seed is not None:
        raise errors.InvalidArgumentError("give creds or nkeys_seed, not both")
    if creds is not None:
        _creds_options(creds, c)
        methods.append("creds (user JWT)")
    if nkeys_seed is not None:
        _seed_options(nkeys_seed, c)
        methods.append("nkey")
    if url_secrets and not methods:
        methods.append("credentials in the URL")
    ctx = tls_context(tls)
    if ctx is not None:
        c.options["tls"] = ctx
    c.method = " and ".join(methods)
    return c


# -- failures ---------------------------------------------------------------------------------

def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (longest first) replaced by ``***``."""
    for s in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        text = text.replace(s, "***")
    return text


_AUTH_MARKS = ("authorization violation", "authentication")


def classify(exc: BaseException, display: str, method: str, *,
             tls: bool = False) -> errors.JetStreamConnectionError:
    """The typed error for what went wrong while connecting (never with a secret in it:
    callers scrub the message). ``tls``: whether the connection was (being) made with TLS."""
    if isinstance(exc, errors.JetStreamConnectionError):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = exc.verify_message or exc.reason or str(exc)
        return errors.TLSVerificationError(
            f"TLS certificate verification failed for {display}: {why} (the tls context does "
            f"not trust the server's certificate, or it is not for this host)")
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or str(exc)
        hint = ""
        if "CERTIFICATE_REQUIRED" in reason.upper() or "BAD_CERTIFICATE" in reason.upper():
            hint = " (the server requires a client certificate: mutual TLS)"
        elif "WRONG_VERSION" in reason.upper() or "RECORD_LAYER" in reason.upper():
            hint = " (the server does not speak TLS first: drop tls_handshake_first?)"
        return errors.TLSError(f"TLS handshake with {display} failed: {reason}{hint}")
    text = str(exc)
    low = text.lower()
    if isinstance(exc, nats.errors.AuthorizationError) or any(m in low for m in _AUTH_MARKS):
        used = f"with {method}" if method else "without credentials"
        return errors.AuthenticationError(
            f"authentication failed at {display} {used}: the server rejected the credentials "
            f"({text.removeprefix('nats: ').strip(chr(39)) or 'authorization violation'})")
    if "tls" in low and ("required" in low or "no tls" in low or "secure" in low):
        return errors.TLSError(f"TLS is required by one side and not by the other at {display}: "
                               f"{text}")
    if isinstance(exc, socket.gaierror):
        return errors.JetStreamConnectionError(
            f"could not connect to {display}: cannot resolve the host name ({exc.strerror})")
    if isinstance(exc, ConnectionRefusedError):
        return errors.JetStreamConnectionError(
            f"could not connect to {display}: connection refused (is a nats-server running "
            f"there?)")
    closed = (ConnectionResetError, BrokenPipeError, nats.errors.UnexpectedEOF,
              asyncio.IncompleteReadError)
    if isinstance(exc, closed) and tls:
        return errors.TLSError(
            f"the server at {display} closed the TLS connection during the handshake: it "
            f"may require a client certificate (mutual TLS) that the tls context lacks, or "
            f"reject the one given")
    if isinstance(exc, closed) or "empty response" in low:
        return errors.JetStreamConnectionError(
            f"could not connect to {display}: the server closed the connection during the "
            f"handshake (TLS or client-certificate required?)")
    return errors.JetStreamConnectionError(
        f"could not connect to {display}: {text or type(exc).__name__}")


async def abort(nc: Connection, grace: float = 0.2) -> None:
    """Close a connection that failed half-way without waiting on a dead peer.

    A connection that got as far as connected is closed by nats-py (bounded by ``grace``
    seconds); one that failed before (TCP, TLS, auth) has nothing to flush, and nats-py's
    ``close()`` could wait forever on a transport whose TLS upgrade failed (the plain
    writer was handed to ``start_tls``): its sockets are aborted and the client marked
    closed.
    """
    if nc.is_connected:
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(nc.close(), grace)
    nc._status = Client.CLOSED
    for attr in ("_reading_task", "_ping_interval_task", "_flusher_task"):
        t = getattr(nc, attr, None)
        if t is not None and not t.done():
            t.cancel()
    tr = nc._transport
    for w in (getattr(tr, "_io_writer", None),):
        if w is not None:
            with contextlib.suppress(Exception):
                w.transport.abort()


def uses_tls(nc: Connection) -> bool | None:
    """Whether the connection runs over TLS (None when the transport does not say)."""
    w = getattr(nc._transport, "_io_writer", None)
    if w is None:
        return None
    return w.transport.get_extra_info("sslcontext") is not None


class _SslEofNoise:
    """Drops asyncio's "returning true from eof_received() has no effect when using ssl"
    warning, which every TLS connection of nats-py logs when it closes."""

    @staticmethod
    def filter(record: Any) -> bool:
        return "eof_received() has no effect when using ssl" not in str(record.msg)


logging.getLogger("asyncio").addFilter(_SslEofNoise)


def no_servers(exc: BaseException) -> bool:
    """Whether nats-py gave up with "no servers available" (the reason is elsewhere)."""
    return isinstance(exc, nats.errors.NoServersError)
