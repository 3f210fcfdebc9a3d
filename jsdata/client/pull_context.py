"""The pull engine of continuous consumption: pipelined pull requests, heartbeats, status.

One inbox subscription per context on the connection's fast path; pull requests are
pipelined so that what is buffered plus what is requested never exceeds max_messages (or
max_bytes); a refill is requested once that drops below the threshold (nats.go pull.go).
``ConsumeContext`` and ``MessagesContext`` (consume.py) hand the messages out; ordered
consumers (ordered.py) plug in through ``_OrderedHooks`` and push consumers (push.py) reuse
the contexts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .. import errors
from .._util import seconds
from ._budget import msg_cost, pull_cost
from ._conn import status_of
from .headers import header_int
from .message import Msg, received
from .priority import PinHolder, note_pin, pin_extra, priority_fields
from .pull import DEFAULT_EXPIRES, ack_seqs

if TYPE_CHECKING:
    from .context import Context

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
    group: str | None = None  # priority-group options (jsdata.client.priority)
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


class _OrderedHooks:
    """What an ordered consumer plugs into a pull context (see jsdata/ordered.py)."""

    async def _recreate(self, ctx: _PullContext) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def _delivered(self, stream_seq: int) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class _PullContext:
    """The pull engine shared by ConsumeContext and MessagesContext.

    Keeps ``pending`` (messages/bytes requested but not yet handed out) as nats.go does,
    handles status messages, idle heartbeats and reconnects; an ordered consumer plugs in
    through ``_ordered`` (sequence checks and consumer recreation).
    """

    def __init__(self, js: Context, stream: str, consumer: str, opts: PullOptions,
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
        self._remove_denials: Callable[[], None] | None = None
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
        self._remove_denials = nc.add_denial_listener(self._on_denied)
        self._connected = nc.is_connected
        self._arm_heartbeat()
        try:
            await self._pull_now()
        except BaseException:
            await self._shutdown(drain=False)
            raise

    async def _open_sub(self) -> None:
        self._inbox = self._js.nc.inbox()
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
            nc.drop_fast(sub)
            return
        await nc.fast_unsubscribe(sub)

    def _drop_sub_now(self) -> None:
        """Stop routing the current subscription's messages here (unsubscribe in background)."""
        sub, self._sub = self._sub, None
        if sub is not None:
            self._js.nc.drop_fast(sub)
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
            self._received(received(subject, reply, data, hdr, self._js))
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
            self._pending_msgs = max(0, self._pending_msgs - header_int(
                hdr, b"Nats-Pending-Messages"))
            if self._count_bytes:
                self._pending_bytes = max(0, self._pending_bytes - header_int(
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

    def _on_denied(self, err: errors.PermissionDeniedError) -> None:
        """The server refused a pull request of this context: no message can ever come,
        so stop with the error instead of waiting out heartbeats."""
        if (self._state != _CLOSED and err.operation == "publish"
                and err.subject == self._next_subject):
            self._fail(err)

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
        if self._remove_denials is not None:
            self._remove_denials()
            self._remove_denials = None
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


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
