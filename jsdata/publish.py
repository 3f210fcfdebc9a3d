"""Publishing to streams: ``publish`` (awaits the ack) and ``publish_async`` (pipelined).

Async publishes share the connection's reply multiplexer: one wildcard inbox, a token per
message. At most ``publish_async_max_pending`` acks are outstanding; past that a publish
waits up to ``stall_wait`` for room, then raises TooManyStalledMsgsError (as in Go).
Every future resolves: with its PubAck, its error, or a timeout after ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Generator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from . import errors, names
from ._conn import status_of
from .headers import Headers, HeadersInput, encode_headers
from .info import PubAck
from .message import Data, Msg, to_bytes

if TYPE_CHECKING:
    from .jetstream import JetStream

STALL_WAIT = 0.2  # seconds a publish_async waits for room before TooManyStalledMsgsError


def _ttl_value(ttl: float | timedelta | str) -> str:
    if isinstance(ttl, str):
        return ttl
    secs = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    if secs < 1 or secs != int(secs):
        raise errors.InvalidArgumentError(f"ttl must be a whole number of seconds >= 1: {ttl!r}")
    return f"{int(secs)}s"


def build_headers(headers: HeadersInput, msg_id: str | None, expect_stream: str | None,
                  expect_last_sequence: int | None,
                  expect_last_sequence_per_subject: int | None,
                  expect_last_msg_id: str | None,
                  ttl: float | timedelta | str | None) -> bytes:
    """The header block for a publish with its expectations (b"" when none)."""
    if (headers is None and msg_id is None and expect_stream is None
            and expect_last_sequence is None and expect_last_sequence_per_subject is None
            and expect_last_msg_id is None and ttl is None):
        return b""
    h = Headers(headers)
    if msg_id is not None:
        h.set("Nats-Msg-Id", str(msg_id))
    if expect_stream is not None:
        h.set("Nats-Expected-Stream", expect_stream)
    if expect_last_sequence is not None:  # 0 is a real expectation: an empty stream
        h.set("Nats-Expected-Last-Sequence", str(int(expect_last_sequence)))
    if expect_last_sequence_per_subject is not None:
        h.set("Nats-Expected-Last-Subject-Sequence", str(int(expect_last_sequence_per_subject)))
    if expect_last_msg_id is not None:
        h.set("Nats-Expected-Last-Msg-Id", expect_last_msg_id)
    if ttl is not None:
        h.set("Nats-TTL", _ttl_value(ttl))
    return encode_headers(h)


def parse_ack(data: bytes) -> PubAck:
    """PubAck from the stream's reply, raising the typed error it carries."""
    try:
        d = json.loads(data)
    except ValueError:
        raise errors.APIError(f"invalid publish ack: {data[:200]!r}") from None
    if "error" in d:
        raise errors.from_api_error(d["error"])
    return PubAck.from_json(d)


class PubAckFuture:
    """The pending result of ``publish_async``: ``await f`` (asyncio) or ``f.result()``."""

    __slots__ = ("_fut", "msg", "_hdr", "_deadline", "_retries", "_retry_wait", "_tok")

    def __init__(self, fut: asyncio.Future[PubAck], msg: Msg, hdr: bytes, deadline: float,
                 retries: int, retry_wait: float) -> None:
        self._fut = fut
        self.msg = msg
        self._hdr = hdr
        self._deadline = deadline
        self._retries = retries
        self._retry_wait = retry_wait
        self._tok = b""

    def __await__(self) -> Generator[Any, None, PubAck]:
        return self._fut.__await__()

    def done(self) -> bool:
        return self._fut.done()

    def result(self) -> PubAck:
        """The PubAck (raises the publish error); only once done() in asyncio."""
        return self._fut.result()

    def exception(self) -> BaseException | None:
        return self._fut.exception() if self._fut.done() else None

    async def wait(self, timeout: float | None = None) -> PubAck:
        """Wait for the ack at most ``timeout`` seconds (the blocking ``result`` uses this)."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._fut), timeout)
        except asyncio.TimeoutError:
            raise errors.JetStreamTimeoutError("timed out waiting for the publish ack") from None

    def __repr__(self) -> str:
        state = "pending" if not self._fut.done() else (
            "failed" if self._fut.exception() else "acked")
        return f"<PubAckFuture {self.msg.subject} {state}>"


class Publisher:
    """Publishing methods of ``JetStream``."""

    def __init__(self, max_pending: int) -> None:
        if max_pending < 1:
            raise errors.InvalidArgumentError("publish_async_max_pending must be >= 1")
        self._pa_max = max_pending
        self._pa: dict[bytes, PubAckFuture] = {}
        self._pa_room: asyncio.Future[None] | None = None
        self._pa_empty: asyncio.Future[None] | None = None
        self._pa_sweeper: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run a background task owned by this context (awaited or cancelled on close)."""
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    # -- awaited publish -----------------------------------------------------------------------
    async def publish(self: JetStream, subject: str, data: Data | None = b"", *,  # type: ignore[misc]
                      headers: HeadersInput = None, msg_id: str | None = None,
                      expect_stream: str | None = None,
                      expect_last_sequence: int | None = None,
                      expect_last_sequence_per_subject: int | None = None,
                      expect_last_msg_id: str | None = None,
                      ttl: float | timedelta | str | None = None, retry_attempts: int = 2,
                      retry_wait: float = 0.25, timeout: float | None = None) -> PubAck:
        """Publish and wait for the stream's ack (retries while no stream responds)."""
        subject, payload, hdr, *_ = self._prepare_publish(
            subject, data, headers=headers, msg_id=msg_id, expect_stream=expect_stream,
            expect_last_sequence=expect_last_sequence,
            expect_last_sequence_per_subject=expect_last_sequence_per_subject,
            expect_last_msg_id=expect_last_msg_id, ttl=ttl)
        self.nc.check_open()
        for attempt in range(max(0, retry_attempts) + 1):
            rdata, rhdr = await self._mux.request(subject, payload, timeout or self.timeout, hdr)
            st = status_of(rhdr) if rhdr and not rdata else None
            if st is not None and st[0] == 503:
                if attempt < retry_attempts:
                    await asyncio.sleep(retry_wait)
                    continue
                raise errors.NoStreamResponseError(
                    f"no stream captures subject {subject!r} (no responders)", code=503)
            return parse_ack(rdata)
        raise AssertionError("unreachable")

    async def publish_msg(self, msg: Msg, **opts: Any) -> PubAck:
        """Publish a :class:`Msg` (subject, data, headers) and wait for the ack."""
        return await self.publish(msg.subject, msg.data,  # type: ignore[attr-defined]
                                  headers=msg._headers or (msg.headers if msg._hdr else None),
                                  **opts)

    # -- async publish -------------------------------------------------------------------------
    async def publish_async(self: JetStream, subject: str,  # type: ignore[misc]
                            data: Data | None = b"", *,
                            headers: HeadersInput = None, msg_id: str | None = None,
                            expect_stream: str | None = None,
                            expect_last_sequence: int | None = None,
                            expect_last_sequence_per_subject: int | None = None,
                            expect_last_msg_id: str | None = None,
                            ttl: float | timedelta | str | None = None, retry_attempts: int = 2,
                            retry_wait: float = 0.25, timeout: float | None = None
                            ) -> PubAckFuture:
        """Publish without waiting for the ack; returns a PubAckFuture."""
        return await self._publish_async_raw(*self._prepare_publish(
            subject, data, headers=headers, msg_id=msg_id, expect_stream=expect_stream,
            expect_last_sequence=expect_last_sequence,
            expect_last_sequence_per_subject=expect_last_sequence_per_subject,
            expect_last_msg_id=expect_last_msg_id, ttl=ttl, retry_attempts=retry_attempts,
            retry_wait=retry_wait, timeout=timeout))

    async def publish_msg_async(self, msg: Msg, **opts: Any) -> PubAckFuture:
        """Publish a :class:`Msg` without waiting for the ack."""
        return await self.publish_async(msg.subject, msg.data,  # type: ignore[attr-defined]
                                        headers=msg._headers or (
                                            msg.headers if msg._hdr else None), **opts)

    async def _publish_async_raw(self: JetStream, subject: str,  # type: ignore[misc]
                                 payload: bytes, hdr: bytes, headers: HeadersInput = None,
                                 retry_attempts: int = 2, retry_wait: float = 0.25,
                                 timeout: float | None = None) -> PubAckFuture:
        """Send a validated message asynchronously (writers call this directly)."""
        paf = self._new_paf(subject, payload, hdr, headers, retry_attempts, retry_wait,
                            timeout, asyncio.get_running_loop())
        await self._submit_paf(paf)
        return paf

    def _new_paf(self: JetStream, subject: str, payload: bytes,  # type: ignore[misc]
                 hdr: bytes, headers: HeadersInput, retry_attempts: int, retry_wait: float,
                 timeout: float | None, loop: asyncio.AbstractEventLoop) -> PubAckFuture:
        """A PubAckFuture for a message not sent yet (may be built off the loop thread)."""
        if self._closed:
            raise errors.ConnectionClosedError("the JetStream context is closed")
        fut: asyncio.Future[PubAck] = asyncio.Future(loop=loop)
        msg = Msg(subject, payload, headers)
        return PubAckFuture(fut, msg, hdr, time.monotonic() + (timeout or self.timeout),
                            max(0, retry_attempts), retry_wait)

    async def _submit_paf(self: JetStream, paf: PubAckFuture) -> None:  # type: ignore[misc]
        """Send a prepared async publish, waiting for room under max pending first."""
        if len(self._pa) >= self._pa_max:
            await self._wait_for_room()
        await self._send_async(paf)
        if self._pa_sweeper is None:
            self._pa_sweeper = asyncio.get_running_loop().call_later(0.25, self._sweep)

    def _prepare_publish(self, subject: str, data: Data | None = b"", *,
                         headers: HeadersInput = None, msg_id: str | None = None,
                         expect_stream: str | None = None,
                         expect_last_sequence: int | None = None,
                         expect_last_sequence_per_subject: int | None = None,
                         expect_last_msg_id: str | None = None,
                         ttl: float | timedelta | str | None = None, retry_attempts: int = 2,
                         retry_wait: float = 0.25, timeout: float | None = None
                         ) -> tuple[str, bytes, bytes, HeadersInput, int, float, float | None]:
        """Validate a publish and build its wire parts (no I/O; any thread)."""
        names.publish_subject(subject)
        hdr = build_headers(headers, msg_id, expect_stream, expect_last_sequence,
                            expect_last_sequence_per_subject, expect_last_msg_id, ttl)
        return subject, to_bytes(data), hdr, headers, retry_attempts, retry_wait, timeout

    async def _send_async(self: JetStream, paf: PubAckFuture) -> None:  # type: ignore[misc]
        reply, tok = self._mux.register(lambda d, h: self._on_async_ack(paf, d, h))
        paf._tok = tok
        self._pa[tok] = paf
        try:
            await self.nc.publish_raw(paf.msg.subject, reply, paf.msg.data, paf._hdr)
        except BaseException:
            self._pa.pop(tok, None)
            self._mux.forget(tok)
            self._pa_changed()
            raise

    def _on_async_ack(self: JetStream, paf: PubAckFuture, data: bytes,  # type: ignore[misc]
                      hdr: bytes) -> None:
        self._pa.pop(paf._tok, None)
        fut = paf._fut
        if fut.done():
            self._pa_changed()
            return
        if hdr and not data:
            st = status_of(hdr)
            if st is not None and st[0] == 503:
                if paf._retries > 0:
                    paf._retries -= 1
                    self._pa[paf._tok] = paf  # still pending while we wait to resend
                    asyncio.get_running_loop().call_later(
                        paf._retry_wait, lambda: self._spawn(self._resend(paf)))
                    return
                fut.set_exception(errors.NoStreamResponseError(
                    f"no stream captures subject {paf.msg.subject!r} (no responders)", code=503))
                self._pa_changed()
                return
        try:
            fut.set_result(parse_ack(data))
        except errors.JetStreamError as e:
            fut.set_exception(e)
        self._pa_changed()

    async def _resend(self: JetStream, paf: PubAckFuture) -> None:  # type: ignore[misc]
        self._pa.pop(paf._tok, None)
        if paf._fut.done():
            self._pa_changed()
            return
        try:
            await self._send_async(paf)
        except errors.JetStreamError as e:
            if not paf._fut.done():
                paf._fut.set_exception(e)

    def _pa_changed(self) -> None:
        n = len(self._pa)
        room = self._pa_room
        if room is not None and n < self._pa_max and not room.done():
            room.set_result(None)
        empty = self._pa_empty
        if n == 0 and empty is not None and not empty.done():
            empty.set_result(None)

    async def _wait_for_room(self, below: int | None = None) -> None:
        """Wait until fewer than ``below`` (default: max pending) acks are outstanding;
        TooManyStalledMsgsError if no ack arrives within the stall wait."""
        limit = self._pa_max if below is None else below
        while len(self._pa) >= limit:
            if self._pa_room is None or self._pa_room.done():
                self._pa_room = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._pa_room), STALL_WAIT)
            except asyncio.TimeoutError:
                raise errors.TooManyStalledMsgsError(
                    f"{len(self._pa)} async publishes outstanding (max {self._pa_max}); "
                    f"no ack within {STALL_WAIT}s") from None

    def _sweep(self: JetStream) -> None:  # type: ignore[misc]
        """Fail async publishes whose ack did not arrive in time (e.g. across a restart)."""
        self._pa_sweeper = None
        now = time.monotonic()
        expired = [p for p in self._pa.values() if p._deadline <= now]
        for p in expired:
            self._pa.pop(p._tok, None)
            self._mux.forget(p._tok)
            if not p._fut.done():
                p._fut.set_exception(errors.JetStreamTimeoutError(
                    f"no ack for the async publish to {p.msg.subject!r} in time"))
        if expired:
            self._pa_changed()
        if self._pa:
            self._pa_sweeper = asyncio.get_running_loop().call_later(0.25, self._sweep)

    def publish_async_pending(self) -> int:
        """How many async publishes await their ack."""
        return len(self._pa)

    async def publish_async_complete(self, timeout: float | None = None) -> None:
        """Wait until every async publish has resolved (JetStreamTimeoutError after
        ``timeout``)."""
        if not self._pa:
            return
        if self._pa_empty is None or self._pa_empty.done():
            self._pa_empty = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._pa_empty), timeout)
        except asyncio.TimeoutError:
            raise errors.JetStreamTimeoutError(
                f"{len(self._pa)} async publishes still pending after {timeout}s") from None

    async def _close_publisher(self: JetStream) -> None:  # type: ignore[misc]
        if self._pa_sweeper is not None:
            self._pa_sweeper.cancel()
            self._pa_sweeper = None
        for p in list(self._pa.values()):
            if not p._fut.done():
                p._fut.set_exception(errors.ConnectionClosedError(
                    "the connection closed before the publish was acknowledged"))
                p._fut.exception()  # mark retrieved: no "never retrieved" warnings
        self._pa.clear()
        self._pa_changed()
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
