"""Object store throughput: jsdata vs nats-py, plus a column-projected Parquet read.

Runs its own embedded nats-server (file storage in a temp dir) and, in one run:

* put and get MB/s for 1 MiB, 64 MiB and 512 MiB objects, for jsdata's blocking API and
  nats-py's object store, with the ratio. nats-py's get of a 512 MiB object is impractical
  (it grows its result with ``bytes +=``, quadratic in the size), so its 512 MiB row runs
  only with JSDATA_BENCH_NATSPY_512=1; JSDATA_BENCH_SKIP_512=1 leaves the size out;
* a ~200 MiB Parquet object read with ``pd.read_parquet(columns=[one column])`` through
  ``jetstream://``, reporting the fraction of the object's chunks fetched.

    .venv/bin/python bench/bench_objects.py
    JSDATA_BENCH_NATSPY_512=1 .venv/bin/python bench/bench_objects.py   # slow

Every figure is the median of several runs (15 at 1 MiB, JSDATA_BENCH_REPS = 3 at 64 MiB,
one at 512 MiB).
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import jsdata
from jsdata.server import EmbeddedServer

MiB = 1024 * 1024


def runs_for(size: int, reps: int) -> int:
    """Small objects take milliseconds: run them more often than large ones."""
    if size <= 1 * MiB:
        return max(reps, 15)
    return reps if size <= 64 * MiB else 1


def median_of(n: int, fn: Callable[[], Any]) -> float:
    """The median of ``n`` runs, in seconds."""
    times = []
    for _ in range(n):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_jsdata(url: str, sizes: list[int], reps: int) -> dict[int, tuple[float, float]]:
    out = {}
    with jsdata.connect(url) as js:
        obs = js.create_object_store(bucket="bench_jsdata")
        for size in sizes:
            data = os.urandom(size)
            name = f"obj-{size}"
            r = runs_for(size, reps)
            tput = median_of(r, lambda: obs.put_bytes(name, data))  # noqa: B023
            got: list[bytes] = []
            tget = median_of(r, lambda: got.append(obs.get_bytes(name)))  # noqa: B023
            assert got[-1] == data
            got.clear()
            out[size] = (size / tput / 1e6, size / tget / 1e6)
            obs.delete(name)
        js.delete_object_store("bench_jsdata")
    return out


def bench_natspy(url: str, sizes: list[int], reps: int) -> dict[int, tuple[float, float]]:
    import nats

    async def main() -> dict[int, tuple[float, float]]:
        nc = await nats.connect(url)
        js = nc.jetstream()
        obs = await js.create_object_store("bench_natspy")
        out = {}
        for size in sizes:
            data = os.urandom(size)
            name = f"obj-{size}"
            r = runs_for(size, reps)
            puts, gets = [], []
            for _ in range(r):
                gc.collect()
                t = time.perf_counter()
                await obs.put(name, data)
                puts.append(time.perf_counter() - t)
            for _ in range(r):
                gc.collect()
                t = time.perf_counter()
                res = await obs.get(name)
                gets.append(time.perf_counter() - t)
                assert res.data == data
                del res
            out[size] = (size / statistics.median(puts) / 1e6,
                         size / statistics.median(gets) / 1e6)
            await obs.delete(name)
        await js.delete_object_store("bench_natspy")
        await nc.close()
        return out

    return asyncio.run(main())


def bench_parquet(url: str, target_mib: int = 200) -> dict[str, float]:
    """Write a ~target_mib Parquet object (8 row groups, 16 float columns) and read one
    column back through jetstream://, counting fetched chunks."""
    import fsspec

    rows = target_mib * MiB // (16 * 8)
    rng = np.random.default_rng(1)
    df = pd.DataFrame({f"c{i:02d}": rng.random(rows) for i in range(16)})
    so = {"servers": url}
    t = time.perf_counter()
    df.to_parquet("jetstream://bench_pq/wide.parquet", storage_options=so,
                  row_group_size=rows // 8, compression=None)
    write_s = time.perf_counter() - t
    del df
    fs = fsspec.filesystem("jetstream", **so)
    info = fs.info("bench_pq/wide.parquet")
    # count what a projected read fetches: open the file ourselves and hand it to pandas
    t = time.perf_counter()
    with fs.open("bench_pq/wide.parquet", "rb") as f:
        col = pd.read_parquet(f, columns=["c03"])
        fetched = f.fetched_chunks
    read_s = time.perf_counter() - t
    assert len(col) == rows
    t = time.perf_counter()
    full = pd.read_parquet("jetstream://bench_pq/wide.parquet", storage_options=so)
    full_s = time.perf_counter() - t
    assert full.shape == (rows, 16)
    del full
    fs.rm("bench_pq/wide.parquet")
    fs.rmdir("bench_pq")
    fs.close()
    return {"size_mib": info["size"] / MiB, "chunks": info["chunks"], "fetched": fetched,
            "fraction": fetched / info["chunks"], "write_s": write_s, "read_col_s": read_s,
            "read_all_s": full_s}


def main() -> None:
    sizes = [1 * MiB, 64 * MiB]
    if os.environ.get("JSDATA_BENCH_SKIP_512") != "1":
        sizes.append(512 * MiB)
    theirs_sizes = [s for s in sizes
                    if s < 512 * MiB or os.environ.get("JSDATA_BENCH_NATSPY_512") == "1"]
    reps = int(os.environ.get("JSDATA_BENCH_REPS", "3"))
    with EmbeddedServer() as srv:
        print(f"nats-server at {srv.url}; python {sys.version.split()[0]}; "
              f"{os.cpu_count()} CPUs", flush=True)
        ours = bench_jsdata(srv.url, sizes, reps)
        theirs = bench_natspy(srv.url, theirs_sizes, reps)
        print()
        print("| object | jsdata put MB/s | nats-py put MB/s | put ratio | jsdata get MB/s "
              "| nats-py get MB/s | get ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for size in sizes:
            op, og = ours[size]
            if size in theirs:
                tp, tg = theirs[size]
                print(f"| {size // MiB} MiB | {op:.0f} | {tp:.0f} | {op / tp:.1f}x | "
                      f"{og:.0f} | {tg:.0f} | {og / tg:.1f}x |")
            else:
                print(f"| {size // MiB} MiB | {op:.0f} | - | - | {og:.0f} | - | - |")
        pq = bench_parquet(srv.url)
        print()
        print(f"Parquet object {pq['size_mib']:.0f} MiB in {pq['chunks']} chunks "
              f"(written in {pq['write_s']:.2f} s): pd.read_parquet(columns=[1 of 16]) fetched "
              f"{pq['fetched']} chunks = {pq['fraction']:.1%} in {pq['read_col_s']:.2f} s; "
              f"full read {pq['read_all_s']:.2f} s")


if __name__ == "__main__":
    main()
