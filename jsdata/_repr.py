"""HTML rendering helpers shared by the rich reprs and the notebook widgets.

Everything here is pure formatting: bounded (long lists, values and tables are truncated
with a visible "more" note), escaped (every piece of user data goes through
:func:`html.escape`) and offline (no network call; the callers pass cached state).
"""

from __future__ import annotations

import datetime
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._util import seconds

MAX_VALUE_CHARS = 120  # one cell of a table
MAX_LIST_ITEMS = 10  # subjects, sources, ... in one cell
MAX_TABLE_ROWS = 50  # rows of a horizontal table

_TABLE = "border-collapse:collapse;margin:2px 0"
_CELL = "text-align:left;padding:1px 10px 1px 0"
_HEAD = "text-align:left;padding:1px 10px 1px 0"
_NOTE = "color:#888;font-size:11px"


def esc(value: Any) -> str:
    """``str(value)`` escaped for HTML text and attributes."""
    return html.escape(str(value), quote=True)


def shorten(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters, marking the cut with an ellipsis."""
    if limit <= 0 or len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "\u2026"


def human_bytes(n: int | float | None) -> str:
    """A byte count for humans: ``1.5 KiB``."""
    if n is None:
        return "-"
    v = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(v) < 1024 or unit == "TiB":
            return f"{int(v)} B" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024
    return str(n)  # pragma: no cover


def fmt_time(t: datetime.datetime | None) -> str:
    """An aware datetime as ``2024-05-01 12:00:00.123Z`` (``-`` for None)."""
    if t is None:
        return "-"
    if t.tzinfo is not None:
        t = t.astimezone(datetime.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def fmt_duration(seconds: float | None) -> str:
    """Seconds for humans (``0`` / None: ``-``)."""
    if not seconds:
        return "-"
    s = float(seconds)
    if s < 120:
        return f"{s:g} s"
    if s < 7200:
        return f"{s / 60:g} min"
    if s < 172800:
        return f"{s / 3600:g} h"
    return f"{s / 86400:g} d"


def fmt_limit(v: int | float | None, unit: str = "") -> str:
    """A server limit: ``-1``/0/None read as unlimited."""
    if v is None or v == -1 or v == 0:
        return "unlimited"
    return human_bytes(v) if unit == "bytes" else f"{v:,}"


def fmt_list(items: Iterable[Any] | None, limit: int = MAX_LIST_ITEMS,
             width: int = MAX_VALUE_CHARS) -> str:
    """Up to ``limit`` items joined with commas, then ``(+N more)``; plain text, not escaped."""
    if not items:
        return "-"
    out: list[str] = []
    extra = 0
    for i, x in enumerate(items):
        if i < limit:
            out.append(shorten(str(x), width))
        else:
            extra += 1
    text = ", ".join(out)
    return f"{text} (+{extra:,} more)" if extra else text


def fmt_mapping(m: Mapping[str, Any] | None, limit: int = MAX_LIST_ITEMS,
                width: int = 40) -> str:
    """``k=v`` pairs, bounded like :func:`fmt_list`."""
    if not m:
        return "-"
    return fmt_list((f"{shorten(str(k), width)}={shorten(str(v), width)}"
                     for k, v in m.items()), limit)


def preview_bytes(data: bytes, limit: int = MAX_VALUE_CHARS, content_type: str | None = None,
                  pretty: bool = False) -> str:
    """A short text preview of a payload: JSON (compact, or indented with ``pretty``),
    msgpack and Arrow by content type, UTF-8 text, else the bytes' repr; at most ``limit``
    characters."""
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct == "application/msgpack":
        try:
            import msgpack  # type: ignore[import-untyped]
            obj = msgpack.unpackb(data, raw=False, strict_map_key=False)
            return shorten(_json_text(obj, pretty), limit)
        except Exception:  # noqa: BLE001 - a preview never fails
            pass
    elif ct == "application/vnd.apache.arrow.stream":
        return shorten(_arrow_summary(data), limit)
    head = data[:1].lstrip() if data else b""
    if head in (b"{", b"[") or (data and data.lstrip()[:1] in (b"{", b"[")):
        try:
            return shorten(_json_text(json.loads(data), pretty), limit)
        except ValueError:
            pass
    try:
        text = data[: limit * 4 + 4].decode("utf-8")
    except UnicodeDecodeError:
        return shorten(repr(data[: limit + 1]), limit)
    if text.isprintable():
        return shorten(text, limit)
    return shorten(repr(text), limit)


def _json_text(obj: Any, pretty: bool) -> str:
    if pretty:
        return json.dumps(obj, indent=2, ensure_ascii=False, default=str)
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)


def _arrow_summary(data: bytes) -> str:
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        table = pa.ipc.open_stream(data).read_all()
        cols = ", ".join(table.column_names[:8])
        return f"<arrow {table.num_rows} rows: {cols}>"
    except Exception:  # noqa: BLE001
        return f"<arrow {len(data)} bytes>"


def field_table(title: str, rows: Sequence[tuple[str, Any]], *,
                subtitle: str | None = None, limit: int = MAX_VALUE_CHARS) -> str:
    """A vertical ``name | value`` table under a bold title; values are shortened and
    escaped (rows whose value is None are skipped)."""
    body = "".join(
        f"<tr><th style='{_HEAD}'>{esc(k)}</th>"
        f"<td style='{_CELL}'>{esc(shorten(str(v), limit))}</td></tr>"
        for k, v in rows if v is not None)
    sub = f" <span style='{_NOTE}'>{esc(subtitle)}</span>" if subtitle else ""
    return (f"<div class='jsdata-repr'><b>{esc(title)}</b>{sub}"
            f"<table style='{_TABLE}'>{body}</table></div>")


def grid(columns: Sequence[str], rows: Sequence[Mapping[str, Any]], *,
         max_rows: int = MAX_TABLE_ROWS, limit: int = MAX_VALUE_CHARS,
         empty: str = "(empty)", titles: Sequence[str] | None = None,
         hover: str | None = None) -> str:
    """A horizontal table with one column per name in ``columns`` (header ``titles`` if
    given); at most ``max_rows`` rows, then a "N more rows" note. Cell values are shortened
    to ``limit`` characters and escaped; ``hover`` names a row key whose (bounded) text is
    the tooltip of the last column."""
    heads = titles or columns
    head = "".join(f"<th style='{_HEAD}'>{esc(c)}</th>" for c in heads)
    parts = [f"<table class='jsdata-grid' style='{_TABLE}'><thead><tr>{head}</tr></thead><tbody>"]
    for r in rows[:max_rows]:
        cells = []
        for i, c in enumerate(columns):
            v = r.get(c)
            text = esc(shorten(_cell_text(v), limit))
            if hover and i == len(columns) - 1 and r.get(hover):
                tip = esc(shorten(str(r.get(hover)), 2000))
                cells.append(f"<td style='{_CELL}' title='{tip}'>{text}</td>")
            else:
                cells.append(f"<td style='{_CELL}'>{text}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table>")
    n = len(rows)
    if n == 0:
        parts.append(f"<div style='{_NOTE}'>{esc(empty)}</div>")
    elif n > max_rows:
        parts.append(f"<div style='{_NOTE}'>\u2026 {n - max_rows:,} more rows "
                     f"({n:,} in all)</div>")
    return "".join(parts)


def _cell_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime.datetime):
        return fmt_time(v)
    if isinstance(v, float):
        return f"{v:,.1f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def section(title: str, inner_html: str) -> str:
    """A titled block around already-rendered (escaped) HTML."""
    return f"<div class='jsdata-repr'><b>{esc(title)}</b>{inner_html}</div>"


def note(text: str) -> str:
    """A small grey line of (escaped) text."""
    return f"<div style='{_NOTE}'>{esc(text)}</div>"


def error_html(text: str) -> str:
    """An escaped, bounded error line in red."""
    return f"<span style='color:#c0392b'>\u26a0 {esc(shorten(text, 500))}</span>"


# ---------------------------------------------------------------------------------------------
# the reprs of the info models (called by their _repr_html_ methods)


def _enum(v: Any) -> Any:
    return getattr(v, "value", v)


def stream_info_html(info: Any, *, title: str | None = None, note_text: str | None = None
                     ) -> str:
    """HTML of a :class:`~jsdata.client.info.StreamInfo`: configuration, state, top subjects."""
    c, st = info.config, info.state
    subjects = list(c.subjects or [])
    rows: list[tuple[str, Any]] = [
        ("subjects", fmt_list(subjects)),
        ("description", c.description or None),
        ("retention", _enum(c.retention)), ("storage", _enum(c.storage)),
        ("replicas", c.num_replicas),
        ("messages", f"{st.messages:,}"), ("bytes", human_bytes(st.bytes)),
        ("first seq", f"{st.first_seq:,}  ({fmt_time(st.first_ts)})"),
        ("last seq", f"{st.last_seq:,}  ({fmt_time(st.last_ts)})"),
        ("subjects stored", f"{st.num_subjects:,}" if st.num_subjects else None),
        ("deleted", f"{st.num_deleted:,}" if st.num_deleted else None),
        ("consumers", st.consumer_count),
        ("max msgs", fmt_limit(c.max_msgs)), ("max bytes", fmt_limit(c.max_bytes, "bytes")),
        ("max age", fmt_duration(seconds(c.max_age, 0.0)) if c.max_age else "unlimited"),
        ("max msgs/subject", fmt_limit(c.max_msgs_per_subject)),
        ("discard", _enum(c.discard)),
        ("created", fmt_time(info.created)),
    ]
    if c.mirror is not None:
        rows.append(("mirror of", getattr(c.mirror, "name", c.mirror)))
    if c.sources:
        rows.append(("sources", fmt_list(getattr(s, "name", s) for s in c.sources)))
    if info.cluster is not None and info.cluster.leader:
        rows.append(("leader", info.cluster.leader))
    if c.sealed:
        rows.append(("sealed", True))
    out = field_table(title or f"Stream {c.name}", rows, subtitle=note_text)
    per = st.subjects
    if per:
        top = sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_LIST_ITEMS]
        out += section(f"Messages per subject ({len(per):,} subjects)",
                       grid(["subject", "messages"],
                            [{"subject": k, "messages": v} for k, v in top],
                            max_rows=MAX_LIST_ITEMS))
        if len(per) > MAX_LIST_ITEMS:
            out += note(f"\u2026 {len(per) - MAX_LIST_ITEMS:,} more subjects")
    return out


def consumer_info_html(info: Any, *, title: str | None = None, note_text: str | None = None
                       ) -> str:
    """HTML of a :class:`~jsdata.client.info.ConsumerInfo`: configuration and delivery state."""
    c = info.config
    filters = list(c.filter_subjects or []) or ([c.filter_subject] if c.filter_subject else [])
    kind = "push" if c.deliver_subject else "pull"
    rows: list[tuple[str, Any]] = [
        ("stream", info.stream_name),
        ("kind", f"{kind}, durable" if c.durable_name else f"{kind}, ephemeral"),
        ("description", c.description or None),
        ("filter", fmt_list(filters) if filters else "all subjects"),
        ("deliver policy", _enum(c.deliver_policy)),
        ("ack policy", _enum(c.ack_policy)),
        ("pending (unprocessed)", f"{info.num_pending:,}"),
        ("ack pending", f"{info.num_ack_pending:,}"),
        ("redelivered", f"{info.num_redelivered:,}"),
        ("waiting pulls", f"{info.num_waiting:,}" if kind == "pull" else None),
        ("delivered", f"stream {info.delivered.stream_seq:,} / consumer "
                      f"{info.delivered.consumer_seq:,}"),
        ("ack floor", f"stream {info.ack_floor.stream_seq:,} / consumer "
                      f"{info.ack_floor.consumer_seq:,}"),
        ("last active", fmt_time(info.delivered.last_active)
         if info.delivered.last_active else None),
        ("deliver subject", c.deliver_subject or None),
        ("push bound", info.push_bound if kind == "push" else None),
        ("paused", True if info.paused else None),
        ("created", fmt_time(info.created)),
    ]
    if info.cluster is not None and info.cluster.leader:
        rows.append(("leader", info.cluster.leader))
    return field_table(title or f"Consumer {info.stream_name} / {info.name}", rows,
                       subtitle=note_text)


