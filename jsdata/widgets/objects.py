"""``ObjectStoreBrowser``: a live, filterable, sortable table of a bucket's objects with
their sizes drawn as bars."""

from __future__ import annotations

from typing import Any

import ipywidgets  # type: ignore[import-untyped]

from .. import _repr, errors
from . import _svg
from ._base import _check_type, _FeedWidget, _FilterSortMixin, _resolve
from ._table import Markup, grid, pattern_matcher, sort_rows, title_bar

SORTABLE = ["name", "size", "chunks", "modified", "description"]


class ObjectStoreBrowser(_FilterSortMixin, _FeedWidget):
    """The objects of a bucket (name, size as a bar, chunks, digest, modified, description),
    following puts and deletes live through the bucket's watcher.

    The filter box narrows the table by a glob (``2024/*.csv``) or a substring, the sort
    menu orders it (by default the largest objects first); :meth:`set_filter` and
    :meth:`sort_by` do the same from code.
    """

    _sortable = SORTABLE

    def __init__(self, obs: Any, *, max_rows: int = 100, sort: str = "name",
                 descending: bool = False, filter: str = "") -> None:
        resolved = _resolve(obs, "object store")
        _check_type(resolved[0], "objects.store", "ObjectStore", "object store")
        if sort not in SORTABLE:
            raise errors.InvalidArgumentError(f"sort must be one of {SORTABLE}, got {sort!r}")
        self._match = pattern_matcher(filter)
        self._filter = filter
        self._sort, self._descending = sort, bool(descending)
        self._filter_box = ipywidgets.Text(
            value=filter, placeholder="filter names: *.parquet or text",
            continuous_update=True, layout=ipywidgets.Layout(width="220px"))
        self._sort_menu = ipywidgets.Dropdown(
            options=[(f"sort: {c}", c) for c in SORTABLE], value=sort,
            layout=ipywidgets.Layout(width="160px"))
        self._order = ipywidgets.ToggleButton(
            value=self._descending, description="\u25bc desc" if descending else "\u25b2 asc",
            layout=ipywidgets.Layout(width="80px"))
        super().__init__(resolved, max_rows=max_rows,
                         controls=[self._filter_box, self._sort_menu, self._order])
        self._objects: dict[str, dict[str, Any]] = {}
        self._filter_box.observe(lambda ch: self.set_filter(ch["new"]), names="value")
        self._sort_menu.observe(lambda ch: self.sort_by(ch["new"], self._descending),
                                names="value")
        self._order.observe(lambda ch: self.sort_by(self._sort, ch["new"]), names="value")
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
        match = self._match
        rows = [self._objects[k] for k in sorted(self._objects) if match(k)]
        if self._sort == "name":
            return rows[::-1] if self._descending else rows
        return sort_rows(rows, self._sort, self._descending)

    def _render_head(self) -> str:
        total = sum(o["size"] for o in self._objects.values())
        shown = self._rows_now()
        facts = [f"{len(self._objects):,} objects", _repr.human_bytes(total)]
        if self._filter.strip():
            facts.append(f"{len(shown):,} shown "
                         f"({_repr.human_bytes(sum(o['size'] for o in shown))})")
        return title_bar(f"Object store {self._core_obj.bucket}", *facts,
                         state=self._state_text())

    def _render_table(self) -> str:
        view = self._rows_now()
        top = max((o["size"] for o in view if not o["link"]), default=0)
        rows = []
        for o in view[:self.max_rows]:
            bar = (_svg.bar(o["size"], top, label=o["human_size"]) if not o["link"]
                   else _repr.esc("link"))
            rows.append({**o, "size_bar": Markup(bar),
                         "digest": _repr.shorten(o["digest"], 20)})
        column = {"size": "size_bar"}.get(self._sort, self._sort)
        columns = ["name", "size_bar", "chunks", "modified", "description", "digest"]
        titles = ["name", "size", "chunks", "modified", "description", "digest"]
        if any(o["link"] for o in view):  # a link column only when there are links
            columns.append("link")
            titles.append("link")
        return grid(columns, rows + view[self.max_rows:], titles=titles,
                    max_rows=self.max_rows,
                    empty="(no objects)" if not self._objects
                    else "(no object matches the filter)",
                    sorted_by=column, descending=self._descending)
