"""The asyncio JetStream context: connecting, API requests and stream management.

``JetStream`` composes the per-concept mixins (publishing, consumers, key-value, object
stores, DataFrame writing); each lives in the module named after it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import nats.errors

from . import errors, names
from ._conn import Connection, ReplyMux, connect_options, env_url, redact, status_of
from ._model import make_config
from .config import StreamConfig
from .consumer import ConsumerManager
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


class JetStream(ConsumerManager, Publisher, KeyValueManager, ObjectStoreManager,
                DataFrameWriter):
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
            raise errors.from_api_error(resp["error"], context)
        return resp

    # -- streams -------------------------------------------------------------------------------
    async def create_stream(self, config: StreamConfig | None = None, /,
                            **fields: Any) -> Stream:
        """Create a stream; identical config is a no-op, a different one raises
        :class:`~jsdata.errors.StreamNameAlreadyInUseError`."""
        cfg = make_config(StreamConfig, config, **fields)
        names.stream_name(cfg.name)
        resp = await self._api(f"STREAM.CREATE.{cfg.name}", cfg.to_json())
        return Stream(self, StreamInfo.from_json(resp))

    async def update_stream(self, config: StreamConfig | None = None, /,
                            **fields: Any) -> Stream:
        """Update an existing stream's configuration."""
        cfg = make_config(StreamConfig, config, **fields)
        names.stream_name(cfg.name)
        resp = await self._api(f"STREAM.UPDATE.{cfg.name}", cfg.to_json())
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
                  creds: str | None = None, nkeys_seed: str | None = None, tls: Any = None,
                  name: str | None = None, domain: str | None = None,
                  api_prefix: str | None = None, timeout: float | timedelta = DEFAULT_TIMEOUT,
                  publish_async_max_pending: int = 4000, url: str | None = None,
                  **nats_options: Any) -> JetStream:
    """Connect and return the asyncio JetStream context.

    With no ``servers``, JSDATA_URL / NATS_URL are used, else the default embedded server
    (started on first use, shared by every process of the user).
    """
    servers = servers or url or env_url()
    if not servers:
        from .server import default_server_url
        servers = default_server_url()
    server_list = [servers] if isinstance(servers, str) else list(servers)
    server_list = [u for s in server_list for u in s.split(",") if u.strip()]
    display = ",".join(redact(u) for u in server_list)
    nc = Connection()
    opts = connect_options(user=user, password=password, token=token, creds=creds,
                           nkeys_seed=nkeys_seed, tls=tls, name=name or "jsdata")
    t = _seconds(timeout, DEFAULT_TIMEOUT)
    opts.setdefault("connect_timeout", max(t, 2.0))
    opts.setdefault("allow_reconnect", True)
    opts.setdefault("max_reconnect_attempts", -1)
    opts.setdefault("reconnect_time_wait", 0.5)

    async def _quiet(e: Exception) -> None:  # nats-py prints errors by default
        pass

    opts.setdefault("error_cb", _quiet)
    opts.update(nats_options)
    # nats-py retries the *initial* connect forever with max_reconnect_attempts=-1 (a wrong
    # password or a dead URL would hang): connect with a bounded attempt count, then switch
    # to the requested reconnect behaviour for the life of the connection.
    reconnect = {k: opts[k] for k in ("allow_reconnect", "max_reconnect_attempts")}
    connect_errors: list[Exception] | None = []
    user_error_cb = opts["error_cb"]

    async def _error_cb(e: Exception) -> None:
        if connect_errors is not None:
            connect_errors.append(e)
        await user_error_cb(e)

    initial = {**opts, "allow_reconnect": False, "max_reconnect_attempts": 1,
               "error_cb": _error_cb}
    try:
        await nc.connect(servers=server_list, **initial)
    except Exception as e:  # nats-py raises several unrelated types here
        with contextlib.suppress(Exception):
            await nc.close()
        if isinstance(e, nats.errors.NoServersError) and connect_errors:
            e = connect_errors[-1]  # say why (refused, auth, ...), not just "no servers"
        msg = str(e) or e.__class__.__name__
        for s in server_list:  # never leak credentials embedded in URLs
            msg = msg.replace(s, redact(s))
        for secret in (password, token):
            if secret:
                msg = msg.replace(secret, "***")
        raise errors.JetStreamConnectionError(f"could not connect to {display}: {msg}") from None
    nc.options.update(reconnect)
    connect_errors = None
    js = JetStream(nc, domain=domain, api_prefix=api_prefix, timeout=t,
                   publish_async_max_pending=publish_async_max_pending, display_url=display)
    await js._mux.start()
    return js
