"""Polling helpers shared by the test modules (no sleeps used as assertions)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


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
