#!/usr/bin/env python3
"""Scale-out reads: one stream read by 1, 2 and 4 Dask worker processes vs one process.

    .venv/bin/python bench/bench_scale.py                  # 5,000,000 rows
    .venv/bin/python bench/bench_scale.py --rows 200000    # a quick run
    .venv/bin/python bench/bench_scale.py --workers 1,2,4,8 --storage memory

Fills one stream (file storage by default) with ~120-byte JSON rows, then, in the same run
and against the same server:
  * single process: ``Stream.to_pandas()``;
  * Dask: ``jsdata.dask.read_stream(npartitions=2 * workers)`` on a
    ``distributed.LocalCluster(n_workers=w, threads_per_worker=1, processes=True)``, each
    partition decoded to pandas on its worker (only the row counts come back).
For every run it prints rows/s and the CPU seconds used by the nats-server process and by
the reading processes, so the table shows where the limit is: with the server's CPU near
the elapsed time (one core) more workers cannot help; with the readers' CPU near
``elapsed * workers`` the client side is the bound.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jsdata  # noqa: E402
from jsdata.server import EmbeddedServer  # noqa: E402

STREAM = "BENCH_SCALE"
CHUNK = 500_000  # rows published per publish_dataframe call (bounds memory)


def frame(offset: int, n: int) -> pd.DataFrame:
    """Orders with ~120-byte JSON rows."""
    i = np.arange(offset, offset + n)
    rnd = np.random.default_rng(offset)
    return pd.DataFrame({
        "id": i, "region": np.array(["eu", "us", "ap", "sa"])[i % 4],
        "customer": [f"c{c:05d}" for c in rnd.integers(0, 10_000, n)],
        "amount": np.round(rnd.uniform(1, 1000, n), 2), "qty": rnd.integers(1, 20, n),
        "ok": rnd.random(n) > 0.1,
    })


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


def fill(js: jsdata.JetStream, rows: int, storage: str) -> None:
    js.create_stream(name=STREAM, subjects=[f"{STREAM}.*"], storage=storage,
                     allow_direct=True)
    t0 = time.perf_counter()
    for off in range(0, rows, CHUNK):
        js.publish_dataframe(f"{STREAM}.{{region}}", frame(off, min(CHUNK, rows - off)),
                             progress=False)
    dt = time.perf_counter() - t0
    print(f"filled {rows:,} rows in {dt:.1f} s ({rows / dt:,.0f} rows/s)", flush=True)


def single(js: jsdata.JetStream, srv: EmbeddedServer, rows: int) -> tuple[float, float, float]:
    s = js.stream(STREAM)
    scpu, ccpu, t0 = cpu_of(srv.pid), own_cpu(), time.perf_counter()
    df = s.to_pandas(progress=False)
    dt = time.perf_counter() - t0
    assert len(df) == rows, len(df)
    return dt, cpu_of(srv.pid) - scpu, own_cpu() - ccpu


def dask_run(url: str, srv: EmbeddedServer, rows: int, workers: int
             ) -> tuple[float, float, float]:
    import distributed

    import jsdata.dask as jdask
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        client.run(lambda: __import__("jsdata.dask"))  # warm the workers' imports
        before = sum(client.run(own_cpu).values())
        scpu, t0 = cpu_of(srv.pid), time.perf_counter()
        ddf = jdask.read_stream(STREAM, servers=url, npartitions=2 * workers)
        n = int(ddf.map_partitions(len).compute().sum())
        dt = time.perf_counter() - t0
        used = sum(client.run(own_cpu).values()) - before
        assert n == rows, n
        return dt, cpu_of(srv.pid) - scpu, used


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--workers", default="1,2,4", help="Dask worker counts, comma-separated")
    ap.add_argument("--storage", default="file", choices=["file", "memory"])
    args = ap.parse_args()
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    with tempfile.TemporaryDirectory() as tmp, \
            EmbeddedServer(store_dir=os.path.join(tmp, "store")) as srv:
        with jsdata.connect(srv.url) as js:
            fill(js, args.rows, args.storage)
            results = [("single process to_pandas", 1, *single(js, srv, args.rows))]
        for w in counts:
            results.append((f"dask read_stream, {w} worker process(es)", w,
                            *dask_run(srv.url, srv, args.rows, w)))
    print(f"\n### Scale-out read, {args.rows:,} rows ({args.storage} storage; "
          f"{os.cpu_count()} CPUs, {platform.python_version()})\n")
    print("| reader | rows/s | elapsed (s) | server CPU (s) | reader CPU (s) | bound |")
    print("|---|---|---|---|---|---|")
    for name, w, dt, scpu, ccpu in results:
        bound = ("server" if scpu >= 0.8 * dt else
                 "client" if ccpu >= 0.8 * dt * w else "neither (waiting / shared cores)")
        print(f"| {name} | {args.rows / dt:,.0f} | {dt:.2f} | {scpu:.2f} | {ccpu:.2f} "
              f"| {bound} |")


if __name__ == "__main__":
    main()
