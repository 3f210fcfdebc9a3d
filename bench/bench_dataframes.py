#!/usr/bin/env python3
"""DataFrames and Arrow: jsdata next to the nats-py way, in one run on one embedded server.

    .venv/bin/python bench/bench_dataframes.py             # 200k rows
    JSDATA_BENCH_LARGE=1 .venv/bin/python bench/bench_dataframes.py   # + 1M rows
    JSDATA_BENCH_BIG_MB=256 ...                            # size of the to_batches RSS stream

Measures (best of JSDATA_BENCH_REPEATS runs, default 3):
  * publishing a DataFrame of ~120-byte JSON rows, every message acknowledged:
    ``js.publish_dataframe`` vs nats-py ``publish_async`` + ``json.dumps`` per row;
  * reading it back into pandas: ``Stream.to_pandas`` vs an ordered push subscription +
    ``json.loads`` per message + ``pd.DataFrame``;
  * the Arrow codec both ways for a 10-column numeric table;
  * ``to_batches`` over a large stream in a subprocess, with its peak RSS.
Prints a Markdown table (rows/s and ratios) ready for docs/performance.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jsdata  # noqa: E402
from jsdata.server import EmbeddedServer  # noqa: E402

REPEATS = int(os.environ.get("JSDATA_BENCH_REPEATS", "3"))
SIZES = [200_000] + ([1_000_000] if os.environ.get("JSDATA_BENCH_LARGE") else [])
ARROW_ROWS = int(os.environ.get("JSDATA_BENCH_ARROW_ROWS", "2000000"))
BIG_MB = int(os.environ.get("JSDATA_BENCH_BIG_MB", "1024"))


def frame(n: int) -> pd.DataFrame:
    """Trades with ~120-byte JSON rows."""
    i = np.arange(n)
    return pd.DataFrame({
        "id": i,
        "ts": pd.Timestamp("2025-11-27", tz="UTC") + pd.to_timedelta(i, unit="ms"),
        "sym": np.array(["ABC", "XYZ", "JKL", "QRS"])[i % 4],
        "px": np.round(100 + (i % 1000) * 0.01, 2),
        "qty": (i % 100) * 10 + 1,
        "side": np.where(i % 2 == 0, "B", "S"),
        "venue": "XNAS",
    })


def best(fn: Any, repeats: int = REPEATS) -> float:
    """The best (shortest) wall time of ``repeats`` calls; ``fn`` returns its own seconds."""
    return min(fn() for _ in range(repeats))


# ---------------------------------------------------------------------------------------------
# jsdata

def jsdata_publish(js: Any, df: pd.DataFrame, batched: bool = False) -> float:
    """publish_dataframe into a fresh stream; ``batched``: a stream with allow_batched, so
    the ADR-50 fast-ingest batch protocol is used instead of one ack per message."""
    try:
        js.delete_stream("DF")
    except jsdata.errors.StreamNotFoundError:
        pass
    js.create_stream(name="DF", subjects=["DF.>"], allow_direct=True,
                     allow_batched=batched or None)
    t = time.perf_counter()
    res = js.publish_dataframe("DF.trades", df, progress=False)
    el = time.perf_counter() - t
    assert res.messages == len(df) and res.last_seq == len(df) and res.batched == batched
    return el


def jsdata_read(js: Any, n: int) -> float:
    s = js.stream("DF")
    t = time.perf_counter()
    out = s.to_pandas(progress=False)
    el = time.perf_counter() - t
    assert len(out) == n, len(out)
    return el


# ---------------------------------------------------------------------------------------------
# the nats-py way

async def _natspy_publish(url: str, df: pd.DataFrame) -> float:
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
    rows = df.assign(ts=df["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")).to_dict("records")
    futs = [await js.publish_async("NP.trades", json.dumps(r).encode()) for r in rows]
    await js.publish_async_completed()
    el = time.perf_counter() - t
    assert all(f.exception() is None for f in futs)
    info = await js.stream_info("NP")
    assert info.state.messages == len(df)
    await nc.close()
    return el


async def _natspy_read(url: str, n: int) -> float:
    import nats
    nc = await nats.connect(url)
    js = nc.jetstream()
    done = asyncio.get_running_loop().create_future()
    rows: list[dict] = []

    async def cb(msg: Any) -> None:
        rows.append(json.loads(msg.data))
        if len(rows) == n and not done.done():
            done.set_result(None)

    t = time.perf_counter()
    sub = await js.subscribe("NP.trades", cb=cb, ordered_consumer=True,
                             pending_msgs_limit=-1, pending_bytes_limit=-1)
    await done
    out = pd.DataFrame(rows)
    el = time.perf_counter() - t
    await sub.unsubscribe()
    await nc.close()
    assert len(out) == n
    return el


def natspy_publish(url: str, df: pd.DataFrame) -> float:
    return asyncio.run(_natspy_publish(url, df))


def natspy_read(url: str, n: int) -> float:
    return asyncio.run(_natspy_read(url, n))


# ---------------------------------------------------------------------------------------------
# Arrow codec

def arrow_table(n: int) -> pa.Table:
    rng = np.random.default_rng(1)
    cols = {f"f{i}": rng.random(n) for i in range(5)}
    cols.update({f"i{i}": rng.integers(0, 1 << 40, n) for i in range(5)})
    return pa.table(cols)


def arrow_write(js: Any, table: pa.Table) -> float:
    try:
        js.delete_stream("AR")
    except jsdata.errors.StreamNotFoundError:
        pass
    js.create_stream(name="AR", subjects=["AR.>"], allow_direct=True)
    t = time.perf_counter()
    res = js.publish_dataframe("AR.t", table, codec="arrow", progress=False)
    el = time.perf_counter() - t
    assert res.rows == table.num_rows
    return el


def arrow_read(js: Any, n: int, metadata: Any) -> float:
    s = js.stream("AR")
    t = time.perf_counter()
    out = s.to_arrow(metadata=metadata, progress=False)
    el = time.perf_counter() - t
    assert out.num_rows == n
    return el


# ---------------------------------------------------------------------------------------------
# to_batches peak RSS (subprocess)

_CHILD = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, sys.argv[2])
    import jsdata
    def rss_mb(key="VmRSS:"):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) / 1024
    js = jsdata.connect(sys.argv[1])
    s = js.stream("BIG")
    import pyarrow, pandas  # imported before the baseline is taken
    base = rss_mb()
    t = time.perf_counter()
    rows = nbytes = batches = 0
    for b in s.to_batches(progress=False):
        rows += b.num_rows
        nbytes += b.nbytes
        batches += 1
    el = time.perf_counter() - t
    peak = rss_mb("VmHWM:")  # ru_maxrss would include the parent image from before exec
    js.close()
    print(json.dumps({"rows": rows, "arrow_bytes": nbytes, "batches": batches,
                      "secs": el, "baseline_mb": base, "peak_mb": peak}))
""")


def big_stream(js: Any, mb: int) -> tuple[int, int]:
    """A stream of ~``mb`` MB of ~1 KB JSON rows; returns (messages, stored bytes)."""
    try:
        js.delete_stream("BIG")
    except jsdata.errors.StreamNotFoundError:
        pass
    s = js.create_stream(name="BIG", subjects=["BIG.>"], allow_direct=True)
    row_bytes = 1000
    n = mb * 1024 * 1024 // row_bytes
    pad = "x" * (row_bytes - 110)
    step = 200_000
    for off in range(0, n, step):
        k = min(step, n - off)
        i = np.arange(off, off + k)
        df = pd.DataFrame({"id": i, "px": 100 + (i % 1000) * 0.01, "qty": i % 100,
                           "sym": np.array(["ABC", "XYZ"])[i % 2], "pad": pad})
        js.publish_dataframe("BIG.rows", df, progress=False)
    st = s.info().state
    return st.messages, st.bytes


def rss_run(url: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(_CHILD)
        path = f.name
    try:
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
        out = subprocess.run([sys.executable, path, url, root], capture_output=True, text=True,
                             check=True, timeout=1800)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        os.unlink(path)


# ---------------------------------------------------------------------------------------------

def fmt(rate: float) -> str:
    if rate >= 1e6:
        return f"{rate / 1e6:.2f}M"
    return f"{rate / 1e3:.0f}k"


def main() -> None:
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as store, EmbeddedServer(store_dir=store) as srv:
        url = srv.url
        js = jsdata.connect(url)
        print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
              f"Python {platform.python_version()}, pyarrow {pa.__version__}, "
              f"pandas {pd.__version__}, best of {REPEATS}", flush=True)
        lines.append("| operation | rows | jsdata (rows/s) | nats-py way (rows/s) | ratio |")
        lines.append("|---|---:|---:|---:|---:|")
        for n in SIZES:
            df = frame(n)
            row_len = len(json.dumps(df.assign(ts=df.ts.astype(str)).iloc[0].to_dict()))
            print(f"-- {n:,} rows of ~{row_len}-byte JSON", flush=True)
            pub = best(lambda: jsdata_publish(js, df))  # noqa: B023
            bpub = best(lambda: jsdata_publish(js, df, batched=True))  # noqa: B023
            npub = best(lambda: natspy_publish(url, df))  # noqa: B023
            print(f"publish: jsdata {fmt(n / pub)}/s (fast-ingest batch {fmt(n / bpub)}/s)  "
                  f"nats-py {fmt(n / npub)}/s", flush=True)
            rd = best(lambda: jsdata_read(js, n))  # noqa: B023
            nrd = best(lambda: natspy_read(url, n))  # noqa: B023
            print(f"read:    jsdata {fmt(n / rd)}/s  nats-py {fmt(n / nrd)}/s", flush=True)
            lines.append(f"| publish DataFrame as JSON, every message acked | {n:,} | "
                         f"{fmt(n / pub)} | {fmt(n / npub)} | {npub / pub:.1f}x |")
            lines.append(f"| publish DataFrame as JSON, fast-ingest batch (allow_batched) | "
                         f"{n:,} | {fmt(n / bpub)} | {fmt(n / npub)} | {npub / bpub:.1f}x |")
            lines.append(f"| read stream into pandas (JSON decode) | {n:,} | {fmt(n / rd)} | "
                         f"{fmt(n / nrd)} | {nrd / rd:.1f}x |")
        table = arrow_table(ARROW_ROWS)
        aw = best(lambda: arrow_write(js, table))
        ar = best(lambda: arrow_read(js, ARROW_ROWS, ()))
        arm = best(lambda: arrow_read(js, ARROW_ROWS, ("subject", "seq", "time")))
        print(f"arrow:   write {fmt(ARROW_ROWS / aw)}/s  read {fmt(ARROW_ROWS / ar)}/s "
              f"(with metadata columns {fmt(ARROW_ROWS / arm)}/s)", flush=True)
        lines.append(f"| Arrow codec write, 10 numeric columns | {ARROW_ROWS:,} | "
                     f"{fmt(ARROW_ROWS / aw)} | – | – |")
        lines.append(f"| Arrow codec read (to_arrow, metadata=()) | {ARROW_ROWS:,} | "
                     f"{fmt(ARROW_ROWS / ar)} | – | – |")
        lines.append(f"| Arrow codec read (to_arrow, with _subject/_seq/_time) | "
                     f"{ARROW_ROWS:,} | {fmt(ARROW_ROWS / arm)} | – | – |")
        msgs, stored = big_stream(js, BIG_MB)
        js.close()
        r = rss_run(url)
        print(f"to_batches: {r['rows']:,} rows ({stored / 2**20:.0f} MB stored) in "
              f"{r['secs']:.1f}s = {fmt(r['rows'] / r['secs'])}/s, peak RSS "
              f"{r['peak_mb']:.0f} MB (baseline {r['baseline_mb']:.0f} MB)", flush=True)
        lines.append(f"| to_batches over a {stored / 2**20:,.0f} MB stream (~1 KB JSON rows) | "
                     f"{r['rows']:,} | {fmt(r['rows'] / r['secs'])} | – | peak RSS "
                     f"{r['peak_mb']:.0f} MB |")
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
