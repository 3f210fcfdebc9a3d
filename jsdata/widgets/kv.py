"""``KVWatcher``: a live, filterable, sortable table of a bucket's keys, with the revision
history of one key."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Sequence
from typing import Any

import ipywidgets  # type: ignore[import-untyped]

from .. import _repr, errors
from . import _svg
from ._base import _check_type, _FeedWidget, _FilterSortMixin, _resolve
from ._table import grid, pattern_matcher, sort_rows, title_bar

COLUMNS = ["key", "value", "revision", "operation", "updated"]


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if v == v and abs(v) != float("inf") else None


class KVWatcher(_FilterSortMixin, _FeedWidget):
    """A live table of a bucket's keys: key, value (decoded preview), revision, operation,
    updated. Deleted and purged keys leave the table.

    ``KVWatcher(kv, keys=">")``: ``keys`` is a key pattern or a list of them (what the
    server sends). In the widget, the filter box narrows the table by a glob (``sue.*``) or
    a substring, the sort menu orders it by any column, and the history box shows one key's
    revisions over time (a chart when its values are numbers). The same from code:
    :meth:`set_filter`, :meth:`sort_by`, :meth:`show_history`.
    """

    _sortable = COLUMNS

    def __init__(self, kv: Any, keys: str | Sequence[str] = ">", *, max_rows: int = 100,
                 value_chars: int = 80, sort: str = "key", descending: bool = False,
                 filter: str = "") -> None:
        resolved = _resolve(kv, "key-value bucket")
        _check_type(resolved[0], "kv.bucket", "KeyValue", "key-value bucket")
        self._keys = keys if isinstance(keys, str) else list(keys)
        resolved[0]._filters(self._keys)  # validate the patterns now (InvalidKeyError)
        if sort not in COLUMNS:
            raise errors.InvalidArgumentError(f"sort must be one of {COLUMNS}, got {sort!r}")
        self._match = pattern_matcher(filter)
        self._filter = filter
        self._sort = sort
        self._descending = bool(descending)
        self._filter_box = ipywidgets.Text(
            value=filter, placeholder="filter keys: sue.* or text", continuous_update=True,
            layout=ipywidgets.Layout(width="220px"))
        self._sort_menu = ipywidgets.Dropdown(
            options=[(f"sort: {c}", c) for c in COLUMNS], value=sort,
            layout=ipywidgets.Layout(width="150px"))
        self._order = ipywidgets.ToggleButton(
            value=self._descending, description="\u25bc desc" if descending else "\u25b2 asc",
            layout=ipywidgets.Layout(width="80px"))
        self._history_box = ipywidgets.Combobox(
            placeholder="history of key\u2026", options=[], ensure_option=False,
            layout=ipywidgets.Layout(width="220px"))
        self._history_view = ipywidgets.HTML(value="")
        super().__init__(resolved, max_rows=max_rows,
                         controls=[self._filter_box, self._sort_menu, self._order,
                                   self._history_box],
                         below=[self._history_view])
        self.value_chars = int(value_chars)
        self._entries: dict[str, dict[str, Any]] = {}
        self._last_rev = 0
        self._history_key: str | None = None
        self._history: list[dict[str, Any]] = []
        self._history_error: str = ""
        self._key_options: tuple[str, ...] = ()
        self._filter_box.observe(lambda ch: self.set_filter(ch["new"]), names="value")
        self._sort_menu.observe(lambda ch: self.sort_by(ch["new"], self._descending),
                                names="value")
        self._order.observe(lambda ch: self.sort_by(self._sort, ch["new"]), names="value")
        self._history_box.observe(self._history_picked, names="value")
        self._start()

    def _describe(self) -> str:
        return f"{self._core_obj.bucket} keys={self._keys!r}"

    # -- key history -------------------------------------------------------------------------
    def _history_picked(self, change: dict[str, Any]) -> None:
        key = change["new"]
        if key and key in self._entries:
            self.show_history(key)
        elif not key:
            self.show_history(None)

    def show_history(self, key: str | None) -> None:
        """Show every stored revision of ``key`` below the table (a chart of its values
        when they are numbers), kept up to date live; ``None`` hides it."""
        if key is not None:
            from ..client.names import kv_key
            kv_key(key)
        with self._lock:
            self._history_key = key
            self._history = []
            self._history_error = ""
        if key is not None and self._history_box.value != key:
            self._history_box.value = key
        if key is None:
            self.request_render()
            return
        try:
            if self._on_loop():
                self._core_obj._js._spawn(self._load_history(key))
            else:
                asyncio.run_coroutine_threadsafe(self._load_history(key), self._jloop)
        except RuntimeError:
            raise errors.ConnectionClosedError("the connection is closed") from None

    async def _load_history(self, key: str) -> None:
        try:
            entries = await self._core_obj.history(key)
            rows = [self._history_row(e) for e in entries]
            err = ""
        except errors.KeyNotFoundError:
            rows, err = [], ""
        except errors.JetStreamError as e:
            rows, err = [], f"{type(e).__name__}: {e}"
        with self._lock:
            if self._history_key == key:
                known = {r["revision"] for r in rows}
                # updates that arrived while loading are kept too
                rows += [r for r in self._history if r["revision"] not in known]
                rows.sort(key=lambda r: r["revision"])
                self._history = rows
                self._history_error = err
        self._mark_dirty()

    def _history_row(self, e: Any) -> dict[str, Any]:
        op = getattr(e.operation, "value", e.operation)
        return {"revision": e.revision, "operation": op, "updated": e.created,
                "value": _repr.preview_bytes(e.value, self.value_chars) if op == "PUT" else ""}

    @property
    def history(self) -> list[dict[str, Any]]:
        """The revisions of the key shown by :meth:`show_history` (oldest first; a copy)."""
        with self._lock:
            return [dict(r) for r in self._history]

    @property
    def history_key(self) -> str | None:
        """The key whose history is shown (None: none)."""
        return self._history_key

    # -- the feed ----------------------------------------------------------------------------
    async def _open_feed(self) -> Any:
        return await self._core_obj.watch(self._keys)

    def _apply(self, e: Any) -> None:
        self._last_rev = max(self._last_rev, e.revision)
        if e.key == self._history_key and self.initial_done:
            if all(r["revision"] != e.revision for r in self._history):
                self._history.append(self._history_row(e))
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
        match = self._match
        rows = [self._entries[k] for k in sorted(self._entries) if match(k)]
        if self._sort == "key":
            return rows[::-1] if self._descending else rows
        return sort_rows(rows, self._sort, self._descending)

    # -- rendering ---------------------------------------------------------------------------
    def _render_parts(self) -> list[tuple[Any, str]]:
        parts = super()._render_parts()
        parts.append((self._history_view, self._render_history()))
        keys = tuple(sorted(self._entries)[:500])
        if keys != self._key_options:  # the history box offers the current keys
            self._key_options = keys
            self._history_box.options = keys
        return parts

    def _render_head(self) -> str:
        keys = self._keys if isinstance(self._keys, str) else ", ".join(self._keys)
        shown = len(self._rows_now()) if self._filter.strip() else None
        return title_bar(
            f"KV {self._core_obj.bucket}",
            f"watching {_repr.shorten(keys, 80)}" if keys != ">" else "",
            f"{len(self._entries):,} keys", f"{shown:,} shown" if shown is not None else "",
            f"last revision {self._last_rev:,}", state=self._state_text())

    def _render_table(self) -> str:
        return grid(COLUMNS, self._rows_now(), max_rows=self.max_rows,
                    empty="(no keys)" if not self._entries else "(no key matches the filter)",
                    sorted_by=self._sort, descending=self._descending)

    def _render_history(self) -> str:
        key = self._history_key
        if key is None:
            return ""
        rows = self._history
        head = title_bar(f"History of {key}", f"{len(rows)} revisions kept",
                         "newest first")
        if self._history_error:
            return head + _repr.error_html(self._history_error)
        chart = ""
        if rows:
            now = datetime.datetime.now(datetime.timezone.utc)
            times = [r["updated"] for r in rows if r["updated"] is not None]
            span = _svg.growing_window(
                (now - min(times)).total_seconds() if times else None, 365 * 86400.0)
            nums = [_number(r["value"]) for r in rows]
            numeric = all(v is not None for v, r in zip(nums, rows, strict=True)
                          if r["operation"] == "PUT") and any(v is not None for v in nums)
            pts: list[tuple[float, float]] = [
                ((r["updated"] - now).total_seconds(),
                 (v if numeric and v is not None else float(r["revision"])))
                for r, v in zip(rows, nums, strict=True)
                if r["updated"] is not None and (v is not None or not numeric)]
            chart = _svg.line_chart([("value" if numeric else "revision", pts)],
                                    window=span, width=540, height=160, step=True,
                                    zero=not numeric,
                                    title=f"{key}: {'value' if numeric else 'revision'} "
                                          "over time")
        table = grid(["revision", "operation", "value", "updated"], rows[::-1],
                     max_rows=min(self.max_rows, 10),
                     empty="(no revisions: the key does not exist)")
        # the chart beside the newest revisions
        return (f"{head}<div style='display:flex;flex-wrap:wrap;gap:16px;"
                f"align-items:flex-start'><div>{chart}</div><div>{table}</div></div>")
