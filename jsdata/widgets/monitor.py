"""``StreamMonitor``: a stream's counters, a live publish-rate chart, and its consumers'
lag over the last minutes, worst first."""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import ipywidgets  # type: ignore[import-untyped]

from .. import _repr, errors
from ..client import names
from . import _svg
from ._base import _check_type, _LiveWidget, _resolve
from ._table import Markup, grid, title_bar, when

INTERNAL_PREFIX = "jsdata_"
"""Consumers jsdata creates for itself (``jsdata_feed_*`` behind watchers and widgets,
``jsdata_read_*`` behind reads): hidden unless ``show_internal=True``."""


def is_internal(consumer_name: str) -> bool:
    """True for a consumer jsdata created for its own use (see :data:`INTERNAL_PREFIX`)."""
    return consumer_name.startswith(INTERNAL_PREFIX)


def lag(row: dict[str, Any]) -> int:
    """A consumer's lag: messages not yet delivered plus delivered but not acknowledged."""
    return int(row.get("num_pending") or 0) + int(row.get("num_ack_pending") or 0)


class StreamMonitor(_LiveWidget):
    """Live counters of a stream (messages, bytes, first/last sequence, rate in msgs/s and
    bytes/s from successive infos), a chart of the publish rate and one of the consumers'
    lag over the last ``window`` seconds, and the consumers sorted by lag (pending plus ack
    pending, worst first) with a sparkline each. Polled every ``interval`` seconds: its cost
    is two API calls a poll whatever the message rate, so a stream taking 100k msgs/s is
    watched as cheaply as an idle one.

    Consumers jsdata creates for itself (``jsdata_*``: watchers, widgets, reads) are hidden
    unless ``show_internal=True``; ``hidden`` counts them.
    """

    def __init__(self, js: Any, stream: Any, *, interval: float = 1.0,
                 window: float = 300.0, max_rows: int = 100, show_internal: bool = False,
                 chart_consumers: int = 5) -> None:
        resolved = _resolve(js, "JetStream context")
        _check_type(resolved[0], "client.jetstream", "JetStream", "JetStream context")
        name = getattr(stream, "name", stream)
        if not isinstance(name, str):
            raise errors.InvalidArgumentError(
                f"stream must be a name or a Stream, got {type(stream).__name__}")
        names.stream_name(name)
        if interval <= 0:
            raise errors.InvalidArgumentError("interval must be > 0 seconds")
        if window < interval:
            raise errors.InvalidArgumentError("window must be at least one interval")
        self._rate_chart = ipywidgets.HTML(value="")
        self._lag_chart = ipywidgets.HTML(value="")
        charts = ipywidgets.HBox([self._rate_chart, self._lag_chart],
                                 layout=ipywidgets.Layout(flex_flow="row wrap"))
        super().__init__(resolved, max_rows=max_rows, charts=[charts])
        self.stream = name
        self.interval = float(interval)
        self.window = float(window)
        self.show_internal = bool(show_internal)
        self.chart_consumers = int(chart_consumers)
        self._stats: dict[str, Any] = {}
        self._consumers: list[dict[str, Any]] = []
        self._prev: tuple[float, int, int] | None = None
        # (monotonic time, msgs/s, {consumer: (pending, ack pending)}), oldest first
        self._samples: collections.deque[tuple[float, float | None,
                                               dict[str, tuple[int, int]]]] = (
            collections.deque(maxlen=max(2, int(self.window / self.interval) + 2)))
        self.polls = 0
        self.hidden = 0
        self._start()

    def _js_core(self) -> Any:
        return self._core_obj

    def _describe(self) -> str:
        return self.stream

    @property
    def stats(self) -> dict[str, Any]:
        """The latest counters: messages, bytes, first_seq, last_seq, rate (msgs/s),
        byte_rate (bytes/s), subjects, consumers (shown), updated."""
        with self._lock:
            return dict(self._stats)

    @property
    def rate_history(self) -> list[tuple[float, float]]:
        """``(seconds ago, msgs/s)`` of each poll in the window (oldest first)."""
        now = time.monotonic()
        with self._lock:
            return [(round(now - t, 3), r) for t, r, _ in self._samples if r is not None]

    def lag_history(self, consumer: str) -> list[tuple[float, int, int]]:
        """``(seconds ago, pending, ack pending)`` of ``consumer`` at each poll in the
        window (oldest first)."""
        now = time.monotonic()
        with self._lock:
            return [(round(now - t, 3), *c[consumer]) for t, _, c in self._samples
                    if consumer in c]

    async def _poll(self) -> None:
        js = self._core_obj
        info = await js.stream_info(self.stream)
        consumers = [ci async for ci in js.list_consumers(self.stream)]
        now = time.monotonic()
        st = info.state
        rate = byte_rate = None
        # the rate between two polls, timed by the server's clock when it says (info.ts):
        # a slow answer on a busy machine does not then show as a spike
        clock = info.ts.timestamp() if info.ts is not None else now
        if self._prev is not None:
            t0, seq0, bytes0 = self._prev
            dt = clock - t0
            if dt > 0:
                rate = max(0, st.last_seq - seq0) / dt
                byte_rate = max(0, st.bytes - bytes0) / dt if st.last_seq != seq0 else 0.0
        self._prev = (clock, st.last_seq, st.bytes)
        shown = [ci for ci in consumers if self.show_internal or not is_internal(ci.name)]
        rows = []
        for ci in shown:
            rows.append({
                "consumer": ci.name, "num_pending": ci.num_pending,
                "num_ack_pending": ci.num_ack_pending, "num_redelivered": ci.num_redelivered,
                "delivered": ci.delivered.stream_seq, "ack_floor": ci.ack_floor.stream_seq,
                "last_active": ci.delivered.last_active,
                "kind": "push" if ci.config.deliver_subject else "pull",
            })
        for r in rows:
            r["lag"] = lag(r)
        rows.sort(key=lambda r: (-r["lag"], r["consumer"]))
        with self._lock:
            self._stats = {
                "messages": st.messages, "bytes": st.bytes, "first_seq": st.first_seq,
                "last_seq": st.last_seq, "rate": rate, "byte_rate": byte_rate,
                "subjects": st.num_subjects, "consumers": len(shown),
                "updated": info.ts,
            }
            self._consumers = rows
            self.hidden = len(consumers) - len(shown)
            self._samples.append((now, rate, {r["consumer"]: (r["num_pending"],
                                                              r["num_ack_pending"])
                                              for r in rows}))
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

    # -- rendering ---------------------------------------------------------------------------
    def _render_parts(self) -> list[tuple[Any, str]]:
        return [*super()._render_parts(), (self._rate_chart, self._render_rate()),
                (self._lag_chart, self._render_lag())]

    def _series_now(self) -> tuple[float, list[tuple[float, float | None,
                                                     dict[str, tuple[int, int]]]]]:
        return time.monotonic(), list(self._samples)

    def _span(self, now: float, samples: list[Any]) -> float:
        return _svg.growing_window(now - samples[0][0] if samples else None, self.window)

    def _render_rate(self) -> str:
        now, samples = self._series_now()
        pts = [(t - now, r) for t, r, _ in samples if r is not None]
        return _svg.line_chart([("msgs/s", pts)], window=self._span(now, samples), area=True,
                               title=f"{self.stream} publish rate (msgs/s)", width=540)

    def _render_lag(self) -> str:
        now, samples = self._series_now()
        top = [r["consumer"] for r in self._consumers[:self.chart_consumers]]
        series: list[tuple[str, list[tuple[float, float]]]] = []
        dashed: list[bool] = []
        colors: list[str] = []
        for i, name in enumerate(top):
            color = _svg.PALETTE[(i + 1) % len(_svg.PALETTE)]
            pending = [(t - now, float(c[name][0])) for t, _, c in samples if name in c]
            acks = [(t - now, float(c[name][1])) for t, _, c in samples if name in c]
            series += [(_repr.shorten(name, 18), pending), ("", acks)]
            dashed += [False, True]
            colors += [color, color]
        title = "consumer lag: pending \u2014 ack pending \u2013 \u2013"
        if not top:
            title = "consumer lag (no consumers)"
        return _svg.line_chart(series, window=self._span(now, samples), title=title,
                               width=540, dashed=dashed, colors=colors or None)

    def _render_head(self) -> str:
        s = self._stats
        if not s:
            return title_bar(f"Stream {self.stream}", state=self._state_text())
        rate = "- msgs/s" if s["rate"] is None else f"{s['rate']:,.1f} msgs/s"
        brate = "" if s["byte_rate"] is None else f"{_repr.human_bytes(s['byte_rate'])}/s"
        hidden = f"{self.hidden} internal hidden" if self.hidden else ""
        return title_bar(
            f"Stream {self.stream}", f"{s['messages']:,} messages",
            _repr.human_bytes(s["bytes"]), f"seq {s['first_seq']:,}\u2013{s['last_seq']:,}",
            rate, brate, f"{s['subjects']:,} subjects", f"{s['consumers']} consumers",
            hidden, f"updated {when(s['updated'])}" if s["updated"] else "",
            state=self._state_text())

    def _render_table(self) -> str:
        now, samples = self._series_now()
        worst = max((r["lag"] for r in self._consumers), default=0)
        rows = []
        for i, r in enumerate(self._consumers[:self.max_rows]):
            name = r["consumer"]
            hist = [float(c[name][0] + c[name][1]) for _, _, c in samples if name in c]
            color = _svg.PALETTE[(i + 1) % len(_svg.PALETTE)] if i < self.chart_consumers \
                else "#999"
            rows.append({**r, "trend": Markup(_svg.sparkline(hist, color=color)),
                         "lag_bar": Markup(_svg.bar(r["lag"], worst, label=f"{r['lag']:,}",
                                                    width=90, color=color))})
        return grid(
            ["consumer", "kind", "lag_bar", "trend", "num_pending", "num_ack_pending",
             "num_redelivered", "delivered", "ack_floor", "last_active"], rows,
            titles=["consumer", "kind", "lag", "lag trend",
                    "pending", "ack pending", "redelivered", "delivered seq", "ack floor",
                    "last active"],
            max_rows=self.max_rows, sorted_by="lag_bar", descending=True,
            empty="(no consumers)")
