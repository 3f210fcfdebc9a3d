"""Publishing to streams: ``publish`` (awaits the ack) and ``publish_async`` (pipelined).

Async publishes share the connection's reply multiplexer: one wildcard inbox, a token per
message. At most ``publish_async_max_pending`` acks are outstanding; past that a publish
waits up to ``stall_wait`` for room, then raises TooManyStalledMsgsError (as in Go).
Every future resolves: with its PubAck, its error, or a timeout after ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import errors, names
from ._conn import new_token, status_of
from .headers import Headers, HeadersInput, encode_headers
from .info import PubAck
from .message import Data, Msg, to_bytes
from .schedules import feature_of, with_schedule

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


_ACK_RE = re.compile(rb'\{"stream":"([^"\\]+)",(?:"domain":"([^"\\]*)",)?"seq":(\d+)'
                     rb'(,"duplicate":true)?\}')


def parse_ack(data: bytes) -> PubAck:
    """PubAck from the stream's reply, raising the typed error it carries."""
    m = _ACK_RE.fullmatch(data)
    if m is not None:  # the common shape, without the generic JSON model machinery
        ack = object.__new__(PubAck)
        stream, domain, seq, dup = m.groups()
        ack.__dict__.update(stream=stream.decode(), sequence=int(seq), duplicate=dup is not None,
                            domain=domain.decode() if domain is not None else None, value=None,
                            batch=None, count=None, extra={})
        return ack
    try:
        d = json.loads(data)
    except ValueError:
        raise errors.APIError(f"invalid publish ack: {data[:200]!r}") from None
    if "error" in d:
        raise errors.from_api_error(d["error"])
    return PubAck.from_json(d)


class PubAckFuture:
    """The pending result of ``publish_async``: ``await f`` (asyncio) or ``f.result()``.

    Resolved in place by the ack handler; an asyncio future is made only if someone waits
    before the ack arrived, which keeps the pipelined path cheap.
    """

    __slots__ = ("subject", "data", "headers", "_hdr", "_deadline", "_retries", "_retry_wait",
                 "_id", "_result", "_exc", "_fut", "_loop", "_done")
    subject: str
    data: bytes
    headers: HeadersInput

    def __init__(self, subject: str, data: bytes, headers: HeadersInput, hdr: bytes,
                 deadline: float, retries: int, retry_wait: float,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.subject = subject
        self.data = data
        self.headers = headers
        self._hdr = hdr
        self._deadline = deadline
        self._retries = retries
        self._retry_wait = retry_wait
        self._id = 0
        self._result: PubAck | None = None
        self._exc: BaseException | None = None
        self._fut: asyncio.Future[PubAck] | None = None
        self._loop = loop
        self._done = False

    @property
    def msg(self) -> Msg:
        """The message that was published."""
        return Msg(self.subject, self.data, self.headers)

    # resolution (on the loop thread) -----------------------------------------------------------
    def _set_result(self, ack: PubAck) -> None:
        if self._done:
            return
        self._result = ack
        self._done = True
        if self._fut is not None and not self._fut.done():
            self._fut.set_result(ack)

    def _set_exception(self, exc: BaseException) -> None:
        if self._done:
            return
        self._exc = exc
        self._done = True
        if self._fut is not None and not self._fut.done():
            self._fut.set_exception(exc)
            self._fut.exception()  # retrieved: no "never retrieved" noise if nobody awaits

    def _future(self) -> asyncio.Future[PubAck]:
        if self._fut is None:
            self._fut = self._loop.create_future()
            if self._done:
                if self._exc is not None:
                    self._fut.set_exception(self._exc)
                else:
                    self._fut.set_result(self._result)  # type: ignore[arg-type]
        return self._fut

    # the concurrent.futures-like surface -------------------------------------------------------
    def __await__(self) -> Generator[Any, None, PubAck]:
        if self._done:
            if self._exc is not None:
                raise self._exc
            return self._result  # type: ignore[return-value]
        return (yield from self._future().__await__())

    def done(self) -> bool:
        return self._done

    def result(self) -> PubAck:
        """The PubAck (raises the publish error); only once done() in asyncio."""
        if not self._done:
            raise asyncio.InvalidStateError("the publish is not acknowledged yet")
        if self._exc is not None:
            raise self._exc
        return self._result  # type: ignore[return-value]

    def exception(self) -> BaseException | None:
        return self._exc

    async def wait(self, timeout: float | None = None) -> PubAck:
        """Wait for the ack at most ``timeout`` seconds (the blocking ``result`` uses this)."""
        if self._done:
            return self.result()
        fut = self._future()
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            if fut.done():  # the publish's own (ack) timeout error, a TimeoutError too
                raise
            raise errors.JetStreamTimeoutError("timed out waiting for the publish ack") from None

    def __repr__(self) -> str:
        state = "pending" if not self._done else ("failed" if self._exc else "acked")
        return f"<PubAckFuture {self.subject} {state}>"


class Publisher:
    """Publishing methods of ``JetStream``."""

    def __init__(self, max_pending: int) -> None:
        if max_pending < 1:
            raise errors.InvalidArgumentError("publish_async_max_pending must be >= 1")
        self._pa_max = max_pending
        self._pa: dict[int, PubAckFuture] = {}
        self._pa_ids = itertools.count(1)
        self._pa_sub: Any = None
        self._pa_unwatch: Callable[[], None] | None = None  # stops _on_async_denied
        self._pa_starting: asyncio.Future[None] | None = None
        self._pa_prefix = ""
        self._pa_plen = 0
        self._pa_room: asyncio.Future[None] | None = None
        self._pa_empty: asyncio.Future[None] | None = None
        self._pa_sweeper: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._bulks: set[BulkPublisher] = set()

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
                      retry_wait: float = 0.25, timeout: float | None = None,
                      schedule: str | datetime | None = None,
                      schedule_target: str | None = None,
                      schedule_ttl: float | timedelta | str | None = None,
                      schedule_time_zone: str | None = None) -> PubAck:
        """Publish and wait for the stream's ack (retries while no stream responds).

        ``ttl``: this message's TTL (streams with ``allow_msg_ttl``). ``schedule``: publish
        a schedule instead (streams with ``allow_msg_schedules``; see
        :mod:`jsdata.schedules`) that publishes ``data`` to ``schedule_target`` when it
        fires, its messages with ``schedule_ttl``.
        """
        subject, payload, hdr, *_ = self._prepare_publish(
            subject, data, headers=headers, msg_id=msg_id, expect_stream=expect_stream,
            expect_last_sequence=expect_last_sequence,
            expect_last_sequence_per_subject=expect_last_sequence_per_subject,
            expect_last_msg_id=expect_last_msg_id, ttl=ttl, schedule=schedule,
            schedule_target=schedule_target, schedule_ttl=schedule_ttl,
            schedule_time_zone=schedule_time_zone)
        self.nc.check_open()
        for attempt in range(max(0, retry_attempts) + 1):
            wait = timeout or self.timeout
            try:
                rdata, rhdr = await self._mux.request(subject, payload, wait, hdr)
            except errors.APITimeoutError:
                raise errors.PublishTimeoutError(
                    f"no ack within {wait:g}s for the publish to {subject!r}"
                    f"{' (msg_id ' + repr(msg_id) + ')' if msg_id else ''}: "
                    f"{errors.RETRY_HINT}") from None
            st = status_of(rhdr) if rhdr and not rdata else None
            if st is not None and st[0] == 503:
                if attempt < retry_attempts:
                    await asyncio.sleep(retry_wait)
                    continue
                raise errors.NoStreamResponseError(
                    f"no stream captures subject {subject!r} (no responders)", code=503)
            return parse_ack(rdata)
        raise AssertionError("unreachable")

    async def publish_msg(self, msg: Msg, *, msg_id: str | None = None,
                          expect_stream: str | None = None,
                          expect_last_sequence: int | None = None,
                          expect_last_sequence_per_subject: int | None = None,
                          expect_last_msg_id: str | None = None,
                          ttl: float | timedelta | str | None = None, retry_attempts: int = 2,
                          retry_wait: float = 0.25, timeout: float | None = None) -> PubAck:
        """Publish a :class:`Msg` (subject, data, headers) and wait for the ack."""
        return await self.publish(  # type: ignore[attr-defined,misc]
            msg.subject, msg.data, headers=msg._headers or (msg.headers if msg._hdr else None),
            msg_id=msg_id, expect_stream=expect_stream,
            expect_last_sequence=expect_last_sequence,
            expect_last_sequence_per_subject=expect_last_sequence_per_subject,
            expect_last_msg_id=expect_last_msg_id, ttl=ttl, retry_attempts=retry_attempts,
            retry_wait=retry_wait, timeout=timeout)

    # -- async publish -------------------------------------------------------------------------
    async def publish_async(self: JetStream, subject: str,  # type: ignore[misc]
                            data: Data | None = b"", *,
                            headers: HeadersInput = None, msg_id: str | None = None,
                            expect_stream: str | None = None,
                            expect_last_sequence: int | None = None,
                            expect_last_sequence_per_subject: int | None = None,
                            expect_last_msg_id: str | None = None,
                            ttl: float | timedelta | str | None = None, retry_attempts: int = 2,
                            retry_wait: float = 0.25, timeout: float | None = None,
                            schedule: str | datetime | None = None,
                            schedule_target: str | None = None,
                            schedule_ttl: float | timedelta | str | None = None,
                            schedule_time_zone: str | None = None) -> PubAckFuture:
        """Publish without waiting for the ack; returns a PubAckFuture (options as
        :meth:`publish`)."""
        if (headers is None and msg_id is None and expect_stream is None and ttl is None
                and expect_last_sequence is None and expect_last_sequence_per_subject is None
                and expect_last_msg_id is None and schedule is None
                ):  # the common case, with fewer calls
            paf = self._new_paf(names.publish_subject(subject), to_bytes(data), b"", None,
                                retry_attempts, retry_wait, timeout, asyncio.get_running_loop())
            await self._submit_paf(paf)
            return paf
        return await self._publish_async_raw(*self._prepare_publish(
            subject, data, headers=headers, msg_id=msg_id, expect_stream=expect_stream,
            expect_last_sequence=expect_last_sequence,
            expect_last_sequence_per_subject=expect_last_sequence_per_subject,
            expect_last_msg_id=expect_last_msg_id, ttl=ttl, retry_attempts=retry_attempts,
            retry_wait=retry_wait, timeout=timeout, schedule=schedule,
            schedule_target=schedule_target, schedule_ttl=schedule_ttl,
            schedule_time_zone=schedule_time_zone))

    async def publish_msg_async(self, msg: Msg, *, msg_id: str | None = None,
                                expect_stream: str | None = None,
                                expect_last_sequence: int | None = None,
                                expect_last_sequence_per_subject: int | None = None,
                                expect_last_msg_id: str | None = None,
                                ttl: float | timedelta | str | None = None, retry_attempts: int = 2,
                                retry_wait: float = 0.25, timeout: float | None = None
                                ) -> PubAckFuture:
        """Publish a :class:`Msg` without waiting for the ack."""
        return await self.publish_async(  # type: ignore[attr-defined,misc]
            msg.subject, msg.data, headers=msg._headers or (msg.headers if msg._hdr else None),
            msg_id=msg_id, expect_stream=expect_stream,
            expect_last_sequence=expect_last_sequence,
            expect_last_sequence_per_subject=expect_last_sequence_per_subject,
            expect_last_msg_id=expect_last_msg_id, ttl=ttl, retry_attempts=retry_attempts,
            retry_wait=retry_wait, timeout=timeout)

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
        return PubAckFuture(subject, payload, headers, hdr,
                            time.monotonic() + (timeout or self.timeout),
                            retry_attempts if retry_attempts > 0 else 0, retry_wait, loop)

    async def _submit_paf(self: JetStream, paf: PubAckFuture) -> None:  # type: ignore[misc]
        """Send a prepared async publish, waiting for room under max pending first."""
        if len(self._pa) >= self._pa_max:
            await self._wait_for_room()
        if not self._pa_prefix:
            if self._pa_starting is None:
                self._pa_starting = asyncio.ensure_future(self._start_ack_sub())
            await asyncio.shield(self._pa_starting)
        await self._send_async(paf)
        if self._pa_sweeper is None:
            self._pa_sweeper = asyncio.get_running_loop().call_later(0.25, self._sweep)

    async def _start_ack_sub(self: JetStream) -> None:  # type: ignore[misc]
        """The one wildcard inbox every async publish's ack comes back on."""
        prefix = f"_INBOX.{new_token()}."
        try:
            self._pa_sub = await self.nc.fast_subscribe(prefix + "*", self._on_async_ack)
        except BaseException:
            self._pa_starting = None
            raise
        self._pa_prefix = prefix
        self._pa_plen = len(prefix)
        self._pa_unwatch = self.nc.add_denial_listener(self._on_async_denied)

    def _on_async_denied(self: JetStream, err: errors.PermissionDeniedError  # type: ignore[misc]
                         ) -> None:
        """The server denied a publish: fail the pending async publishes to that subject
        at once (they would only time out)."""
        if err.operation != "publish":
            return
        denied = [p for p in self._pa.values() if p.subject == err.subject]
        for p in denied:
            self._pa.pop(p._id, None)
            p._set_exception(errors.PermissionDeniedError(
                err.description, subject=err.subject, operation=err.operation))
        if denied:
            self._pa_changed()

    def _prepare_publish(self, subject: str, data: Data | None = b"", *,
                         headers: HeadersInput = None, msg_id: str | None = None,
                         expect_stream: str | None = None,
                         expect_last_sequence: int | None = None,
                         expect_last_sequence_per_subject: int | None = None,
                         expect_last_msg_id: str | None = None,
                         ttl: float | timedelta | str | None = None, retry_attempts: int = 2,
                         retry_wait: float = 0.25, timeout: float | None = None,
                         schedule: str | datetime | None = None,
                         schedule_target: str | None = None,
                         schedule_ttl: float | timedelta | str | None = None,
                         schedule_time_zone: str | None = None
                         ) -> tuple[str, bytes, bytes, HeadersInput, int, float, float | None]:
        """Validate a publish and build its wire parts (no I/O; any thread)."""
        names.publish_subject(subject)
        if schedule is not None:
            headers, pattern = with_schedule(headers, schedule, schedule_target, schedule_ttl,
                                             schedule_time_zone)
            self._require(feature_of(pattern))  # type: ignore[attr-defined]
        elif schedule_target is not None or schedule_ttl is not None:
            raise errors.InvalidArgumentError(
                "schedule_target / schedule_ttl need schedule= (a schedule pattern)")
        hdr = build_headers(headers, msg_id, expect_stream, expect_last_sequence,
                            expect_last_sequence_per_subject, expect_last_msg_id, ttl)
        return subject, to_bytes(data), hdr, headers, retry_attempts, retry_wait, timeout

    async def _send_async(self: JetStream, paf: PubAckFuture) -> None:  # type: ignore[misc]
        n = next(self._pa_ids)
        paf._id = n
        self._pa[n] = paf
        try:
            await self.nc.publish_raw(paf.subject, self._pa_prefix + str(n), paf.data, paf._hdr)
        except BaseException:
            self._pa.pop(n, None)
            self._pa_changed()
            raise

    def _on_async_ack(self: JetStream, subject: bytes, reply: bytes,  # type: ignore[misc]
                      data: bytes, hdr: bytes) -> None:
        try:
            paf = self._pa.pop(int(subject[self._pa_plen:]), None)
        except ValueError:
            return
        if paf is None or paf._done:
            return
        if hdr and not data:
            st = status_of(hdr)
            if st is not None and st[0] == 503:
                if paf._retries > 0:
                    paf._retries -= 1
                    self._pa[paf._id] = paf  # still pending while we wait to resend
                    asyncio.get_running_loop().call_later(
                        paf._retry_wait, lambda: self._spawn(self._resend(paf)))
                    return
                paf._set_exception(errors.NoStreamResponseError(
                    f"no stream captures subject {paf.subject!r} (no responders)", code=503))
                self._pa_changed()
                return
        try:
            paf._set_result(parse_ack(data))
        except errors.JetStreamError as e:
            paf._set_exception(e)
        if self._pa_room is not None or self._pa_empty is not None:
            self._pa_changed()

    async def _resend(self: JetStream, paf: PubAckFuture) -> None:  # type: ignore[misc]
        self._pa.pop(paf._id, None)
        if paf._done:
            self._pa_changed()
            return
        try:
            await self._send_async(paf)
        except errors.JetStreamError as e:
            paf._set_exception(e)
            self._pa_changed()

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
            self._pa.pop(p._id, None)
            p._set_exception(errors.PublishTimeoutError(
                f"no ack for the async publish to {p.subject!r} in time: {errors.RETRY_HINT}"))
        if expired:
            self._pa_changed()
        if self._pa:
            self._pa_sweeper = asyncio.get_running_loop().call_later(0.25, self._sweep)

    # -- bulk publish --------------------------------------------------------------------------
    async def _bulk_publisher(self: JetStream, window: int | None = None,  # type: ignore[misc]
                              timeout: float | None = None, retry_attempts: int = 2,
                              retry_wait: float = 0.25, stop_on_error: bool = True
                              ) -> BulkPublisher:
        """A started :class:`BulkPublisher` (its own ack inbox); ``window`` defaults to
        ``publish_async_max_pending``."""
        if self._closed:
            raise errors.ConnectionClosedError("the JetStream context is closed")
        self.nc.check_open()
        bp = BulkPublisher(self, min(window or self._pa_max, self._pa_max),
                           timeout or self.timeout, retry_attempts, retry_wait, stop_on_error)
        await bp._start()
        return bp

    async def _fast_batch_publisher(self: JetStream,  # type: ignore[misc]
                                    window: int | None = None, timeout: float | None = None,
                                    retry_attempts: int = 2, retry_wait: float = 0.25,
                                    flow: int = 500, outstanding_acks: int = 2,
                                    gap_ok: bool = False) -> FastBatchPublisher:
        """A started :class:`FastBatchPublisher` (ADR-50 fast ingest; the stream must have
        ``allow_batched``)."""
        if self._closed:
            raise errors.ConnectionClosedError("the JetStream context is closed")
        self.nc.check_open()
        bp = FastBatchPublisher(self, min(window or self._pa_max, self._pa_max),
                                timeout or self.timeout, retry_attempts, retry_wait, flow,
                                outstanding_acks, gap_ok)
        await bp._start()
        return bp

    async def _publish_batch(self: JetStream, subjects: str | Sequence[str],  # type: ignore[misc]
                             payloads: Sequence[bytes], hdrs: bytes | Sequence[bytes] = b"", *,
                             window: int | None = None, timeout: float | None = None,
                             retry_attempts: int = 2, retry_wait: float = 0.25,
                             stop_on_error: bool = False) -> BulkPublisher:
        """Publish many prepared messages pipelined and wait until each is resolved.

        Returns the finished :class:`BulkPublisher` with the aggregates (``acked``,
        ``first_seq``, ``last_seq``, ``duplicates``, ``stream``) and ``errors`` (message
        index -> typed error); subjects and headers are one for all or one per message.
        """
        bp = await self._bulk_publisher(window, timeout, retry_attempts, retry_wait,
                                        stop_on_error)
        try:
            await bp.send(subjects, payloads, hdrs)
        finally:
            await bp.finish()
        return bp

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
        if self._pa_unwatch is not None:
            self._pa_unwatch()
            self._pa_unwatch = None
        if self._pa_sub is not None:
            await self.nc.fast_unsubscribe(self._pa_sub)
            self._pa_sub = None
        for p in list(self._pa.values()):
            p._set_exception(errors.ConnectionClosedError(
                "the connection closed before the publish was acknowledged"))
        self._pa.clear()
        for b in list(self._bulks):
            b._fail_all(lambda i: errors.ConnectionClosedError(
                f"message {i}: the connection closed before the publish was acknowledged"))
            b._release()
        self._bulks.clear()
        self._pa_changed()
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


# ---------------------------------------------------------------------------------------------
# bulk publishing: many messages, lean bookkeeping


try:  # the C batch formatter (jsdata/_cparse.c); optional
    from ._cparse import pubs as _cpubs
except ImportError:
    _cpubs = None

_PUB = b"PUB %s %s%d %d\r\n%s\r\n"
_HPUB = b"HPUB %s %s%d %d %d\r\n%s%s\r\n"
_TICK = 0.25  # seconds between timeout sweeps of a bulk publisher
_BIG = 4096  # average payload size above which messages are queued in parts, not joined


def _redescribed(exc: BaseException, text: str) -> BaseException:
    """The same kind of error with the message ``text`` (falls back to ``exc``)."""
    if isinstance(exc, errors.JetStreamError):
        try:
            new = type(exc)(text, code=exc.code, err_code=exc.err_code)
        except Exception:  # noqa: BLE001 - a subclass with another signature
            return exc
        new.__cause__ = exc.__cause__
        return new
    return exc


def _renamed(exc: BaseException, prefix: str) -> BaseException:
    """The same kind of error with ``prefix`` in front of its message (falls back to exc)."""
    if isinstance(exc, errors.JetStreamError):
        return _redescribed(exc, f"{prefix}{exc.description}")
    return exc


class BulkPublisher:
    """Pipelined publishing of many messages with aggregate results (no per-message objects).

    Made by ``await js._bulk_publisher(...)``. ``await send(subjects, payloads, hdrs)`` gives
    the messages consecutive indices (returned: the first) and sends them with at most
    ``window`` unacknowledged; ``await finish()`` waits until every message is resolved.
    Every message resolves: acknowledged (counted in ``acked``, ``first_seq``/``last_seq``,
    ``duplicates``, ``stream``) or failed (``errors``: index -> typed error naming the
    message), including timeouts after ``timeout`` seconds and connection loss. A 503 (no
    responders) is retried ``retry_attempts`` times ``retry_wait`` apart. With
    ``stop_on_error`` nothing more is sent after the first failure.
    """

    native = True  # format batches with the C extension when it is built (tests switch it)

    def __init__(self, js: JetStream, window: int, timeout: float, retry_attempts: int,
                 retry_wait: float, stop_on_error: bool) -> None:
        self._js = js
        self._nc = js.nc
        self.window = max(1, window)
        self.timeout = timeout
        self.retry_attempts = max(0, retry_attempts)
        self.retry_wait = retry_wait
        self.stop_on_error = stop_on_error
        self.sent = 0  # messages handed to the connection: indices 0 .. sent-1
        self.resolved = 0  # acknowledged + failed
        self.acked = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.duplicates = 0
        self.stream: str | None = None
        self.errors: dict[int, BaseException] = {}
        self._done = bytearray()  # per message: 1 once resolved
        # spans of sent messages (start, end, sent_at, subjects, payloads, hdrs, offset) for
        # timeouts and resends; dropped once resolved
        self._spans: list[tuple[int, int, float, Any, Any, Any, int]] = []
        self._span_starts: list[int] = []
        self._lo = 0  # every message below is resolved
        self._tries: dict[int, int] = {}
        self._resend: list[int] = []
        self._resend_timer: asyncio.TimerHandle | None = None
        self._room: asyncio.Future[None] | None = None
        self._room_at = 0
        self._sub: Any = None
        self._prefix = b""
        self._plen = 0
        self._sweeper: asyncio.TimerHandle | None = None
        self._released = False

    # -- lifecycle -----------------------------------------------------------------------------
    async def _start(self) -> None:
        prefix = f"_INBOX.{new_token()}."
        self._sub = await self._nc.fast_subscribe(prefix + "*", self._on_ack)
        self._prefix = prefix.encode()
        self._plen = len(self._prefix)
        self._js._bulks.add(self)
        self._sweeper = asyncio.get_running_loop().call_later(_TICK, self._sweep)

    def _release(self) -> None:
        """Stop timers and forget the publisher (the subscription is dropped by finish)."""
        self._released = True
        for t in (self._sweeper, self._resend_timer):
            if t is not None:
                t.cancel()
        self._sweeper = self._resend_timer = None
        self._js._bulks.discard(self)
        self._spans.clear()
        self._span_starts.clear()
        self._wake()

    async def close(self) -> None:
        """Fail what is still unresolved and drop the ack subscription."""
        if self.outstanding:
            self._fail_all(lambda i: errors.JetStreamError(
                f"message {i}: the bulk publish was abandoned before its ack arrived"))
        self._release()
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await self._nc.fast_unsubscribe(sub)

    async def finish(self) -> None:
        """Wait until every sent message is acknowledged or failed, then close."""
        try:
            await self._wait_until(0)
        finally:
            await self.close()

    # -- state ---------------------------------------------------------------------------------
    @property
    def outstanding(self) -> int:
        """Messages sent and not resolved yet."""
        return self.sent - self.resolved

    @property
    def failed(self) -> bool:
        """Whether any message failed."""
        return bool(self.errors)

    def first_error(self) -> tuple[int, BaseException] | None:
        """(index, error) of the lowest failed message, if any."""
        if not self.errors:
            return None
        i = min(self.errors)
        return i, self.errors[i]

    # -- sending -------------------------------------------------------------------------------
    async def send(self, subjects: str | Sequence[str], payloads: Sequence[bytes],
                   hdrs: bytes | Sequence[bytes] = b"") -> int:
        """Send messages (one subject/header block for all, or one per message); returns
        the index of the first. Waits for room under the window; stops early after a
        failure when ``stop_on_error``."""
        if self._released:
            raise errors.JetStreamError("the bulk publisher is closed")
        n = len(payloads)
        base = self.sent
        self._check_sizes(payloads, hdrs, base)
        pos = 0
        step = max(1, self.window // 4)
        while pos < n:
            if self.errors and self.stop_on_error:
                break
            want = min(step, n - pos)
            if self.window - self.outstanding < want:
                await self._wait_until(self.window - want)
                continue
            k = min(self.window - self.outstanding, n - pos)
            self._write(subjects, payloads, hdrs, pos, pos + k)
            pos += k
            await self._nc.kick()
        return base

    def _check_sizes(self, payloads: Sequence[bytes], hdrs: bytes | Sequence[bytes],
                     base: int) -> None:
        limit = self._nc._max_payload
        if not payloads:
            return
        if isinstance(hdrs, bytes):
            if max(map(len, payloads)) + len(hdrs) <= limit:
                return
            sizes = [len(p) + len(hdrs) for p in payloads]
        else:
            sizes = [len(p) + len(h) for p, h in zip(payloads, hdrs, strict=True)]
            if max(sizes) <= limit:
                return
        i = next(j for j, s in enumerate(sizes) if s > limit)
        raise errors.MaxPayloadExceededError(
            f"message {base + i} of {sizes[i]} bytes exceeds the server's max_payload of "
            f"{limit} bytes")

    def _write(self, subjects: str | Sequence[str], payloads: Sequence[bytes],
               hdrs: bytes | Sequence[bytes], a: int, b: int) -> None:
        """Format messages a..b-1 of the arrays into one buffer and queue it."""
        nc = self._nc
        if nc.is_closed:
            raise errors.ConnectionClosedError("the connection is closed")
        start = self.sent
        prefix = self._prefix
        ps = payloads[a:b]
        idx = range(start, start + (b - a))
        nbytes = sum(map(len, ps))
        if nbytes > _BIG * (b - a):
            self._write_parts(subjects, payloads, hdrs, a, b, nbytes)
            return
        if _cpubs is not None and self.native:  # one C call formats the whole batch
            nc.queue_raw(_cpubs(subjects if isinstance(subjects, str) else subjects[a:b],
                                prefix, start, ps,
                                hdrs if isinstance(hdrs, bytes) else hdrs[a:b]))
            self._sent_span(subjects, payloads, hdrs, a, b, nbytes)
            return
        if isinstance(subjects, str):
            s = subjects.encode()
            if isinstance(hdrs, bytes):
                if hdrs:
                    h = hdrs
                    hl = len(h)
                    cmds = [_HPUB % (s, prefix, i, hl, hl + len(p), h, p)
                            for i, p in zip(idx, ps, strict=True)]
                else:
                    cmds = [_PUB % (s, prefix, i, len(p), p) for i, p in zip(idx, ps, strict=True)]
            else:
                cmds = [_HPUB % (s, prefix, i, len(h), len(h) + len(p), h, p) if h else
                        _PUB % (s, prefix, i, len(p), p)
                        for i, p, h in zip(idx, ps, hdrs[a:b], strict=True)]
        else:
            ss = [x.encode() for x in subjects[a:b]]
            if isinstance(hdrs, bytes):
                if hdrs:
                    h = hdrs
                    hl = len(h)
                    cmds = [_HPUB % (s, prefix, i, hl, hl + len(p), h, p)
                            for i, p, s in zip(idx, ps, ss, strict=True)]
                else:
                    cmds = [_PUB % (s, prefix, i, len(p), p)
                            for i, p, s in zip(idx, ps, ss, strict=True)]
            else:
                cmds = [_HPUB % (s, prefix, i, len(h), len(h) + len(p), h, p) if h else
                        _PUB % (s, prefix, i, len(p), p)
                        for i, p, s, h in zip(idx, ps, ss, hdrs[a:b], strict=True)]
        nc.queue_raw(b"".join(cmds))
        self._sent_span(subjects, payloads, hdrs, a, b, nbytes)

    def _write_parts(self, subjects: str | Sequence[str], payloads: Sequence[bytes],
                     hdrs: bytes | Sequence[bytes], a: int, b: int, nbytes: int) -> None:
        """Large messages: queue each message's parts as they are (the socket write joins
        them), so the payloads are copied once."""
        nc = self._nc
        ps = payloads[a:b]
        prefix = self._prefix
        start = self.sent
        ss = (itertools.repeat(subjects.encode()) if isinstance(subjects, str)
              else (x.encode() for x in subjects[a:b]))
        hs = itertools.repeat(hdrs) if isinstance(hdrs, bytes) else iter(hdrs[a:b])
        parts: list[bytes] = []
        add = parts.extend
        for i, p, s, h in zip(range(start, start + (b - a)), ps, ss, hs, strict=False):
            if h:
                add((b"HPUB %s %s%d %d %d\r\n" % (s, prefix, i, len(h), len(h) + len(p)), h, p,
                     b"\r\n"))
            else:
                add((b"PUB %s %s%d %d\r\n" % (s, prefix, i, len(p)), p, b"\r\n"))
        nc.queue_raw(*parts)
        self._sent_span(subjects, payloads, hdrs, a, b, nbytes)

    def _sent_span(self, subjects: str | Sequence[str], payloads: Sequence[bytes],
                   hdrs: bytes | Sequence[bytes], a: int, b: int, nbytes: int) -> None:
        start = self.sent
        stats = self._nc.stats
        stats["out_msgs"] += b - a
        stats["out_bytes"] += nbytes
        self._done.extend(bytes(b - a))
        self._spans.append((start, start + (b - a), time.monotonic(), subjects, payloads,
                            hdrs, a - start))
        self._span_starts.append(start)
        self.sent += b - a

    def _message(self, i: int) -> tuple[str, bytes, bytes] | None:
        k = bisect.bisect_right(self._span_starts, i) - 1
        if k < 0:
            return None
        start, end, _, subjects, payloads, hdrs, off = self._spans[k]
        if i >= end:
            return None
        j = i + off
        return (subjects if isinstance(subjects, str) else subjects[j], payloads[j],
                hdrs if isinstance(hdrs, bytes) else hdrs[j])

    # -- acks (loop thread) --------------------------------------------------------------------
    def _on_ack(self, subject: bytes, reply: bytes, data: bytes, hdr: bytes) -> None:
        try:
            i = int(subject[self._plen:])
        except ValueError:
            return
        done = self._done
        if i >= len(done) or done[i]:
            return
        m = _ACK_RE.fullmatch(data) if data else None
        if m is None:
            if hdr and not data:
                st = status_of(hdr)
                if st is not None and st[0] == 503:
                    tries = self._tries.get(i, 0)
                    if tries < self.retry_attempts and not self._released:
                        self._tries[i] = tries + 1
                        self._resend.append(i)
                        if self._resend_timer is None:
                            self._resend_timer = asyncio.get_running_loop().call_later(
                                self.retry_wait, self._do_resend)
                        return
                    msg = self._message(i)
                    subj = repr(msg[0]) if msg else "its subject"
                    self._fail(i, errors.NoStreamResponseError(
                        f"message {i}: no stream captures subject {subj} (no responders)",
                        code=503))
                    return
            try:
                ack = parse_ack(data)
            except errors.JetStreamError as e:
                self._fail(i, _renamed(e, f"message {i}: "))
                return
            stream: str | bytes = ack.stream
            seq, dup = ack.sequence, ack.duplicate
        else:
            stream = m.group(1)
            seq = int(m.group(3))
            dup = m.group(4) is not None
        done[i] = 1
        self.acked += 1
        self.resolved += 1
        if dup:
            self.duplicates += 1
        if self.last_seq is None:
            self.first_seq = self.last_seq = seq
            self.stream = stream.decode() if isinstance(stream, bytes) else stream
        elif seq > self.last_seq:
            self.last_seq = seq
        elif seq < self.first_seq:  # type: ignore[operator]
            self.first_seq = seq
        self._wake_if_room()

    def _fail(self, i: int, exc: BaseException) -> None:
        if self._done[i]:
            return
        self._done[i] = 1
        self.resolved += 1
        self.errors[i] = exc
        if self._room is not None:
            self._wake()

    def _fail_all(self, make: Any) -> None:
        done = self._done
        for i in range(self._lo, self.sent):
            if not done[i]:
                self._fail(i, make(i))
        self._lo = self.sent

    def _wake_if_room(self) -> None:
        """Wake a waiting sender once the outstanding count fell to what it waits for."""
        if self._room is not None and self.sent - self.resolved <= self._room_at:
            self._wake()

    def _wake(self) -> None:
        room = self._room
        if room is not None:
            self._room = None
            if not room.done():
                room.set_result(None)

    def _stop_waiting(self) -> bool:
        """True when a sender waiting for room should give up waiting."""
        return self._released

    async def _wait_until(self, outstanding: int) -> None:
        """Wait until at most ``outstanding`` messages are unresolved (the timeout sweep
        guarantees progress)."""
        while self.sent - self.resolved > outstanding:
            if self._stop_waiting():
                return
            if self._room is None:
                self._room = asyncio.get_running_loop().create_future()
            self._room_at = outstanding
            await self._room

    def _do_resend(self) -> None:
        self._resend_timer = None
        todo, self._resend = self._resend, []
        if self._released:
            return
        nc = self._nc
        for i in todo:
            if self._done[i]:
                continue
            msg = self._message(i)
            if msg is None:
                continue
            subj, payload, hdr = msg
            if hdr:
                cmd = _HPUB % (subj.encode(), self._prefix, i, len(hdr), len(hdr) + len(payload),
                               hdr, payload)
            else:
                cmd = _PUB % (subj.encode(), self._prefix, i, len(payload), payload)
            if nc.is_closed:
                self._fail(i, errors.ConnectionClosedError(
                    f"message {i}: the connection is closed"))
                continue
            try:
                nc.queue_raw(cmd)
            except errors.JetStreamError as e:
                self._fail(i, e)
        if not nc.is_closed:
            self._js._spawn(nc.kick())

    def _sweep(self) -> None:
        """Fail messages whose ack did not arrive within the timeout; drop resolved spans."""
        self._sweeper = None
        if self._released:
            return
        done = self._done
        lo = self._lo
        sent = self.sent
        while lo < sent and done[lo]:
            lo += 1
        self._lo = lo
        spans = self._spans
        drop = 0
        cutoff = time.monotonic() - self.timeout
        for start, end, t, *_ in spans:
            if end <= lo:
                drop += 1
                continue
            if t > cutoff:
                break
            for i in range(max(start, lo), end):
                if not done[i]:
                    self._fail(i, errors.JetStreamTimeoutError(
                        f"message {i}: no ack within {self.timeout:g}s"))
            drop += 1
        if drop:
            del spans[:drop]
            del self._span_starts[:drop]
        self._sweeper = asyncio.get_running_loop().call_later(_TICK, self._sweep)


class FastBatchPublisher(BulkPublisher):
    """ADR-50 fast-ingest batch publishing (streams with ``allow_batched``, server >= 2.14).

    Same surface as :class:`BulkPublisher`. Message 0 is an ordinary publish (its ack gives
    the stream and the first sequence, and a missing stream fails here); the others form one
    batch in "gap fail" mode: the server stores them in order, acknowledges only every N
    messages (N set by the server, at most ``flow``) and answers the end of the batch with
    one PubAck (last sequence, count). An error stops the batch: messages after the last
    confirmed one are reported failed (they may or may not have been stored).
    """

    def __init__(self, js: JetStream, window: int, timeout: float, retry_attempts: int = 2,
                 retry_wait: float = 0.25, flow: int = 500, outstanding_acks: int = 2,
                 gap_ok: bool = False) -> None:
        super().__init__(js, window, timeout, retry_attempts, retry_wait, True)
        self.gap_ok = gap_ok  # "ok" gap mode: a lost message does not stop the batch
        self.lost: list[int] = []  # batch sequences the server reported lost (gap_ok)
        self.flow = max(1, min(flow, 65535))
        self.outstanding_acks = max(1, outstanding_acks)
        self.count: int | None = None  # messages of the batch the server stored (final ack)
        self._msgs = 1  # the server's ack interval
        self._confirmed = 0  # highest batch sequence the server confirmed stored
        self._last_subject = ""
        self._reply: asyncio.Future[tuple[bytes, bytes]] | None = None  # first/start reply
        self._final: asyncio.Future[None] | None = None
        self._ended = False  # the server ended the batch (final PubAck or error)
        self._progress = 0.0
        self._pinged = 0.0
        self._id = ""

    async def _start(self) -> None:
        self._id = new_token(16)
        root = f"_INBOX.{self._id}"
        self._sub = await self._nc.fast_subscribe(root + ".>", self._on_ack)
        self._prefix = f"{root}.{self.flow}.{'ok' if self.gap_ok else 'fail'}.".encode()
        self._js._bulks.add(self)
        self._progress = time.monotonic()
        self._sweeper = asyncio.get_running_loop().call_later(_TICK, self._sweep)

    # -- sending -------------------------------------------------------------------------------
    def _queue(self, cmd: bytes, nmsgs: int, nbytes: int) -> None:
        self._nc.queue_raw(cmd, nmsgs=nmsgs, nbytes=nbytes)

    async def _kick(self) -> None:
        await self._nc.kick()

    def _one(self, subject: str, reply: bytes, payload: bytes, hdr: bytes) -> bytes:
        s = subject.encode()
        if hdr:
            return b"HPUB %s %s %d %d\r\n%s%s\r\n" % (s, reply, len(hdr), len(hdr) + len(payload),
                                                     hdr, payload)
        return b"PUB %s %s %d\r\n%s\r\n" % (s, reply, len(payload), payload)

    async def _request_one(self, i: int, subject: str, reply: bytes, payload: bytes,
                           hdr: bytes) -> tuple[bytes, bytes] | None:
        """Send message ``i`` alone and wait for its reply (503 retried); None on failure."""
        for attempt in range(self.retry_attempts + 1):
            self._reply = asyncio.get_running_loop().create_future()
            self._queue(self._one(subject, reply, payload, hdr), 1, len(payload))
            if i >= self.sent:
                self._done.extend(b"\0")
                self.sent = i + 1
            await self._kick()
            try:
                data, rhdr = await asyncio.wait_for(self._reply, self.timeout)
            except asyncio.TimeoutError:
                self._fail(i, errors.JetStreamTimeoutError(
                    f"message {i}: no ack within {self.timeout:g}s"))
                return None
            finally:
                self._reply = None
            if rhdr and not data:
                st = status_of(rhdr)
                if st is not None and st[0] == 503:
                    if attempt < self.retry_attempts:
                        await asyncio.sleep(self.retry_wait)
                        continue
                    self._fail(i, errors.NoStreamResponseError(
                        f"message {i}: no stream captures subject {subject!r} (no responders)",
                        code=503))
                    return None
            return data, rhdr
        return None

    async def send(self, subjects: str | Sequence[str], payloads: Sequence[bytes],
                   hdrs: bytes | Sequence[bytes] = b"") -> int:
        if self._released:
            raise errors.JetStreamError("the batch publisher is closed")
        n = len(payloads)
        base = self.sent
        if self._ended:  # the batch failed: nothing more is sent (see errors)
            return base
        self._check_sizes(payloads, hdrs, base)
        pos = 0
        while pos < n and not self.errors:
            i = self.sent
            subj: str = subjects if isinstance(subjects, str) else subjects[pos]
            hdr: bytes = hdrs if isinstance(hdrs, bytes) else hdrs[pos]
            if i == 0:  # an ordinary publish: stream, first sequence, missing stream
                r = await self._request_one(0, subj, f"_INBOX.{self._id}.p".encode(),
                                            payloads[pos], hdr)
                if r is None:
                    break
                try:
                    ack = parse_ack(r[0])
                except errors.JetStreamError as e:
                    self._fail(0, _renamed(e, "message 0: "))
                    break
                self._done[0] = 1
                self.acked = self.resolved = 1
                self.first_seq = self.last_seq = ack.sequence
                self.duplicates += ack.duplicate
                self.stream = ack.stream
                pos += 1
                continue
            if i == 1:  # the batch starts: wait for the server's flow settings
                r = await self._request_one(1, subj, self._prefix + b"1.0.$FI", payloads[pos],
                                            hdr)
                if r is None:
                    break
                if not self._start_reply(r[0]):
                    break
                self._last_subject = subj
                pos += 1
                continue
            limit = self._msgs * self.outstanding_acks
            want = min(self._msgs, n - pos)
            if limit - self.outstanding < want:
                await self._wait_until(max(0, limit - want))
                continue
            k = min(limit - self.outstanding, n - pos)
            self._write_batch(subjects, payloads, hdrs, pos, pos + k)
            pos += k
            await self._kick()
        return base

    def _start_reply(self, data: bytes) -> bool:
        try:
            d = json.loads(data)
        except ValueError:
            self._fail(1, errors.APIError(f"message 1: invalid batch reply {data[:200]!r}"))
            return False
        if d.get("type") == "ack":
            self._msgs = max(1, int(d.get("msgs") or 1))
            self._progress = time.monotonic()
            return True
        self._on_reply(1, d)
        return False

    def _write_batch(self, subjects: str | Sequence[str], payloads: Sequence[bytes],
                     hdrs: bytes | Sequence[bytes], a: int, b: int) -> None:
        start = self.sent
        prefix = self._prefix
        ps = payloads[a:b]
        idx = range(start, start + (b - a))
        ss = ([subjects.encode()] * (b - a) if isinstance(subjects, str)
              else [x.encode() for x in subjects[a:b]])
        hs = [hdrs] * (b - a) if isinstance(hdrs, bytes) else hdrs[a:b]
        cmds = [b"HPUB %s %s%d.1.$FI %d %d\r\n%s%s\r\n" % (s, prefix, i, len(h), len(h) + len(p),
                                                         h, p) if h else
                b"PUB %s %s%d.1.$FI %d\r\n%s\r\n" % (s, prefix, i, len(p), p)
                for i, p, s, h in zip(idx, ps, ss, hs, strict=True)]
        data = b"".join(cmds)
        self._queue(data, b - a, sum(map(len, ps)))
        self._done.extend(bytes(b - a))
        self.sent += b - a
        self._last_subject = subjects if isinstance(subjects, str) else subjects[b - 1]

    # -- replies (loop thread) -----------------------------------------------------------------
    def _on_ack(self, subject: bytes, reply: bytes, data: bytes, hdr: bytes) -> None:
        fut = self._reply
        if fut is not None and not fut.done() and (
                subject.endswith(b".p") or subject.endswith(b".1.0.$FI")):
            fut.set_result((data, hdr))
            return
        if not data:
            if hdr:  # e.g. 503 for the end of batch when the stream is gone
                st = status_of(hdr)
                if st is not None and st[0] == 503:
                    self._end_with(errors.NoStreamResponseError(
                        "no stream responds to the batch (no responders)", code=503))
            return
        try:
            d = json.loads(data)
        except ValueError:
            return
        parts = subject.split(b".")
        try:
            i = int(parts[-3])
        except (IndexError, ValueError):
            i = self._confirmed + 1
        self._on_reply(i, d)

    def _on_reply(self, i: int, d: dict[str, Any]) -> None:
        self._progress = time.monotonic()
        kind = d.get("type")
        if kind == "ack":
            seq = int(d.get("seq") or 0)
            self._msgs = max(1, int(d.get("msgs") or self._msgs))
            self._confirm(seq)
            return
        if kind == "gap" and self.gap_ok:  # continue on gap: note the loss, keep going
            self.lost.append(int(d.get("last_seq") or i))
            return
        if kind == "gap":
            lost = int(d.get("last_seq") or i)
            self._record(lost, errors.JetStreamError(
                f"message {lost}: lost on the way to the server (the server saw message "
                f"{d.get('seq')} next); the batch stopped"))
            return
        if kind == "err":
            seq = int(d.get("seq") or i)
            err = d.get("error") or {}
            self._record(seq, _renamed(errors.from_api_error(err), f"message {seq}: "))
            return
        if "error" in d:  # an error PubAck ends the batch
            self._end_with(errors.from_api_error(d["error"]))
            return
        # the final PubAck
        self.count = int(d.get("count") or 0)
        seq = int(d.get("seq") or 0)
        self._confirm(self.count)
        if self.count and seq:
            self.last_seq = max(self.last_seq or seq, seq)
        if self.errors or self.count < self.sent - 1:
            self._end_with(None)
        else:
            self._finish_final()

    def _confirm(self, bseq: int) -> None:
        if bseq <= self._confirmed:
            return
        bseq = min(bseq, self.sent - 1)
        done = self._done
        for j in range(self._confirmed + 1, bseq + 1):
            if not done[j]:
                done[j] = 1
                self.acked += 1
                self.resolved += 1
        self._confirmed = bseq
        self._wake_if_room()

    def _record(self, i: int, exc: BaseException) -> None:
        """An error for message ``i`` (the batch stops there; the final ack follows)."""
        if i not in self.errors and not any(k < i for k in self.errors):
            self.errors = {i: exc}
        self._wake()

    def _end_with(self, exc: BaseException | None) -> None:
        """The batch is over: what the server did not confirm has failed."""
        first = self._confirmed + 1
        if exc is not None and not self.errors and first < self.sent:
            text = exc.description if isinstance(exc, errors.JetStreamError) else str(exc)
            self.errors[first] = _redescribed(
                exc, f"message {first}: not confirmed stored, the batch ended: {text}")
        culprit = min(self.errors) if self.errors else first
        done = self._done
        for j in range(first, self.sent):
            if not done[j]:
                done[j] = 1
                self.resolved += 1
                if j not in self.errors:
                    self.errors[j] = errors.JetStreamError(
                        f"message {j}: not confirmed stored: the batch ended after message "
                        f"{self._confirmed} (message {culprit} failed)")
        self._finish_final()

    def _finish_final(self) -> None:
        self._ended = True
        if self._final is not None and not self._final.done():
            self._final.set_result(None)
        self._wake()

    def _fail(self, i: int, exc: BaseException) -> None:
        if i < len(self._done) and self._done[i]:
            return
        super()._fail(i, exc)
        if i >= 1:
            self._ended = True

    def first_error(self) -> tuple[int, BaseException] | None:
        if not self.errors:
            return None
        i = min(self.errors)
        return i, self.errors[i]

    # -- end -----------------------------------------------------------------------------------
    async def finish(self) -> None:
        """End the batch (an end-of-batch marker, not stored) and wait for its PubAck."""
        try:
            if self.sent > 1 and not self._ended and not self._released:
                self._final = asyncio.get_running_loop().create_future()
                if not self.errors:
                    eob = self.sent
                    self._queue(self._one(self._last_subject,
                                          self._prefix + b"%d.3.$FI" % eob, b"", b""), 1, 0)
                    await self._kick()
                await self._final
        finally:
            await self.close()

    def _stop_waiting(self) -> bool:
        # a batch also stops at its first error or once the server ended it
        return self._released or self._ended or bool(self.errors)

    def _sweep(self) -> None:
        """Ping a quiet batch for lost acks; give up after the timeout."""
        self._sweeper = None
        if self._released:
            return
        now = time.monotonic()
        waiting = (self.sent - self.resolved > 0 and self.sent > 1) or (
            self._final is not None and not self._final.done())
        if waiting and not self._ended:
            quiet = now - self._progress
            if quiet > self.timeout:
                self._end_with(errors.JetStreamTimeoutError(
                    f"no batch ack within {self.timeout:g}s"))
            elif quiet > self.timeout / 4 and now - self._pinged > self.timeout / 4:
                self._pinged = now
                last = self.sent - 1
                try:
                    self._queue(self._one(self._last_subject,
                                          self._prefix + b"%d.4.$FI" % last, b"", b""), 1, 0)
                    self._js._spawn(self._kick())
                except errors.JetStreamError:
                    pass
        else:
            self._progress = now
        self._sweeper = asyncio.get_running_loop().call_later(_TICK, self._sweep)
