"""Small helpers every layer shares: seconds from a timedelta, work in the executor,
an error told again in other words.

Each exists once here so that the core, the data layer and the plugins do not grow their
own copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar, overload

from . import errors

_D = TypeVar("_D", float, None)


@overload
def seconds(v: float | timedelta) -> float: ...
@overload
def seconds(v: float | timedelta | None, default: _D = None) -> float | _D: ...
def seconds(v: float | timedelta | None, default: Any = None) -> Any:
    """Seconds from a number or a ``timedelta``; ``None`` gives ``default``."""
    if v is None:
        return default
    return v.total_seconds() if isinstance(v, timedelta) else float(v)


def _resolve(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` in the loop's default executor and return its result.

    Unlike ``loop.run_in_executor`` this hands the result over without chaining futures,
    which leaves reference cycles behind: with large Arrow results those keep hundreds of
    megabytes alive until the cyclic garbage collector happens to run.
    """
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def run() -> None:
        try:
            r = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting coroutine
            err: BaseException | None = e
            r = None
        else:
            err = None
        try:
            loop.call_soon_threadsafe(_resolve, fut, r, err)
        except RuntimeError:  # the loop is gone (connection closed meanwhile)
            pass

    loop.run_in_executor(None, run)
    return await fut


def run_sync(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """Start a blocking function (disk I/O, a user's reader) in the loop's default executor
    now; await the result later (small results: file blocks, not Arrow tables)."""
    return asyncio.get_running_loop().run_in_executor(None, fn, *args)


def redescribed(exc: BaseException, text: str) -> BaseException:
    """The same kind of error with the message ``text`` (falls back to ``exc``)."""
    if isinstance(exc, errors.JetStreamError):
        try:
            new = type(exc)(text, code=exc.code, err_code=exc.err_code)
        except Exception:  # noqa: BLE001 - a subclass with another signature
            return exc
        new.__cause__ = exc.__cause__
        return new
    return exc


def prefixed(exc: BaseException, prefix: str) -> BaseException:
    """The same kind of error with ``prefix`` in front of its message (falls back to exc)."""
    if isinstance(exc, errors.JetStreamError):
        return redescribed(exc, f"{prefix}{exc.description}")
    return exc


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a bulk step builds many containers at once
    (a batch's msgpack maps, a list or dict column's Python objects). They form no cycles,
    yet every collection on the way scans the young ones again: for 100k rows of the wide
    frame, ``to_pylist`` of its list and dict columns took 0.23 s with the collector on and
    0.06 s paused. Left as it was when the collector is already off (the caller's choice, or
    another thread's pause)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
