"""Polling helpers shared by the test modules (no sleeps used as assertions)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


def wait_for(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``cond`` until true; AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


async def await_for(cond: Callable[[], bool], timeout: float = 10.0,
                    what: str = "condition") -> None:
    """The asyncio twin of :func:`wait_for`."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def wait_stopped(pid: int, timeout: float = 10.0) -> None:
    """Wait until process ``pid`` is really stopped (after SIGSTOP; Linux ``/proc``).

    ``kill(pid, SIGSTOP)`` returns before every thread of the process has stopped; a test
    that needs a silent server must wait for the state, not assume it.
    """
    def stopped() -> bool:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True  # no /proc (not Linux): nothing to wait on
        return state in ("T", "t")

    wait_for(stopped, timeout, what=f"process {pid} to stop")


async def await_refreshed(refresh: Callable[[], Awaitable[object]], cond: Callable[[], bool],
                          timeout: float = 20.0, what: str = "condition") -> None:
    """Like :func:`await_for`, running ``await refresh()`` (e.g. a fresh info) before each
    check: for server-side state that follows fire-and-forget work."""
    deadline = time.monotonic() + timeout
    while True:
        await refresh()
        if cond():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def await_info(obj: Any, cond: Callable[[Any], bool], timeout: float = 20.0,
                     what: str = "the server's info") -> Any:
    """Poll ``await obj.info()`` until ``cond(info)``; returns that info."""
    box: list[Any] = [None]

    async def refresh() -> None:
        box[0] = await obj.info()

    await await_refreshed(refresh, lambda: cond(box[0]), timeout, what)
    return box[0]
