"""``StreamTail``: the last messages of a stream, decoded into columns with the codec
``to_pandas`` would use, following new ones live; filter by subject, pause and resume."""

from __future__ import annotations

import asyncio
import collections
import datetime
import json
from collections.abc import Sequence
from typing import Any

import ipywidgets  # type: ignore[import-untyped]

from .. import _repr, errors
from ..client import names
from ._base import _check_type, _FeedWidget, _resolve
from ._table import grid, title_bar

_PRIVATE = ("_msg",)


def _subjects(subjects: str | Sequence[str] | None) -> list[str]:
    if subjects is None:
        return []
    if isinstance(subjects, str):
        items = [s.strip() for s in subjects.split(",")] if "," in subjects else [subjects]
    else:
        items = list(subjects)
    return [names.filter_subject(f) for f in items if f != ""]


def _cell_value(v: Any) -> Any:
    """A decoded value as a table cell: scalars and times as they are, nested values as
    compact JSON text."""
    if v is None or isinstance(v, (str, int, float, bool, datetime.datetime)):
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return _repr.preview_bytes(bytes(v), 60)
    try:
        return json.dumps(v, separators=(",", ":"), default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(v)


class StreamTail(_FeedWidget):
    """The last ``n`` messages of a stream (optionally only ``subjects``), newest at the
    bottom, following new ones live through an ordered push consumer.

    Payloads are decoded into columns with the codec ``to_pandas`` uses (``codec="auto"``:
    by the Content-Type header, else JSON objects by sniffing; or a codec name or
    :class:`jsdata.Codec`); payloads that decode to no columns (raw bytes, text) show as a
    ``value`` preview. In the widget, the subject box changes the filter (Enter; it restarts
    the tail), and the pause button freezes the table while messages keep arriving
    (:meth:`set_subjects`, :meth:`pause`, :meth:`resume` from code).
    """

    def __init__(self, stream: Any, subjects: str | Sequence[str] | None = None,
                 n: int = 20, *, value_chars: int = 120, codec: Any = "auto",
                 columns: Sequence[str] | None = None, max_columns: int = 8) -> None:
        resolved = _resolve(stream, "stream")
        _check_type(resolved[0], "client.stream", "Stream", "stream")
        if n < 1:
            raise errors.InvalidArgumentError("n must be at least 1")
        filters = _subjects(subjects)
        from ..frames import codec as _codec
        self._codec_mod = _codec
        if isinstance(codec, str) and codec.lower() == "auto":
            self._codec: Any = None
        else:
            self._codec = _codec.get_codec(codec)
        self.columns = list(columns) if columns is not None else None
        self.max_columns = int(max_columns)
        self._subject_box = ipywidgets.Text(
            value=", ".join(filters), placeholder="subjects, e.g. orders.eu.* (Enter)",
            continuous_update=False, layout=ipywidgets.Layout(width="280px"))
        self._pause_button = ipywidgets.ToggleButton(
            value=False, description="pause", icon="pause",
            layout=ipywidgets.Layout(width="100px"))
        super().__init__(resolved, max_rows=n,
                         controls=[self._subject_box, self._pause_button])
        self.subjects = filters
        self.n = int(n)
        self.value_chars = int(value_chars)
        self._msgs: collections.deque[dict[str, Any]] = collections.deque(maxlen=self.n)
        self._received = 0
        self._paused = False
        self._paused_at = 0
        self._frozen = ""
        self._restart = False
        self._subject_box.observe(self._subjects_typed, names="value")
        self._pause_button.observe(lambda ch: self.pause() if ch["new"] else self.resume(),
                                   names="value")
        self._start()

    def _describe(self) -> str:
        return f"{self._core_obj.name} n={self.n}"

    # -- subject filter ----------------------------------------------------------------------
    def _subjects_typed(self, change: dict[str, Any]) -> None:
        try:
            self.set_subjects(change["new"])
        except errors.JetStreamError as e:  # a bad subject typed: say so, keep the tail
            self._status.value = _repr.error_html(f"{type(e).__name__}: {e}")

    def set_subjects(self, subjects: str | Sequence[str] | None) -> None:
        """Tail only ``subjects`` (a filter subject, a comma-separated string or a list;
        ``None``/``""``: all): restarts the tail with the last ``n`` matching messages."""
        filters = _subjects(subjects)
        if filters == self.subjects:
            return
        text = ", ".join(filters)
        self.subjects = filters
        if self._subject_box.value.strip() != text and _subjects(
                self._subject_box.value or None) != filters:
            self._subject_box.value = text
        if self.error is None and self._status.value:
            self._status.value = ""
        if self._on_loop():
            self._core_obj._js._spawn(self._restart_feed())
            return
        try:
            asyncio.run_coroutine_threadsafe(self._restart_feed(), self._jloop)
        except RuntimeError:
            raise errors.ConnectionClosedError("the connection is closed") from None

    async def _restart_feed(self) -> None:
        self._restart = True
        feed = self._feed
        if feed is not None:
            await feed.stop()  # ends the current feed; _run opens one with the new filter

    async def _run(self) -> None:
        while True:
            self._restart = False
            await super()._run()
            if not self._restart or self._stopping:
                return
            with self._lock:
                self._msgs.clear()
                self.initial_done = False
            self._state = "starting"
            self._mark_dirty()

    # -- pause / resume ----------------------------------------------------------------------
    def pause(self) -> None:
        """Freeze the table (messages keep arriving and are shown on :meth:`resume`)."""
        with self._lock:
            if self._paused:
                return
            self._paused = True
            self._paused_at = self._received
            self._frozen = self._table.value
        if not self._pause_button.value:
            self._pause_button.value = True
        self._pause_button.description, self._pause_button.icon = "resume", "play"
        self.request_render()

    def resume(self) -> None:
        """Show the latest messages again and follow new ones."""
        with self._lock:
            if not self._paused:
                return
            self._paused = False
            self._frozen = ""
        if self._pause_button.value:
            self._pause_button.value = False
        self._pause_button.description, self._pause_button.icon = "pause", "pause"
        self.request_render()

    @property
    def paused(self) -> bool:
        """True while the table is frozen by :meth:`pause`."""
        return self._paused

    # -- the feed ----------------------------------------------------------------------------
    async def _open_feed(self) -> Any:
        """An ordered feed starting early enough to hold the last ``n`` matching messages:
        a window before the last sequence, widened until it holds ``n`` or the stream."""
        from ..client.watch import OrderedFeed
        s = self._core_obj
        info = await s.info()
        st = info.state
        js = s._js
        subjects = list(self.subjects)
        if st.messages == 0:
            feed = OrderedFeed(js, s.name, filter_subjects=subjects, deliver_policy="all")
            self._feed = feed
            return await feed.start()
        window = self.n
        while True:
            start = max(st.first_seq, st.last_seq - window + 1, 1)
            feed = OrderedFeed(js, s.name, filter_subjects=subjects,
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
        # As cheap as can be (a busy stream delivers many more messages than are shown):
        # metadata, previews and decoding happen when a row is shown (_materialize).
        self._received += 1
        self._msgs.append({"_msg": m})

    def _materialize(self, r: dict[str, Any]) -> dict[str, Any]:
        """Fill a row from its message (once; rows are then reused): seq, subject, time,
        size, ``value`` and ``full`` previews, ``decoded`` columns."""
        m = r.pop("_msg", None)
        if m is None:
            return r
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
        data = m.data
        r.update({"seq": seq, "subject": m.subject, "time": ts, "size": len(data),
                  "value": _repr.preview_bytes(data, self.value_chars, ct),
                  "full": _repr.preview_bytes(data, 2000, ct, pretty=True),
                  "decoded": self._decode(data, ct)})
        return r

    def _decode(self, data: bytes, ct: str | None) -> dict[str, Any]:
        """The payload as ``{column: value}`` with the codec of ``to_pandas`` ({} when it
        has no columns of its own: raw payloads, or one that does not decode)."""
        c = self._codec
        mod = self._codec_mod
        if c is None:
            c = (mod.codec_for_content_type(ct) if ct else None) or mod.sniff(data)
        if isinstance(c, mod.RawCodec):
            return {}
        try:
            res = c.decode([data], None)
            table = res[0] if isinstance(res, tuple) else res
            rows = table.to_pylist() if hasattr(table, "to_pylist") else []
        except Exception:  # noqa: BLE001 - shown as the raw preview instead
            return {}
        if not rows:
            return {}
        row = {str(k): _cell_value(v) for k, v in rows[0].items()}
        if len(rows) > 1:
            row["_rows"] = len(rows)
        return row

    def _rows_now(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in self._materialize(r).items() if k not in _PRIVATE}
                for r in self._msgs]

    # -- rendering ---------------------------------------------------------------------------
    def _shown_columns(self, rows: list[dict[str, Any]]) -> tuple[list[str], bool]:
        """(decoded columns, whether a raw ``value`` column is needed)."""
        if self.columns is not None:
            return list(self.columns), any(not r["decoded"] for r in rows)
        cols: list[str] = []
        for r in rows:
            for k in r["decoded"]:
                if k not in cols and len(cols) < self.max_columns:
                    cols.append(k)
        return cols, any(not r["decoded"] for r in rows)

    def _render_head(self) -> str:
        subj = ", ".join(self.subjects) if self.subjects else "all subjects"
        state = self._state_text()
        facts = [_repr.shorten(subj, 80), f"last {self.n}", f"{self._received:,} received"]
        if self._paused:
            state = "paused"
            facts.append(f"{self._received - self._paused_at:,} new since paused")
        return title_bar(f"Tail of {self._core_obj.name}", *facts, state=state)

    def _render_table(self) -> str:
        if self._paused and self._frozen:
            return self._frozen
        rows = [self._materialize(r) for r in self._msgs]
        cols, raw = self._shown_columns(rows)
        table = []
        for r in rows:
            d = r["decoded"]
            table.append({**{f"c:{c}": d.get(c) for c in cols}, "seq": r["seq"],
                          "subject": r["subject"], "time": r["time"], "size": r["size"],
                          "value": "" if d and not raw else r["value"], "full": r["full"]})
        columns = ["seq", "time", "subject", "size", *[f"c:{c}" for c in cols]]
        titles = ["seq", "time", "subject", "bytes", *cols]
        if raw or not cols:
            columns.append("value")
            titles.append("value")
        # hover the last cell of a row for the whole payload, indented
        return grid(columns, table, titles=titles, max_rows=self.n, limit=self.value_chars,
                    empty="(no messages)", hover="full")
