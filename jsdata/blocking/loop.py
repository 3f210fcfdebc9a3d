"""The blocking engine: one asyncio loop on a daemon thread, and one handler thread.

``LoopThread.run`` submits a coroutine and blocks for its result (Ctrl-C cancels it);
``submit_nowait`` queues fire-and-forget work that runs in order and that later ``run``
calls wait for; ``submit_burst`` joins calls made faster than the loop takes them (acks,
async publishes) into one queued burst. A failure known at once (a closed connection)
raises at once, as Go's ``Ack`` does; one that happens on the loop becomes an
:class:`~jsdata.errors.AsyncCallError`, raised by the next call through the loop or by
``close()``, or given to ``error_cb``. Callbacks given to the blocking API run in order on
the ``_HandlerThread``, with back-pressure on the core when they fall behind, so a slow
handler never stalls the loop's I/O. Nothing here names a JetStream class.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from .. import errors

log = logging.getLogger("jsdata")
_running_loop = asyncio._get_running_loop  # None on a thread without a running loop

_HANDLER_HIGH_WATER = 1024  # queued callback calls before the core is made to wait
_NOWAIT_HIGH_WATER = 512  # queued fire-and-forget calls before the caller waits


def _burst_call(b: tuple[Any, list[Any], Callable[[Any], str]]) -> Callable[[], str]:
    """What a burst was, asked only if running it fails outside ``fn``."""
    return lambda: f"a burst of {len(b[1])} calls, the first {b[2](b[1][0])}"


_SETTLE_WAIT = 5.0  # seconds a direct call waits for a cancelled loop call to finish


class _Abandoned:
    """Wraps a loop call so a caller that gave up on it can learn when it really ended."""

    __slots__ = ("ended", "event")

    def __init__(self) -> None:
        self.ended = False
        self.event: threading.Event | None = None

    async def run(self, coro: Any) -> Any:
        try:
            return await coro
        finally:
            self.ended = True
            ev = self.event
            if ev is not None:
                ev.set()

    def watch(self) -> threading.Event:
        """From the caller giving up: an event set when the call ends (at once if it has)."""
        ev = self.event = threading.Event()
        if self.ended:  # it ended before the event was there: run() did not see it
            ev.set()
        return ev


class LoopThread:
    """One asyncio event loop on a daemon thread; ``run`` submits a coroutine and blocks."""

    # Drive ``direct`` calls on the calling thread (False: every call hops to the loop, as
    # before; the round-trip benchmark compares both in one run).
    direct_calls = True

    def __init__(self, name: str = "jsdata-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._handlers: _HandlerThread | None = None
        self._handlers_lock = threading.Lock()
        self.closed = False
        # fire-and-forget submissions (acks, async publishes), run in order on the loop
        self._nowait: collections.deque[Any] = collections.deque()
        self._nowait_lock = threading.Lock()
        self._nowait_room = threading.Event()
        self._nowait_idle = True
        self._nowait_submitted = 0
        self._nowait_done = 0
        self._nowait_event: asyncio.Event | None = None
        self._nowait_progress: asyncio.Event | None = None
        # the open burst of submit_burst (queued, not taken by the drainer yet): (fn, items,
        # call); None once taken or once other work was queued behind it
        self._burst: tuple[Callable[[list[Any]], Any], list[Any], Callable[[Any], str]
                           ] | None = None
        # loop calls given up on (Ctrl-C, timeout) whose cancellation has not finished on the
        # loop yet: a direct call waits for their cleanup (e.g. ending a pull request) first
        self._unsettled: list[_Abandoned] = []
        # failures of fire-and-forget work: raised by the next call (or close()), or given to
        # error_cb when the user set one (connect(error_cb=...)); never only kept here
        self._failed: collections.deque[errors.AsyncCallError] = collections.deque()
        self.error_cb: Callable[[BaseException], Any] | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()
        self._ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._nowait_event = asyncio.Event()
        self._nowait_progress = asyncio.Event()
        self.loop.create_task(self._nowait_drainer(), name="jsdata-nowait")
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    def submit_nowait(self, coro: Any, call: str | Callable[[], str] = "a fire-and-forget call"
                      ) -> None:
        """Queue ``coro`` to run on the loop in submission order, without waiting for it.

        Used for fire-and-forget work (acks, async publishes): one thread hop per burst
        instead of one round trip per call. Later ``run`` calls see it done first. If it
        fails, the failure (an :class:`~jsdata.errors.AsyncCallError` naming ``call``) is
        raised by the next call through this loop, or given to ``error_cb``.

        ``coro`` may also be a plain function, called on the loop (no coroutine per call:
        an ack is one). It may return an async function to await once the run of plain
        functions queued with it has been called (a connection's flush: one write for a
        burst of acks). ``call`` may be a function that says what the call was, asked only
        if it fails.
        """
        if self._failed:
            if not callable(coro):
                coro.close()
            self.raise_failed()
        with self._nowait_lock:
            self._nowait.append((coro, call))
            self._nowait_submitted += 1
            self._burst = None  # later burst items go behind this
            wake = self._nowait_idle
            self._nowait_idle = False
            full = len(self._nowait) >= _NOWAIT_HIGH_WATER
            if full:
                self._nowait_room.clear()
        self._queued(wake, full)

    def _queued(self, wake: bool, full: bool) -> None:
        """After queuing: wake the drainer if it was idle; past the high-water mark, wait
        for it to take the queue. Waiting on an Event hands the loop thread the GIL at
        once, where spinning here would starve it for whole switch intervals."""
        if wake:
            self.loop.call_soon_threadsafe(self._nowait_event.set)  # type: ignore[union-attr]
        if full and threading.current_thread() is not self.thread:
            self._nowait_room.wait(5.0)

    def submit_burst(self, fn: Callable[[list[Any]], Any], item: Any,
                     call: Callable[[Any], str]) -> None:
        """Queue ``fn(items)`` fire-and-forget like :meth:`submit_nowait`, joining ``item``
        to the burst queued last when that burst is for the same ``fn`` and has not started
        (nothing else was queued behind it): one queue entry, wake-up and call of ``fn``
        per burst, and no object per item beyond the item itself.

        For calls made faster than the loop takes them (a blocking ``publish_async``): the
        items, not closures or tuples of them, are what waits in the queue. (Thousands of
        small tracked objects waiting there reach the collector's oldest generation and
        make its full passes, which traverse the whole process, frequent: ~25 % of a
        blocking publish_async loop's time.) ``call(item)`` says what an item's call was,
        asked only if it fails. Each item counts as one submission for ordering and for
        :attr:`_nowait_submitted`.
        """
        if self._failed:
            self.raise_failed()
        wake = False
        with self._nowait_lock:
            b = self._burst
            if b is not None and b[0] == fn:
                items = b[1]
                items.append(item)
            else:
                b = (fn, [item], call)
                items = b[1]
                self._nowait.append((partial(self._run_burst, b), _burst_call(b)))
                self._burst = b
                wake = self._nowait_idle
                self._nowait_idle = False
            self._nowait_submitted += 1
            full = len(items) >= _NOWAIT_HIGH_WATER
            if full:
                self._nowait_room.clear()
        self._queued(wake, full)

    def _run_burst(self, b: tuple[Callable[[list[Any]], Any], list[Any],
                                  Callable[[Any], str]]) -> Any:
        """On the loop: ``fn`` over the burst's items (taken by the drainer: closed)."""
        fn, items, call = b
        self._nowait_done += len(items) - 1  # the drainer counts the entry as one
        try:
            return fn(items)
        except Exception:  # noqa: BLE001 - one by one, so each failure names its call
            flush = None
            for it in items:
                try:
                    flush = fn([it]) or flush
                except Exception as e:  # noqa: BLE001 - surfaced, see failed()
                    self.failed(partial(call, it), e)
            return flush

    async def _nowait_drainer(self) -> None:
        ev = self._nowait_event
        assert ev is not None and self._nowait_progress is not None
        while True:
            await ev.wait()
            ev.clear()
            while True:
                with self._nowait_lock:
                    if not self._nowait:
                        self._nowait_idle = True
                        break
                    batch = list(self._nowait)
                    self._nowait.clear()
                    self._burst = None  # taken: nothing more joins it
                    self._nowait_room.set()
                flush = None  # what the plain functions of this run asked to await after
                for c, call in batch:
                    try:
                        if callable(c):
                            flush = c() or flush
                        else:
                            if flush is not None:
                                f, flush = flush, None
                                await f()
                            await c
                    except asyncio.CancelledError:
                        raise
                    except BaseException as e:  # noqa: BLE001 - surfaced, see failed()
                        self.failed(call, e)
                    self._nowait_done += 1
                if flush is not None:
                    try:
                        await flush()
                    except asyncio.CancelledError:
                        raise
                    except BaseException as e:  # noqa: BLE001 - surfaced, see failed()
                        self.failed("flushing fire-and-forget work", e)
                self._nowait_progress.set()

    def failed(self, call: str | Callable[[], str], error: BaseException) -> None:
        """Report that fire-and-forget ``call`` failed (from any thread).

        With an ``error_cb`` the error goes to it (on the handler thread); otherwise the
        next call through this loop raises it, or ``close()`` does.
        """
        if callable(call):
            call = call()
        if isinstance(error, errors.AsyncCallError):
            err = error
        else:
            err = errors.AsyncCallError(call=call, error=error)
            err.__cause__ = error
        cb = self.error_cb
        if cb is not None and not self.closed:
            try:
                self.handlers.submit(cb, (err,))
                return
            except Exception:  # noqa: BLE001 - fall back to raising it from the next call
                pass
        self._failed.append(err)

    def raise_failed(self) -> None:
        """Raise the oldest unreported fire-and-forget failure, if there is one."""
        try:
            err = self._failed.popleft()
        except IndexError:
            return
        raise err

    def watch(self, fut: concurrent.futures.Future[Any], call: str) -> None:
        """Report ``fut``'s exception (work started without waiting) through ``failed``."""
        def done(f: concurrent.futures.Future[Any]) -> None:
            if not f.cancelled() and f.exception() is not None:
                self.failed(call, f.exception())  # type: ignore[arg-type]

        fut.add_done_callback(done)

    async def _after_nowait(self, upto: int, coro: Any, report: bool) -> Any:
        prog = self._nowait_progress
        assert prog is not None
        while self._nowait_done < upto:
            prog.clear()
            await prog.wait()
        if report and self._failed:  # work queued before this call failed: this call says so
            coro.close()
            self.raise_failed()
        return await coro

    def run(self, coro: Any, timeout: float | None = None, *, report: bool = True,
            direct: bool = False, ordered: bool = True) -> Any:
        """Run ``coro`` on the loop thread and return its result (Ctrl-C cancels it).

        A fire-and-forget call that failed before this one is raised here instead (not
        with ``report=False``: ``close()`` closes first and raises afterwards). With
        ``direct`` (a core coroutine marked safe for it, see ``client/_portable.py``) it is
        driven on the calling thread instead, without the two thread hops, unless
        fire-and-forget work queued before it still runs (order is kept), a loop call given
        up on is still being cancelled (:meth:`_abandon`), or this thread runs an event loop
        of its own. ``ordered=False`` (a call that sends nothing, see ``_portable.receives``)
        does not queue behind that work.
        """
        if self.closed:
            coro.close()
            raise errors.ConnectionClosedError("the connection is closed")
        if report and self._failed:
            coro.close()
            self.raise_failed()
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("a blocking jsdata call was made on the jsdata event-loop thread; "
                               "use the asyncio API (jsdata.aio) there")
        upto = self._nowait_submitted
        if ordered and upto > self._nowait_done:  # keep order with work queued before
            coro = self._after_nowait(upto, coro, report)
        elif direct and timeout is None and self.direct_calls and _running_loop() is None:
            if not self._unsettled:
                return self._drive(coro)
            # a loop call was given up on: once it has ended, this one goes through the loop
            # too, behind what the cancelled call left to do there (the UNSUB of a pull)
            self._settle()
        mark = _Abandoned()
        fut = asyncio.run_coroutine_threadsafe(mark.run(coro), self.loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            if fut.done():  # the core raised its own TimeoutError subclass: keep it as is
                raise
            self._abandon(fut, mark)
            raise errors.JetStreamTimeoutError("timed out waiting for the operation") from None
        except BaseException:  # KeyboardInterrupt and friends: do not leave work running
            if not fut.done():
                self._abandon(fut, mark)
            raise

    def _abandon(self, fut: concurrent.futures.Future[Any], mark: _Abandoned) -> None:
        """Cancel a loop call given up on; direct calls wait for it to end (:meth:`_settle`).

        The next direct call waits until this one has ended and then runs on the loop, so
        it queues behind what the cancelled call's cleanup left there (a pull request's
        UNSUB, which ends the request at the server). Written from this thread at once, a
        publish could reach the server first and be delivered into the dead pull."""
        if not mark.watch().is_set():
            self._unsettled.append(mark)
        fut.cancel()

    def _settle(self) -> None:
        """Wait (bounded) until the loop calls given up on have finished cancelling."""
        for mark in list(self._unsettled):
            if mark.event is not None:
                mark.event.wait(_SETTLE_WAIT)
            with contextlib.suppress(ValueError):
                self._unsettled.remove(mark)

    def _drive(self, coro: Any) -> Any:
        """Run ``coro`` to its end on this thread: each value it yields is an op whose
        ``block(loop)`` waits here; its result goes back in, its exception (a timeout,
        Ctrl-C) is thrown in at the await, so the coroutine's own handlers and cleanup run.
        """
        loop = self.loop
        value: Any = None
        exc: BaseException | None = None
        while True:
            try:
                op = coro.send(value) if exc is None else coro.throw(exc)
            except StopIteration as stop:
                return stop.value
            finally:
                value = exc = None
            block = getattr(op, "block", None)
            if block is None:  # a bug in the core: this path awaited the loop itself
                exc = RuntimeError(f"jsdata: a call driven on the calling thread awaited "
                                   f"{op!r}, which needs the event loop")
                continue
            try:
                value = block(loop)
            except BaseException as e:  # noqa: BLE001 - thrown into the coroutine
                exc = e

    def start(self, coro: Any, call: str = "a call started without waiting"
              ) -> concurrent.futures.Future[Any]:
        """Start ``coro`` on the loop without waiting (not ordered with ``submit_nowait``
        work); a concurrent future for its result. A failure nobody waits for is reported
        through :meth:`failed` (raised by the next call or given to ``error_cb``)."""
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        self.watch(fut, call)
        return fut

    @property
    def handlers(self) -> _HandlerThread:
        with self._handlers_lock:
            if self._handlers is None:
                self._handlers = _HandlerThread(self)
            return self._handlers

    def stop(self) -> None:
        """Cancel what still runs on the loop, stop it and join every thread."""
        if self.closed:
            return
        self.closed = True
        if self._handlers is not None:
            self._handlers.stop()

        async def _cancel_all() -> None:
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()
            await self.loop.shutdown_default_executor()

        if threading.current_thread() is not self.thread:
            try:
                asyncio.run_coroutine_threadsafe(_cancel_all(), self.loop).result(10)
            except Exception:  # noqa: BLE001 - best effort while shutting down
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


class _HandlerThread:
    """Runs blocking callbacks in order on one thread, with backpressure on the core."""

    def __init__(self, lt: LoopThread) -> None:
        self.lt = lt
        self.q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.size = 0
        self._lock = threading.Lock()
        self._room: asyncio.Future[None] | None = None
        self.thread = threading.Thread(target=self._main, name="jsdata-handlers", daemon=True)
        self.thread.start()

    def _main(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            fn, args = item
            try:
                fn(*args)
            except Exception:  # a failing handler must not stop the others; never silent
                log.exception("jsdata: handler %r raised", getattr(fn, "__name__", fn))
            with self._lock:
                self.size -= 1
                if self.size == _HANDLER_HIGH_WATER // 2 and self._room is not None:
                    room, self._room = self._room, None
                    self.lt.loop.call_soon_threadsafe(_set_res, room)

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> asyncio.Future[None] | None:
        """Queue a call (from the loop thread); returns a future to await when too far behind."""
        with self._lock:
            self.size += 1
            behind = self.size >= _HANDLER_HIGH_WATER
            if behind and self._room is None:
                self._room = self.lt.loop.create_future()
            room = self._room if behind else None
        self.q.put((fn, args))
        return room

    def stop(self) -> None:
        self.q.put(None)
        if threading.current_thread() is not self.thread:
            self.thread.join(10)


def _set_res(f: asyncio.Future[None]) -> None:
    if not f.done():
        f.set_result(None)
