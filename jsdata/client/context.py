"""``Context``: what every core handle depends on - the connection and its JetStream API.

A stream, consumer, watcher, bucket or object store holds a ``Context`` (``self._js``), never
a particular ``JetStream`` class: the user-facing ``JetStream`` is assembled at the top
(``jsdata._api``) from the core and the data layer, so the core cannot name it without an
import cycle. This is the small interface nats.go gives each sub-API through its
``jetStream`` struct: the connection (``nc``), the API prefix and domain, the default
timeout, one API request (``_api``, typed errors), the reply multiplexer for raw requests
(``_mux``) and background tasks owned by the context (``_spawn``, cancelled on close).

The members are underscored where they are plumbing: the blocking twin of ``JetStream``
mirrors every public name, and these are no part of the user's API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from typing import Any

from .. import errors
from .._util import seconds
from . import features
from ._conn import Connection, ReplyMux, status_of
from .connect_options import DEFAULT_RESUME_WINDOW, DEFAULT_TIMEOUT


class Context:
    """One connection's JetStream API: requests, raw replies, owned background tasks."""

    def __init__(self, nc: Connection, *, domain: str | None = None,
                 api_prefix: str | None = None,
                 timeout: float | timedelta = DEFAULT_TIMEOUT,
                 resume_window: float | timedelta = DEFAULT_RESUME_WINDOW) -> None:
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
        self.timeout: float = seconds(timeout, DEFAULT_TIMEOUT)
        # how long a read rides out a dropped connection (jsdata.client.resume.ConnWatch)
        self.resume_window: float = seconds(resume_window, DEFAULT_RESUME_WINDOW)
        self._mux = ReplyMux(nc)
        self._tasks: set[asyncio.Task[Any]] = set()

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
        """The subject of JetStream API call ``suffix`` (``STREAM.INFO.ORDERS``)."""
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

    async def _paged(self, suffix: str, key: str, payload: dict[str, Any]
                     ) -> AsyncIterator[Any]:
        """Every item of a paged list response (``offset`` / ``total``)."""
        offset = 0
        while True:
            resp = await self._api(suffix, {**payload, "offset": offset})
            items = resp.get(key) or []
            for it in items:
                yield it
            offset += len(items)
            if not items or offset >= resp.get("total", 0):
                return

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run a background task owned by this context (cancelled on close)."""
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    async def _cancel_tasks(self) -> None:
        """Cancel the background tasks and wait until they ended."""
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
