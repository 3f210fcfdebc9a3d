"""The machinery every live widget shares: the background task on the connection's loop,
rate-limited renders, the error line, ``stop``/``close`` and the test hooks."""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import ipywidgets  # type: ignore[import-untyped]

from .. import _repr, errors


def _resolve(obj: Any, what: str) -> tuple[Any, asyncio.AbstractEventLoop, Any]:
    """``(core object, its event loop, loop thread or None)`` for a blocking twin or an
    asyncio object (the latter only from a coroutine running on its loop)."""
    from ..blocking.twin import Twin
    if isinstance(obj, Twin):
        lt = obj._lt
        if lt is None:
            raise errors.NotConnectedError(f"this {what} is not bound to a connection")
        if lt.closed:
            raise errors.ConnectionClosedError("the connection is closed")
        return obj._core, lt.loop, lt
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise errors.InvalidArgumentError(
            f"give the {what} of a blocking connection (jsdata.connect()), or create the "
            "widget from a coroutine running on the jsdata.aio connection's loop") from None
    return obj, loop, None


def _check_type(core: Any, module: str, name: str, what: str) -> None:
    import importlib
    cls = getattr(importlib.import_module(f"jsdata.{module}"), name)
    if not isinstance(core, cls):
        raise errors.InvalidArgumentError(
            f"expected a {what} (jsdata.{name}), got {type(core).__name__}")


def _descendants(w: Any) -> Iterator[Any]:
    """Every widget inside ``w`` (children first), not ``w`` itself."""
    for c in getattr(w, "children", ()) or ():
        yield from _descendants(c)
        yield c


_LIVE: weakref.WeakSet[_LiveWidget] = weakref.WeakSet()


@atexit.register
def _stop_all_at_exit() -> None:
    """The kernel shuts down: stop every widget still running, which deletes its
    server-side consumer (best effort, a short wait each)."""
    for w in list(_LIVE):
        try:
            w.stop(timeout=2.0)
        except Exception:  # noqa: BLE001 - exiting anyway
            pass


class _LiveWidget(ipywidgets.VBox):
    """The machinery every live widget shares: the background task, coalesced renders,
    the error label, ``stop``/``close``, ``rows``/``renders``/``wait_for``."""

    render_interval: float = 0.25
    """Minimum seconds between two renders (bursts in between are coalesced)."""

    def __init__(self, resolved: tuple[Any, asyncio.AbstractEventLoop, Any], *,
                 max_rows: int = 100, controls: Sequence[Any] = (),
                 charts: Sequence[Any] = (), below: Sequence[Any] = ()) -> None:
        core, loop, lt = resolved
        self._core_obj = core
        self._jloop = loop
        self._jlt = lt
        if max_rows < 1:
            raise errors.InvalidArgumentError("max_rows must be at least 1")
        self.max_rows = int(max_rows)
        self._head = ipywidgets.HTML(value="")
        self._table = ipywidgets.HTML(value=_repr.note("starting\u2026"))
        self._status = ipywidgets.HTML(value="")
        children: list[Any] = [self._head]
        if controls:
            children.append(ipywidgets.HBox(list(controls),
                                            layout=ipywidgets.Layout(flex_flow="row wrap")))
        children += [*charts, self._table, *below, self._status]
        super().__init__(children=children)
        self.add_class("jsdata-widget")
        self.add_class(f"jsdata-{type(self).__name__.lower()}")
        on_close = getattr(self.comm, "on_close", None)
        if on_close is not None:  # the front end closed the widget: stop watching
            on_close(self._comm_closed)
        self.renders = 0
        self.error: BaseException | None = None
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._done = threading.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_render = -1e9
        self._dirty = False
        self._state = "starting"
        _LIVE.add(self)

    # -- the background task ------------------------------------------------------------------
    def _js_core(self) -> Any:
        """The asyncio JetStream context owning the task (cancelled when it closes)."""
        return self._core_obj._js

    def _start(self) -> None:
        if self._on_loop():
            self._spawn()
            return
        try:
            self._jloop.call_soon_threadsafe(self._spawn)
        except RuntimeError:
            raise errors.ConnectionClosedError("the connection is closed") from None

    def _spawn(self) -> None:
        if self._stopping:
            self._finished(None)
            return
        self._task = self._js_core()._spawn(self._main())
        self._task.add_done_callback(self._finished)

    def _finished(self, _task: Any) -> None:
        with self._changed:
            self._done.set()
            self._changed.notify_all()

    async def _main(self) -> None:
        try:
            await self._run()
            self._state = "ended"
        except asyncio.CancelledError:
            self._state = "stopped"
        except Exception as e:  # noqa: BLE001 - shown in the widget, kept in .error
            self._state = "failed"
            self._show_error(e)
        finally:
            try:
                await asyncio.shield(self._cleanup())
            except BaseException:  # noqa: BLE001 - best effort (closing connection)
                pass
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._dirty = True
            self._flush()

    async def _run(self) -> None:
        """Produce updates until stopped (subclasses)."""
        raise NotImplementedError

    async def _cleanup(self) -> None:
        """Release server-side resources (subclasses)."""

    # -- rendering ----------------------------------------------------------------------------
    def _mark_dirty(self) -> None:
        """State changed (loop thread): render now, or once the render interval has passed."""
        with self._changed:
            self._changed.notify_all()
        self._dirty = True
        if self._timer is not None:
            return
        loop = self._jloop
        delay = self._last_render + self.render_interval - loop.time()
        if delay <= 0:
            self._flush()
        else:
            self._timer = loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        self._timer = None
        if not self._dirty:
            return
        self._dirty = False
        self._last_render = self._jloop.time()
        try:
            with self._lock:
                parts = self._render_parts()
            # Widget state is assigned (synced by the kernel's IOPub thread), never printed;
            # an unchanged part sends nothing.
            for w, value in parts:
                if w.value != value:
                    w.value = value
        except Exception as e:  # noqa: BLE001
            self._status.value = _repr.error_html(f"render failed: {type(e).__name__}: {e}")
        with self._changed:
            self.renders += 1
            self._changed.notify_all()

    def _render_parts(self) -> list[tuple[Any, str]]:
        """``[(HTML widget, new value)]`` for one render (called under the lock)."""
        return [(self._head, self._render_head()), (self._table, self._render_table())]

    def request_render(self) -> None:
        """Render again soon (from any thread): a setting that changes the view changed."""
        with self._changed:
            self._changed.notify_all()
        if self._on_loop():
            self._mark_dirty()
            return
        try:
            self._jloop.call_soon_threadsafe(self._mark_dirty)
        except RuntimeError:  # the connection's loop is closed: render here, once
            self._dirty = True
            self._flush_here()

    def _flush_here(self) -> None:
        self._timer = None
        self._last_render = 0.0
        with self._lock:
            parts = self._render_parts()
        for w, value in parts:
            if w.value != value:
                w.value = value

    def _render_head(self) -> str:
        raise NotImplementedError

    def _render_table(self) -> str:
        raise NotImplementedError

    def _state_text(self) -> str:
        return {"starting": "starting", "live": "\u25cf live", "stopped": "stopped",
                "ended": "ended", "failed": "failed"}.get(self._state, self._state)

    def _show_error(self, e: BaseException | None) -> None:
        with self._changed:
            self.error = e
            self._changed.notify_all()
        if e is None:
            if self._status.value:
                self._status.value = ""
        else:
            self._status.value = _repr.error_html(f"{type(e).__name__}: {e}")

    # -- public surface ----------------------------------------------------------------------
    @property
    def rows(self) -> list[dict[str, Any]]:
        """The current rows (a copy; one dict per row)."""
        with self._lock:
            return [dict(r) for r in self._rows_now()]

    def _rows_now(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    @property
    def html(self) -> str:
        """The HTML the widget shows now (header and table)."""
        return f"{self._head.value}{self._table.value}"

    @property
    def stopped(self) -> bool:
        """True once the background task has ended (stopped, failed or connection closed)."""
        return self._done.is_set()

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._jloop
        except RuntimeError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background watcher and release its server-side consumer.

        From a thread (the blocking API) this waits until the task has ended; from a
        coroutine on the connection's loop it only requests the stop (await
        :meth:`wait_stopped` to wait).
        """
        self._stopping = True
        if self._done.is_set():
            return
        if self._on_loop():
            if self._task is not None:
                self._task.cancel()
            return
        try:
            self._jloop.call_soon_threadsafe(self._cancel)
        except RuntimeError:  # the loop is closed: the task is long gone
            self._finished(None)
            return
        self._done.wait(timeout)

    def _comm_closed(self, _msg: Any = None) -> None:
        self._stopping = True
        if self._on_loop():
            self._cancel()
            return
        try:
            self._jloop.call_soon_threadsafe(self._cancel)
        except RuntimeError:
            pass

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def wait_stopped(self, timeout: float = 10.0) -> None:
        """Wait (in a coroutine) until the background task has ended."""
        deadline = time.monotonic() + timeout
        while not self._done.is_set():
            if time.monotonic() > deadline:
                raise errors.JetStreamTimeoutError("the widget did not stop in time")
            await asyncio.sleep(0.01)

    def close(self) -> None:
        """Stop the watcher and close the widget (and its parts) in the front end."""
        if "_done" not in self.__dict__:  # construction failed (called from __del__)
            return
        self.stop()
        for w in list(_descendants(self)):
            w.close()
        super().close()

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 10.0) -> Any:
        """Block until ``predicate(widget)`` is true (re-checked on every change and render);
        returns the widget. Raises JetStreamTimeoutError after ``timeout`` seconds."""
        if self._on_loop():
            raise RuntimeError("wait_for blocks; in a coroutine use await w.wait_for_async()")
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise errors.JetStreamTimeoutError(self._timeout_text(timeout))
                self._changed.wait(min(left, 0.5))
        return self

    async def wait_for_async(self, predicate: Callable[[Any], bool],
                             timeout: float = 10.0) -> Any:
        """:meth:`wait_for` for coroutines."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise errors.JetStreamTimeoutError(self._timeout_text(timeout))
            await asyncio.sleep(0.01)
        return self

    def _timeout_text(self, timeout: float) -> str:
        return (f"{type(self).__name__}: condition not met within {timeout:g}s "
                f"(state={self._state}, rows={len(self._rows_now())}, error={self.error!r})")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._describe()} {self._state}>"

    def _describe(self) -> str:
        return ""


# ---------------------------------------------------------------------------------------------


class _FeedWidget(_LiveWidget):
    """A live widget following a feed (a watcher or an ordered feed): ``_open_feed()`` opens
    it, ``_apply(item)`` takes each update under the lock; ``None`` ends the initial values."""

    _feed: Any = None
    initial_done = False

    async def _open_feed(self) -> Any:
        raise NotImplementedError

    async def _next_items(self) -> list[Any]:
        """Every update buffered by the feed, waiting for one ([] once it ended)."""
        return await self._feed._next_many()  # type: ignore[no-any-return]

    def _apply(self, item: Any) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        self._feed = await self._open_feed()
        self._state = "live"
        self._mark_dirty()
        while True:
            items = await self._next_items()
            if not items:
                return
            with self._lock:
                for item in items:
                    if item is None:
                        self.initial_done = True
                    else:
                        self._apply(item)
            self._mark_dirty()

    async def _cleanup(self) -> None:
        if self._feed is not None:
            await self._feed.stop()


class _FilterSortMixin:
    """``set_filter`` / ``sort_by`` and their state for table widgets (KV keys, objects).

    The widget provides ``_lock``, the ``_filter_box`` / ``_sort_menu`` / ``_order``
    controls, ``request_render`` and ``_sortable`` (the columns it can sort by).
    """

    _sortable: ClassVar[list[str]]
    _lock: Any
    _filter_box: Any
    _sort_menu: Any
    _order: Any
    _match: Any
    _filter: str
    _sort: str
    _descending: bool

    request_render: Callable[[], None]  # provided by _LiveWidget

    def set_filter(self, pattern: str) -> None:
        """Show only the rows whose name (key or object name) matches ``pattern`` (glob with
        ``*``/``?``/``>``, else a substring; ``""`` shows all)."""
        from ._table import pattern_matcher
        match = pattern_matcher(pattern)
        with self._lock:
            self._match, self._filter = match, pattern
        if self._filter_box.value != pattern:
            self._filter_box.value = pattern
        self.request_render()

    def sort_by(self, column: str, descending: bool = False) -> None:
        """Order the table by ``column`` (one of the widget's columns)."""
        if column not in self._sortable:
            raise errors.InvalidArgumentError(
                f"sort by one of {self._sortable}, got {column!r}")
        with self._lock:
            self._sort, self._descending = column, bool(descending)
        if self._sort_menu.value != column:
            self._sort_menu.value = column
        if self._order.value != bool(descending):
            self._order.value = bool(descending)
        self._order.description = "\u25bc desc" if descending else "\u25b2 asc"
        self.request_render()

    @property
    def filter(self) -> str:
        """The current filter (``""``: none)."""
        return self._filter

    @property
    def sort(self) -> tuple[str, bool]:
        """``(column, descending)`` of the current order."""
        return self._sort, self._descending
