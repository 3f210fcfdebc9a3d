"""Continuous consumption: ``consume(handler)`` and ``messages()`` on pull consumers.

``ConsumeContext`` runs a handler for each message, in order (inline, on a delivery task for
coroutines, or on the blocking API's handler thread); ``MessagesContext`` hands messages to
``next()`` / iteration. Both ride on the pull engine in pull_context.py.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .. import errors
from .._util import seconds
from ._budget import msg_cost
from .message import Msg
from .priority import pin_extra
from .pull import DEFAULT_EXPIRES
from .pull_context import (
    _CLOSED,
    _DRAINED,
    _DRAINING,
    _RUNNING,
    PullOptions,
    _check_handler,
    _OrderedHooks,
    _PullContext,
    _resolve,
    pull_options,
)

if TYPE_CHECKING:
    from .context import Context

log = logging.getLogger("jsdata")


class ConsumeMethods:
    """``consume`` / ``messages`` for a pull consumer (durable or ordered)."""

    _js: Context
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
        (:mod:`jsdata.client.priority`); a pinned client's id is kept, and a 423 clears it and
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


class ConsumeContext(_PullContext):
    """A running :meth:`Consumer.consume`: ``stop()``, ``drain()``, ``closed``; context manager.

    A plain-function handler runs directly as messages arrive; a coroutine handler runs on
    one delivery task, in order; a blocking-API handler runs on the connection's handler
    thread, in order. A message counts as consumed (for pre-buffering) once its handler
    returned, as in nats.go.
    """

    def __init__(self, js: Context, stream: str, consumer: str, opts: PullOptions,
                 handler: Callable[[Msg], Any],
                 error_handler: Callable[[Any, BaseException], Any] | None = None,
                 ordered: _OrderedHooks | None = None) -> None:
        super().__init__(js, stream, consumer, opts, ordered)
        self._handler = handler
        self._error_handler = error_handler
        # the blocking API hands over a ThreadHandler (client/_blocking.py): batches of
        # messages go to the handler thread, each completion reported back
        self._th: Any = handler if getattr(handler, "runs_on_handler_thread", False) else None
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


class MessagesContext(_PullContext):
    """A running :meth:`Consumer.messages`: ``await it.next()``, ``async for``; ``stop()``.

    Each ``next()`` hands out exactly one message, so several tasks (or threads of the
    blocking API) may share one context, e.g. as work-queue workers. Iteration ends once the
    context is stopped (or drained and empty).
    """

    def __init__(self, js: Context, stream: str, consumer: str, opts: PullOptions,
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


async def _quietly(aw: Any) -> None:
    try:
        await aw
    except Exception as e:  # noqa: BLE001
        log.warning("jsdata: consume error handler raised %r", e, exc_info=e)
