"""Batch direct get: many stored messages per request, straight from the stream's replicas.

``{"seq": s, "batch": n, "max_bytes": m, "next_by_subj": f}`` on ``DIRECT.GET.<stream>``
(nats-server 2.11+, ADR-31) answers with up to ``n`` messages, each with ``Nats-Sequence``
and ``Nats-Num-Pending`` headers, then an end-of-batch status without a body: ``204`` (its
``Nats-Num-Pending`` says how many match after the batch) or ``404`` (nothing matched).
The DataFrame reader and object files both fetch this way, through :class:`BatchGetter`.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from .. import errors
from ._conn import new_token, status_of

if TYPE_CHECKING:
    from .context import Context


class BatchGetter:
    """Batch direct gets from one stream on one inbox (fast path, raw bytes, no Msg objects).

    ``await get(request)`` returns ``(headers, payloads, code, description, end_header)``:
    the raw header blocks and payloads of the messages, in stream order, and the status that
    ended the batch (204 or 404; any other status is raised as :class:`APIError`, 503 - no
    stream answers - as ``gone``).
    """

    def __init__(self, js: Context, stream: str,
                 gone: type[errors.JetStreamError] = errors.StreamNotFoundError) -> None:
        self.js = js
        self.stream = stream
        self._gone = gone
        self._subject = js.api_subject(f"DIRECT.GET.{stream}")
        self._inbox = f"_INBOX.{new_token()}"
        self._sub: Any = None
        self._hdrs: list[bytes] = []
        self._datas: list[bytes] = []
        self._end: asyncio.Future[tuple[int, str, bytes]] | None = None

    async def start(self) -> None:
        self.js.nc.check_open()
        self._sub = await self.js.nc.fast_subscribe(self._inbox, self._on_msg)

    async def close(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await self.js.nc.fast_unsubscribe(sub)

    async def __aenter__(self) -> BatchGetter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _on_msg(self, subject: bytes, reply: bytes, data: bytes, hdr: bytes) -> None:
        if not data and hdr:
            st = status_of(hdr)
            if st is not None:
                end = self._end
                if end is not None and not end.done():
                    end.set_result((st[0], st[1], hdr))
                return
        self._hdrs.append(hdr)
        self._datas.append(data)

    async def get(self, request: dict[str, Any], timeout: float | None = None
                  ) -> tuple[list[bytes], list[bytes], int, str, bytes]:
        """One batch; waits until the end-of-batch status, timing out only when nothing
        arrives for ``timeout`` seconds (default: the context's)."""
        timeout = timeout or self.js.timeout
        self._hdrs, self._datas = [], []
        self._end = asyncio.get_running_loop().create_future()
        await self.js.nc.publish_raw(self._subject, self._inbox,
                                     json.dumps(request, separators=(",", ":")).encode())
        try:
            code, desc, hdr = await self._wait(timeout)
        finally:
            end, self._end = self._end, None
            if end is not None and not end.done():
                end.cancel()
        hdrs, datas = self._hdrs, self._datas
        self._hdrs, self._datas = [], []
        if code == 503:
            raise self._gone(f"no stream {self.stream!r} answered the direct get (deleted?)",
                             code=503)
        if code not in (204, 404):
            raise errors.APIError(f"direct get from {self.stream!r} failed: {code} {desc}",
                                  code=code)
        return hdrs, datas, code, desc, hdr

    async def _wait(self, timeout: float) -> tuple[int, str, bytes]:
        assert self._end is not None
        seen = -1
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(self._end), timeout)
            except asyncio.TimeoutError:
                if len(self._datas) == seen:
                    raise errors.APITimeoutError(
                        f"direct get from {self.stream!r}: no reply within {timeout:g}s"
                    ) from None
                seen = len(self._datas)
