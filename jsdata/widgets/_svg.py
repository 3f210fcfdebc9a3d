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


def _ago(seconds: float) -> str:
    s = abs(seconds)
    if s < 1:
        return "now"
    if s < 120 and s != int(s // 60) * 60:
        return f"-{s:.0f}s"
    return f"-{s / 60:.0f}m" if s % 60 == 0 else f"-{s / 60:.1f}m"


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


def line_chart(series: Sequence[tuple[str, Sequence[Point]]], *, window: float,
               title: str = "", width: int = 620, height: int = 150,
               fmt: Callable[[float], str] = compact, area: bool = False,
               dashed: Sequence[bool] | None = None, colors: Sequence[str] | None = None,
               max_points: int = 150) -> str:
    """A time-series chart of the last ``window`` seconds as an SVG string.

    ``series`` is ``[(label, [(t, value), ...])]`` with ``t`` in seconds relative to now
    (<= 0). Y starts at 0 and ends at a round number above the maximum; the legend shows each
    series' latest value. ``area`` fills under the first series; ``dashed[i]`` draws series
    ``i`` dashed.
    """
    left, right, top, bottom = 46, 10, 22, 20
    pw, ph = width - left - right, height - top - bottom
    window = max(float(window), 1.0)
    all_v = [v for _, pts in series for _, v in pts if v is not None and math.isfinite(v)]
    ymax = nice_max(max(all_v) if all_v else 0.0)

    def x(t: float) -> float:
        return left + pw * (1 + max(-window, min(0.0, t)) / window)

    def y(v: float) -> float:
        return top + ph * (1 - max(0.0, min(v, ymax)) / ymax)

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' class='jsdata-chart' width='{width}' "
             f"height='{height}' viewBox='0 0 {width} {height}' style='{_FONT};"
             "background:#fff;border:1px solid #e5e5e5;border-radius:4px'>"]
    if title:
        parts.append(f"<text x='{left}' y='14' font-size='12' font-weight='600' "
                     f"fill='#333'>{_repr.esc(title)}</text>")
    for i in range(5):  # horizontal grid lines with their values
        v = ymax * i / 4
        yy = y(v)
        parts.append(f"<line x1='{left}' x2='{left + pw}' y1='{yy:.1f}' y2='{yy:.1f}' "
                     f"stroke='{'#bbb' if i == 0 else '#eee'}' stroke-width='1'/>")
        parts.append(f"<text x='{left - 4}' y='{yy + 3.5:.1f}' font-size='10' fill='#888' "
                     f"text-anchor='end'>{_repr.esc(fmt(v))}</text>")
    for i in range(5):  # time ticks
        t = -window * (4 - i) / 4
        parts.append(f"<text x='{x(t):.1f}' y='{height - 6}' font-size='10' fill='#888' "
                     f"text-anchor='{'start' if i == 0 else 'end' if i == 4 else 'middle'}'>"
                     f"{_ago(t)}</text>")
    colors = list(colors or PALETTE)
    legend_x = width - right
    legend: list[str] = []
    for i, (label, pts) in enumerate(series):
        color = colors[i % len(colors)]
        pts = [(t, v) for t, v in pts if v is not None and math.isfinite(v) and t >= -window]
        pts = _downsample(pts, max_points)
        if pts:
            coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)
            if area and i == 0 and len(pts) > 1:
                base = y(0)
                parts.append(f"<polygon points='{x(pts[0][0]):.1f},{base:.1f} {coords} "
                             f"{x(pts[-1][0]):.1f},{base:.1f}' fill='{color}' "
                             "fill-opacity='0.15' stroke='none'/>")
            dash = " stroke-dasharray='4 3'" if dashed and i < len(dashed) and dashed[i] else ""
            if len(pts) == 1:
                parts.append(f"<circle cx='{x(pts[0][0]):.1f}' cy='{y(pts[0][1]):.1f}' r='2' "
                             f"fill='{color}'/>")
            else:
                parts.append(f"<polyline points='{coords}' fill='none' stroke='{color}' "
                             f"stroke-width='1.6' stroke-linejoin='round'{dash}/>")
        last = fmt(pts[-1][1]) if pts else "-"
        legend.append(f"<tspan fill='{color}'>\u25a0</tspan> {_repr.esc(label)} "
                      f"<tspan font-weight='600'>{_repr.esc(last)}</tspan>")
    if legend:
        # right-aligned legend on the title line, newest values in bold
        parts.append(f"<text x='{legend_x}' y='14' font-size='11' fill='#444' "
                     f"text-anchor='end'>{'  '.join(legend)}</text>")
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
