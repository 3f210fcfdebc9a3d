"""The core asyncio JetStream context: opening the connection and stream management.

``JetStream`` is the core's composition (as nats.go's ``JetStream`` interface): the
``Context`` plumbing, consumer management and publishing. The user-facing
``jsdata.aio.JetStream`` adds key-value, object stores and DataFrames on top
(``jsdata._api``); handles are made through ``stream_class`` and the consumer manager's
class attributes, which the assembled class points at its own handle classes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

import nats.errors

from .. import errors
from .._util import seconds
from . import names
from ._conn import Connection, connect_options, redact
from ._model import make_config
from .config import StreamConfig
from .consumer_manager import ConsumerManager
from .context import DEFAULT_TIMEOUT
from .info import AccountInfo, StreamInfo
from .publish import Publisher
from .stream import Stream

J = TypeVar("J", bound="JetStream")


class JetStream(ConsumerManager, Publisher):
    """A JetStream context on one connection: streams, consumers, publishing.

    Create it with :func:`jsdata.aio.connect`; use ``async with`` or :meth:`close`.
    """

    stream_class: ClassVar[type[Stream]] = Stream

    def __init__(self, nc: Connection, *, domain: str | None = None,
                 api_prefix: str | None = None, timeout: float | timedelta = DEFAULT_TIMEOUT,
                 publish_async_max_pending: int = 4000, owns_connection: bool = True,
                 display_url: str = "") -> None:
        super().__init__(nc, domain=domain, api_prefix=api_prefix, timeout=timeout)
        self._owns_connection = owns_connection
        self._display_url = display_url
        self._closed = False
        self._init_publisher(publish_async_max_pending)

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
        await self._cancel_tasks()
        await self._mux.close()
        if self._owns_connection and not self.nc.is_closed:
            try:
                await self.nc.close()
            except (OSError, nats.errors.Error):
                # nats-py flushes its reconnect buffer into a transport that may be dead
                # (server gone): the connection is closed all the same.
                pass

    async def __aenter__(self: J) -> J:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- streams -------------------------------------------------------------------------------
    async def create_stream(self, config: StreamConfig | None = None, /,
                            **fields: Any) -> Stream:
        """Create a stream; identical config is a no-op, a different one raises
        :class:`~jsdata.errors.StreamNameAlreadyInUseError`."""
        cfg = make_config(StreamConfig, config, **fields)
        names.stream_name(cfg.name)
        resp = await self._api(f"STREAM.CREATE.{cfg.name}", cfg.to_json())
        return self.stream_class(self, StreamInfo.from_json(resp))

    async def update_stream(self, config: StreamConfig | None = None, /,
                            **fields: Any) -> Stream:
        """Update an existing stream's configuration."""
        cfg = make_config(StreamConfig, config, **fields)
        names.stream_name(cfg.name)
        resp = await self._api(f"STREAM.UPDATE.{cfg.name}", cfg.to_json())
        return self.stream_class(self, StreamInfo.from_json(resp))

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
        return self.stream_class(self, StreamInfo.from_json(resp))

    async def stream_info(self, name: str, **opts: Any) -> StreamInfo:
        s = await self.stream(name)
        return await s.info(**opts) if opts else s.cached_info()

    async def delete_stream(self, name: str) -> None:
        """Delete a stream and all its messages and consumers."""
        names.stream_name(name)
        await self._api(f"STREAM.DELETE.{name}")

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


async def open_context(cls: type[J], servers: str | Sequence[str], *, user: str | None = None,
                       password: str | None = None, token: str | None = None,
                       creds: str | None = None, nkeys_seed: str | None = None,
                       tls: Any = None, name: str | None = None, domain: str | None = None,
                       api_prefix: str | None = None,
                       timeout: float | timedelta = DEFAULT_TIMEOUT,
                       publish_async_max_pending: int = 4000, **nats_options: Any) -> J:
    """Connect to ``servers`` and return a started ``cls`` context on the connection.

    The public :func:`jsdata.aio.connect` resolves the servers (JSDATA_URL / NATS_URL, the
    default embedded server) and names the assembled class.
    """
    server_list = [servers] if isinstance(servers, str) else list(servers)
    server_list = [u for s in server_list for u in s.split(",") if u.strip()]
    display = ",".join(redact(u) for u in server_list)
    nc = Connection()
    opts = connect_options(user=user, password=password, token=token, creds=creds,
                           nkeys_seed=nkeys_seed, tls=tls, name=name or "jsdata")
    t = seconds(timeout, DEFAULT_TIMEOUT)
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
    js = cls(nc, domain=domain, api_prefix=api_prefix, timeout=t,
             publish_async_max_pending=publish_async_max_pending, display_url=display)
    await js._mux.start()
    return js
