"""The asyncio JetStream context: connecting, API requests and stream management.

``JetStream`` composes the per-concept mixins (publishing, consumers, key-value, object
stores, DataFrame writing); each lives in the module named after it.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import nats.errors

from . import _connect, _diff, errors, features, names
from ._conn import Connection, ReplyMux, env_url, status_of
from ._connect import redact
from ._model import make_config
from .atomic import AtomicPublishMethods
from .config import StreamConfig
from .consumer import ConsumerManager
from .counters import CounterMethods
from .fast import FastPublishMethods
from .info import AccountInfo, StreamInfo
from .kv import KeyValueManager
from .object import ObjectStoreManager
from .publish import Publisher
from .stream import Stream
from .writer import DataFrameWriter

DEFAULT_TIMEOUT = 5.0


def _seconds(v: float | timedelta | None, default: float) -> float:
    if v is None:
        return default
    return v.total_seconds() if isinstance(v, timedelta) else float(v)


class JetStream(ConsumerManager, Publisher, AtomicPublishMethods, FastPublishMethods,
                CounterMethods, KeyValueManager, ObjectStoreManager, DataFrameWriter):
    """A JetStream context on one connection: streams, consumers, publishing, KV, objects.

    Create it with :func:`jsdata.aio.connect`; use ``async with`` or :meth:`close`.
    """

    def __init__(self, nc: Connection, *, domain: str | None = None,
                 api_prefix: str | None = None, timeout: float | timedelta = DEFAULT_TIMEOUT,
                 publish_async_max_pending: int = 4000, owns_connection: bool = True,
                 display_url: str = "") -> None:
        if domain and api_prefix:
            raise errors.InvalidArgumentError("give domain or api_prefix, not both")
        self.nc = nc
        self.domain = domain
        if api_prefix:
            self.prefix = api_prefix.rstrip(".")
        elif domain:
            self.prefix = f"$JS.{domain}.API"
        else:
            self.prefix = "$JS.API"
        self.timeout = _seconds(timeout, DEFAULT_TIMEOUT)
        self._mux = ReplyMux(nc)
        self._owns_connection = owns_connection
        self._display_url = display_url
        self._closed = False
        Publisher.__init__(self, publish_async_max_pending)

    def __repr__(self) -> str:
        state = "closed" if self._closed or self.nc.is_closed else "connected"
        return f"<JetStream {self._display_url or 'nats'} {state}>"

    def _repr_html_(self) -> str:
        """The connection for a notebook: server (credentials redacted), state, TLS, API
        prefix or domain, server version. Never a secret."""
        from . import _repr
        state = "closed" if self._closed or self.nc.is_closed else (
            "connected" if self.nc.is_connected else "reconnecting")
        info = getattr(self.nc, "_server_info", None) or {}
        tls = _connect.uses_tls(self.nc) if state != "closed" else None
        rows = [("server", self._display_url or "nats"), ("state", state),
                ("TLS", None if tls is None else ("yes" if tls else "no")),
                ("domain", self.domain), ("API prefix", self.prefix),
                ("server version", info.get("version")), ("server name", info.get("server_name"))]
        return _repr.field_table("JetStream", rows)

    # -- lifecycle -----------------------------------------------------------------------------
    async def close(self) -> None:
        """Stop async publishing, close consumers' subscriptions and the connection."""
        if self._closed:
            return
        self._closed = True
        await self._close_publisher()
        await self._mux.close()
        if self._owns_connection and not self.nc.is_closed:
            try:
                await self.nc.close()
            except (OSError, nats.errors.Error):
                # nats-py flushes its reconnect buffer into a transport that may be dead
                # (server gone): the connection is closed all the same.
                pass

    async def __aenter__(self) -> JetStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- server features -----------------------------------------------------------------------
    @property
    def api_level(self) -> int:
        """The JetStream API level of the connected server (0 before nats-server 2.11; 1:
        2.11, 2: 2.12, 4: 2.14); features of newer servers check it before sending."""
        return features.server_api_level(self.nc.server_info)

    def _require(self, feature: str) -> None:
        """FeatureNotSupportedError unless the server's API level has ``feature``."""
        features.require(self.api_level, str(self.nc.server_info.get("version", "")), feature)

    # -- API requests --------------------------------------------------------------------------
    def api_subject(self, suffix: str) -> str:
        return f"{self.prefix}.{suffix}"

    async def _api(self, suffix: str, payload: dict[str, Any] | None = None, *,
                   timeout: float | None = None, context: str | None = None) -> dict[str, Any]:
        """One JetStream API request; an ``error`` in the response raises its typed error."""
        self.nc.check_open()
        body = json.dumps(payload, separators=(",", ":")).encode() if payload is not None else b""
        data, hdr = await self._mux.request(self.api_subject(suffix), body,
                                            timeout or self.timeout)
        if hdr:
            st = status_of(hdr)
            if st and st[0] == 503:
                raise errors.JetStreamNotEnabledError(
                    "JetStream is not enabled (no responders for the JetStream API)", code=503)
        try:
            resp: dict[str, Any] = json.loads(data)
        except ValueError:
            raise errors.APIError(f"invalid JetStream API response to {suffix}: {data[:200]!r}"
                                  ) from None
        if "error" in resp:
            raise errors.from_api_error(resp["error"], context, suffix=suffix, payload=payload)
        return resp

    # -- streams -------------------------------------------------------------------------------
    async def create_stream(self, config: StreamConfig | None = None, /,
                            **fields: Any) -> Stream:
        """Create a stream; identical config is a no-op, a different one raises
        :class:`~jsdata.errors.StreamNameAlreadyInUseError`."""
        cfg = make_config(StreamConfig, config, **fields)
        names.stream_name(cfg.name)
        body = cfg.to_json()
        try:
            resp = await self._api(f"STREAM.CREATE.{cfg.name}", body)
        except errors.StreamNameAlreadyInUseError as e:
            await self._name_differences(e, body)
            raise
        except errors.APIError as e:
            await self._name_overlaps(e, body)
            raise
        return Stream(self, StreamInfo.from_json(resp))

    async def _name_differences(self, e: errors.JetStreamError, wanted: dict[str, Any]) -> None:
        """Add the fields that differ from the existing stream to ``e``'s message."""
        try:
            have = await self._api(f"STREAM.INFO.{wanted['name']}")
        except errors.JetStreamError:
            return
        diff = _diff.differing_fields(wanted, have.get("config") or {})
        if diff:
            e.description += _diff.describe(diff)
            e.args = (e.description,)
            e.differences = diff  # type: ignore[attr-defined]

    async def _name_overlaps(self, e: errors.APIError, wanted: dict[str, Any]) -> None:
        """For "subjects overlap with an existing stream", say which streams and subjects."""
        if e.err_code != 10065:
            return
        clashes = []
        for subj in wanted.get("subjects") or []:
            try:
                found = await self._api("STREAM.NAMES", {"subject": subj})
            except errors.JetStreamError:
                return
            others = [n for n in found.get("streams") or [] if n != wanted.get("name")]
            if others:
                clashes.append(f"{subj!r} (captured by {', '.join(map(repr, others))})")
        if clashes:
            e.description += "; overlapping subjects: " + ", ".join(clashes)
            e.args = (e.description,)

    async def update_stream(self, config: StreamConfig | None = None, /,
                            **fields: Any) -> Stream:
        """Update an existing stream's configuration."""
        cfg = make_config(StreamConfig, config, **fields)
        names.stream_name(cfg.name)
        body = cfg.to_json()
        try:
            resp = await self._api(f"STREAM.UPDATE.{cfg.name}", body)
        except errors.StreamNotFoundError:
            raise
        except errors.APIError as e:
            await self._name_overlaps(e, body)
            raise
        return Stream(self, StreamInfo.from_json(resp))

    async def create_or_update_stream(self, config: StreamConfig | None = None, /,
                                      **fields: Any) -> Stream:
        """Update the stream, creating it when it does not exist."""
        cfg = make_config(StreamConfig, config, **fields)
        try:
            return await self.update_stream(cfg)
        except errors.StreamNotFoundError:
            return await self.create_stream(cfg)

    async def stream(self, name: str) -> Stream:
        """A handle on an existing stream (raises StreamNotFoundError)."""
        names.stream_name(name)
        resp = await self._api(f"STREAM.INFO.{name}")
        return Stream(self, StreamInfo.from_json(resp))

    async def stream_info(self, name: str, subjects_filter: str | None = None,
                          deleted_details: bool = False) -> StreamInfo:
        """The stream's info (with per-subject counts for ``subjects_filter``)."""
        s = await self.stream(name)
        if subjects_filter is None and not deleted_details:
            return s.cached_info()
        return await s.info(subjects_filter, deleted_details)

    async def delete_stream(self, name: str) -> None:
        """Delete a stream and all its messages and consumers."""
        names.stream_name(name)
        await self._api(f"STREAM.DELETE.{name}")

    async def _paged(self, suffix: str, key: str, payload: dict[str, Any]
                     ) -> AsyncIterator[Any]:
        offset = 0
        while True:
            resp = await self._api(suffix, {**payload, "offset": offset})
            items = resp.get(key) or []
            for it in items:
                yield it
            offset += len(items)
            if not items or offset >= resp.get("total", 0):
                return

    async def list_streams(self, subject: str | None = None) -> AsyncIterator[StreamInfo]:
        """Every stream's info (optionally only streams capturing ``subject``)."""
        payload = {"subject": subject} if subject else {}
        async for it in self._paged("STREAM.LIST", "streams", payload):
            yield StreamInfo.from_json(it)

    async def stream_names(self, subject: str | None = None) -> AsyncIterator[str]:
        """Every stream name (optionally only streams capturing ``subject``)."""
        payload = {"subject": subject} if subject else {}
        async for it in self._paged("STREAM.NAMES", "streams", payload):
            yield it

    async def stream_name_by_subject(self, subject: str) -> str:
        """The name of the stream capturing ``subject`` (StreamNotFoundError if none)."""
        names.filter_subject(subject)
        resp = await self._api("STREAM.NAMES", {"subject": subject})
        found: Sequence[str] = resp.get("streams") or []
        if not found:
            raise errors.StreamNotFoundError(f"no stream captures subject {subject!r}")
        return found[0]

    async def account_info(self) -> AccountInfo:
        """Account usage and limits."""
        return AccountInfo.from_json(await self._api("INFO"))


async def connect(servers: str | Sequence[str] | None = None, *, user: str | None = None,
                  password: str | None = None, token: str | None = None,
                  creds: Any = None, nkeys_seed: Any = None, tls: Any = None,
                  tls_handshake_first: bool = False,
                  name: str | None = None, domain: str | None = None,
                  api_prefix: str | None = None, timeout: float | timedelta = DEFAULT_TIMEOUT,
                  publish_async_max_pending: int = 4000, url: str | None = None,
                  context: str | None = None, **nats_options: Any) -> JetStream:
    """Connect and return the asyncio JetStream context.

    With no ``servers``, JSDATA_URL / NATS_URL are used, else the default embedded server
    (started on first use, shared by every process of the user).

    ``context`` names a nats CLI context (``~/.config/nats/context/<name>.json``, see
    :mod:`jsdata.contexts`); with no ``servers`` and no JSDATA_URL / NATS_URL, the
    ``NATS_CONTEXT`` environment variable names one. Its URL, credentials, TLS files and
    JetStream domain / API prefix apply wherever the call does not give its own.

    ``timeout`` bounds the whole connect (TCP, TLS, authentication and the JetStream check)
    and is the default timeout of API requests afterwards. Credentials: ``user``/``password``
    (or in the URL), ``token`` (or ``nats://token@host``), ``nkeys_seed`` (a seed string or a
    file holding one), ``creds`` (a ``.creds`` file, its text, or a (jwt_file, seed_file)
    pair). ``tls`` is an :class:`ssl.SSLContext`, True, or a dict of ``ca_file``,
    ``cert_file``, ``key_file``; ``tls_handshake_first`` for servers with
    ``tls { handshake_first: true }``. Failures are
    :class:`~jsdata.errors.JetStreamConnectionError` subclasses that say what failed
    (:class:`~jsdata.errors.InvalidURLError`, :class:`~jsdata.errors.TLSVerificationError`,
    :class:`~jsdata.errors.AuthenticationError`, :class:`~jsdata.errors.NoJetStreamError`,
    :class:`~jsdata.errors.ConnectTimeoutError`, ...); no secret is ever in them.
    """
    if context is None and not (servers or url or env_url()):
        context = os.environ.get("NATS_CONTEXT") or None
    if context is not None:
        from .contexts import load_context
        o = load_context(context).connect_options()
        servers = servers or url or o.get("servers")
        user = user if user is not None else o.get("user")
        password = password if password is not None else o.get("password")
        token = token if token is not None else o.get("token")
        creds = creds if creds is not None else o.get("creds")
        nkeys_seed = nkeys_seed if nkeys_seed is not None else o.get("nkeys_seed")
        tls = tls if tls is not None else o.get("tls")
        tls_handshake_first = tls_handshake_first or bool(o.get("tls_handshake_first"))
        if not (domain or api_prefix):
            domain, api_prefix = o.get("domain"), o.get("api_prefix")
    if domain and api_prefix:
        raise errors.InvalidArgumentError("give domain or api_prefix, not both")
    servers = servers or url or env_url()
    if not servers:
        from .server import default_server_url
        servers = default_server_url()
    server_list, url_secrets = [], []
    for u in _connect.split_servers(servers):
        full, found = _connect.check_url(u)
        server_list.append(full)
        url_secrets += found
    display = ",".join(redact(u) for u in server_list)
    t = _seconds(timeout, DEFAULT_TIMEOUT)
    if t <= 0:
        raise errors.InvalidArgumentError(f"timeout must be > 0 seconds, not {t:g}")
    cred = _connect.credentials(user=user, password=password, token=token, creds=creds,
                                nkeys_seed=nkeys_seed, tls=tls, url_secrets=url_secrets)
    opts: dict[str, Any] = {**cred.options, "name": name or "jsdata", "connect_timeout": t,
                            "allow_reconnect": True, "max_reconnect_attempts": -1,
                            "reconnect_time_wait": 0.5}
    if tls_handshake_first:
        opts["tls_handshake_first"] = True
        opts.setdefault("tls", _connect.tls_context(True))

    async def _quiet(e: Exception) -> None:  # nats-py prints errors by default
        pass

    opts["error_cb"] = _quiet
    opts.update(nats_options)
    # nats-py retries the *initial* connect forever with max_reconnect_attempts=-1 (a wrong
    # password or a dead URL would hang): connect with a bounded attempt count, then switch
    # to the requested reconnect behaviour for the life of the connection.
    reconnect = {k: opts[k] for k in ("allow_reconnect", "max_reconnect_attempts")}
    connect_errors: list[BaseException] | None = []
    user_error_cb = opts["error_cb"]

    async def _error_cb(e: Exception) -> None:
        if connect_errors is not None:
            connect_errors.append(e)
        await user_error_cb(e)

    initial = {**opts, "allow_reconnect": False, "max_reconnect_attempts": 1,
               "error_cb": _error_cb}
    tls_wanted = initial.get("tls") is not None or any(
        u.lower().startswith(("tls://", "wss://")) for u in server_list)
    nc = Connection()
    js = JetStream(nc, domain=domain, api_prefix=api_prefix, timeout=t,
                   publish_async_max_pending=publish_async_max_pending, display_url=display)
    stage = ["connecting"]

    async def _establish() -> None:
        try:
            await nc.connect(servers=server_list, **initial)
        except Exception as e:  # nats-py raises several unrelated types here
            why: BaseException = e
            if isinstance(e, nats.errors.NoServersError) and connect_errors:
                why = connect_errors[-1]  # say why (refused, auth, ...), not just "no servers"
            raise _connect.classify(why, display, cred.method, tls=tls_wanted) from None
        if tls_wanted and _connect.uses_tls(nc) is False:
            raise errors.TLSError(
                f"the server at {display} does not offer TLS, but tls was asked for: not "
                "connecting in plain text")
        stage[0] = "checking JetStream"
        await js._mux.start()
        await _check_jetstream(js, display)

    try:
        await asyncio.wait_for(_establish(), t)
    except BaseException as e:
        await _connect.abort(nc)
        if isinstance(e, asyncio.TimeoutError):
            why = ""
            if connect_errors:
                last = _connect.classify(connect_errors[-1], display, cred.method,
                                         tls=tls_wanted)
                why = f"; last error: {last.description}"
            elif stage[0] == "connecting" and tls_wanted and not tls_handshake_first:
                why = ("; no INFO from the server (does it want tls_handshake_first=True?)")
            err: BaseException = errors.ConnectTimeoutError(
                f"could not connect to {display} within {t:g}s "
                f"(timed out while {stage[0]}){why}")
        elif isinstance(e, errors.JetStreamError):
            err = e
        elif isinstance(e, Exception):
            err = _connect.classify(e, display, cred.method, tls=tls_wanted)
        else:
            raise  # CancelledError, KeyboardInterrupt: as they are
        if isinstance(err, errors.JetStreamError):
            err.description = _connect.scrub(err.description, cred.secrets)
            err.args = (err.description,)
        raise err from None
    nc.options.update(reconnect)
    connect_errors = None
    return js


async def _check_jetstream(js: JetStream, display: str) -> None:
    """One account-info request: NoJetStreamError when nobody answers for JetStream here.

    Only "nobody serves the JetStream API here" fails: a user whose permissions do not allow
    ``$JS.API.INFO``, or an API error such as a cluster still electing its leader, still
    connects (JetStream's API is there). The deadline of connect bounds the wait.
    """
    where = f"domain {js.domain!r}" if js.domain else f"API prefix {js.prefix!r}"
    try:
        await js._api("INFO", timeout=3600)
    except errors.PermissionDeniedError as e:
        if e.operation == "subscribe":  # no replies could ever arrive: say so now
            raise errors.PermissionDeniedError(
                f"connected to {display}, but this user may not subscribe to the reply inbox "
                f"{e.subject!r}: JetStream replies need subscribe permission on '_INBOX.>'",
                subject=e.subject, operation="subscribe") from None
        return  # the server said no: JetStream's API is there
    except errors.JetStreamNotEnabledForAccountError:
        raise errors.NoJetStreamError(
            f"connected to {display}, but JetStream is not enabled for this account",
            code=503) from None
    except errors.JetStreamNotEnabledError:
        raise errors.NoJetStreamError(
            f"connected to {display}, but nothing answers the JetStream API there ({where}): "
            "JetStream is not enabled on the server, or for this domain", code=503) from None
    except errors.APIError:
        return  # e.g. "JetStream system temporarily unavailable" while a cluster elects
