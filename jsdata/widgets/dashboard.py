"""``Dashboard``: one live view of a whole account — streams with their publish rates,
every consumer with its lag, KV buckets and object stores — and a menu that opens the
detailed widget of any of them below."""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import ipywidgets  # type: ignore[import-untyped]

from .. import _repr, errors
from . import _svg
from ._base import _check_type, _LiveWidget, _resolve
from ._table import Markup, grid, title_bar
from .monitor import is_internal, lag

KV_PREFIX, OBJ_PREFIX = "KV_", "OBJ_"


def _kind(stream: str) -> str:
    if stream.startswith(KV_PREFIX):
        return "kv"
    if stream.startswith(OBJ_PREFIX):
        return "obj"
    return "stream"


class Dashboard(_LiveWidget):
    """The whole account at a glance, polled every ``interval`` seconds (a few API calls a
    stream per poll, whatever the message rates):

    - the account's publish rate by stream and the worst consumers' lag over ``window``
      seconds, as charts;
    - streams: messages, bytes, rate with a sparkline, consumers and their total lag;
    - consumers of every stream sorted by lag (pending plus ack pending), worst first, with
      a sparkline each (jsdata's own ``jsdata_*`` consumers hidden unless
      ``show_internal=True``);
    - KV buckets (keys, history, bytes, rate) and object stores (objects, size as a bar).

    The "open" menu shows a :class:`StreamMonitor`, :class:`KVWatcher` or
    :class:`ObjectStoreBrowser` of the chosen stream or bucket below (:meth:`show` from
    code; a blocking connection only).
    """

    def __init__(self, js: Any, *, interval: float = 2.0, window: float = 300.0,
                 max_rows: int = 50, show_internal: bool = False) -> None:
        resolved = _resolve(js, "JetStream context")
        _check_type(resolved[0], "client.jetstream", "JetStream", "JetStream context")
        if interval <= 0:
            raise errors.InvalidArgumentError("interval must be > 0 seconds")
        if window < interval:
            raise errors.InvalidArgumentError("window must be at least one interval")
        self._blocking = js if resolved[2] is not None else None
        self._rate_chart = ipywidgets.HTML(value="")
        self._lag_chart = ipywidgets.HTML(value="")
        self._consumer_table = ipywidgets.HTML(value="")
        self._kv_table = ipywidgets.HTML(value="")
        self._obj_table = ipywidgets.HTML(value="")
        self._open_menu = ipywidgets.Dropdown(
            options=[("open\u2026", "")], value="", layout=ipywidgets.Layout(width="260px"))
        self._detail = ipywidgets.VBox([])
        charts = ipywidgets.HBox([self._rate_chart, self._lag_chart],
                                 layout=ipywidgets.Layout(flex_flow="row wrap"))
        stores = ipywidgets.HBox(
            [self._kv_table, self._obj_table],
            layout=ipywidgets.Layout(flex_flow="row wrap", grid_gap="24px"))
        super().__init__(resolved, max_rows=max_rows, charts=[charts],
                         below=[self._consumer_table, stores, self._open_menu, self._detail])
        self._kv_table.layout.margin = "0 32px 0 0"
        self.interval = float(interval)
        self.window = float(window)
        self.show_internal = bool(show_internal)
        self._streams: list[dict[str, Any]] = []
        self._consumers: list[dict[str, Any]] = []
        self._kv: list[dict[str, Any]] = []
        self._obj: list[dict[str, Any]] = []
        self._prev: dict[str, tuple[float, int]] = {}
        n = max(2, int(self.window / self.interval) + 2)
        self._samples: collections.deque[tuple[float, dict[str, float],
                                               dict[str, int]]] = collections.deque(maxlen=n)
        self._menu_options: tuple[tuple[str, str], ...] = ()
        self._syncing_menu = False
        self.opened: Any = None
        self.polls = 0
        self.hidden = 0
        self._open_menu.observe(self._menu_picked, names="value")
        self._start()

    def _js_core(self) -> Any:
        return self._core_obj

    def _describe(self) -> str:
        return f"{len(self._streams)} streams"

    # -- the data ----------------------------------------------------------------------------
    @property
    def streams(self) -> list[dict[str, Any]]:
        """Every stream (KV and object-store streams included, ``kind`` says which)."""
        with self._lock:
            return [dict(r) for r in self._streams]

    @property
    def consumers(self) -> list[dict[str, Any]]:
        """Every shown consumer of every stream, worst lag first."""
        with self._lock:
            return [dict(r) for r in self._consumers]

    @property
    def kv_buckets(self) -> list[dict[str, Any]]:
        """The KV buckets: bucket, keys, history, bytes, rate."""
        with self._lock:
            return [dict(r) for r in self._kv]

    @property
    def object_stores(self) -> list[dict[str, Any]]:
        """The object stores: bucket, objects, bytes."""
        with self._lock:
            return [dict(r) for r in self._obj]

    async def _poll(self) -> None:
        js = self._core_obj
        infos = [i async for i in js.list_streams()]
        now = time.monotonic()
        streams, consumers, kvs, objs = [], [], [], []
        rates: dict[str, float] = {}
        lags: dict[str, int] = {}
        hidden = 0
        for info in sorted(infos, key=lambda i: i.config.name):
            name, st = info.config.name, info.state
            rate = None
            clock = info.ts.timestamp() if info.ts is not None else now  # the server's
            prev = self._prev.get(name)
            if prev is not None and clock > prev[0]:
                rate = max(0, st.last_seq - prev[1]) / (clock - prev[0])
            self._prev[name] = (clock, st.last_seq)
            if rate is not None:
                rates[name] = rate
            cis = ([ci async for ci in js.list_consumers(name)] if st.consumer_count else [])
            total_lag = 0
            for ci in cis:
                if not self.show_internal and is_internal(ci.name):
                    hidden += 1
                    continue
                row = {"stream": name, "consumer": ci.name, "num_pending": ci.num_pending,
                       "num_ack_pending": ci.num_ack_pending,
                       "num_redelivered": ci.num_redelivered,
                       "kind": "push" if ci.config.deliver_subject else "pull",
                       "last_active": ci.delivered.last_active}
                row["lag"] = lag(row)
                total_lag += row["lag"]
                lags[f"{name}/{ci.name}"] = row["lag"]
                consumers.append(row)
            kind = _kind(name)
            row = {"stream": name, "kind": kind, "messages": st.messages, "bytes": st.bytes,
                   "last_seq": st.last_seq, "rate": rate, "subjects": st.num_subjects,
                   "consumers": sum(1 for c in consumers if c["stream"] == name),
                   "lag": total_lag, "description": info.config.description or ""}
            streams.append(row)
            if kind == "kv":
                kvs.append({"bucket": name[len(KV_PREFIX):], "keys": st.num_subjects,
                            "history": info.config.max_msgs_per_subject, "bytes": st.bytes,
                            "rate": rate, "stream": name})
            elif kind == "obj":
                bucket = name[len(OBJ_PREFIX):]
                try:
                    meta = await js.stream_info(name, subjects_filter=f"$O.{bucket}.M.>")
                    n_obj = len(meta.state.subjects or {})
                except errors.JetStreamError:
                    n_obj = None
                objs.append({"bucket": bucket, "objects": n_obj, "bytes": st.bytes,
                             "stream": name})
        consumers.sort(key=lambda r: (-r["lag"], r["stream"], r["consumer"]))
        with self._lock:
            self._streams, self._consumers, self._kv, self._obj = streams, consumers, kvs, objs
            self.hidden = hidden
            self._samples.append((now, rates, lags))
            self.polls += 1

    async def _run(self) -> None:
        while True:
            try:
                await self._poll()
                self._state = "live"
                if self.error is not None:
                    self._show_error(None)
            except errors.JetStreamError as e:  # shown, and polling goes on
                self._state = "failed"
                self._show_error(e)
            self._mark_dirty()
            await asyncio.sleep(self.interval)

    def _rows_now(self) -> list[dict[str, Any]]:
        return self._streams

    # -- opening one resource ----------------------------------------------------------------
    def _menu_picked(self, change: dict[str, Any]) -> None:
        if change["new"] and not self._syncing_menu:
            try:
                self.show(change["new"])
            except errors.JetStreamError as e:
                self._status.value = _repr.error_html(f"{type(e).__name__}: {e}")

    def show(self, stream: str) -> Any:
        """Show the detailed widget of ``stream`` below the dashboard (a KVWatcher for a
        ``KV_*`` stream, an ObjectStoreBrowser for ``OBJ_*``, else a StreamMonitor),
        replacing the one shown before; returns it."""
        if self._blocking is None:
            raise errors.InvalidArgumentError(
                "Dashboard.show needs a blocking connection (jsdata.connect())")
        from .kv import KVWatcher
        from .monitor import StreamMonitor
        from .objects import ObjectStoreBrowser
        kind = _kind(stream)
        if kind == "kv":
            w: Any = KVWatcher(self._blocking.key_value(stream[len(KV_PREFIX):]))
        elif kind == "obj":
            w = ObjectStoreBrowser(self._blocking.object_store(stream[len(OBJ_PREFIX):]))
        else:
            w = StreamMonitor(self._blocking, stream, show_internal=self.show_internal)
        old, self.opened = self.opened, w
        self._detail.children = [w]
        if old is not None:
            old.close()
        self._set_menu(stream if stream in {v for _, v in self._menu_options} else "")
        return w

    def _set_menu(self, value: str) -> None:
        """Show ``value`` in the open menu without opening it again."""
        if self._open_menu.value == value:
            return
        self._syncing_menu = True
        try:
            self._open_menu.value = value
        finally:
            self._syncing_menu = False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling (and the opened detail widget)."""
        if self.opened is not None:
            self.opened.stop(timeout)
        super().stop(timeout)

    # -- rendering ---------------------------------------------------------------------------
    def _render_parts(self) -> list[tuple[Any, str]]:
        options = (("open\u2026", ""),) + tuple(
            (f"{r['kind']}: {r['stream']}", r["stream"]) for r in self._streams)
        if options != self._menu_options:
            self._menu_options = options
            current = self._open_menu.value
            self._syncing_menu = True
            try:
                self._open_menu.options = options
            finally:
                self._syncing_menu = False
            self._set_menu(current if current in {v for _, v in options} else "")
        return [*super()._render_parts(), (self._rate_chart, self._render_rates()),
                (self._lag_chart, self._render_lags()),
                (self._consumer_table, self._render_consumers()),
                (self._kv_table, self._render_kv()), (self._obj_table, self._render_obj())]

    def _history(self, key: str, which: int) -> list[float]:
        """The charted values of ``key``: stream rates (``which=1``) or consumer lags (2)."""
        out: list[float] = []
        for _, rates, lags in self._samples:
            d: dict[str, Any] = rates if which == 1 else lags
            if key in d:
                out.append(float(d[key]))
        return out

    def _render_rates(self) -> str:
        now = time.monotonic()
        top = sorted(self._streams, key=lambda r: -(r["rate"] or 0))[:5]
        series = [(_repr.shorten(r["stream"], 16),
                   [(t - now, rates[r["stream"]]) for t, rates, _ in self._samples
                    if r["stream"] in rates]) for r in top]
        return _svg.line_chart(series, window=self._span(now), width=540,
                               title="publish rate by stream (msgs/s)")

    def _render_lags(self) -> str:
        now = time.monotonic()
        top = self._consumers[:5]
        series = []
        for r in top:
            key = f"{r['stream']}/{r['consumer']}"
            series.append((_repr.shorten(r["consumer"], 16),
                           [(t - now, float(lags[key])) for t, _, lags in self._samples
                            if key in lags]))
        return _svg.line_chart(series, window=self._span(now), width=540,
                               title="consumer lag, worst 5 (pending + ack pending)")

    def _span(self, now: float) -> float:
        first = self._samples[0][0] if self._samples else None
        return _svg.growing_window(None if first is None else now - first, self.window)

    def _render_head(self) -> str:
        if not self.polls:
            return title_bar("JetStream account", state=self._state_text())
        plain = [r for r in self._streams if r["kind"] == "stream"]
        total_rate = sum(r["rate"] or 0 for r in self._streams)
        hidden = f"{self.hidden} internal consumers hidden" if self.hidden else ""
        return title_bar(
            "JetStream account", f"{len(plain)} streams", f"{len(self._consumers)} consumers",
            f"{len(self._kv)} KV buckets", f"{len(self._obj)} object stores",
            f"{sum(r['messages'] for r in self._streams):,} messages",
            _repr.human_bytes(sum(r["bytes"] for r in self._streams)),
            f"{total_rate:,.0f} msgs/s", hidden, state=self._state_text())

    def _render_table(self) -> str:
        plain = [r for r in self._streams if r["kind"] == "stream"]
        rows = []
        for i, r in enumerate(plain[:self.max_rows]):
            hist = self._history(r["stream"], 1)
            rows.append({**r, "human_bytes": _repr.human_bytes(r["bytes"]),
                         "trend": Markup(_svg.sparkline(
                             hist, color=_svg.PALETTE[i % len(_svg.PALETTE)]))})
        return "<div style='font-weight:600;margin-top:6px'>Streams</div>" + grid(
            ["stream", "messages", "human_bytes", "rate", "trend", "subjects", "consumers",
             "lag", "description"], rows + plain[self.max_rows:],
            titles=["stream", "messages", "bytes", "msgs/s", "rate trend", "subjects",
                    "consumers", "total lag", "description"],
            max_rows=self.max_rows, empty="(no streams)")

    def _render_consumers(self) -> str:
        worst = max((r["lag"] for r in self._consumers), default=0)
        rows = []
        for i, r in enumerate(self._consumers[:self.max_rows]):
            key = f"{r['stream']}/{r['consumer']}"
            color = _svg.PALETTE[i % len(_svg.PALETTE)] if i < 5 else "#999"
            rows.append({**r, "lag_bar": Markup(_svg.bar(r["lag"], worst,
                                                         label=f"{r['lag']:,}", width=90,
                                                         color=color)),
                         "trend": Markup(_svg.sparkline(self._history(key, 2), color=color))})
        return "<div style='font-weight:600;margin-top:6px'>Consumers by lag</div>" + grid(
            ["stream", "consumer", "kind", "lag_bar", "trend", "num_pending",
             "num_ack_pending", "num_redelivered", "last_active"],
            rows + self._consumers[self.max_rows:],
            titles=["stream", "consumer", "kind", "lag", "lag trend", "pending",
                    "ack pending", "redelivered", "last active"],
            max_rows=self.max_rows, sorted_by="lag_bar", descending=True,
            empty="(no consumers)")

    def _render_kv(self) -> str:
        rows = [{**r, "human_bytes": _repr.human_bytes(r["bytes"]),
                 "trend": Markup(_svg.sparkline(self._history(r["stream"], 1), width=80,
                                                color=_svg.PALETTE[2]))}
                for r in self._kv[:self.max_rows]]
        return "<div style='font-weight:600;margin-top:6px'>KV buckets</div>" + grid(
            ["bucket", "keys", "history", "human_bytes", "trend"], rows + self._kv[
                self.max_rows:],
            titles=["bucket", "keys", "history", "bytes", "writes"],
            max_rows=self.max_rows, empty="(no KV buckets)")

    def _render_obj(self) -> str:
        top = max((r["bytes"] for r in self._obj), default=0)
        rows = [{**r, "size_bar": Markup(_svg.bar(r["bytes"], top,
                                                  label=_repr.human_bytes(r["bytes"]),
                                                  color=_svg.PALETTE[4]))}
                for r in self._obj[:self.max_rows]]
        return "<div style='font-weight:600;margin-top:6px'>Object stores</div>" + grid(
            ["bucket", "objects", "size_bar"], rows + self._obj[self.max_rows:],
            titles=["bucket", "objects", "size"], max_rows=self.max_rows,
            empty="(no object stores)")
