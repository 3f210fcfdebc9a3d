"""Batch direct get (nats-server 2.11+, streams with ``allow_direct``; ADR-31), once.

One ``$JS.API.DIRECT.GET.<stream>`` request answers with many stored messages on one reply
subject, each with its metadata in ``Nats-*`` headers (``Nats-Sequence``,
``Nats-Num-Pending``, ...), and ends with a status without a body: ``204 EOB`` (end of
batch; also carries ``Nats-Num-Pending`` / ``Nats-Last-Sequence``), ``404`` (no results),
``408`` (bad request), ``413`` (too many results). The server stops a batch early once
``max_bytes`` are sent and still ends it with ``204``, so the end is always explicit.

:class:`BatchGetter` is the primitive (the DataFrame reader, object files and the methods
below all fetch through it); ``Stream.get_batch`` / ``get_last_msgs_for`` are orbit.go's
``jetstreamext.GetBatch`` / ``GetLastMsgsFor``.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from functools import partial
from typing import TYPE_CHECKING, Any

from .. import errors
from . import names
from ._conn import status_of
from .headers import header_int
from .message import RawStreamMsg, raw_from_direct
from .resume import STALLS
from .times import format_time

if TYPE_CHECKING:
    from .context import Context
    from .info import StreamInfo
    from .resume import ConnWatch

MAX_BATCH = 1000  # what nats-server caps one request's batch at


class BatchGetter:
    """Batch direct gets from one stream (fast path, raw bytes, no Msg objects): the one
    request loop of jsdata's batched direct gets.

    ``await get(request)`` returns ``(headers, payloads, code, description, end_header)``:
    the raw header blocks and payloads of the messages, in stream order, and the status that
    ended the batch (204 or 404; any other status is raised as :class:`APIError`, 503 - no
    stream answers - as ``gone``).

    Without ``watch``, a request times out when nothing arrives for the timeout. With a
    :class:`~jsdata.client.resume.ConnWatch` (the readers that resume: DataFrame reads,
    object files), a request lost with the connection, or one that goes silent while
    connected, is sent again for the rest - from the sequence after the last message
    received, to a fresh inbox so nothing the old request still sends is counted twice -
    and the batch returned is the whole of it; ``resumes`` counts those re-sends, and
    :data:`~jsdata.client.resume.STALLS` silent requests in a row raise the watch's
    ``interrupted`` error. ``received`` is what the request in flight has gathered so far
    (for that error's message).
    """

    def __init__(self, js: Context, stream: str,
                 gone: type[errors.JetStreamError] = errors.StreamNotFoundError,
                 what: str = "direct get", watch: ConnWatch | None = None) -> None:
        self.js = js
        self.stream = stream
        self._gone = gone
        self._what = what
        self._watch = watch
        self._subject = js.api_subject(f"DIRECT.GET.{stream}")
        self._inbox = ""
        self._sub: Any = None
        self._hdrs: list[bytes] = []
        self._datas: list[bytes] = []
        self._end: asyncio.Future[tuple[int, str, bytes]] | None = None
        self._drops = 0  # the watch's disconnect count when the request in flight was sent
        self.resumes = 0
        self.received: list[bytes] = []  # header blocks received for the request in flight

    async def start(self) -> None:
        self.js.nc.check_open()
        await self._subscribe()

    async def _subscribe(self) -> None:
        """A fresh inbox: replies to an abandoned request cannot reach the next one."""
        await self.close()
        nc = self.js.nc
        self._inbox = nc.inbox()
        if self._watch is None:
            self._sub = await nc.fast_subscribe(self._inbox, self._on_msg)
        else:
            self._sub = await self._watch.retry(
                partial(nc.fast_subscribe, self._inbox, self._on_msg), "subscribing")

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
        if self._watch is not None and self._watch.drops != self._drops:
            return  # the rest of a request cut by a disconnect: it is asked for again
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
        hdrs: list[bytes] = []
        datas: list[bytes] = []
        self.received = hdrs
        want = int(request.get("batch") or 1)
        req = request
        stalls = 0
        while True:
            before = len(datas)
            code, desc, hdr = await self._one(req, timeout, hdrs, datas)
            if code >= 0:
                break
            # lost with the connection (-1) or silent (-2): keep what arrived, ask again
            self.resumes += 1
            if code == -1 or len(datas) > before:
                stalls = 0  # only requests silent from the start, in a row, count
            if code == -2:
                stalls += 1
                if stalls >= STALLS:
                    assert self._watch is not None
                    raise self._watch.interrupted(
                        f"{STALLS} request(s) in a row got no reply within {timeout:g}s")
            await self._subscribe()
            if len(datas) >= want:  # all there, only the end status was lost
                code, desc, hdr = 204, "EOB", hdrs[-1]
                break
            if datas:
                req = {k: v for k, v in request.items() if k != "start_time"}
                req["seq"] = header_int(hdrs[-1], b"Nats-Sequence") + 1
                req["batch"] = want - len(datas)
        self.received = []
        if code in (204, 404):
            return hdrs, datas, code, desc, hdr
        what = f"{self._what} on stream {self.stream!r}"
        if code == 413:
            raise errors.InvalidArgumentError(
                f"{what}: too many results ({code} {desc}); narrow the subjects or set "
                "up_to_seq / up_to_time", code=code)
        if code == 503:
            raise self._gone(f"{what}: no stream answered (deleted?)", code=503)
        raise errors.APIError(f"{what} failed: {code} {desc}", code=code)

    async def _one(self, req: dict[str, Any], timeout: float, hdrs: list[bytes],
                   datas: list[bytes]) -> tuple[int, str, bytes]:
        """Send one request and gather its replies onto ``hdrs`` / ``datas``: its end
        status, or code -1 (the connection came back: ask again) / -2 (silent)."""
        nc = self.js.nc
        self._hdrs, self._datas = hdrs, datas
        end = self._end = asyncio.get_running_loop().create_future()
        body = json.dumps(req, separators=(",", ":")).encode()
        watch = self._watch

        def denied(err: errors.PermissionDeniedError) -> None:
            if not end.done():  # the user may not read this stream directly: say so now
                end.set_exception(err)

        unwatch = nc.watch_denial("publish", self._subject, denied)
        try:
            if watch is None:
                await nc.publish_raw(self._subject, self._inbox, body)
                return await self._wait(end, timeout)
            epoch = watch.epoch
            self._drops = watch.drops
            await watch.retry(partial(nc.publish_raw, self._subject, self._inbox, body),
                              "sending a direct get")
            how = await watch.wait(end, epoch, datas.__len__)
            if how == "done":
                return end.result()
            return (-1 if how == "reconnected" else -2), how, b""
        finally:
            unwatch()
            self._end = None
            if not end.done():
                end.cancel()
            self._hdrs, self._datas = [], []

    async def _wait(self, end: asyncio.Future[tuple[int, str, bytes]], timeout: float
                    ) -> tuple[int, str, bytes]:
        seen = -1
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(end), timeout)
            except asyncio.TimeoutError:
                if len(self._datas) == seen:
                    raise errors.APITimeoutError(
                        f"{self._what} on stream {self.stream!r}: no reply within "
                        f"{timeout:g}s") from None
                seen = len(self._datas)


async def direct_batch(stream: DirectMethods, req: dict[str, Any], what: str
                       ) -> list[tuple[bytes, bytes]]:
    """Send one batched direct get to ``stream`` and gather its replies:
    [(payload, header block)]. ``what`` names the call in errors."""
    js = stream._js
    if not stream._info.config.allow_direct:
        raise errors.InvalidConfigError(
            f"{what}: stream {stream.name!r} does not allow direct get (create it with "
            "allow_direct=True)")
    js._require("batch direct get")
    async with BatchGetter(js, stream.name, what=what) as getter:
        hdrs, datas, _, _, _ = await getter.get(req)
    return list(zip(datas, hdrs, strict=True))


def _int(name: str, v: Any, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise errors.InvalidArgumentError(f"{name} must be an int >= {minimum}, got {v!r}")
    return v


def _time(name: str, v: Any) -> str:
    if not isinstance(v, datetime.datetime):
        raise errors.InvalidArgumentError(f"{name} must be a datetime, got {v!r}")
    return format_time(v if v.tzinfo else v.replace(tzinfo=datetime.timezone.utc))


class DirectMethods:
    """``Stream.get_batch`` and ``Stream.get_last_msgs_for`` (mixed into ``Stream``)."""

    _js: Context
    _info: StreamInfo
    name: str

    async def get_batch(self, batch: int = 100,
                        seq: int | None = None, subject: str | None = None,
                        start_time: datetime.datetime | None = None,
                        max_bytes: int | None = None) -> list[RawStreamMsg]:
        """Up to ``batch`` messages in stream order in one request: from sequence ``seq``
        (default: the first) or from ``start_time``, only those on ``subject`` (wildcards
        allowed) when given, stopping once ``max_bytes`` are sent."""
        req: dict[str, Any] = {"batch": _int("batch", batch, 1)}
        if batch > MAX_BATCH:
            raise errors.InvalidArgumentError(f"batch must be <= {MAX_BATCH}, got {batch}")
        if seq is not None and start_time is not None:
            raise errors.InvalidArgumentError("get_batch: give seq or start_time, not both")
        if start_time is not None:
            req["start_time"] = _time("start_time", start_time)
        else:
            req["seq"] = _int("seq", seq, 1) if seq is not None else 1
        if subject is not None:
            req["next_by_subj"] = names.filter_subject(subject)
        if max_bytes is not None:
            req["max_bytes"] = _int("max_bytes", max_bytes, 1)
        got = await direct_batch(self, req, "get_batch")
        return [raw_from_direct(d, h) for d, h in got]

    async def get_last_msgs_for(self, subjects: list[str] | str,
                                up_to_seq: int | None = None,
                                up_to_time: datetime.datetime | None = None
                                ) -> dict[str, RawStreamMsg]:
        """The newest message of every subject matching ``subjects`` (wildcards allowed) in
        one request, as of sequence ``up_to_seq`` or of the messages stored before time
        ``up_to_time`` (default: the whole stream):
        {subject: message}, in stream order."""
        if isinstance(subjects, str):
            subjects = [subjects]
        if not subjects:
            raise errors.InvalidArgumentError("get_last_msgs_for: give at least one subject")
        js = self._js
        js._require("multi-subject last-message get")
        req: dict[str, Any] = {"multi_last": [names.filter_subject(s) for s in subjects]}
        if up_to_seq is not None and up_to_time is not None:
            raise errors.InvalidArgumentError(
                "get_last_msgs_for: give up_to_seq or up_to_time, not both")
        if up_to_seq is not None:
            req["up_to_seq"] = _int("up_to_seq", up_to_seq, 1)
        if up_to_time is not None:
            req["up_to_time"] = _time("up_to_time", up_to_time)
        got = await direct_batch(self, req, "get_last_msgs_for")
        out: dict[str, RawStreamMsg] = {}
        for d, h in got:
            m = raw_from_direct(d, h)
            out[m.subject] = m
        return out
