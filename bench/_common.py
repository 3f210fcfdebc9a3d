"""Shared helpers for the benchmarks: payloads, timing, a side-by-side table."""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections.abc import Callable
from typing import Any


def payloads(n: int, seed: int = 7) -> list[bytes]:
    """~120-byte JSON order events (deterministic)."""
    rnd = random.Random(seed)
    regions = ["eu", "us", "ap", "sa"]
    out = []
    for i in range(n):
        out.append(json.dumps({
            "id": i, "region": rnd.choice(regions), "customer": f"c{rnd.randrange(10_000):05d}",
            "amount": round(rnd.uniform(1, 1000), 2), "qty": rnd.randrange(1, 20),
            "ts": "2026-11-27T10:00:00.000000Z", "ok": rnd.random() > 0.1,
        }, separators=(",", ":")).encode())
    return out


def reps() -> int:
    return int(os.environ.get("REPS", "3"))


def best_of(fn: Callable[[], float], n: int | None = None) -> float:
    """Median of ``n`` runs of ``fn`` (which returns a rate)."""
    vals = [fn() for _ in range(n or reps())]
    return statistics.median(vals)


class Timer:
    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *a: Any) -> None:
        self.elapsed = time.perf_counter() - self.t0


def fmt(v: float | None) -> str:
    if v is None:
        return "–"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.1f}"


def table(title: str, rows: list[tuple[str, float | None, float | None]],
          unit: str = "msgs/s") -> str:
    """Markdown table: operation | jsdata | nats-py | ratio."""
    lines = [f"### {title}", "",
             f"| operation | jsdata ({unit}) | nats-py ({unit}) | jsdata / nats-py |",
             "|---|---|---|---|"]
    for name, ours, theirs in rows:
        ratio = f"{ours / theirs:.2f}×" if ours and theirs else "–"
        lines.append(f"| {name} | {fmt(ours)} | {fmt(theirs)} | {ratio} |")
    return "\n".join(lines)
