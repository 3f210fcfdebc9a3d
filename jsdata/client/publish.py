"""Publishing to streams: ``publish`` (awaits the ack) and ``publish_async`` (pipelined).

Async publishes share the connection's reply multiplexer: one wildcard inbox, a token per
message. At most ``publish_async_max_pending`` acks are outstanding; past that a publish
waits up to ``stall_wait`` for room, then raises TooManyStalledMsgsError (as in Go).
Every future resolves: with its PubAck, its error, or a timeout after ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Generator, Sequence
from datetime import datetime, timedelta
from typing import Any

from .. import errors
from . import _portable, names
from ._conn import status_of
from ._native import track as _track
from ._native import untrack as _untrack
from ._parser import BulkSink
from .bulk import BulkPublisher, format_pubs
from .context import Context
from .fast import FastBatchPublisher
from .headers import HeadersInput, build_headers
from .info import PubAck, parse_ack
from .message import Data, Msg, to_bytes
from .schedules import feature_of, with_schedule

STALL_WAIT = 0.2  # seconds a publish_async waits for room before TooManyStalledMsgsError


class PubAckFuture:
    """The pending result of ``publish_async``: ``await f`` (asyncio) or ``f.result()``.

    Resolved in place by the ack handler; an asyncio future is made only if someone waits
    before the ack arrived, which keeps the pipelined path cheap.
    """

    # A pending publish without headers holds only strings, bytes and numbers (and later
    # its PubAck), so it cannot be part of a reference cycle; with the C extension it is
    # left out of the cycle collector (_native.untrack) until it takes on something that
    # could be (a waiter's asyncio future, an exception with its traceback: then it is
    # tracked again). Thousands are in flight at once and each lives long enough to reach
    # the oldest generation, whose full passes traverse every tracked object of the
    # process. Measured on a blocking publish_async loop of 200k ~120-byte messages: 12
    # full passes took 0.32-0.47 s of 1.2-1.5 s; with these left out and no closure queued
    # per call (LoopThread.submit_burst), 0-1 passes, and 220k-237k msgs/s against 155k.

    __slots__ = ("subject", "data", "headers", "_hdr", "_deadline", "_retries", "_retry_wait",
                 "_id", "_result", "_raw", "_exc", "_fut", "_done")
    subject: str
    data: bytes
    headers: HeadersInput

    def __init__(self, subject: str, data: bytes, headers: HeadersInput, hdr: bytes,
                 deadline: float, retries: int, retry_wait: float) -> None:
        self.subject = subject
        self.data = data
        self.headers = headers
        self._hdr = hdr
        self._deadline = deadline
        self._retries = retries
        self._retry_wait = retry_wait
        self._id = 0
        self._result: PubAck | None = None
        self._raw: bytes | None = None  # a success reply not parsed yet (see _set_acked)
        self._exc: BaseException | None = None
        self._fut: asyncio.Future[PubAck] | None = None
        self._done = False
        if headers is None and _untrack is not None:
            _untrack(self)

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

    def _set_acked(self, data: bytes) -> None:
        """Resolve with a success reply (``{"stream":...``), parsed into the PubAck only when
        someone asks for it: a pipelined burst whose results nobody reads parses none."""
        if self._done:
            return
        if self._fut is not None:  # someone waits: hand them the PubAck now
            self._set_result(parse_ack(data))
            return
        self._raw = data
        self._done = True

    def _ack(self) -> PubAck:
        if self._result is None and self._raw is not None:
            self._result = parse_ack(self._raw)
            self._raw = None
        return self._result  # type: ignore[return-value]

    def _set_exception(self, exc: BaseException) -> None:
        if self._done:
            return
        if _track is not None:
            _track(self)  # the exception's traceback may lead back here
        self._exc = exc
        self._done = True
        if self._fut is not None and not self._fut.done():
            self._fut.set_exception(exc)
            self._fut.exception()  # retrieved: no "never retrieved" noise if nobody awaits

    def _future(self) -> asyncio.Future[PubAck]:
        """The asyncio future a waiter awaits (on the loop), made on first use."""
        if self._fut is None:
            if _track is not None:
                _track(self)  # the future's callbacks may lead back here
            self._fut = asyncio.get_running_loop().create_future()
            if self._done:
                if self._exc is not None:
                    self._fut.set_exception(self._exc)
                else:
                    self._fut.set_result(self._ack())
        return self._fut

    # the concurrent.futures-like surface -------------------------------------------------------
    def __await__(self) -> Generator[Any, None, PubAck]:
        if self._done:
            if self._exc is not None:
                raise self._exc
            return self._ack()
        return (yield from self._future().__await__())

    def done(self) -> bool:
        return self._done

    def result(self) -> PubAck:
        """The PubAck (raises the publish error); only once done() in asyncio."""
        if not self._done:
            raise asyncio.InvalidStateError("the publish is not acknowledged yet")
        if self._exc is not None:
            raise self._exc
        return self._ack()

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


def _settle(paf: PubAckFuture, data: bytes) -> None:
    """Resolve ``paf`` with a reply parsed now: its PubAck, or the error it carries."""
    try:
        paf._set_result(parse_ack(data))
    except errors.JetStreamError as e:
        paf._set_exception(e)


class Publisher(Context):
    """Publishing methods of ``JetStream``."""

    def _init_publisher(self, max_pending: int) -> None:
        if max_pending < 1:
            raise errors.InvalidArgumentError("publish_async_max_pending must be >= 1")
        self._pa_max = max_pending
        self._pa: dict[int, PubAckFuture] = {}
        self._pa_ids = itertools.count(1)
        self._pa_sub: Any = None
        self._pa_sink = BulkSink(self._on_async_ack_control, self._on_async_acks)
        self._pa_unwatch: Callable[[], None] | None = None  # stops _on_async_denied
        self._pa_starting: asyncio.Future[None] | None = None
        self._pa_prefix = ""
        self._pa_prefix_b = b""
        self._pa_plen = 0
        self._pa_room: asyncio.Future[None] | None = None
        self._pa_empty: asyncio.Future[None] | None = None
        self._pa_sweeper: asyncio.TimerHandle | None = None
        self._bulks: set[BulkPublisher] = set()

    # -- awaited publish -----------------------------------------------------------------------
    @_portable.direct
    async def publish(self, subject: str, data: Data | None = b"", *,
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
        :mod:`jsdata.client.schedules`) that publishes ``data`` to ``schedule_target`` when it
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
                    await _portable.sleep(retry_wait)
                    continue
                raise errors.NoStreamResponseError(
                    f"no stream captures subject {subject!r} (no responders)", code=503)
            return parse_ack(rdata)
        raise AssertionError("unreachable")

    @_portable.direct
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
    async def publish_async(self, subject: str,
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
                                retry_attempts, retry_wait, timeout)
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

    async def _publish_async_raw(self, subject: str,
                                 payload: bytes, hdr: bytes, headers: HeadersInput = None,
                                 retry_attempts: int = 2, retry_wait: float = 0.25,
                                 timeout: float | None = None) -> PubAckFuture:
        """Send a validated message asynchronously (writers call this directly)."""
        paf = self._new_paf(subject, payload, hdr, headers, retry_attempts, retry_wait,
                            timeout)
        await self._submit_paf(paf)
        return paf

    def _new_paf(self, subject: str, payload: bytes,
                 hdr: bytes, headers: HeadersInput, retry_attempts: int, retry_wait: float,
                 timeout: float | None) -> PubAckFuture:
        """A PubAckFuture for a message not sent yet (may be built off the loop thread)."""
        if self._closed:
            raise errors.ConnectionClosedError("the JetStream context is closed")
        return PubAckFuture(subject, payload, headers, hdr,
                            time.monotonic() + (timeout or self.timeout),
                            retry_attempts if retry_attempts > 0 else 0, retry_wait)

    async def _submit_paf(self, paf: PubAckFuture) -> None:
        """Send a prepared async publish, waiting for room under max pending first."""
        if len(self._pa) >= self._pa_max:
            await self._wait_for_room()
        if not self._pa_prefix:
            if self._pa_starting is None:
                self._pa_starting = asyncio.ensure_future(self._start_ack_sub())
            await asyncio.shield(self._pa_starting)
        if self._send_now(paf):
            await self.nc.kick()
        self._arm_sweep()

    def _submit_now(self, paf: PubAckFuture) -> Callable[[], Any] | None:
        """On the loop, once the ack subscription is up (the blocking ``publish_async``,
        which waited for room on its side): :meth:`_submit_paf` with no await; a failure to
        queue fails ``paf``. Returns the flush to await after a burst, if one is needed."""
        try:
            kick = self._send_now(paf)
        except errors.JetStreamError as e:
            paf._set_exception(e)
            return None
        self._arm_sweep()
        return self.nc.kick if kick else None

    def _submit_pafs(self, pafs: list[PubAckFuture]) -> Callable[[], Any] | None:
        """:meth:`_submit_now` for a burst of blocking ``publish_async`` calls: their
        PUB/HPUB frames formatted into one buffer (in C when built), their reply subjects
        consecutive ids. A failure to queue fails them all, as it would each."""
        n = len(pafs)
        if n < 8:
            kick = None
            for paf in pafs:
                kick = self._submit_now(paf) or kick
            return kick
        start = next(self._pa_ids)
        self._pa_ids = itertools.count(start + n)
        pending = self._pa
        for i, paf in enumerate(pafs, start):
            paf._id = i
            pending[i] = paf
        try:
            datas = [p.data for p in pafs]
            self.nc.queue_raw(format_pubs([p.subject for p in pafs], self._pa_prefix_b, start,
                                          datas, [p._hdr for p in pafs]),
                              nmsgs=n, nbytes=sum(map(len, datas)))
        except BaseException as e:
            for paf in pafs:
                pending.pop(paf._id, None)
            self._pa_changed()
            if not isinstance(e, errors.JetStreamError):
                raise  # the burst is retried one by one, each failure named
            for paf in pafs:
                paf._set_exception(e)
            return None
        self._arm_sweep()
        return self.nc.kick

    def _arm_sweep(self) -> None:
        if self._pa_sweeper is None:
            self._pa_sweeper = asyncio.get_running_loop().call_later(0.25, self._sweep)

    async def _start_ack_sub(self) -> None:
        """The one wildcard inbox every async publish's ack comes back on."""
        prefix = self.nc.inbox() + "."
        try:
            self._pa_sub = await self.nc.fast_subscribe_bulk(prefix + "*", self._pa_sink)
        except BaseException:
            self._pa_starting = None
            raise
        self._pa_prefix = prefix
        self._pa_prefix_b = prefix.encode()
        self._pa_plen = len(prefix)
        self._pa_unwatch = self.nc.add_denial_listener(self._on_async_denied)

    def _on_async_denied(self, err: errors.PermissionDeniedError) -> None:
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
            self._require(feature_of(pattern))
        elif schedule_target is not None or schedule_ttl is not None:
            raise errors.InvalidArgumentError(
                "schedule_target / schedule_ttl need schedule= (a schedule pattern)")
        hdr = build_headers(headers, msg_id, expect_stream, expect_last_sequence,
                            expect_last_sequence_per_subject, expect_last_msg_id, ttl)
        return subject, to_bytes(data), hdr, headers, retry_attempts, retry_wait, timeout

    async def _send_async(self, paf: PubAckFuture) -> None:
        if self._send_now(paf):
            await self.nc.kick()

    def _send_now(self, paf: PubAckFuture) -> bool:
        """Queue ``paf``'s message with its ack reply subject; True: ``await nc.kick()``."""
        n = next(self._pa_ids)
        paf._id = n
        self._pa[n] = paf
        try:
            return self.nc.queue_pub(paf.subject, self._pa_prefix + str(n), paf.data, paf._hdr)
        except BaseException:
            self._pa.pop(n, None)
            self._pa_changed()
            raise

    def _on_async_acks(self) -> None:
        """The acks of one read, as the parser appended them to the ack inbox's lists (in C
        when built): no call per ack until here, one pass over them."""
        sink = self._pa_sink
        if not sink.datas:
            return
        subjects, datas = sink.subjects, sink.datas
        sink.subjects, sink.replies, sink.hdrs, sink.datas = [], [], [], []
        pending, plen = self._pa, self._pa_plen
        for subject, data in zip(subjects, datas, strict=True):
            try:
                paf = pending.pop(int(subject[plen:]), None)
            except ValueError:
                continue
            if paf is None or paf._done:
                continue
            if data[:11] == b'{"stream":"':  # success (an error reply starts with "error")
                paf._set_acked(data)
            else:
                _settle(paf, data)
        if self._pa_room is not None or self._pa_empty is not None:
            self._pa_changed()

    def _on_async_ack_control(self, subject: bytes, reply: bytes, hdr: bytes) -> None:
        """A header-only reply on the ack inbox (a 503 no-responders status), in order."""
        self._on_async_acks()
        try:
            paf = self._pa.pop(int(subject[self._pa_plen:]), None)
        except ValueError:
            return
        if paf is None or paf._done:
            return
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
        else:
            _settle(paf, b"")
        self._pa_changed()

    async def _resend(self, paf: PubAckFuture) -> None:
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

    def _sweep(self) -> None:
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
    async def _bulk_publisher(self, window: int | None = None,
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

    async def _fast_batch_publisher(self,
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

    async def _publish_batch(self, subjects: str | Sequence[str],
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

    async def _close_publisher(self) -> None:
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
