"""Pull requests: ``fetch`` / ``fetch_bytes`` / ``fetch_no_wait`` / ``next``.

Continuous consumption (``consume`` / ``messages``) lives in :mod:`jsdata.client.consume`.

Status handling follows nats.go ``jetstream/pull.go``: 100 is a heartbeat, 404 (no messages)
and 408 (request expired) end a batch without error, 409 ends it with a typed error (except
"Message Size Exceeds MaxBytes" and "Batch Completed", which end it cleanly), and two missed
idle heartbeats end it with :class:`~jsdata.errors.NoHeartbeatError`.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .. import errors
from .._util import seconds
from ._budget import pull_cost
from ._conn import InboxSub, pub_frame, status_of
from ._parser import BulkSink
from ._portable import Op, direct, driven, receives
from .message import Msg, received_run
from .priority import PinHolder, note_pin, pin_extra, priority_fields

if TYPE_CHECKING:
    from .context import Context

DEFAULT_EXPIRES = 30.0
UNSET: Any = object()


def status_error(code: int, desc: str) -> errors.JetStreamError | None:
    """The error a pull status means (None for a clean end: 404, 408, max bytes, completed)."""
    low = desc.lower()
    if code in (404, 408):
        return None
    if code == 409:
        if "message size exceeds maxbytes" in low or "batch completed" in low:
            return None
        if "consumer deleted" in low:
            return errors.ConsumerDeletedError(f"consumer deleted ({code} {desc})", code=code)
        if "leadership change" in low:
            return errors.ConsumerLeadershipChangedError(desc, code=code)
        if "server shutdown" in low:
            return errors.ServerShutdownError(f"server shutdown ({code} {desc})", code=code)
        return errors.JetStreamError(f"pull request failed: {code} {desc}", code=code)
    if code == 503:
        return errors.NoRespondersError(
            "no responders: the consumer or stream does not exist", code=code)
    if code == 400:
        return errors.InvalidArgumentError(f"bad pull request: {desc}", code=code)
    if code == 423:
        return errors.PinIdMismatchError(
            f"another client holds the pin of this priority group ({code} {desc})", code=code)
    return errors.JetStreamError(f"pull request failed: {code} {desc}", code=code)


class MessageBatch:
    """The messages of one fetch: iterate it (``async for`` / ``for``); ``error`` afterwards.

    Messages are yielded as they arrive; iteration ends when the batch is complete, the
    request expired, or an error ended it (then ``error`` is set).

    The reader queues what arrives as runs of raw parts (the parser's lists, no object per
    message); the consuming side turns them into :class:`Msg` objects as it takes them, so
    on the blocking surface that work runs on the calling thread, not on the event loop.
    """

    # the blocking surface's ``for`` takes what has arrived a burst at a time (one batch,
    # one consumer: no stop() to honour between two messages, unlike a consume context)
    _iter_in_bursts = True

    def __init__(self, js: Context | None = None) -> None:
        self._js = js
        self._msgs: deque[Msg] = deque()
        self._runs: list[tuple[list[bytes], list[bytes], list[bytes], list[bytes]]] = []
        self._runs_lock = threading.Lock()  # the loop queues runs; any thread may take them
        self._done = False
        self.error: errors.JetStreamError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._twaiter: Any = None  # a calling thread's lock, released by the next wake-up
        self._last_reply = b""  # of the last message received (ordered fetch resumes there)
        self._abandon: Any = None  # ends the pull request when a waiting reader is cancelled

    def __repr__(self) -> str:
        return (f"<MessageBatch buffered={len(self._msgs) + sum(len(r[3]) for r in self._runs)}"
                f" done={self._done} error={self.error!r}>")

    def _wake(self) -> None:
        """On the loop: wake the reader waiting in the loop, or on a calling thread."""
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)
        tw = self._twaiter
        if tw is not None:
            self._twaiter = None  # only the loop clears it: released once
            tw.release()

    def _push_run(self, subjects: list[bytes], replies: list[bytes], hdrs: list[bytes],
                  datas: list[bytes]) -> None:
        """Queue a run of received messages (on the loop)."""
        with self._runs_lock:
            self._runs.append((subjects, replies, hdrs, datas))
        self._last_reply = replies[-1]
        if self._waiter is not None or self._twaiter is not None:
            self._wake()

    def _take(self) -> bool:
        """Turn the queued runs into messages (any thread); True if any are buffered."""
        if self._runs:
            with self._runs_lock:
                runs, self._runs = self._runs, []
            for subjects, replies, hdrs, datas in runs:
                self._msgs.extend(received_run(subjects, replies, hdrs, datas, self._js))
        return bool(self._msgs)

    def _finish(self, err: errors.JetStreamError | None = None) -> None:
        if not self._done:
            self._done = True
            if err is not None and self.error is None:
                self.error = err
            self._wake()

    @property
    def done(self) -> bool:
        """True once no more messages will arrive (buffered ones may remain)."""
        return self._done

    def __aiter__(self) -> MessageBatch:
        return self

    async def _wait(self) -> None:
        if driven():  # on a calling thread: woken straight from the loop, no hop
            await _ThreadWait(self)
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        except asyncio.CancelledError:
            # The reader gave up (task cancelled, Ctrl-C on the blocking API): end the pull
            # request now, or the server would deliver the next message into a dead batch.
            if self._abandon is not None:
                self._abandon()
            raise
        finally:
            self._waiter = None

    async def __anext__(self) -> Msg:
        while True:
            if self._msgs or self._take():
                return self._msgs.popleft()
            if self._done:
                raise StopAsyncIteration
            await self._wait()

    def _ready(self) -> list[Msg] | None:
        """Every message buffered now, without waiting: ``[]`` at the end of the batch,
        ``None`` when the next one has yet to arrive. Safe on any thread: the blocking
        surface calls it first and waits through the loop (:meth:`_next_many`) only on None.
        """
        done = self._done  # read before taking: a run queued before the end is not missed
        if self._msgs or self._take():
            out = list(self._msgs)
            self._msgs.clear()
            return out
        return [] if done else None

    @receives
    async def _next_many(self) -> list[Msg]:
        """Every buffered message, waiting for at least one (empty list at the end).

        The blocking surface uses this to cross threads once per burst, not per message.
        """
        while True:
            out = self._ready()
            if out is not None:
                return out
            await self._wait()

    async def messages(self) -> list[Msg]:
        """Wait for the whole batch and return its messages as a list."""
        out: list[Msg] = []
        while True:
            chunk = await self._next_many()
            if not chunk:
                return out
            out.extend(chunk)


class _ThreadWait(Op):
    """A calling thread waiting for a batch's next run (or its end): a lock that the
    loop's :meth:`MessageBatch._wake` releases, instead of a loop call and two hops."""

    __slots__ = ("mb",)

    def __init__(self, mb: MessageBatch) -> None:
        self.mb = mb

    def block(self, loop: asyncio.AbstractEventLoop) -> None:
        mb = self.mb
        lock = _thread.allocate_lock()
        lock.acquire()
        mb._twaiter = lock
        if mb._runs or mb._done:  # it came before the lock was there to release
            return
        try:
            while not lock.acquire(True, 1.0):  # Ctrl-C interrupts it (main thread)
                if loop.is_closed() or not loop.is_running():
                    raise errors.ConnectionClosedError("the connection is closed")
        except BaseException:
            # The reader gave up: end the pull request on the loop, as _wait does there, and
            # wait (bounded) until its UNSUB is written or queued, so that the next call
            # cannot reach the server first (a message published next would be delivered
            # into the dead pull).
            abandon = mb._abandon
            if abandon is not None:
                ended = threading.Event()

                def end() -> None:
                    try:
                        abandon()
                    finally:
                        ended.set()

                with contextlib.suppress(RuntimeError):  # the loop is closed
                    loop.call_soon_threadsafe(end)
                    ended.wait(2.0)
            raise


class _Fetch:
    """One pull request's reception state: a temporary inbox feeding a MessageBatch.

    The inbox is a bulk subscription (:class:`~jsdata.client._parser.BulkSink`): the parser
    (in C when built) appends the messages of each read to the sink's lists with no call per
    message; :meth:`on_batch` hands them on as one run. Header-only frames (statuses,
    heartbeats, a message with an empty payload) come to :meth:`on_control`, in order.
    """

    def __init__(self, js: Context, batch: MessageBatch, want: int, max_bytes: int,
                 expires: float | None, heartbeat: float, pin: PinHolder | None = None) -> None:
        self.js = js
        self.pin = pin
        self.mb = batch
        self.want = want
        self.max_bytes = max_bytes
        self.received = 0
        self.bytes = 0
        self.heartbeat = heartbeat
        self.last_activity = time.monotonic()
        self.sub: InboxSub | None = None
        self.auto_unsub = False  # the SUB asked the server to drop it after ``want`` messages
        self.sink = BulkSink(self.on_control, self.on_batch)
        loop = js.nc.loop
        assert loop is not None
        self.loop = loop
        self.timers: list[asyncio.TimerHandle] = []
        self.expires = expires
        self.deadline = loop.time() + expires if expires else None  # monotonic: any thread
        self.subject = ""  # where the pull request went, and the request (to re-send it)
        self.req: dict[str, Any] = {}
        self.unlisten: Any = None
        self.unwatch: Any = None  # stops watching for a denial of the pull request
        self.resend = True  # re-send the request after a reconnect (else end the batch)

    def arm(self) -> None:
        """On the loop: start the expiry and heartbeat timers (a pull sent from a calling
        thread has them started by one ``call_soon_threadsafe``)."""
        if self.mb._done:
            return
        if self.expires:
            self.timers.append(self.loop.call_later(self.expires + 1.0, self._expired))
        if self.heartbeat:
            self.timers.append(self.loop.call_later(2 * self.heartbeat, self._check_heartbeat))

    def on_control(self, subject: bytes, reply: bytes, hdr: bytes) -> None:
        self.on_batch()  # what arrived before it comes first
        if self.mb._done:
            return
        if self.heartbeat:
            self.last_activity = time.monotonic()
        st = status_of(hdr)
        if st is None:  # a message with headers and an empty payload
            self._take([subject], [reply], [hdr], [b""])
            return
        code, desc = st
        if code == 100:
            return
        if code == 423 and self.pin is not None:
            self.pin.pin_id = None  # compete for the pin again on the next pull
        self.finish(status_error(code, desc))

    def on_batch(self) -> None:
        sink = self.sink
        if not sink.datas:
            return
        run = sink.subjects, sink.replies, sink.hdrs, sink.datas
        sink.subjects, sink.replies, sink.hdrs, sink.datas = [], [], [], []
        if not self.mb._done:
            if self.heartbeat:
                self.last_activity = time.monotonic()
            self._take(*run)

    def _take(self, subjects: list[bytes], replies: list[bytes], hdrs: list[bytes],
              datas: list[bytes]) -> None:
        n = len(datas)
        end = False
        if self.max_bytes or self.pin is not None:
            for i in range(n):
                if self.pin is not None:
                    note_pin(self.pin, hdrs[i])
                if self.max_bytes:
                    # The server ends a pull whose messages reach max_bytes exactly with no
                    # status; it charges before adding a pin header.
                    self.bytes += pull_cost(subjects[i], replies[i], hdrs[i], datas[i])
                    if self.pin is not None:
                        self.bytes -= pin_extra(hdrs[i])
                    if self.bytes >= self.max_bytes:
                        n, end = i + 1, True
                        break
        room = self.want - self.received
        if n >= room:
            n, end = room, True
        if n < len(datas):
            subjects, replies, hdrs, datas = subjects[:n], replies[:n], hdrs[:n], datas[:n]
        if n:
            self.received += n
            self.mb._push_run(subjects, replies, hdrs, datas)
        if end:
            self.finish()

    def on_conn(self, event: str) -> None:
        """A pull request can be lost with the connection: re-send it after a reconnect."""
        if self.mb._done:
            return
        if event == "reconnected":
            if self.resend:
                self.js._spawn(self._resend())
            else:  # ordered: what arrived is a gap-free prefix; the next fetch goes on after it
                self.finish()
        elif event == "closed":
            self.finish(errors.ConnectionClosedError("the connection closed during the fetch"))

    async def _resend(self) -> None:
        """Ask again for what is still missing, to a fresh inbox (whatever the old request
        still delivers cannot be counted twice)."""
        if self.mb._done:
            return
        req = dict(self.req)
        req["batch"] = self.want - self.received
        if self.max_bytes:
            req["max_bytes"] = self.max_bytes - self.bytes
        if self.deadline is not None and "expires" in req:
            left = self.deadline - self.loop.time()
            if left <= 0.1:
                return  # about to expire anyway
            req["expires"] = int(left * 1e9)
        nc = self.js.nc
        if nc.is_closed:
            return
        old, self.sub = self.sub, nc.inbox_sub(self.sink)
        if old is not None:
            nc.end_inbox_sub(old, sent_unsub=self.auto_unsub)
        self.auto_unsub = False  # what the first SUB delivered is not known: UNSUB at the end
        self.last_activity = time.monotonic()
        nc._send_cmd(*self.request_cmd(req), self._send_failed)

    def request_cmd(self, req: dict[str, Any], max_msgs: int = 0) -> tuple[bytes, int]:
        """The SUB of this fetch's inbox (auto-unsubscribing after ``max_msgs`` if given)
        and the PUB of the pull request ``req`` to it, in one buffer; and the request's size
        (for the out stats)."""
        assert self.sub is not None
        body = json.dumps(req, separators=(",", ":")).encode()
        return (self.sub.sub_cmd(max_msgs)
                + pub_frame(self.subject.encode(), self.sub.subject.encode(), body), len(body))

    def _send_failed(self, e: BaseException) -> None:
        self.finish(e if isinstance(e, errors.JetStreamError)
                    else errors.NotConnectedError(f"the pull request could not be sent: {e}"))

    def _expired(self) -> None:
        # The server should have ended the request with a 408 by now; end it ourselves.
        self.finish()

    def _check_heartbeat(self) -> None:
        if self.mb._done:
            return
        idle = time.monotonic() - self.last_activity
        if idle >= 2 * self.heartbeat:
            self.finish(errors.NoHeartbeatError(
                f"no heartbeat received for {idle:.1f}s (heartbeat {self.heartbeat:g}s)"))
        else:
            self.timers.append(
                self.loop.call_later(2 * self.heartbeat - idle, self._check_heartbeat))

    def finish(self, err: errors.JetStreamError | None = None) -> None:
        if self.mb._done:
            return
        self.mb._finish(err)
        for t in self.timers:
            t.cancel()
        self.timers.clear()
        if self.unlisten is not None:
            unlisten, self.unlisten = self.unlisten, None
            unlisten()
        if self.unwatch is not None:
            unwatch, self.unwatch = self.unwatch, None
            unwatch()
        if self.sub is not None:
            sub, self.sub = self.sub, None
            nc = self.js.nc
            # the server dropped an auto-unsubscribing inbox itself at its last message
            nc.end_inbox_sub(sub, sent_unsub=self.auto_unsub and self.received == self.want)
            nc._fold_out()  # a request written from a calling thread is in the stats now


async def pull(js: Context, stream: str, consumer: str, *, batch: int, max_bytes: int = 0,
               max_wait: float | timedelta | None = DEFAULT_EXPIRES,
               heartbeat: float | timedelta | None = UNSET, no_wait: bool = False,
               group: str | None = None, min_pending: int | None = None,
               min_ack_pending: int | None = None, priority: int | None = None,
               pin: PinHolder | None = None, resend: bool = True) -> MessageBatch:
    """Send one pull request for ``stream``/``consumer`` and return its MessageBatch.

    This is the single fetch primitive: durable and ordered consumers both use it.
    ``group``/``min_pending``/``min_ack_pending``/``priority`` are the priority-group options
    (:mod:`jsdata.client.priority`); ``pin`` keeps a pinned client's id between pulls. A request
    lost with the connection is sent again after the reconnect for what is still missing
    (``resend``); ordered consumers end the batch instead, since AckNone messages lost on
    the wire would leave a gap: their next fetch resumes after the last received.
    """
    prio = priority_fields(group, min_pending, min_ack_pending, priority,
                           pin.pin_id if pin is not None else None)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise errors.InvalidArgumentError(f"fetch batch must be an int >= 1, got {batch!r}")
    if max_bytes < 0:
        raise errors.InvalidArgumentError(f"max_bytes must be >= 0, got {max_bytes!r}")
    expires = seconds(max_wait) if not no_wait else None
    if expires is not None and expires <= 0:
        raise errors.InvalidArgumentError(f"max_wait must be > 0, got {max_wait!r}")
    hb = seconds(heartbeat) if heartbeat is not UNSET else None
    if heartbeat is UNSET:
        hb = 5.0 if (expires or 0) >= 10 else 0.0
    hb = hb or 0.0
    if hb < 0:
        raise errors.InvalidArgumentError(f"heartbeat must be >= 0, got {heartbeat!r}")
    if hb and expires is not None and expires < 2 * hb:
        raise errors.InvalidArgumentError(
            f"max_wait ({expires:g}s) must be at least 2 times the heartbeat ({hb:g}s)")
    js.nc.check_open()
    req: dict[str, Any] = {"batch": batch}
    if expires is not None:
        req["expires"] = int(expires * 1e9)
    if max_bytes:
        req["max_bytes"] = max_bytes
    if no_wait:
        req["no_wait"] = True
    if hb:
        req["idle_heartbeat"] = int(hb * 1e9)
    req.update(prio)
    nc = js.nc
    mb = MessageBatch(js)
    f = _Fetch(js, mb, batch, max_bytes, expires if not no_wait else js.timeout, hb, pin)
    mb._abandon = f.finish
    f.resend = resend
    f.sub = nc.inbox_sub(f.sink)
    f.subject = js.api_subject(f"CONSUMER.MSG.NEXT.{stream}.{consumer}")
    f.req = req
    # With no heartbeats, a batch that fills ends with its last message: the server drops
    # the inbox then by itself (no UNSUB needed), as it delivers nothing else to it.
    f.auto_unsub = not hb
    cmd, nbytes = f.request_cmd(req, batch if f.auto_unsub else 0)
    f.unlisten = nc.add_status_listener(f.on_conn)
    # A user who may not pull from this consumer gets the server's -ERR at once, not a
    # batch that ends empty after max_wait.
    f.unwatch = nc.watch_denial("publish", f.subject, f.finish)
    if driven():  # on the calling thread (the blocking surface): no hop to the loop
        try:
            nc.send_threadsafe(f.loop, cmd, nbytes, f._send_failed)
            f.loop.call_soon_threadsafe(f.arm)
        except BaseException:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to end
                f.loop.call_soon_threadsafe(f.finish)
            raise
    else:
        f.arm()
        nc._send_cmd(cmd, nbytes, f._send_failed)
    return mb


class PullMethods:
    """fetch / fetch_bytes / fetch_no_wait / next for a pull consumer (durable or ordered).

    ``group``, ``min_pending``, ``min_ack_pending`` and ``priority`` are the priority-group
    options of a consumer with a ``priority_policy`` (see :mod:`jsdata.client.priority`); ``group``
    is required on such a consumer. A pinned client's id is kept on the consumer.
    """

    _js: Context
    stream: str
    name: str
    pin_id: str | None = None

    @direct
    async def _pull(self, **request: Any) -> MessageBatch:
        """Send one pull request (:func:`pull` keywords); OrderedConsumer recreates first."""
        if request.get("group") is not None:
            request["pin"] = self
        return await pull(self._js, self.stream, self.name, **request)

    @direct
    async def fetch(self, batch: int, max_wait: float | timedelta = DEFAULT_EXPIRES,
                    heartbeat: float | timedelta | None = UNSET, *, group: str | None = None,
                    min_pending: int | None = None, min_ack_pending: int | None = None,
                    priority: int | None = None) -> MessageBatch:
        """Request up to ``batch`` messages, waiting at most ``max_wait`` seconds."""
        return await self._pull(batch=batch, max_wait=max_wait, heartbeat=heartbeat,
                                group=group, min_pending=min_pending,
                                min_ack_pending=min_ack_pending, priority=priority)

    @direct
    async def fetch_bytes(self, max_bytes: int, max_wait: float | timedelta = DEFAULT_EXPIRES,
                          heartbeat: float | timedelta | None = UNSET, *,
                          group: str | None = None, min_pending: int | None = None,
                          min_ack_pending: int | None = None, priority: int | None = None
                          ) -> MessageBatch:
        """Request messages up to ``max_bytes`` in total, waiting at most ``max_wait``."""
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise errors.InvalidArgumentError(f"max_bytes must be an int >= 1, got {max_bytes!r}")
        return await self._pull(batch=1_000_000, max_bytes=max_bytes, max_wait=max_wait,
                                heartbeat=heartbeat, group=group, min_pending=min_pending,
                                min_ack_pending=min_ack_pending, priority=priority)

    @direct
    async def fetch_no_wait(self, batch: int, *, group: str | None = None,
                            min_pending: int | None = None, min_ack_pending: int | None = None,
                            priority: int | None = None) -> MessageBatch:
        """Return at most ``batch`` messages that are available now, without waiting."""
        return await self._pull(batch=batch, no_wait=True, heartbeat=None, group=group,
                                min_pending=min_pending, min_ack_pending=min_ack_pending,
                                priority=priority)

    async def next(self, max_wait: float | timedelta = DEFAULT_EXPIRES,
                   heartbeat: float | timedelta | None = UNSET, *, group: str | None = None,
                   min_pending: int | None = None, min_ack_pending: int | None = None,
                   priority: int | None = None) -> Msg:
        """The next message; JetStreamTimeoutError if none arrives within ``max_wait``."""
        mb = await self.fetch(1, max_wait=max_wait, heartbeat=heartbeat, group=group,
                              min_pending=min_pending, min_ack_pending=min_ack_pending,
                              priority=priority)
        async for msg in mb:
            return msg
        if mb.error is not None:
            raise mb.error
        raise errors.JetStreamTimeoutError(f"no message within {seconds(max_wait):g}s")


def ack_seqs(reply: str) -> tuple[str, int, int] | None:
    """(consumer, stream sequence, consumer sequence) from a ``$JS.ACK`` reply subject."""
    toks = reply.split(".")
    n = len(toks)
    try:
        if n == 9:
            return toks[3], int(toks[5]), int(toks[6])
        if n >= 12:
            return toks[5], int(toks[7]), int(toks[8])
    except ValueError:
        return None
    return None

