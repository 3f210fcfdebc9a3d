"""Live notebook widgets (ipywidgets): KV tables, stream monitors, tails, object browsers.

Each widget is an :class:`ipywidgets.VBox` fed by a background task on the connection's
event loop (never a thread of its own)::

    kv = js.key_value("profiles")
    w = jsdata.widgets.KVWatcher(kv)          # display it: last expression of a cell
    w.stop()                                  # or w.close(): stops the watcher too

They take the blocking objects of ``jsdata.connect()`` (the usual case in a notebook), or
the asyncio objects of ``jsdata.aio`` when created from a coroutine running on that
connection's loop. Updates are coalesced: at most ``render_interval`` (0.25 s) apart, the
latest state wins, and they are applied by assigning widget state (never ``with output:``
from a task). Errors show in the widget. For tests and scripts: ``w.rows`` (the current
rows, a list of dicts), ``w.renders`` (how many renders so far), ``w.wait_for(predicate,
timeout)``.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets  # type: ignore[import-untyped]

from . import _repr, errors
from .client import names

__all__ = ["KVWatcher", "ObjectStoreBrowser", "StreamMonitor", "StreamTail"]


def _resolve(obj: Any, what: str) -> tuple[Any, asyncio.AbstractEventLoop, Any]:
    """``(core object, its event loop, loop thread or None)`` for a blocking twin or an
    asyncio object (the latter only from a coroutine running on its loop)."""
    from .blocking.twin import Twin
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


class _LiveWidget(ipywidgets.VBox):
    """The machinery every live widget shares: the background task, coalesced renders,
    the error label, ``stop``/``close``, ``rows``/``renders``/``wait_for``."""

    render_interval: float = 0.25
    """Minimum seconds between two renders (bursts in between are coalesced)."""

    def __init__(self, resolved: tuple[Any, asyncio.AbstractEventLoop, Any], *,
                 max_rows: int = 100) -> None:
        core, loop, lt = resolved
        self._core_obj = core
        self._jloop = loop
        self._jlt = lt
        self.max_rows = int(max_rows)
        self._head = ipywidgets.HTML(value="")
        self._table = ipywidgets.HTML(value=_repr.note("starting\u2026"))
        self._status = ipywidgets.HTML(value="")
        super().__init__(children=[self._head, self._table, self._status])
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
                head, table = self._render_head(), self._render_table()
            # Widget state is assigned (synced by the kernel's IOPub thread), never printed.
            self._head.value = head
            self._table.value = table
        except Exception as e:  # noqa: BLE001
            self._status.value = _repr.error_html(f"render failed: {type(e).__name__}: {e}")
        with self._changed:
            self.renders += 1
            self._changed.notify_all()

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
        for w in (self._head, self._table, self._status):
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


class KVWatcher(_FeedWidget):
    """A live table of a bucket's keys: key, value (decoded preview), revision, operation,
    updated. Deleted and purged keys leave the table.

    ``KVWatcher(kv, keys=">")``: ``keys`` is a key pattern or a list of them.
    """

    def __init__(self, kv: Any, keys: str | Sequence[str] = ">", *, max_rows: int = 100,
                 value_chars: int = 80) -> None:
        resolved = _resolve(kv, "key-value bucket")
        _check_type(resolved[0], "kv.bucket", "KeyValue", "key-value bucket")
        self._keys = keys if isinstance(keys, str) else list(keys)
        resolved[0]._filters(self._keys)  # validate the patterns now (InvalidKeyError)
        super().__init__(resolved, max_rows=max_rows)
        self.value_chars = int(value_chars)
        self._entries: dict[str, dict[str, Any]] = {}
        self._last_rev = 0
        self._start()

    def _describe(self) -> str:
        return f"{self._core_obj.bucket} keys={self._keys!r}"

    async def _open_feed(self) -> Any:
        return await self._core_obj.watch(self._keys)

    def _apply(self, e: Any) -> None:
        self._last_rev = max(self._last_rev, e.revision)
        op = getattr(e.operation, "value", e.operation)
        if op != "PUT":
            self._entries.pop(e.key, None)
            return
        self._entries[e.key] = {
            "key": e.key,
            "value": _repr.preview_bytes(e.value, self.value_chars),
            "revision": e.revision, "operation": op, "updated": e.created,
        }

    def _rows_now(self) -> list[dict[str, Any]]:
        return [self._entries[k] for k in sorted(self._entries)]

    def _render_head(self) -> str:
        keys = self._keys if isinstance(self._keys, str) else ", ".join(self._keys)
        return (f"<b>KV {_repr.esc(self._core_obj.bucket)}</b> "
                f"<span style='color:#888'>keys {_repr.esc(_repr.shorten(keys, 80))} \u00b7 "
                f"{len(self._entries):,} keys \u00b7 last revision {self._last_rev:,} \u00b7 "
                f"{_repr.esc(self._state_text())}</span>")

    def _render_table(self) -> str:
        return _repr.grid(["key", "value", "revision", "operation", "updated"],
                          self._rows_now(), max_rows=self.max_rows, empty="(no keys)")


class StreamMonitor(_LiveWidget):
    """Live counters of a stream (messages, bytes, first/last sequence, rate in msgs/s and
    bytes/s from successive infos) and its consumers with their lag (num_pending,
    num_ack_pending), polled every ``interval`` seconds."""

    def __init__(self, js: Any, stream: Any, *, interval: float = 1.0,
                 max_rows: int = 100) -> None:
        resolved = _resolve(js, "JetStream context")
        _check_type(resolved[0], "client.jetstream", "JetStream", "JetStream context")
        name = getattr(stream, "name", stream)
        if not isinstance(name, str):
            raise errors.InvalidArgumentError(
                f"stream must be a name or a Stream, got {type(stream).__name__}")
        names.stream_name(name)
        if interval <= 0:
            raise errors.InvalidArgumentError("interval must be > 0 seconds")
        super().__init__(resolved, max_rows=max_rows)
        self.stream = name
        self.interval = float(interval)
        self._stats: dict[str, Any] = {}
        self._consumers: list[dict[str, Any]] = []
        self._prev: tuple[float, int, int] | None = None
        self.polls = 0
        self._start()

    def _js_core(self) -> Any:
        return self._core_obj

    def _describe(self) -> str:
        return self.stream

    @property
    def stats(self) -> dict[str, Any]:
        """The latest counters: messages, bytes, first_seq, last_seq, rate (msgs/s),
        byte_rate (bytes/s), subjects, consumers, updated."""
        with self._lock:
            return dict(self._stats)

    async def _poll(self) -> None:
        js = self._core_obj
        info = await js.stream_info(self.stream)
        consumers = [ci async for ci in js.list_consumers(self.stream)]
        now = time.monotonic()
        st = info.state
        rate = byte_rate = None
        if self._prev is not None:
            t0, seq0, bytes0 = self._prev
            dt = now - t0
            if dt > 0:
                rate = max(0, st.last_seq - seq0) / dt
                byte_rate = max(0, st.bytes - bytes0) / dt if st.last_seq != seq0 else 0.0
        self._prev = (now, st.last_seq, st.bytes)
        rows = []
        for ci in sorted(consumers, key=lambda c: c.name):
            rows.append({
                "consumer": ci.name, "num_pending": ci.num_pending,
                "num_ack_pending": ci.num_ack_pending, "num_redelivered": ci.num_redelivered,
                "delivered": ci.delivered.stream_seq, "ack_floor": ci.ack_floor.stream_seq,
                "last_active": ci.delivered.last_active,
                "kind": "push" if ci.config.deliver_subject else "pull",
            })
        with self._lock:
            self._stats = {
                "messages": st.messages, "bytes": st.bytes, "first_seq": st.first_seq,
                "last_seq": st.last_seq, "rate": rate, "byte_rate": byte_rate,
                "subjects": st.num_subjects, "consumers": len(consumers),
                "updated": info.ts,
            }
            self._consumers = rows
            self.polls += 1

    async def _run(self) -> None:
        while True:
            try:
                await self._poll()
                self._state = "live"
                if self.error is not None:
                    self._show_error(None)
            except errors.JetStreamError as e:  # shown, and polling goes on (it may come back)
                self._state = "failed"
                self._show_error(e)
            self._mark_dirty()
            await asyncio.sleep(self.interval)

    def _rows_now(self) -> list[dict[str, Any]]:
        return self._consumers

    def _render_head(self) -> str:
        s = self._stats
        if not s:
            return f"<b>Stream {_repr.esc(self.stream)}</b> {_repr.note(self._state_text())}"
        rate = "-" if s["rate"] is None else f"{s['rate']:,.1f} msgs/s"
        brate = "-" if s["byte_rate"] is None else f"{_repr.human_bytes(s['byte_rate'])}/s"
        return _repr.field_table(f"Stream {self.stream}", [
            ("messages", f"{s['messages']:,}"), ("bytes", _repr.human_bytes(s["bytes"])),
            ("first seq", f"{s['first_seq']:,}"), ("last seq", f"{s['last_seq']:,}"),
            ("rate", f"{rate}  ({brate})"), ("subjects", f"{s['subjects']:,}"),
            ("consumers", s["consumers"]), ("updated", _repr.fmt_time(s["updated"])),
        ], subtitle=self._state_text())

    def _render_table(self) -> str:
        return _repr.grid(
            ["consumer", "kind", "num_pending", "num_ack_pending", "num_redelivered",
             "delivered", "ack_floor", "last_active"], self._consumers,
            titles=["consumer", "kind", "pending", "ack pending", "redelivered",
                    "delivered seq", "ack floor", "last active"],
            max_rows=self.max_rows, empty="(no consumers)")


class StreamTail(_FeedWidget):
    """The last ``n`` messages of a stream (optionally only ``subjects``), decoded (JSON
    shortened, msgpack/Arrow by Content-Type, else text or repr), following new ones live
    through an ordered push consumer."""

    def __init__(self, stream: Any, subjects: str | Sequence[str] | None = None,
                 n: int = 20, *, value_chars: int = 120) -> None:
        resolved = _resolve(stream, "stream")
        _check_type(resolved[0], "client.stream", "Stream", "stream")
        if n < 1:
            raise errors.InvalidArgumentError("n must be at least 1")
        if subjects is None:
            filters: list[str] = []
        elif isinstance(subjects, str):
            filters = [subjects]
        else:
            filters = list(subjects)
        filters = [names.filter_subject(f) for f in filters]
        super().__init__(resolved, max_rows=n)
        self.subjects = filters
        self.n = int(n)
        self.value_chars = int(value_chars)
        self._msgs: collections.deque[dict[str, Any]] = collections.deque(maxlen=self.n)
        self._start()

    def _describe(self) -> str:
        return f"{self._core_obj.name} n={self.n}"

    async def _open_feed(self) -> Any:
        """An ordered feed starting early enough to hold the last ``n`` matching messages:
        a window before the last sequence, widened until it holds ``n`` or the stream."""
        from .client.watch import OrderedFeed
        s = self._core_obj
        info = await s.info()
        st = info.state
        js = s._js
        if st.messages == 0:
            feed = OrderedFeed(js, s.name, filter_subjects=self.subjects, deliver_policy="all")
            self._feed = feed
            return await feed.start()
        window = self.n
        while True:
            start = max(st.first_seq, st.last_seq - window + 1, 1)
            feed = OrderedFeed(js, s.name, filter_subjects=self.subjects,
                               deliver_policy="by_start_sequence", opt_start_seq=start)
            self._feed = feed
            await feed.start()
            pending = feed.info.num_pending if feed.info is not None else 0
            if pending >= self.n or start <= st.first_seq:
                return feed
            await feed.stop()
            window *= 8

    async def _next_items(self) -> list[Any]:
        items = await self._feed.next_many()
        if not items and self._feed.error is not None:
            raise self._feed.error
        return items  # type: ignore[no-any-return]

    def _apply(self, m: Any) -> None:
        self._msgs.append(self._row(m))

    def _row(self, m: Any) -> dict[str, Any]:
        try:
            meta = m.metadata
            seq, ts = meta.sequence.stream, meta.timestamp
        except errors.JetStreamError:
            seq, ts = None, None
        ct = None
        if m._hdr:
            try:
                ct = m.headers.get("Content-Type")
            except Exception:  # noqa: BLE001 - a preview never fails
                ct = None
        return {"seq": seq, "subject": m.subject, "time": ts, "size": len(m.data),
                "value": _repr.preview_bytes(m.data, self.value_chars, ct),
                "full": _repr.preview_bytes(m.data, 2000, ct, pretty=True)}

    def _rows_now(self) -> list[dict[str, Any]]:
        return list(self._msgs)

    def _render_head(self) -> str:
        subj = ", ".join(self.subjects) if self.subjects else "all subjects"
        return (f"<b>Tail of {_repr.esc(self._core_obj.name)}</b> "
                f"<span style='color:#888'>{_repr.esc(_repr.shorten(subj, 80))} \u00b7 last "
                f"{self.n} \u00b7 {_repr.esc(self._state_text())}</span>")

    def _render_table(self) -> str:
        return _repr.grid(["seq", "subject", "time", "size", "value"], list(self._msgs),
                          max_rows=self.n, limit=self.value_chars, empty="(no messages)",
                          hover="full")


class ObjectStoreBrowser(_FeedWidget):
    """The objects of a bucket (name, size, chunks, digest, modified, description),
    following puts and deletes live through the bucket's watcher."""

    def __init__(self, obs: Any, *, max_rows: int = 100) -> None:
        resolved = _resolve(obs, "object store")
        _check_type(resolved[0], "objects.store", "ObjectStore", "object store")
        super().__init__(resolved, max_rows=max_rows)
        self._objects: dict[str, dict[str, Any]] = {}
        self._start()

    def _describe(self) -> str:
        return str(self._core_obj.bucket)

    async def _open_feed(self) -> Any:
        return await self._core_obj.watch()

    def _apply(self, info: Any) -> None:
        if info.deleted:
            self._objects.pop(info.name, None)
            return
        link = info.link
        self._objects[info.name] = {
            "name": info.name, "size": info.size,
            "human_size": _repr.human_bytes(info.size) if link is None else "link",
            "chunks": info.chunks, "digest": info.digest or "",
            "modified": info.mtime, "description": info.description or "",
            "link": f"{link.bucket}/{link.name or '*'}" if link is not None else "",
        }

    def _rows_now(self) -> list[dict[str, Any]]:
        return [self._objects[k] for k in sorted(self._objects)]

    def _render_head(self) -> str:
        total = sum(o["size"] for o in self._objects.values())
        return (f"<b>Object store {_repr.esc(self._core_obj.bucket)}</b> "
                f"<span style='color:#888'>{len(self._objects):,} objects \u00b7 "
                f"{_repr.human_bytes(total)} \u00b7 {_repr.esc(self._state_text())}</span>")

    def _render_table(self) -> str:
        rows = [{**o, "digest": _repr.shorten(o["digest"], 24)} for o in self._rows_now()]
        return _repr.grid(["name", "human_size", "chunks", "digest", "modified", "description",
                           "link"], rows,
                          titles=["name", "size", "chunks", "digest", "modified",
                                  "description", "link"],
                          max_rows=self.max_rows, empty="(no objects)")
