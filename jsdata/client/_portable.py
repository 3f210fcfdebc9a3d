"""Awaitables that also run on the calling thread: the blocking surface's hop-free path.

The blocking surface normally runs a core coroutine on the loop thread and blocks for its
result: two thread hops per call (caller -> loop, loop -> caller), ~150 us of an awaited
round trip. A core method marked :func:`direct` is instead *driven on the calling thread*
(``jsdata.blocking.loop.LoopThread.run(..., direct=True)``): the coroutine runs with no event
loop in that thread, and every await it reaches is one of the awaitables here. Each of them
then yields an *op*, an object with ``block(loop)``, which the driver calls on the calling
thread; its return value is sent back into the coroutine, its exception thrown in at the
await. Under an event loop (``jsdata.aio``, or the blocking surface's ordinary path) they are
plain asyncio awaits. So the logic stays in one place, the async core, and only the way of
waiting differs.

What a directly driven coroutine may do before and after its awaits must be safe on any
thread: prepare and parse (pure code), atomic dict operations, and these awaitables (the
request's bytes reach the socket through one ``call_soon_threadsafe``; the reply completes a
:class:`ThreadWaiter` from the reader). Anything else that needs the loop goes through
:func:`on_loop`.
"""

from __future__ import annotations

import _thread
import asyncio
import time
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_running_loop = asyncio._get_running_loop  # C function: None outside a running loop


def direct(fn: F) -> F:
    """Mark a core coroutine function as safe to drive on the calling thread.

    Its every path may await only this module's awaitables (and other ``direct`` core
    coroutines); the blocking twin then runs it without a thread hop.
    """
    fn.__jsdata_direct__ = True  # type: ignore[attr-defined]
    return fn


def receives(fn: F) -> F:
    """:func:`direct`, for a core coroutine that sends nothing: it only waits for what the
    loop receives (the next messages of a fetch). Such a call need not queue behind the
    fire-and-forget work (acks) submitted before it; the blocking twin drives it at once.
    """
    fn.__jsdata_sends__ = False  # type: ignore[attr-defined]
    return direct(fn)


def driven() -> bool:
    """True when the running coroutine is driven on a calling thread (no event loop here)."""
    return _running_loop() is None


class Op:
    """Awaited by a driven coroutine: yields itself; the driver calls :meth:`block`."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self)

    def block(self, loop: asyncio.AbstractEventLoop) -> Any:
        """Wait on the calling thread; the result is what the ``await`` returns."""
        raise NotImplementedError


class _OnLoop(Op):
    __slots__ = ("coro",)

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro

    def block(self, loop: asyncio.AbstractEventLoop) -> Any:
        fut = asyncio.run_coroutine_threadsafe(self.coro, loop)
        try:
            return fut.result()
        except BaseException:  # KeyboardInterrupt here: do not leave the work running
            if not fut.done():
                fut.cancel()
            raise


async def on_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on the event loop: at once under the loop, else on the loop thread
    (the rare paths of a driven call: starting the reply subscription, say)."""
    if _running_loop() is not None:
        return await coro
    return await _OnLoop(coro)  # type: ignore[no-any-return]


class _Sleep(Op):
    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def block(self, loop: asyncio.AbstractEventLoop) -> None:
        time.sleep(self.seconds)


async def sleep(seconds: float) -> None:
    """``asyncio.sleep`` under the loop, ``time.sleep`` on a calling thread."""
    if _running_loop() is not None:
        await asyncio.sleep(seconds)
    else:
        await _Sleep(seconds)


class ReplyWaiter:
    """One reply, completed once from the loop thread: ``done(data, hdr)`` or ``fail(e)``."""

    __slots__ = ()

    def done(self, data: bytes, hdr: bytes) -> None:
        raise NotImplementedError

    def fail(self, error: BaseException) -> None:
        raise NotImplementedError

    async def wait(self, timeout: float) -> tuple[bytes, bytes]:
        """The reply; builtin ``TimeoutError`` after ``timeout`` seconds."""
        raise NotImplementedError


class LoopWaiter(ReplyWaiter):
    """A reply awaited in the event loop (an asyncio future)."""

    __slots__ = ("_fut",)

    def __init__(self) -> None:
        self._fut: asyncio.Future[tuple[bytes, bytes]] = asyncio.get_running_loop(
            ).create_future()

    def done(self, data: bytes, hdr: bytes) -> None:
        if not self._fut.done():
            self._fut.set_result((data, hdr))

    def fail(self, error: BaseException) -> None:
        if not self._fut.done():
            self._fut.set_exception(error)

    async def wait(self, timeout: float) -> tuple[bytes, bytes]:
        return await asyncio.wait_for(self._fut, timeout)


class ThreadWaiter(ReplyWaiter, Op):
    """A reply waited for on a calling thread: a lock the loop's reader releases.

    Completed only from the loop thread (reply, denial, failed send, close), so ``done`` and
    ``fail`` never race each other; a reply that lands just as the wait times out is taken.
    """

    __slots__ = ("_lock", "_value", "_error", "_timeout")

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._lock.acquire()
        self._value: tuple[bytes, bytes] | None = None
        self._error: BaseException | None = None
        self._timeout = -1.0

    def done(self, data: bytes, hdr: bytes) -> None:
        if self._value is None and self._error is None:
            self._value = (data, hdr)
            self._lock.release()

    def fail(self, error: BaseException) -> None:
        if self._value is None and self._error is None:
            self._error = error
            self._lock.release()

    def wait(self, timeout: float) -> ThreadWaiter:  # type: ignore[override]
        self._timeout = timeout if timeout is not None and timeout >= 0 else -1.0
        return self

    def block(self, loop: asyncio.AbstractEventLoop) -> tuple[bytes, bytes]:
        self._lock.acquire(True, self._timeout)  # Ctrl-C interrupts it (main thread)
        if self._error is not None:
            raise self._error
        if self._value is None:
            raise TimeoutError
        return self._value
