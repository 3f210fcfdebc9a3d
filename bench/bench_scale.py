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
For every read it prints rows/s, the CPU seconds used by the nats-server process, by the
reading processes (the Dask workers, or the one process) and by the driver, the CPU seconds
the whole machine was busy (from /proc/stat: other users of a shared machine count there)
and the 1-minute load average before and after, so the table shows where the limit is:
* ``machine busy`` near ``elapsed * cores``: the cores are saturated, more workers cannot
  help on this machine (the split between server and readers says who uses them);
* ``server CPU`` near ``elapsed * server cores used``: the server is the bound;
* ``reader CPU`` near ``elapsed * workers``: the client side (decoding) is the bound.
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


def machine_busy() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: everything but idle+iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def load1() -> float:
    return os.getloadavg()[0]


class Probe:
    """CPU seconds of the server, the machine and this process across one read."""

    def __init__(self, srv: EmbeddedServer) -> None:
        self.srv = srv

    def __enter__(self) -> Probe:
        self.load0 = load1()
        self.s0, self.m0, self.c0 = cpu_of(self.srv.pid), machine_busy(), own_cpu()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.t0
        self.server = cpu_of(self.srv.pid) - self.s0
        self.machine = machine_busy() - self.m0
        self.driver = own_cpu() - self.c0
        self.load = (self.load0, load1())


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


def single(js: jsdata.JetStream, srv: EmbeddedServer, rows: int) -> tuple[Probe, float]:
    """One process: ``Stream.to_pandas()``; the readers' CPU is this process's."""
    s = js.stream(STREAM)
    with Probe(srv) as p:
        df = s.to_pandas(progress=False)
    assert len(df) == rows, len(df)
    return p, p.driver


def dask_run(url: str, srv: EmbeddedServer, rows: int, workers: int) -> tuple[Probe, float]:
    """``jsdata.dask.read_stream`` on ``workers`` worker processes (2 partitions each)."""
    import distributed

    import jsdata.dask as jdask
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        client.run(lambda: __import__("jsdata.dask"))  # warm the workers' imports
        before = sum(client.run(own_cpu).values())
        with Probe(srv) as p:
            ddf = jdask.read_stream(STREAM, servers=url, npartitions=2 * workers)
            n = int(ddf.map_partitions(len).compute().sum())
        used = sum(client.run(own_cpu).values()) - before
        assert n == rows, n
        return p, used


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
            print(f"read with {w} worker(s) done", flush=True)
    cores = os.cpu_count() or 1
    print(f"\n### Scale-out read, {args.rows:,} rows ({args.storage} storage; "
          f"{cores} CPUs, Python {platform.python_version()})\n")
    print("| reader | rows/s | elapsed (s) | server CPU (s) | reader CPU (s) | driver CPU (s) "
          "| machine busy (s, of elapsed x cores) | others (s) | load 1 min before/after "
          "| bound |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, w, p, readers in results:
        dt = p.elapsed
        if p.machine >= 0.9 * dt * cores:
            bound = "machine's cores (saturated)"
        elif p.server >= 0.8 * dt:
            bound = "server"
        elif readers >= 0.8 * dt * w:
            bound = "readers (decoding)"
        else:
            bound = "neither (waiting)"
        single_proc = name.startswith("single")
        driver = "-" if single_proc else f"{p.driver:.2f}"
        ours = p.server + readers + (0.0 if single_proc else p.driver)
        print(f"| {name} | {args.rows / dt:,.0f} | {dt:.2f} | {p.server:.2f} | "
              f"{readers:.2f} | {driver} | {p.machine:.2f} of {dt * cores:.2f} | "
              f"{max(0.0, p.machine - ours):.2f} | "
              f"{p.load[0]:.2f} / {p.load[1]:.2f} | {bound} |")


if __name__ == "__main__":
    main()
