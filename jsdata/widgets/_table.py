"""Tables for the widgets: filtering by pattern, sorting by column, and a grid whose cells
may hold pre-built markup (bars, sparklines) next to escaped text."""

from __future__ import annotations

import datetime
import fnmatch
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .. import _repr, errors

_TABLE = ("border-collapse:collapse;margin:4px 0;font-size:12px;"
          "font-variant-numeric:tabular-nums")
_TH = ("text-align:left;padding:3px 12px 3px 0;border-bottom:1px solid #ccc;color:#555;"
       "font-weight:600;white-space:nowrap")
_TD = ("text-align:left;padding:2px 12px 2px 0;border-bottom:1px solid #f0f0f0;"
       "white-space:nowrap")
_TD_NUM = ("text-align:right;padding:2px 12px 2px 0;border-bottom:1px solid #f0f0f0;"
           "white-space:nowrap")
_NOTE = "color:#888;font-size:11px"


class Markup(str):
    """Trusted HTML built by the widgets themselves (never from data): a grid puts it into
    a cell as is, where any other value is shortened and escaped."""


def pattern_matcher(pattern: str) -> Any:
    """A predicate for a filter box: ``""`` matches everything; a pattern with ``*``, ``?``,
    ``[`` or a trailing NATS ``>`` is a glob (``sue.*``, ``orders.>``, ``*.csv``); anything
    else matches as a case-insensitive substring."""
    if not isinstance(pattern, str):
        raise errors.InvalidArgumentError(
            f"a filter pattern must be a string, got {type(pattern).__name__}")
    p = pattern.strip()
    if not p:
        return lambda _s: True
    if p == ">" or p.endswith(".>"):
        p = p[:-1] + "*"
    if any(c in p for c in "*?["):
        return lambda s: fnmatch.fnmatchcase(s, p)
    low = p.lower()
    return lambda s: low in s.lower()


def _sort_key(v: Any) -> tuple[int, Any]:
    if v is None:
        return (2, 0)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, v)
    if isinstance(v, datetime.datetime):
        return (0, v.timestamp())
    return (1, str(v))


def sort_rows(rows: list[dict[str, Any]], column: str, descending: bool = False
              ) -> list[dict[str, Any]]:
    """Rows sorted by ``column`` (numbers and times by value, then text; empty cells last
    in either direction)."""
    present = [r for r in rows if r.get(column) is not None]
    missing = [r for r in rows if r.get(column) is None]
    present.sort(key=lambda r: _sort_key(r.get(column)), reverse=descending)
    return present + missing


def when(t: datetime.datetime) -> str:
    """A time for a table cell: ``14:03:07.123`` today (UTC, like the server's times),
    else ``2024-05-01 14:03``."""
    u = t.astimezone(datetime.timezone.utc) if t.tzinfo else t
    today = datetime.datetime.now(datetime.timezone.utc).date()
    if u.date() == today:
        return u.strftime("%H:%M:%S.") + f"{u.microsecond // 1000:03d}"
    return u.strftime("%Y-%m-%d %H:%M")


def _cell(v: Any, limit: int) -> tuple[str, bool]:
    """(html, numeric) for one cell."""
    if isinstance(v, Markup):
        return str(v), False
    numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
    if v is None:
        text = ""
    elif isinstance(v, datetime.datetime):
        text = when(v)
    elif isinstance(v, float):  # up to two decimals: 212.93, 15.6, 0
        text = f"{v:,.2f}".rstrip("0").rstrip(".") if math.isfinite(v) else str(v)
    elif numeric:
        text = f"{v:,}"
    else:
        text = str(v)
    return _repr.esc(_repr.shorten(text, limit)), numeric


def grid(columns: Sequence[str], rows: Sequence[Mapping[str, Any]], *,
         titles: Sequence[str] | None = None, max_rows: int = 100, limit: int = 120,
         empty: str = "(empty)", hover: str | None = None,
         sorted_by: str | None = None, descending: bool = False) -> str:
    """An HTML table (class ``jsdata-grid``): at most ``max_rows`` rows, then a "N more
    rows" note; numbers right-aligned; :class:`Markup` cells as is, other values shortened
    to ``limit`` characters and escaped. ``hover`` names a row key whose text is the tooltip
    of the last column; ``sorted_by`` marks that column's header with an arrow."""
    heads = list(titles or columns)
    head = []
    for c, t in zip(columns, heads, strict=True):
        arrow = (" \u25bc" if descending else " \u25b2") if c == sorted_by else ""
        head.append(f"<th style='{_TH}'>{_repr.esc(t)}{arrow}</th>")
    parts = [f"<table class='jsdata-grid' style='{_TABLE}'><thead><tr>{''.join(head)}</tr>"
             "</thead><tbody>"]
    last = len(columns) - 1
    for r in rows[:max_rows]:
        cells = []
        for i, c in enumerate(columns):
            html, numeric = _cell(r.get(c), limit)
            style = _TD_NUM if numeric else _TD
            tip = ""
            if hover and i == last and r.get(hover):
                tip = f" title='{_repr.esc(_repr.shorten(str(r.get(hover)), 2000))}'"
            cells.append(f"<td style='{style}'{tip}>{html}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table>")
    n = len(rows)
    if n == 0:
        parts.append(f"<div style='{_NOTE}'>{_repr.esc(empty)}</div>")
    elif n > max_rows:
        parts.append(f"<div style='{_NOTE}'>\u2026 {n - max_rows:,} more rows "
                     f"({n:,} in all)</div>")
    return "".join(parts)


def title_bar(title: str, *facts: str, state: str = "") -> str:
    """The widget's heading: a bold title, grey facts separated by dots, and a state badge
    (green while live)."""
    color = {"\u25cf live": "#2ca02c", "failed": "#d62728", "paused": "#ff7f0e"}.get(
        state, "#888")
    badge = (f" <span style='color:{color};font-size:11px;font-weight:600;margin-left:6px'>"
             f"{_repr.esc(state)}</span>") if state else ""
    sep = " \u00b7 "
    rest = sep.join(_repr.esc(f) for f in facts if f)
    return (f"<div style='font-size:13px;margin:2px 0 4px 0'><b>{_repr.esc(title)}</b>"
            f"{badge}<span style='color:#777;margin-left:8px'>{rest}</span></div>")
