"""Charts as inline SVG strings, built in Python for an ``ipywidgets.HTML``.

Why SVG from Python and not a charting widget library: an SVG string is plain widget state,
so it renders in JupyterLab, VS Code, classic notebooks and nbviewer-style static HTML with
no front-end extension, no JavaScript build and no network; one chart update is one
``HTML.value`` assignment of a few kilobytes, which the widgets' render rate limit already
bounds. Every number is formatted here and every label escaped, so no payload text can
become markup.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from .. import _repr

Point = tuple[float, float]
"""``(seconds relative to now, value)``: x is <= 0, the right edge is now."""

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#17becf"]
"""Line colours, one per series in order (the matplotlib/Tableau palette)."""

_FONT = "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif"


def nice_max(v: float) -> float:
    """The smallest "round" number (1, 2, 2.5, 5 times a power of ten) >= ``v`` (>0)."""
    if not v or v <= 0 or not math.isfinite(v):
        return 1.0
    exp = math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        cand = m * 10 ** exp
        if cand >= v * 0.999999:
            return float(cand)
    return float(10 ** (exp + 1))


def nice_ticks(lo: float, hi: float, most: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]`` with at most ``most`` intervals
    (steps of 1, 2 or 5 times a power of ten)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / most
    exp = math.floor(math.log10(raw))
    step = 10.0 ** exp
    for m in (1, 2, 5, 10):
        if m * 10.0 ** exp >= raw * 0.999999:
            step = m * 10.0 ** exp
            break
    first = math.floor(lo / step + 1e-9) * step
    ticks = []
    v = first
    while v < hi - 1e-9 * step:
        ticks.append(round(v, 10))
        v += step
    ticks.append(round(v, 10))
    return ticks


def compact(v: float) -> str:
    """A short number for an axis: 950, 1.2k, 3.4M, 0.25."""
    a = abs(v)
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            s = f"{v / div:.1f}".rstrip("0").rstrip(".")
            return f"{s}{suf}"
    if a >= 10 or v == int(v):
        return f"{v:.0f}"
    return f"{v:.2f}".rstrip("0").rstrip(".")


_TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400]


def _ago(seconds: float) -> str:
    s = round(abs(seconds))
    if s == 0:
        return "now"
    if s < 60:
        return f"-{s}s"
    if s < 3600:
        return f"-{s // 60}m" if s % 60 == 0 else f"-{s / 60:.1f}m"
    if s < 86400:
        return f"-{s // 3600}h" if s % 3600 == 0 else f"-{s / 3600:.1f}h"
    return f"-{s // 86400}d" if s % 86400 == 0 else f"-{s / 86400:.1f}d"


def time_ticks(window: float, most: int = 6) -> list[float]:
    """Tick positions (seconds, <= 0) at a round step: ``-5m -4m ... now``."""
    step = next((st for st in _TIME_STEPS if window / st <= most),
                86400 * math.ceil(window / 86400 / most))
    n = int(window // step)
    return [-(n - i) * step for i in range(n + 1)]


def growing_window(first_sample_age: float | None, window: float,
                   least: float = 10.0) -> float:
    """The span to draw: the data's age (a little more) until it reaches ``window``, so a
    monitor started a few seconds ago fills its chart instead of a sliver at the edge."""
    if first_sample_age is None:
        return min(window, least)
    return max(min(least, window), min(window, first_sample_age * 1.05))


def _downsample(points: Sequence[Point], max_points: int) -> list[Point]:
    """At most ``max_points`` points: the maximum of each bucket (peaks stay visible)."""
    if len(points) <= max_points:
        return list(points)
    out: list[Point] = []
    step = len(points) / max_points
    for i in range(max_points):
        bucket = points[int(i * step):max(int((i + 1) * step), int(i * step) + 1)]
        out.append(max(bucket, key=lambda p: p[1]))
    return out


def _text_width(text: str, size: float = 11) -> float:
    return len(text) * size * 0.66  # a generous estimate for sans-serif


def line_chart(series: Sequence[tuple[str, Sequence[Point]]], *, window: float,
               title: str = "", width: int = 620, height: int = 160,
               fmt: Callable[[float], str] = compact, area: bool = False,
               dashed: Sequence[bool] | None = None, colors: Sequence[str] | None = None,
               max_points: int = 150, zero: bool = True, step: bool = False) -> str:
    """A time-series chart of the last ``window`` seconds as an SVG string.

    ``series`` is ``[(label, [(t, value), ...])]`` with ``t`` in seconds relative to now
    (<= 0); a series labelled ``""`` is drawn but left out of the legend. The legend (under
    the title) shows each series' latest value. Y runs from 0 (or, ``zero=False``, from
    round numbers around the data) to a round number above the maximum. ``area`` fills
    under the first series; ``dashed[i]`` draws series ``i`` dashed; ``step`` draws values
    that hold until the next point (and until now), like a KV key's revisions.
    """
    colors = list(colors or PALETTE)
    window = max(float(window), 1.0)
    # the legend: items laid out left to right, wrapped to the width
    left, right, bottom = 46, 12, 20
    items: list[tuple[float, int, str]] = []
    x0, line = float(left), 0
    for i, (label, pts) in enumerate(series):
        if not label:
            continue
        vals = [v for _, v in pts if v is not None and math.isfinite(v)]
        text = f"{label} {fmt(vals[-1]) if vals else '-'}"
        w = _text_width(text) + 22
        if x0 + w > width - right and x0 > left:
            x0, line = float(left), line + 1
        items.append((x0, line, f"<tspan fill='{colors[i % len(colors)]}'>\u25a0</tspan> "
                                f"{_repr.esc(label)} <tspan font-weight='600'>"
                                f"{_repr.esc(fmt(vals[-1]) if vals else '-')}</tspan>"))
        x0 += w
    legend_lines = (line + 1) if items else 0
    top = 22 + 14 * legend_lines + 6
    pw, ph = width - left - right, height - top - bottom
    all_v = [v for _, pts in series for t, v in pts
             if v is not None and math.isfinite(v) and t >= -window]
    if zero or not all_v:
        ticks = nice_ticks(0.0, max(all_v, default=0.0) or 1.0, 5)
    else:
        lo, hi = min(all_v), max(all_v)
        pad = (hi - lo) * 0.1 or abs(hi) * 0.1 or 1.0
        ticks = nice_ticks(lo - pad if lo - pad > 0 or lo < 0 else 0.0, hi + pad, 4)
    ymin, ymax = ticks[0], ticks[-1]

    def x(t: float) -> float:
        return left + pw * (1 + max(-window, min(0.0, t)) / window)

    def y(v: float) -> float:
        return top + ph * (1 - (max(ymin, min(v, ymax)) - ymin) / (ymax - ymin))

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' class='jsdata-chart' width='{width}' "
             f"height='{height}' viewBox='0 0 {width} {height}' style='{_FONT};"
             "background:#fff;border:1px solid #e5e5e5;border-radius:4px;margin:2px 8px 2px 0'>"]
    if title:
        parts.append(f"<text x='{left}' y='15' font-size='12' font-weight='600' "
                     f"fill='#333'>{_repr.esc(title)}</text>")
    for lx, ln, item in items:
        parts.append(f"<text x='{lx:.0f}' y='{31 + 14 * ln}' font-size='11' fill='#444'>"
                     f"{item}</text>")
    for i, v in enumerate(ticks):  # horizontal grid lines with their values
        yy = y(v)
        parts.append(f"<line x1='{left}' x2='{left + pw}' y1='{yy:.1f}' y2='{yy:.1f}' "
                     f"stroke='{'#bbb' if i == 0 else '#eee'}' stroke-width='1'/>")
        parts.append(f"<text x='{left - 5}' y='{yy + 3.5:.1f}' font-size='10' fill='#888' "
                     f"text-anchor='end'>{_repr.esc(fmt(v))}</text>")
    tt = time_ticks(window)
    for i, t in enumerate(tt):  # time ticks
        anchor = "end" if i == len(tt) - 1 else "middle"
        if x(t) - left < 12:
            anchor = "start"
        parts.append(f"<line x1='{x(t):.1f}' x2='{x(t):.1f}' y1='{top + ph}' "
                     f"y2='{top + ph + 3}' stroke='#bbb'/>")
        parts.append(f"<text x='{x(t):.1f}' y='{height - 5}' font-size='10' fill='#888' "
                     f"text-anchor='{anchor}'>{_ago(t)}</text>")
    for i, (_label, pts) in enumerate(series):
        color = colors[i % len(colors)]
        pts = sorted((t, v) for t, v in pts
                     if v is not None and math.isfinite(v) and t >= -window)
        pts = _downsample(pts, max_points)
        if step and pts:
            stepped: list[Point] = []
            for j, (t, v) in enumerate(pts):
                if j:
                    stepped.append((t, pts[j - 1][1]))
                stepped.append((t, v))
            stepped.append((0.0, pts[-1][1]))
            pts = stepped
        if not pts:
            continue
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)
        if area and i == 0 and len(pts) > 1:
            base = y(ymin)
            parts.append(f"<polygon points='{x(pts[0][0]):.1f},{base:.1f} {coords} "
                         f"{x(pts[-1][0]):.1f},{base:.1f}' fill='{color}' "
                         "fill-opacity='0.15' stroke='none'/>")
        dash = " stroke-dasharray='4 3'" if dashed and i < len(dashed) and dashed[i] else ""
        if len(pts) == 1:
            parts.append(f"<circle cx='{x(pts[0][0]):.1f}' cy='{y(pts[0][1]):.1f}' r='2.5' "
                         f"fill='{color}'/>")
        else:
            parts.append(f"<polyline points='{coords}' fill='none' stroke='{color}' "
                         f"stroke-width='1.7' stroke-linejoin='round'{dash}/>")
            if step:  # a dot on each revision
                for t, v in pts[::2]:  # stepped: every other point is a revision
                    parts.append(f"<circle cx='{x(t):.1f}' cy='{y(v):.1f}' r='2.5' "
                                 f"fill='{color}'/>")
    if not all_v:
        parts.append(f"<text x='{left + pw / 2:.0f}' y='{top + ph / 2:.0f}' font-size='11' "
                     "fill='#aaa' text-anchor='middle'>waiting for data\u2026</text>")
    parts.append("</svg>")
    return "".join(parts)


def sparkline(values: Sequence[float], *, width: int = 110, height: int = 22,
              color: str = PALETTE[0], ymax: float | None = None) -> str:
    """A small inline chart of ``values`` (oldest first) with a dot on the latest value."""
    vals = [v for v in values if v is not None and math.isfinite(v)][-width:]
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' class='jsdata-spark' width='{width}' "
             f"height='{height}' viewBox='0 0 {width} {height}' "
             "style='vertical-align:middle'>"]
    top = ymax if ymax else max(vals, default=0.0)
    top = top if top > 0 else 1.0
    if len(vals) >= 2:
        step = (width - 4) / (len(vals) - 1)
        pts = [(2 + i * step, height - 2 - (height - 4) * min(v, top) / top)
               for i, v in enumerate(vals)]
        coords = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
        parts.append(f"<polygon points='2,{height - 2} {coords} {pts[-1][0]:.1f},{height - 2}' "
                     f"fill='{color}' fill-opacity='0.15' stroke='none'/>")
        parts.append(f"<polyline points='{coords}' fill='none' stroke='{color}' "
                     "stroke-width='1.3'/>")
        parts.append(f"<circle cx='{pts[-1][0]:.1f}' cy='{pts[-1][1]:.1f}' r='1.8' "
                     f"fill='{color}'/>")
    else:
        parts.append(f"<line x1='2' x2='{width - 2}' y1='{height - 2}' y2='{height - 2}' "
                     "stroke='#ddd'/>")
    parts.append("</svg>")
    return "".join(parts)


def bar(value: float, top: float, *, label: str = "", width: int = 140,
        color: str = PALETTE[0]) -> str:
    """A horizontal bar ``value / top`` of ``width`` pixels with a text label beside it."""
    frac = 0.0 if not top or top <= 0 else max(0.0, min(1.0, value / top))
    w = max(1, round(width * frac)) if value else 0
    return (f"<span class='jsdata-bar' style='display:inline-block;width:{width}px;"
            "height:10px;background:#f0f0f0;border-radius:2px;vertical-align:middle'>"
            f"<span style='display:block;width:{w}px;height:10px;background:{color};"
            "border-radius:2px'></span></span>"
            f"<span style='margin-left:6px;color:#444'>{_repr.esc(label)}</span>")
