"""Riding out a dropped connection: :class:`ConnWatch` follows a connection's disconnects
and reconnects for the requests of one read (the DataFrame reader's fetchers, object files'
batch direct gets), so a lost request is re-sent after the reconnect instead of waited out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import errors

if TYPE_CHECKING:
    from .context import Context

__all__ = ["ConnWatch", "STALLS"]

STALLS = 3  # consecutive silent requests (connected, nothing arriving) before giving up
# Errors of API calls made while the server is (re)starting: retried within the window.
_TRANSIENT = (errors.JetStreamTimeoutError, errors.NotConnectedError,
              errors.NoStreamResponseError, errors.JetStreamNotEnabledError,
              asyncio.TimeoutError)


class ConnWatch:
    """Follows a connection's disconnects and reconnects for the requests of one read.

    ``epoch`` counts reconnects: a request remembers it when sent and is re-sent when it
    changed. :meth:`wait` waits for a request's end (a future) but returns early when the
    connection came back or the request went silent, and raises the read's
    :class:`~jsdata.errors.ReadInterruptedError` when the connection closed or stayed down
    longer than ``window`` seconds (default: the context's ``resume_window``, as given to
    ``connect``).
    """

    def __init__(self, js: Context, interrupted: Callable[[str], errors.JetStreamError],
                 window: float | None = None) -> None:
        self.js = js
        self.interrupted = interrupted
        self.window = js.resume_window if window is None else window
        self.epoch = 0
        # Disconnects seen: replies that arrive after one belong to a request the server may
        # have half lost in the cut (nats-py re-subscribes the inbox on reconnect), so a
        # request whose count changed ignores them; it fires before the new connection reads.
        self.drops = 0
        self.closed = False
        self._loop = asyncio.get_running_loop()
        self._down_since: float | None = None if js.nc.is_connected else self._loop.time()
        self._change: asyncio.Future[None] | None = None
        self._remove: Callable[[], None] | None = js.nc.add_status_listener(self._on_event)

    def _on_event(self, event: str) -> None:
        if event == "disconnected":
            self.drops += 1
            if self._down_since is None:
                self._down_since = self._loop.time()
        elif event == "reconnected":
            self._down_since = None
            self.epoch += 1
        elif event == "closed":
            self.closed = True
        ch = self._change
        if ch is not None and not ch.done():
            ch.set_result(None)

    def stop(self) -> None:
        """Stop listening (idempotent)."""
        if self._remove is not None:
            remove, self._remove = self._remove, None
            remove()

    def check(self) -> None:
        """Raise the read's error if the connection is closed or has been down too long."""
        if self.closed or self.js.nc.is_closed:
            raise self.interrupted("the connection was closed")
        d = self._down_since
        if d is not None and self._loop.time() - d > self.window:
            raise self.interrupted(
                f"the server did not come back within {self.window:g}s")

    async def wait(self, fut: asyncio.Future[Any], epoch: int, progress: Callable[[], int]
                   ) -> str:
        """Wait for ``fut``: "done" when it finished, "reconnected" when the connection came
        back since ``epoch`` (the request must be re-sent), "stalled" when nothing arrived
        for the JetStream timeout while connected."""
        loop = self._loop
        timeout = self.js.timeout
        seen = progress()
        while True:
            if fut.done():
                return "done"
            if self.epoch != epoch:
                return "reconnected"
            self.check()
            wait = timeout
            if self._down_since is not None:
                wait = min(wait, max(0.0, self._down_since + self.window - loop.time()) + 0.01)
            ch = self._change = loop.create_future()
            try:
                await asyncio.wait((fut, ch), timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._change = None
                changed = ch.done()
                if not changed:
                    ch.cancel()
            if fut.done() or changed:
                continue
            n = progress()
            if n == seen and self._down_since is None and self.js.nc.is_connected:
                return "stalled"
            seen = n

    async def pause(self, delay: float) -> None:
        """Sleep ``delay`` seconds; a change of the connection's state cuts it short."""
        ch = self._change = self._loop.create_future()
        try:
            await asyncio.wait((ch,), timeout=delay)
        finally:
            self._change = None
            if not ch.done():
                ch.cancel()

    async def retry(self, op: Callable[[], Any], what: str) -> Any:
        """``await op()`` until it succeeds, retrying the errors a lost connection or a
        (re)starting server gives, for at most ``window`` seconds (see :meth:`check`)."""
        loop = self._loop
        delay = 0.05
        failing_since: float | None = None
        while True:
            self.check()
            try:
                return await op()
            except errors.APIError as e:
                # "JetStream system temporarily unavailable" while a server starts
                if not ((e.code or 0) >= 500 or e.err_code == 10008):
                    raise
                err: BaseException = e
            except _TRANSIENT as e:
                err = e
            if self.closed or self.js.nc.is_closed:
                raise self.interrupted(f"the connection was closed ({what})") from err
            now = loop.time()
            if failing_since is None:
                failing_since = now
            elif now - failing_since > self.window:
                raise self.interrupted(f"{what} kept failing ({err})") from err
            await self.pause(delay)
            delay = min(delay * 2, 0.5)
