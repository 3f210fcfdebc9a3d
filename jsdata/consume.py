"""Continuous pull consumption: ``consume(handler)`` and ``messages()``.

One inbox subscription per context on the connection's fast path; pull requests are
pipelined so that what is buffered plus what is requested never exceeds max_messages (or
max_bytes); a refill is requested once that drops below the threshold (nats.go pull.go).
Ordered consumers (jsdata/ordered.py) and push consumers (jsdata/push.py) reuse the contexts.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from . import errors
from ._budget import msg_cost, pull_cost
from ._conn import new_token, status_of
from .message import Msg
from .priority import PinHolder, note_pin, pin_extra, priority_fields
from .pull import DEFAULT_EXPIRES, ack_seqs, seconds

if TYPE_CHECKING:
    from .jetstream import JetStream

DEFAULT_MAX_MESSAGES = 500
BYTES_ONLY_BATCH = 1_000_000  # nats.go: batch size when only max_bytes limits a pull
MAX_HEARTBEAT = 30.0

_RUNNING, _DRAINING, _DRAINED, _CLOSED = 0, 1, 2, 3

log = logging.getLogger("jsdata")


@dataclass(frozen=True)
class PullOptions:
    """Validated settings of a consume / messages context (nats.go ``consumeOpts``)."""

    max_messages: int
    max_bytes: int
    limit_size: bool
    expires: float
    heartbeat: float
    threshold_messages: int
    threshold_bytes: int
    report_missing_heartbeat: bool = True
    group: str | None = None  # priority-group options (jsdata.priority)
    min_pending: int | None = None
    min_ack_pending: int | None = None
    priority: int | None = None


def _opt_int(name: str, v: Any, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise errors.InvalidArgumentError(f"{name} must be an int, got {v!r}")
    if v < minimum:
        raise errors.InvalidArgumentError(f"{name} must be at least {minimum}, got {v!r}")
    return v


def _opt_seconds(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, timedelta)):
        raise errors.InvalidArgumentError(
            f"{name} must be seconds (a number or a timedelta), got {v!r}")
    out = seconds(v)
    assert out is not None
    return out


def pull_options(max_messages: int | None = None, max_bytes: int | None = None,
                 expiry: float | timedelta = DEFAULT_EXPIRES,
                 threshold_messages: int | None = None, threshold_bytes: int | None = None,
                 heartbeat: float | timedelta | None = None,
                 max_messages_with_bytes_limit: tuple[int, int] | None = None, *,
                 ordered: bool = False, report_missing_heartbeat: bool = True,
                 group: str | None = None, min_pending: int | None = None,
                 min_ack_pending: int | None = None, priority: int | None = None
                 ) -> PullOptions:
    """Validate consume / messages options and fill in nats.go's defaults.

    Raises :class:`~jsdata.errors.InvalidArgumentError` naming the bad option.
    """
    limit_size = False
    if max_messages_with_bytes_limit is not None:
        if max_messages is not None or max_bytes is not None:
            raise errors.InvalidArgumentError(
                "max_messages_with_bytes_limit cannot be combined with max_messages or max_bytes")
        pair = max_messages_with_bytes_limit
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise errors.InvalidArgumentError(
                "max_messages_with_bytes_limit must be a (max_messages, max_bytes) pair, "
                f"got {pair!r}")
        max_messages = _opt_int("max_messages", pair[0], 1)
        max_bytes = _opt_int("max_bytes", pair[1], 1)
        limit_size = True
    else:
        if max_messages is not None and max_bytes is not None:
            raise errors.InvalidArgumentError(
                "give max_messages or max_bytes, not both (max_messages_with_bytes_limit "
                "limits the size of each pull)")
        if max_messages is not None:
            _opt_int("max_messages", max_messages, 1)
        if max_bytes is not None:
            _opt_int("max_bytes", max_bytes, 1)
    if max_bytes is not None and not limit_size:
        n_msgs = BYTES_ONLY_BATCH
    else:
        n_msgs = DEFAULT_MAX_MESSAGES if max_messages is None else max_messages
    n_bytes = max_bytes or 0
    expires = _opt_seconds("expiry", expiry)
    if expires < 1.0:
        raise errors.InvalidArgumentError(f"expiry must be at least 1s, got {expiry!r}")
    if heartbeat is None:
        if ordered:
            hb = expires / 2 if expires < 10 else 5.0
        else:
            hb = min(expires / 2, MAX_HEARTBEAT)
    else:
        hb = _opt_seconds("heartbeat", heartbeat)
        if not 0.5 <= hb <= MAX_HEARTBEAT:
            raise errors.InvalidArgumentError(
                f"heartbeat must be within 0.5s-30s, got {heartbeat!r}")
    if hb > expires / 2:
        raise errors.InvalidArgumentError(
            f"heartbeat ({hb:g}s) must be at most 50% of expiry ({expires:g}s)")
    thr_m = _opt_int("threshold_messages", threshold_messages, 0) if threshold_messages else 0
    thr_b = _opt_int("threshold_bytes", threshold_bytes, 0) if threshold_bytes else 0
    if not thr_m:
        thr_m = math.ceil(n_msgs / 2)
    if not thr_b:
        thr_b = math.ceil(n_bytes / 2)
    priority_fields(group, min_pending, min_ack_pending, priority, None)  # validate
    return PullOptions(n_msgs, n_bytes, limit_size, expires, hb, thr_m, thr_b,
                       bool(report_missing_heartbeat), group, min_pending, min_ack_pending,
                       priority)


def _check_handler(handler: Any) -> None:
    if handler is None or not callable(handler):
        raise errors.HandlerRequiredError(f"a callable message handler is required, got "
                                          f"{handler!r}")


def _pull_body(batch: int, max_bytes: int, expires: float, heartbeat: float,
               prio: dict[str, Any] | None = None) -> bytes:
    body = f'{{"batch":{batch},"expires":{int(expires * 1e9)}'
    if max_bytes:
        body += f',"max_bytes":{max_bytes}'
    if heartbeat:
        body += f',"idle_heartbeat":{int(heartbeat * 1e9)}'
    if prio:
        body += "," + json.dumps(prio, separators=(",", ":"))[1:-1]
    return (body + "}").encode()


def _header_value(hdr: bytes, name: bytes) -> str:
    """The first value of header ``name`` in a raw header block ("" if absent)."""
    i = hdr.find(b"\r\n" + name + b":")
    if i < 0:
        return ""
    start = i + len(name) + 3
    j = hdr.find(b"\r\n", start)
    return hdr[start:j if j >= 0 else None].strip().decode("utf-8", "replace")


def _header_int(hdr: bytes, name: bytes) -> int:
    try:
        return int(_header_value(hdr, name) or 0)
    except ValueError:
        return 0


_MSG_SLOTS = frozenset({"subject", "reply", "data", "_hdr", "_headers", "_js", "_acked", "_meta"})
_msg_new = object.__new__


def _make_msg(subject: bytes, reply: bytes, data: bytes, hdr: bytes, js: Any) -> Msg:
    """A received Msg without ``Msg.__init__``'s conversions (the hot path)."""
    m = _msg_new(Msg)
    m.subject = subject.decode()
    m.reply = reply.decode()
    m.data = data
    m._hdr = hdr
    m._headers = None
    m._js = js
    m._acked = False
    m._meta = None
    return m


if set(getattr(Msg, "__slots__", ())) != _MSG_SLOTS:  # Msg changed: use its constructor
    def _make_msg(subject: bytes, reply: bytes, data: bytes, hdr: bytes,  # noqa: F811
                  js: Any) -> Msg:
        return Msg(subject.decode(), data, None, reply.decode(), _js=js, _hdr=hdr)


class _OrderedHooks:
    """What an ordered consumer plugs into a pull context (see jsdata/ordered.py)."""

    async def _recreate(self, ctx: _PullContext) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def _delivered(self, stream_seq: int) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class ConsumeMethods:
    """``consume`` / ``messages`` for a pull consumer (durable or ordered)."""

    _js: JetStream
    stream: str
    name: str

    async def _context_consumer(self) -> str:
        """Name of the server-side consumer a new context pulls from."""
        return self.name

    def _context_created(self, ctx: _PullContext) -> None:
        """Called with each new context before it starts (OrderedConsumer keeps it)."""

    async def _start_context(self, ctx: Any) -> Any:
        if ctx._opts.group is not None:
            ctx._pin = self  # the consumer keeps the pin id (PullMethods.pin_id)
        self._context_created(ctx)
        await ctx._start()
        return ctx

    async def consume(self, handler: Callable[[Msg], Any], max_messages: int | None = None,
                      max_bytes: int | None = None,
                      expiry: float | timedelta = DEFAULT_EXPIRES,
                      threshold_messages: int | None = None, threshold_bytes: int | None = None,
                      heartbeat: float | timedelta | None = None,
                      error_handler: Callable[[Any, BaseException], Any] | None = None,
                      max_messages_with_bytes_limit: tuple[int, int] | None = None, *,
                      group: str | None = None, min_pending: int | None = None,
                      min_ack_pending: int | None = None, priority: int | None = None
                      ) -> ConsumeContext:
        """Receive messages continuously: ``handler(msg)`` runs for each, in order.

        Pre-buffers with pipelined pull requests as nats.go's ``Consume`` does. The handler may
        be a plain function or a coroutine function; ``error_handler(consume_context, error)``
        hears about missed heartbeats and other non-fatal problems. On an ordered consumer,
        gaps, missed heartbeats, deletion and reconnects recreate the server-side consumer
        transparently (the error handler hears about them, except plain sequence gaps).
        ``group``/``min_pending``/``min_ack_pending``/``priority``: priority-group options
        (:mod:`jsdata.priority`); a pinned client's id is kept, and a 423 clears it and
        re-pulls, as in nats.go.
        """
        ordered = self if isinstance(self, _OrderedHooks) else None
        opts = pull_options(max_messages, max_bytes, expiry, threshold_messages,
                            threshold_bytes, heartbeat, max_messages_with_bytes_limit,
                            ordered=ordered is not None, group=group, min_pending=min_pending,
                            min_ack_pending=min_ack_pending, priority=priority)
        _check_handler(handler)
        name = await self._context_consumer()
        return await self._start_context(ConsumeContext(
            self._js, self.stream, name, opts, handler, error_handler, ordered=ordered))

    async def messages(self, max_messages: int | None = None, max_bytes: int | None = None,
                       expiry: float | timedelta = DEFAULT_EXPIRES,
                       threshold_messages: int | None = None,
                       threshold_bytes: int | None = None,
                       heartbeat: float | timedelta | None = None,
                       max_messages_with_bytes_limit: tuple[int, int] | None = None,
                       err_on_missing_heartbeat: bool = True, *, group: str | None = None,
                       min_pending: int | None = None, min_ack_pending: int | None = None,
                       priority: int | None = None) -> MessagesContext:
        """An iterator over messages, pre-buffered like :meth:`consume` (``next()``, ``for``).

        ``max_messages=1`` gives strict one-at-a-time delivery for work queues. On an ordered
        consumer, missed heartbeats recreate the server-side consumer instead of raising.
        """
        ordered = self if isinstance(self, _OrderedHooks) else None
        opts = pull_options(max_messages, max_bytes, expiry, threshold_messages,
                            threshold_bytes, heartbeat, max_messages_with_bytes_limit,
                            ordered=ordered is not None,
                            report_missing_heartbeat=err_on_missing_heartbeat, group=group,
                            min_pending=min_pending, min_ack_pending=min_ack_pending,
                            priority=priority)
        name = await self._context_consumer()
        return await self._start_context(MessagesContext(
            self._js, self.stream, name, opts, ordered=ordered))


class _PullContext:
    """The pull engine shared by ConsumeContext and MessagesContext.

    Keeps ``pending`` (messages/bytes requested but not yet handed out) as nats.go does,
    handles status messages, idle heartbeats and reconnects; an ordered consumer plugs in
    through ``_ordered`` (sequence checks and consumer recreation).
    """

    def __init__(self, js: JetStream, stream: str, consumer: str, opts: PullOptions,
                 ordered: _OrderedHooks | None = None) -> None:
        self._js = js
        self.stream = stream
        self._consumer = consumer
        self._opts = opts
        self._ordered = ordered
        self._pin: PinHolder | None = None
        self._loop = asyncio.get_running_loop()
        self._next_subject = js.api_subject(f"CONSUMER.MSG.NEXT.{stream}.{consumer}")
        self._inbox = ""
        self._sub: Any = None
        self._buf: deque[Any] = deque()
        self._state = _RUNNING
        self._pending_msgs = 0
        self._pending_bytes = 0
        self._sized: deque[list[int]] = deque()  # open size-limited pulls: [msgs, bytes] left
        self._fetching = False
        self._count_bytes = bool(opts.max_bytes) and not opts.limit_size
        self._thr_msgs = opts.threshold_messages
        self._thr_bytes = opts.threshold_bytes if self._count_bytes else -1
        self._connected = True
        self._seen = False
        self._idle_ticks = 0
        self._hb_timer: asyncio.TimerHandle | None = None
        self._remove_listener: Callable[[], None] | None = None
        self._resetting = False
        self._reset_kick: asyncio.Future[None] | None = None
        self._dseq = 0  # ordered: last consumer sequence handed out
        self._next_dseq = "1"
        self._last_reply = ""  # ordered: reply subject of the last message handed out
        self._last_handled = ""  # reply subject of the last message the user really got
        self._start_cursor = 0  # ordered: the stream sequence this context started after
        self._gen = 0  # bumped whenever pending is reset (stale completions are ignored)
        self._closed_fut: asyncio.Future[None] = self._loop.create_future()

    def __repr__(self) -> str:
        state = ("running", "draining", "drained", "closed")[self._state]
        return (f"<{type(self).__name__} {self.stream}/{self._consumer} {state} "
                f"buffered={len(self._buf)}>")

    # -- state ---------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once stopped or drained: no more messages will arrive."""
        return self._closed_fut.done()

    async def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the context is closed (True) or ``timeout`` seconds pass (False)."""
        if timeout is None:
            await asyncio.shield(self._closed_fut)
            return True
        try:
            await asyncio.wait_for(asyncio.shield(self._closed_fut), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- subscription --------------------------------------------------------------------------
    async def _start(self) -> None:
        nc = self._js.nc
        nc.check_open()
        await self._open_sub()
        self._remove_listener = nc.add_status_listener(self._on_conn_event)
        self._connected = nc.is_connected
        self._arm_heartbeat()
        try:
            await self._pull_now()
        except BaseException:
            await self._shutdown(drain=False)
            raise

    async def _open_sub(self) -> None:
        self._inbox = f"_INBOX.{new_token()}"
        self._sub = await self._js.nc.fast_subscribe(self._inbox, self._on_msg)

    async def _close_sub(self, drain: bool) -> None:
        sub, self._sub = self._sub, None
        if sub is None:
            return
        nc = self._js.nc
        if drain and nc.is_connected:
            # UNSUB, then a PING/PONG round trip: whatever the server sent before it arrives
            # and is buffered (the handler stays registered until then), as nats.go's Drain.
            try:
                await sub.unsubscribe()
                await nc.flush(max(int(self._js.timeout), 1))
            except Exception:  # noqa: BLE001 - best effort: the connection may be going away
                pass
            nc._fast.pop(sub._id, None)
            return
        await nc.fast_unsubscribe(sub)

    def _drop_sub_now(self) -> None:
        """Stop routing the current subscription's messages here (unsubscribe in background)."""
        sub, self._sub = self._sub, None
        if sub is not None:
            self._js.nc._fast.pop(sub._id, None)
            self._js._spawn(self._js.nc.fast_unsubscribe(sub))

    # -- pulls ---------------------------------------------------------------------------------
    def _next_pull(self) -> tuple[int, int] | None:
        """Decide a refill (nats.go ``checkPending``): (batch, max_bytes) or None."""
        o = self._opts
        if not (self._pending_msgs < self._thr_msgs
                or (self._count_bytes and self._pending_bytes < self._thr_bytes)):
            return None
        batch = o.max_messages - self._pending_msgs
        max_bytes = 0
        if o.max_bytes:
            if o.limit_size:
                max_bytes = o.max_bytes
            else:
                max_bytes = o.max_bytes - self._pending_bytes
                batch = o.max_messages
        if batch <= 0:
            return None
        self._pending_msgs = o.max_messages
        self._pending_bytes = o.max_bytes
        if o.limit_size:
            self._sized.append([batch, max_bytes])
        return batch, max_bytes

    def _reset_pending(self) -> None:
        self._pending_msgs = self._pending_bytes = 0
        self._sized.clear()
        self._gen += 1

    def _charge(self, cost: int) -> None:
        """Size-limited pulls (``max_messages_with_bytes_limit``): charge a delivered
        message to the oldest open pull, as the server serves them in order. A pull whose
        ``max_bytes`` is spent exactly ends with no status (jsdata/_budget.py): its
        missing messages will not come, so they stop counting as pending."""
        sized = self._sized
        if not sized:
            return
        head = sized[0]
        head[0] -= 1
        head[1] -= cost
        if head[0] <= 0:
            sized.popleft()
        elif head[1] <= 0:
            sized.popleft()
            self._pending_msgs = max(0, self._pending_msgs - head[0])
            self._check_pending()

    def _check_pending(self) -> None:
        if (self._fetching or self._state != _RUNNING or not self._connected
                or self._resetting or self._sub is None):
            return
        nxt = self._next_pull()
        if nxt is not None:
            o = self._opts
            body = _pull_body(nxt[0], nxt[1], o.expires, o.heartbeat, self._prio())
            # Straight to the socket when possible: a refill must not wait for the flusher.
            if not self._js.nc.publish_now(self._next_subject, self._inbox, body):
                self._fetching = True
                self._js._spawn(self._send_pull(body, self._gen))

    async def _pull_now(self) -> None:
        """The initial pull, awaited so that a failure reaches the caller."""
        nxt = self._next_pull()
        if nxt is not None:
            o = self._opts
            self._fetching = True
            try:
                await self._js.nc.publish_raw(self._next_subject, self._inbox,
                                              _pull_body(nxt[0], nxt[1], o.expires, o.heartbeat,
                                                         self._prio()))
            finally:
                self._fetching = False

    def _prio(self) -> dict[str, Any] | None:
        o = self._opts
        if o.group is None:
            return None
        return priority_fields(o.group, o.min_pending, o.min_ack_pending, o.priority,
                               self._pin.pin_id if self._pin is not None else None)

    async def _send_pull(self, body: bytes, gen: int) -> None:
        try:
            # skipped when pending was reset meanwhile: a new decision replaces this one
            if self._state == _RUNNING and self._sub is not None and gen == self._gen:
                await self._js.nc.publish_raw(self._next_subject, self._inbox, body)
        except errors.JetStreamError as e:
            self._notify(e)
        finally:
            self._fetching = False
        self._check_pending()

    # -- incoming ------------------------------------------------------------------------------
    def _on_msg(self, subject: bytes, reply: bytes, data: bytes, hdr: bytes) -> None:
        """The inbox subscription's fast-path handler: statuses here, messages to _received."""
        self._seen = True
        if hdr and not data:
            st = status_of(hdr)
            if st is not None:
                self._on_status(st[0], st[1], reply, hdr)
                return
        if self._pin is not None:
            note_pin(self._pin, hdr)
        if self._state < _DRAINED:
            self._received(_make_msg(subject, reply, data, hdr, self._js))
            if self._sized:
                self._charge(pull_cost(subject, reply, hdr, data)
                             - (pin_extra(hdr) if self._pin is not None else 0))

    def _received(self, msg: Msg) -> None:
        raise NotImplementedError

    def _consumed(self, msg: Msg) -> None:
        """Account for one message handed out: it is no longer pending (nats.go)."""
        self._pending_msgs -= 1
        if self._count_bytes:
            self._pending_bytes -= msg_cost(msg.subject, msg.reply, msg._hdr, msg.data) - (
                pin_extra(msg._hdr) if self._pin is not None else 0)

    def _maybe_refill(self) -> None:
        """Request more once what is pending dropped below a threshold."""
        if self._pending_msgs < self._thr_msgs or (
                self._count_bytes and self._pending_bytes < self._thr_bytes):
            self._check_pending()

    def _on_status(self, code: int, desc: str, reply: bytes, hdr: bytes) -> None:
        """Handle a status message (heartbeat, end of a pull, error)."""
        if code == 100:
            return
        low = desc.lower()
        if code == 408 or (code == 409 and ("message size exceeds maxbytes" in low
                                            or "batch completed" in low)):
            if self._sized:
                self._sized.popleft()  # the oldest open pull: the server ends them in order
            self._pending_msgs = max(0, self._pending_msgs - _header_int(
                hdr, b"Nats-Pending-Messages"))
            if self._count_bytes:
                self._pending_bytes = max(0, self._pending_bytes - _header_int(
                    hdr, b"Nats-Pending-Bytes"))
            self._check_pending()
            return
        if code == 409 and "consumer deleted" in low:
            err: errors.JetStreamError = errors.ConsumerDeletedError(
                f"consumer deleted ({code} {desc})", code=code)
            if self._ordered is not None:
                self._notify(err)
                self._reset()
            else:
                self._fail(err)
            return
        if code == 400:
            self._fail(errors.InvalidArgumentError(f"bad pull request: {desc}", code=code))
            return
        if code == 423:  # a stale pin id: forget it and compete for the pin again (nats.go)
            if self._pin is not None:
                self._pin.pin_id = None
            self._reset_pending()
            self._check_pending()
            return
        if code == 409 and "leadership change" in low:
            self._reset_pending()
            err = errors.ConsumerLeadershipChangedError(desc, code=code)
        elif code == 409 and "server shutdown" in low:
            err = errors.ServerShutdownError(desc, code=code)
        elif code == 503:
            err = errors.NoRespondersError(
                "no responders: the consumer or its stream does not exist", code=code)
            if self._ordered is not None:
                self._notify(err)
                self._reset()
                return
        elif code == 404:
            err = errors.JetStreamError(f"no messages ({code} {desc})", code=code)
        else:
            err = errors.JetStreamError(f"pull request failed: {code} {desc}", code=code)
        self._notify(err)
        self._check_pending()

    def _order_ok(self, reply: str) -> bool:
        """Ordered consumers: accept the next message or start a reset on a gap."""
        toks = reply.split(".")
        n = len(toks)
        if n == 9:
            name, cseq = toks[3], toks[6]
        elif n >= 12:
            name, cseq = toks[5], toks[8]
        else:
            return False
        if name != self._consumer:
            return False  # not from the current consumer: stale, drop it
        if cseq != self._next_dseq:
            self._reset()
            return False
        self._dseq += 1
        self._next_dseq = str(self._dseq + 1)
        self._last_reply = reply
        return True

    def _sync_cursor(self) -> None:
        """Tell the ordered consumer the stream sequence of the last delivered message."""
        reply, self._last_reply = self._last_reply, ""
        if reply and self._ordered is not None:
            seqs = ack_seqs(reply)
            if seqs is not None:
                self._ordered._delivered(seqs[1])

    # -- heartbeats and connection events ------------------------------------------------------
    def _arm_heartbeat(self) -> None:
        hb = self._opts.heartbeat
        if hb and self._state <= _DRAINING:
            self._hb_timer = self._loop.call_later(hb / 2, self._hb_tick)

    def _waiting(self) -> bool:
        """Whether the client is idle-waiting for the server (heartbeats must arrive)."""
        return not self._buf

    def _hb_tick(self) -> None:
        self._hb_timer = None
        if self._state != _RUNNING:
            return
        if self._seen or self._resetting or not self._waiting():
            self._seen = False
            self._idle_ticks = 0
        else:
            self._idle_ticks += 1
            if self._idle_ticks >= 4:  # ticks every heartbeat/2: two heartbeats missed
                self._idle_ticks = 0
                self._missed_heartbeat()
        self._arm_heartbeat()

    def _missed_heartbeat(self) -> None:
        err = errors.NoHeartbeatError(
            f"no heartbeat received for {2 * self._opts.heartbeat:g}s "
            f"(heartbeat {self._opts.heartbeat:g}s)")
        if self._ordered is not None:
            self._notify(err)
            self._reset()
            return
        self._reset_pending()
        self._heartbeat_error(err)
        self._check_pending()

    def _on_conn_event(self, event: str) -> None:
        if self._state == _CLOSED:
            return
        if event == "disconnected":
            self._connected = False
        elif event == "reconnected":
            self._connected = True
            if self._ordered is not None:
                kick = self._reset_kick
                if kick is not None and not kick.done():
                    kick.set_result(None)  # a reset waiting to retry: retry now
                self._reset()
            else:
                self._reset_pending()
                self._check_pending()
        elif event == "closed":
            self._fail(errors.ConnectionClosedError("the connection was closed"))

    # -- ordered resets ------------------------------------------------------------------------
    def _reset(self) -> None:
        """Ordered: drop the current consumer's delivery and recreate it (in the background)."""
        if self._ordered is None or self._resetting or self._state != _RUNNING:
            return
        self._resetting = True
        self._sync_cursor()
        self._drop_sub_now()
        self._buf.clear()
        self._reset_pending()
        self._dseq = 0
        self._next_dseq = "1"
        self._js._spawn(self._do_reset())

    async def _do_reset(self) -> None:
        assert self._ordered is not None
        try:
            name = await self._ordered._recreate(self)
            if self._state == _RUNNING:
                self._consumer = name
                self._next_subject = self._js.api_subject(
                    f"CONSUMER.MSG.NEXT.{self.stream}.{name}")
                await self._open_sub()
        except asyncio.CancelledError:
            self._resetting = False
            raise
        except errors.JetStreamError as e:
            self._resetting = False
            if self._state == _RUNNING:
                self._fail(e)
            return
        self._resetting = False
        if self._state != _RUNNING:  # stopped while recreating
            self._drop_sub_now()
            return
        self._seen = True
        self._check_pending()

    async def _reset_sleep(self, delay: float) -> None:
        """Wait ``delay`` before a retry; a reconnect or stop cuts it short."""
        fut = self._reset_kick = self._loop.create_future()
        h = self._loop.call_later(delay, _resolve, fut)
        try:
            await fut
        finally:
            h.cancel()
            self._reset_kick = None

    # -- errors and shutdown -------------------------------------------------------------------
    def _notify(self, err: BaseException) -> None:
        """A non-fatal problem (consume: reported to the error handler)."""

    def _heartbeat_error(self, err: errors.JetStreamError) -> None:
        self._notify(err)

    def _fail(self, err: errors.JetStreamError) -> None:
        """A fatal problem: report it and stop."""
        raise NotImplementedError

    def _teardown(self) -> None:
        """Synchronous part of closing: no more pulls, timers or connection events."""
        self._sync_cursor()
        if self._hb_timer is not None:
            self._hb_timer.cancel()
            self._hb_timer = None
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        kick = self._reset_kick
        if kick is not None and not kick.done():
            kick.set_result(None)

    def _stop_now(self) -> None:
        """Enter the closed state: drop what is buffered, no more pulls, timers or events."""
        self._state = _CLOSED
        self._buf.clear()
        self._teardown()

    def _set_closed(self) -> None:
        self._teardown()
        if not self._closed_fut.done():
            self._closed_fut.set_result(None)

    async def _shutdown(self, drain: bool) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop receiving: unsubscribe and discard buffered messages."""
        await self._shutdown(drain=False)

    async def drain(self) -> None:
        """Stop pulling, but first hand out what is already buffered or in flight."""
        await self._shutdown(drain=True)


class ConsumeContext(_PullContext):
    """A running :meth:`Consumer.consume`: ``stop()``, ``drain()``, ``closed``; context manager.

    A plain-function handler runs directly as messages arrive; a coroutine handler runs on
    one delivery task, in order; a blocking-API handler runs on the connection's handler
    thread, in order. A message counts as consumed (for pre-buffering) once its handler
    returned, as in nats.go.
    """

    def __init__(self, js: JetStream, stream: str, consumer: str, opts: PullOptions,
                 handler: Callable[[Msg], Any],
                 error_handler: Callable[[Any, BaseException], Any] | None = None,
                 ordered: _OrderedHooks | None = None) -> None:
        super().__init__(js, stream, consumer, opts, ordered)
        self._handler = handler
        self._error_handler = error_handler
        self._th: ThreadHandler | None = handler if isinstance(handler, ThreadHandler) else None
        self._inline = self._th is None and not _is_async_callable(handler)
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._busy = False
        self._carry: Any = None  # an awaitable returned by an inline handler
        # blocking API: messages handed to the handler thread and not yet done
        self._inflight = 0
        self._done_q: deque[tuple[Msg, int]] = deque()
        self._done_scheduled = False
        self._idle_waiters: list[asyncio.Future[None]] = []

    async def _start(self) -> None:
        if not self._inline:
            self._task = self._js._spawn(self._deliver_loop())
        await super()._start()

    def _waiting(self) -> bool:
        return not self._buf and not self._busy and not self._inflight

    def _wake_loop(self) -> None:
        w = self._wake
        if w is not None:
            self._wake = None
            _resolve(w)

    def _enqueue(self, item: Any) -> None:
        """Buffer a message (or a push flow-control marker) for the delivery task."""
        self._buf.append(item)
        if self._wake is not None:
            self._wake_loop()

    # -- delivery ------------------------------------------------------------------------------
    def _received(self, msg: Msg) -> None:
        if not self._inline:
            self._enqueue(msg)
            return
        if self._ordered is not None and not self._order_ok(msg.reply):
            return
        try:
            r = self._handler(msg)
        except Exception as e:  # noqa: BLE001 - reported, delivery goes on
            self._handler_failed(e)
        else:
            if r is not None and inspect.isawaitable(r):
                self._defer(r)
        # _consumed() + _maybe_refill() written out: two calls cost ~25% of this hot path
        self._pending_msgs -= 1
        if self._count_bytes:
            self._pending_bytes -= msg_cost(msg.subject, msg.reply, msg._hdr, msg.data) - (
                pin_extra(msg._hdr) if self._pin is not None else 0)
        if self._pending_msgs < self._thr_msgs or (
                self._count_bytes and self._pending_bytes < self._thr_bytes):
            self._check_pending()

    def _defer(self, awaitable: Any) -> None:
        """An inline handler returned an awaitable: await it, and deliver on a task from now."""
        self._inline = False
        self._carry = awaitable
        self._task = self._js._spawn(self._deliver_loop())

    def _handed(self, msg: Msg, gen: int) -> None:
        """Account for one message whose handler returned."""
        if gen != self._gen:
            return  # pending was reset since (reconnect, missed heartbeats, ordered reset)
        self._consumed(msg)
        self._maybe_refill()

    async def _deliver_loop(self) -> None:
        buf = self._buf
        handler = self._handler
        th = self._th
        loop = self._loop
        try:
            if self._carry is not None:
                carry, self._carry = self._carry, None
                self._busy = True
                try:
                    await carry
                except Exception as e:  # noqa: BLE001
                    self._handler_failed(e)
                finally:
                    self._busy = False
            while True:
                if not buf:
                    if self._state == _CLOSED or (self._state == _DRAINED
                                                  and not self._inflight):
                        break
                    w = self._wake = loop.create_future()
                    await w
                    continue
                if th is not None:  # blocking API: hand the whole burst over at once
                    batch: list[Msg] = []
                    gen = self._gen  # an ordered reset below makes these completions stale
                    while buf:
                        item = buf[0]
                        if type(item) is not Msg and not isinstance(item, Msg):
                            break
                        buf.popleft()
                        if self._ordered is None or self._order_ok(item.reply):
                            batch.append(item)
                    if batch:
                        self._inflight += len(batch)
                        room = th.submit(self, batch, gen)
                        if room is not None:  # the handler thread is far behind
                            await room
                        continue
                    if not buf:  # every message was dropped by an ordered reset
                        continue
                item = buf.popleft()
                if type(item) is not Msg and not isinstance(item, Msg):
                    await self._deliver_control(item)
                    continue
                if self._ordered is not None and not self._order_ok(item.reply):
                    continue
                gen = self._gen
                self._busy = True
                try:
                    r = handler(item)
                    if r is not None and inspect.isawaitable(r):
                        await r
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # noqa: BLE001 - reported, delivery goes on
                    self._handler_failed(e)
                finally:
                    self._busy = False
                self._seen = True
                self._last_handled = item.reply
                self._handed(item, gen)
        finally:
            self._wake = None
            if self._state == _DRAINED:
                self._set_closed()  # drained: everything was delivered
            elif self._state < _DRAINED:  # cancelled from outside (connection closing)
                self._notify(errors.ConnectionClosedError("the connection was closed"))
                self._state = _CLOSED
                self._buf.clear()
                self._drop_sub_now()
                self._set_closed()

    # -- blocking API: the handler thread reports back -----------------------------------------
    def _thread_done(self, msg: Msg, gen: int) -> None:
        """Called on the handler thread after the handler ran (or was skipped)."""
        self._done_q.append((msg, gen))
        if not self._done_scheduled:
            self._done_scheduled = True
            try:
                self._loop.call_soon_threadsafe(self._drain_done)
            except RuntimeError:  # the loop is closed: nothing left to account for
                pass

    def _thread_error(self, e: BaseException) -> None:
        """Called on the handler thread when the handler raised."""
        try:
            self._loop.call_soon_threadsafe(self._handler_failed, e)
        except RuntimeError:
            pass

    def _drain_done(self) -> None:
        self._done_scheduled = False
        q = self._done_q
        running = self._state != _CLOSED
        while q:
            msg, gen = q.popleft()
            self._inflight -= 1
            if running:
                self._handed(msg, gen)
        self._seen = True
        if not self._inflight:
            ws, self._idle_waiters = self._idle_waiters, []
            for w in ws:
                _resolve(w)
            if self._state == _DRAINED:
                self._wake_loop()

    async def _handlers_idle(self) -> None:
        """Wait until no message handed to the handler thread is still pending."""
        while self._inflight:
            w = self._loop.create_future()
            self._idle_waiters.append(w)
            await w

    async def _deliver_control(self, item: Any) -> None:
        """Push consumers put flow-control markers in the buffer (see jsdata/push.py)."""

    # -- errors --------------------------------------------------------------------------------
    def _handler_failed(self, e: BaseException) -> None:
        if self._error_handler is None:
            log.warning("jsdata: consume handler raised %r", e, exc_info=e)
            return
        self._notify(e)

    def _notify(self, err: BaseException) -> None:
        eh = self._error_handler
        if eh is None:
            log.debug("jsdata: consume error: %r", err)
            return
        try:
            r = eh(self, err)
        except Exception as e:  # noqa: BLE001 - an error handler must not stop delivery
            log.warning("jsdata: consume error handler raised %r", e, exc_info=e)
            return
        if r is not None and inspect.isawaitable(r):
            self._js._spawn(_quietly(r))

    def _fail(self, err: errors.JetStreamError) -> None:
        if self._state == _CLOSED:
            return
        self._notify(err)
        self._stop_now()
        if self._js.nc.is_closed:
            self._sub = None  # nothing left to unsubscribe from
        task = self._task
        if (task is None or task.done()) and not self._inflight:
            self._drop_sub_now()
            self._set_closed()
        else:  # let the running handler finish first
            self._js._spawn(self._shutdown(drain=False))

    # -- shutdown ------------------------------------------------------------------------------
    async def _shutdown(self, drain: bool, join: bool = True) -> None:
        """Stop or drain; ``join``: also wait until the handler is done with everything.

        Called from inside the handler (a coroutine handler, or a blocking handler on the
        handler thread) it does not wait for the handler itself.
        """
        if self._closed_fut.done():
            return
        me = asyncio.current_task()
        if self._task is not None and me is self._task:
            join = False
        if drain and self._state == _RUNNING:
            self._state = _DRAINING
            self._teardown()
            await self._close_sub(drain=True)
            if self._state != _DRAINING:  # stopped meanwhile
                if join:
                    await self.wait_closed()
                return
            self._state = _DRAINED
            task = self._task  # an inline handler may have switched to task delivery
            if task is None or task.done():
                self._set_closed()
                return
            self._wake_loop()
            if join:
                await asyncio.wait([task])
            return
        if drain and self._state in (_DRAINING, _DRAINED):  # a drain is under way
            if join:
                await self.wait_closed()
            return
        self._stop_now()
        task = self._task
        if task is not None and task is not me and not task.done():
            if self._busy and join:
                pass  # let the running handler finish: the loop ends right after it
            else:
                task.cancel()
        await self._close_sub(drain=False)
        if task is not None and join and not task.done():
            await asyncio.wait([task])
        if join and self._th is not None:
            await self._handlers_idle()  # queued calls are skipped, the running one ends
        self._set_closed()


class ThreadHandler:
    """The blocking API's consume handler: the user's function on the handler thread.

    Calls run in order on the connection's handler thread (so a slow handler never stalls
    the event loop); each completion is reported back to the context, so pre-buffering
    counts a message as consumed only once the function returned, and ``stop()`` skips
    messages that were handed over but not yet run.
    """

    __slots__ = ("fn", "lt", "_submit", "_wrap")

    def __init__(self, fn: Callable[[Any], Any], lt: Any) -> None:
        from .blocking import wrap
        if inspect.iscoroutinefunction(fn):
            raise errors.InvalidArgumentError(
                "the blocking API takes plain functions as handlers; use jsdata.aio for "
                "coroutines")
        self.fn = fn
        self.lt = lt
        self._submit = lt.handlers.submit
        self._wrap = wrap

    def __call__(self, msg: Msg) -> None:  # direct use (not through a ConsumeContext)
        self.fn(self._wrap(msg, self.lt))

    def submit(self, ctx: ConsumeContext, msgs: list[Msg], gen: int) -> Any:
        """Queue calls for ``msgs`` (one hand-over); an awaitable when far behind."""
        wrap, lt = self._wrap, self.lt
        return self._submit(self._run, (ctx, [(wrap(m, lt), m) for m in msgs], gen))

    def _run(self, ctx: ConsumeContext, items: list[tuple[Any, Msg]], gen: int) -> None:
        fn = self.fn
        for twin, msg in items:
            try:
                if ctx._state != _CLOSED:
                    fn(twin)
                    ctx._last_handled = msg.reply
            except Exception as e:  # noqa: BLE001 - reported through the error handler
                ctx._thread_error(e)
            finally:
                ctx._thread_done(msg, gen)


class BlockingConsumeMixin:
    """Blocking-API ``consume``: the handler runs on the handler thread via ThreadHandler."""

    _core: Any
    _lt: Any

    def consume(self, handler: Callable[[Any], Any], *args: Any, **kw: Any) -> Any:
        """Receive messages continuously with ``handler(msg)`` on a worker thread, in order.

        Same options as the asyncio API; returns a ConsumeContext (``stop()``, ``drain()``).
        """
        from .blocking import _callback, wrap
        lt = self._lt
        if lt is None:
            raise errors.NotConnectedError("not bound to a connection")
        method = type(self._core).consume
        ba = inspect.signature(method).bind(self._core, handler, *args, **kw)
        _check_handler(handler)
        ba.arguments["handler"] = ThreadHandler(handler, lt)
        eh = ba.arguments.get("error_handler")
        if eh is not None:
            ba.arguments["error_handler"] = _callback(eh, lt)
        return wrap(lt.run(method(*ba.args, **ba.kwargs)), lt)


class BlockingConsumeContextMixin:
    """Blocking-API ``stop``/``drain``: safe to call from inside the handler."""

    _core: Any
    _lt: Any

    def _shutdown_now(self, drain: bool) -> None:
        lt = self._lt
        if lt is None or lt.closed:
            return
        handlers = getattr(lt, "_handlers", None)
        inside = handlers is not None and threading.current_thread() is handlers.thread
        lt.run(self._core._shutdown(drain, join=not inside))

    def stop(self) -> None:
        """Stop receiving: unsubscribe and discard what was not handed to the handler yet."""
        self._shutdown_now(False)

    def drain(self) -> None:
        """Stop pulling, but first deliver what is already buffered or in flight."""
        self._shutdown_now(True)

    def __exit__(self, *exc: object) -> None:
        self.stop()


ConsumeContext.__blocking_mixin__ = BlockingConsumeContextMixin  # type: ignore[attr-defined]
ConsumeMethods.__blocking_mixin__ = BlockingConsumeMixin  # type: ignore[attr-defined]



class MessagesContext(_PullContext):
    """A running :meth:`Consumer.messages`: ``await it.next()``, ``async for``; ``stop()``.

    Each ``next()`` hands out exactly one message, so several tasks (or threads of the
    blocking API) may share one context, e.g. as work-queue workers. Iteration ends once the
    context is stopped (or drained and empty).
    """

    def __init__(self, js: JetStream, stream: str, consumer: str, opts: PullOptions,
                 ordered: _OrderedHooks | None = None) -> None:
        super().__init__(js, stream, consumer, opts, ordered)
        self._waiters: list[asyncio.Future[None]] = []
        self._error: BaseException | None = None
        self._fatal: BaseException | None = None

    def _waiting(self) -> bool:
        return bool(self._waiters) and not self._buf

    def _wake_all(self) -> None:
        ws, self._waiters = self._waiters, []
        for w in ws:
            _resolve(w)

    def _received(self, msg: Msg) -> None:
        self._buf.append(msg)
        if self._waiters:
            self._wake_all()

    def _heartbeat_error(self, err: errors.JetStreamError) -> None:
        if self._opts.report_missing_heartbeat:
            self._error = err
            self._wake_all()

    def _fail(self, err: errors.JetStreamError) -> None:
        if self._state == _CLOSED:
            return
        self._fatal = err
        self._stop_now()
        if self._js.nc.is_closed:
            self._sub = None
        self._drop_sub_now()
        self._set_closed()
        self._wake_all()

    def _handed(self, msg: Msg) -> bool:
        """Account for a message handed out; False if an ordered check dropped it."""
        if self._ordered is not None and not self._order_ok(msg.reply):
            return False
        self._consumed(msg)
        self._last_handled = msg.reply
        return True

    def _pop(self) -> Msg:
        """The first buffered message, handed out (unordered contexts only)."""
        m: Msg = self._buf.popleft()
        self._consumed(m)
        self._last_handled = m.reply
        self._maybe_refill()
        return m

    async def _wait(self, deadline: float | None) -> None:
        fut = self._loop.create_future()
        self._waiters.append(fut)
        h = None
        if deadline is not None:
            h = self._loop.call_at(deadline, _resolve, fut)
        try:
            await fut
        finally:
            if h is not None:
                h.cancel()
            if fut in self._waiters:
                self._waiters.remove(fut)

    async def _take(self, many: bool, timeout: float | None,
                    at_end: type[BaseException] | None) -> list[Msg]:
        deadline = None if timeout is None else self._loop.time() + timeout
        buf = self._buf
        while True:
            if buf:
                out: list[Msg] = []
                while buf:
                    m = buf.popleft()
                    if self._handed(m):
                        out.append(m)
                        if not many:
                            break
                self._maybe_refill()
                if out:
                    return out
                continue
            if self._fatal is not None:
                err, self._fatal = self._fatal, None
                raise err
            if self._error is not None:
                err, self._error = self._error, None
                raise err
            if self._state >= _DRAINED:
                if at_end is None:
                    return []
                if self._js.nc.is_closed:
                    raise errors.ConnectionClosedError(
                        "messages iterator closed: the connection is closed")
                raise at_end("messages iterator closed")
            if deadline is not None and self._loop.time() >= deadline:
                raise errors.JetStreamTimeoutError(f"no message within {timeout:g}s")
            await self._wait(deadline)

    async def next(self, timeout: float | timedelta | None = None) -> Msg:
        """The next message; waits up to ``timeout`` seconds (None: until one arrives).

        Raises JetStreamTimeoutError on timeout, NoHeartbeatError after two missed
        heartbeats (then keeps pulling), MsgIteratorClosedError once stopped.
        """
        if self._buf and self._ordered is None:  # fast path: a buffered message
            return self._pop()
        out = await self._take(False, seconds(timeout), errors.MsgIteratorClosedError)
        return out[0]

    def __aiter__(self) -> MessagesContext:
        return self

    def _iter_stopped(self) -> bool:
        """Stopped (not drained): messages the blocking iterator holds are not handed out."""
        return self._state == _CLOSED


    async def __anext__(self) -> Msg:
        if self._buf and self._ordered is None:  # fast path: a buffered message
            return self._pop()
        out = await self._take(False, None, None)
        if not out:
            raise StopAsyncIteration
        return out[0]

    async def _next_many(self) -> list[Msg]:
        """Every buffered message, waiting for at least one ([] once the iteration ended)."""
        return await self._take(True, None, None)

    async def _shutdown(self, drain: bool) -> None:
        if self._closed_fut.done():
            return
        if drain and self._state == _RUNNING:
            self._state = _DRAINING
            self._teardown()
            await self._close_sub(drain=True)
            if self._state == _DRAINING:
                self._state = _DRAINED
                self._set_closed()
                self._wake_all()
            else:
                await self.wait_closed()
            return
        if drain and self._state in (_DRAINING, _DRAINED):
            await self.wait_closed()
            return
        self._stop_now()
        await self._close_sub(drain=False)
        self._set_closed()
        self._wake_all()


def _is_async_callable(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None))  # noqa: B004


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _quietly(aw: Any) -> None:
    try:
        await aw
    except Exception as e:  # noqa: BLE001
        log.warning("jsdata: consume error handler raised %r", e, exc_info=e)
