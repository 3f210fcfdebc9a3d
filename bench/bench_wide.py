#!/usr/bin/env python3
"""Wide frames: the realistic 13-column frame of issue 10, jsdata next to the nats-py way.

    .venv/bin/python bench/bench_wide.py                    # 1M rows, every codec
    .venv/bin/python bench/bench_wide.py --rows 50000       # a quick run
    .venv/bin/python bench/bench_wide.py --codecs arrow,json --repeats 3

The frame (tests/frames.py ``wide_frame``, the same shape the data tier checks): int64,
int8 and uint64 columns, float64 with NaN, float32, strings with None, tz-aware timestamps
in UTC and Europe/Berlin, ``Int64`` and ``boolean`` with NA, a category, a list and a dict
column. For each codec it times (best of ``--repeats``, on one embedded server):

  * write: ``js.publish_dataframe("W.{cat}", df, codec=...)`` into a fresh stream, every
    message acknowledged;
  * read: ``s.to_pandas()`` of the whole stream;

and, in the same run, the nats-py way: rows as JSON (``df.to_json(orient="records",
lines=True)``) published with ``js.publish_async`` pipelined (4000 in flight) to
``NP.<cat>``, read back with a pull subscription (``fetch(1000)``), ``json.loads`` per
message and ``pd.DataFrame(rows)``. Prints rows/s and ratios to the nats-py way as a
Markdown table for docs/performance.md. A measurement that fails is reported in the table
instead of stopping the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import pyarrow as pa

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, ".."))
sys.path.insert(0, os.path.join(_HERE, "..", "tests"))

from frames import wide_frame  # noqa: E402

import jsdata  # noqa: E402
from jsdata.server import EmbeddedServer  # noqa: E402

CODECS = ("json", "msgpack", "arrow")


def load() -> str:
    """The 1/5/15-minute load averages (others may share the machine: read ratios)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def best(fn: Callable[[], float], repeats: int) -> float:
    """The shortest of ``repeats`` wall times (``fn`` returns its own seconds)."""
    return min(fn() for _ in range(repeats))


def attempt(fn: Callable[[], float], repeats: int) -> tuple[float | None, str]:
    """``best`` that turns a failure into its one-line description."""
    try:
        return best(fn, repeats), ""
    except Exception as e:  # noqa: BLE001 - reported in the table, the run goes on
        return None, f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"


def fresh_stream(js: Any, name: str) -> Any:
    try:
        js.delete_stream(name)
    except jsdata.errors.StreamNotFoundError:
        pass
    return js.create_stream(name=name, subjects=[f"{name}.>"], allow_direct=True)


# ---------------------------------------------------------------------------------------------
# jsdata

def jsdata_write(js: Any, df: pd.DataFrame, codec: str) -> float:
    name = f"W{codec.upper()}"
    fresh_stream(js, name)
    t = time.perf_counter()
    res = js.publish_dataframe(f"{name}.{{cat}}", df, codec=codec, progress=False)
    el = time.perf_counter() - t
    assert res.rows == len(df), res
    return el


def jsdata_read(js: Any, n: int, codec: str) -> float:
    s = js.stream(f"W{codec.upper()}")
    t = time.perf_counter()
    out = s.to_pandas(progress=False)
    el = time.perf_counter() - t
    assert len(out) == n, len(out)
    return el


# ---------------------------------------------------------------------------------------------
# the nats-py way

def json_lines(df: pd.DataFrame) -> tuple[list[bytes], list[str]]:
    """Rows as JSON objects (what pandas gives a nats-py user) and their subjects."""
    text = df.to_json(orient="records", lines=True, date_format="iso", date_unit="us")
    rows = [line.encode() for line in text.splitlines()]
    subjects = [f"NP.{c}" for c in df["cat"].astype(str)]
    return rows, subjects


async def _natspy_write(url: str, df: pd.DataFrame) -> float:
    import nats
    from nats.js.api import StreamConfig
    nc = await nats.connect(url)
    js = nc.jetstream(publish_async_max_pending=4000)
    try:
        await js.delete_stream("NP")
    except Exception:  # noqa: BLE001 - not there yet
        pass
    await js.add_stream(StreamConfig(name="NP", subjects=["NP.>"]))
    t = time.perf_counter()
    rows, subjects = json_lines(df)  # the encoding is part of the work
    futs = [await js.publish_async(s, r) for s, r in zip(subjects, rows, strict=True)]
    await js.publish_async_completed()
    el = time.perf_counter() - t
    assert all(f.exception() is None for f in futs)
    assert (await js.stream_info("NP")).state.messages == len(df)
    await nc.close()
    return el


async def _natspy_read(url: str, n: int) -> float:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig
    nc = await nats.connect(url)
    js = nc.jetstream()
    try:
        await js.delete_consumer("NP", "bench")
    except Exception:  # noqa: BLE001 - not there yet
        pass
    t = time.perf_counter()
    sub = await js.pull_subscribe("NP.>", durable="bench", stream="NP",
                                  config=ConsumerConfig(ack_policy=AckPolicy.NONE))
    rows: list[Any] = []
    while len(rows) < n:
        for m in await sub.fetch(min(1000, n - len(rows)), timeout=10):
            rows.append(json.loads(m.data))
    out = pd.DataFrame(rows)
    el = time.perf_counter() - t
    await sub.unsubscribe()
    await nc.close()
    assert len(out) == n
    return el


def natspy_write(url: str, df: pd.DataFrame) -> float:
    return asyncio.run(_natspy_write(url, df))


def natspy_read(url: str, n: int) -> float:
    return asyncio.run(_natspy_read(url, n))


# ---------------------------------------------------------------------------------------------

def rate(n: int, secs: float | None) -> str:
    if secs is None:
        return "failed"
    r = n / secs
    return f"{r / 1e6:.2f}M" if r >= 1e6 else f"{r / 1e3:.0f}k"


def ratio(ours: float | None, theirs: float | None) -> str:
    return f"{theirs / ours:.1f}x" if ours and theirs else "–"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--codecs", default=",".join(CODECS))
    ap.add_argument("--repeats", type=int, default=int(os.environ.get("JSDATA_BENCH_REPEATS",
                                                                      "1")))
    ap.add_argument("--no-natspy", action="store_true", help="skip the nats-py way")
    a = ap.parse_args(argv)
    codecs = [c for c in a.codecs.split(",") if c]
    n = a.rows
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, pyarrow {pa.__version__}, "
          f"pandas {pd.__version__}, best of {a.repeats}; load average {load()}", flush=True)
    t = time.perf_counter()
    df = wide_frame(n, seed=1)
    print(f"-- {n:,} rows x {df.shape[1]} columns built in {time.perf_counter() - t:.1f}s; "
          f"{df.memory_usage(deep=True).sum() / 2**20:.0f} MB in pandas", flush=True)
    lines = ["| operation | rows | jsdata (rows/s) | nats-py way (rows/s) | ratio | note |",
             "|---|---:|---:|---:|---:|---|"]
    with tempfile.TemporaryDirectory() as store, EmbeddedServer(store_dir=store) as srv:
        url = srv.url
        nw = nr = None
        if not a.no_natspy:
            nw, err = attempt(lambda: natspy_write(url, df), a.repeats)
            print(f"nats-py way: write {rate(n, nw)} rows/s {err}", flush=True)
            nr, err2 = attempt(lambda: natspy_read(url, n), a.repeats)
            print(f"nats-py way: read  {rate(n, nr)} rows/s {err2} (load {load()})", flush=True)
        with jsdata.connect(url) as js:
            for codec in codecs:
                w, werr = attempt(lambda: jsdata_write(js, df, codec), a.repeats)  # noqa: B023
                size = js.stream(f"W{codec.upper()}").info().state.bytes
                r, rerr = (attempt(lambda: jsdata_read(js, n, codec), a.repeats)  # noqa: B023
                           if w is not None else (None, "not written"))
                print(f"{codec:8s} write {rate(n, w)} rows/s {werr}  "
                      f"read {rate(n, r)} rows/s {rerr}  ({size / 2**20:.0f} MB stored; "
                      f"load {load()})",
                      flush=True)
                lines.append(f"| write `publish_dataframe(codec=\"{codec}\")` | {n:,} | "
                             f"{rate(n, w)} | {rate(n, nw)} | {ratio(w, nw)} | {werr} |")
                lines.append(f"| read `to_pandas()` of the {codec} stream | {n:,} | "
                             f"{rate(n, r)} | {rate(n, nr)} | {ratio(r, nr)} | {rerr} |")
    print(f"\n# load average at the end: {load()}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
