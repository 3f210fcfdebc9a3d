#!/usr/bin/env python3
"""What the peer harness run (``bash dev.sh peers``) needs beyond the harness's own script.

The harness's ``jsdatabench.py`` (read-only, in ``../shared/peers``) misses two things
issue 12's targets are about:

- **A warm stream -> pandas read.** Its ``stream_to_pandas`` is the process's first use of
  pandas, so the figure includes importing pandas and pyarrow (about 1 s here, against
  0.4 s of reading 200k rows), a one-time cost the Go peer it is compared with does not
  have. This script measures that import on its own (op ``import_pandas_pyarrow``, rate =
  1 / seconds) and then the same ``to_pandas()`` of the harness's ``BENCH`` stream with the
  libraries loaded (op ``stream_to_pandas_warm``), and checks the frame.
- **Awaited KV round trips.** Neither the harness's jsdata script nor its nats-py, nats.js
  or nats.go benchmarks have a key-value operation, but a target is "an awaited blocking KV
  get >= 1.0x nats-py's asyncio API".

``bench/peers_py.sh`` runs it right after each ``jsdatabench.py`` call, against the
harness's own server and with the same arguments, so its figures land in the same run
(and the same results file) as everything else:

    python bench/peers_extra.py --url nats://127.0.0.1:PORT [--n 200000] [--naive-n 20000] [--aio]

For the KV rows: without ``--aio`` it measures jsdata's blocking surface (client
``jsdata``) and then nats-py's asyncio KV API (client ``nats-py``, the project's
nats-py); with ``--aio`` jsdata's asyncio surface (client ``jsdata-aio``). Each
measures ``--naive-n`` awaited ``put`` calls, then as many awaited ``get`` calls, over
1,000 keys of ~116-byte values (the harness's payloads).

Output: one JSON object per line like the harness's, ``{"client","op","n","secs","rate",
"load"}`` with ops ``import_pandas_pyarrow``, ``stream_to_pandas_warm``, ``kv_put`` and
``kv_get``; ``load`` is the 1-minute load average when the measurement ended.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

import jsdata

NKEYS = 1000
STREAM = "BENCH"  # the harness's stream: jsdatabench.py leaves its N messages in it
BASE_TS = 1764230400000000000


def make_payloads(n: int) -> list[bytes]:
    """The harness's ~116-byte JSON trades (same bytes as its pybench.py / jsdatabench.py)."""
    return [
        b'{"id":%d,"ts":%d,"sym":"ABC","px":%.4f,"qty":%d,"side":"B","venue":"XNAS","cond":"regular"}'
        % (i, BASE_TS + i * 1000, 100 + (i % 1000) * 0.01, (i % 100) * 10 + 1)
        for i in range(n)
    ]


def emit(client: str, op: str, n: int, secs: float) -> None:
    """One result line in the harness's format, plus the load average."""
    rec: dict[str, Any] = {"client": client, "op": op, "n": n, "secs": round(secs, 4),
                           "rate": round(n / secs, 1), "load": os.getloadavg()[0]}
    print(json.dumps(rec), flush=True)


def check(got: bytes | None, want: bytes, key: str) -> None:
    if got != want:
        raise RuntimeError(f"{key}: read {got!r:.60}, expected {want!r:.60}")


def import_frames(client: str) -> None:
    """Import what a DataFrame read loads, timed (the harness's cold read includes it);
    a one-off, so its line has n=1 and rate = 1 / seconds."""
    t = time.perf_counter()
    import pandas  # noqa: F401
    import pyarrow.json  # noqa: F401
    emit(client, "import_pandas_pyarrow", 1, time.perf_counter() - t)


def check_frame(df: Any, n: int) -> None:
    if len(df) != n or int(df["id"].iloc[-1]) != n - 1:
        raise RuntimeError(f"read {len(df)} rows, expected {n} ending with id {n - 1}")


def blocking(url: str, values: list[bytes], n: int) -> None:
    """jsdata's blocking surface: the warm read, then each put and get awaited in turn."""
    with jsdata.connect(url) as js:
        s = js.stream(STREAM)
        t = time.perf_counter()
        df = s.to_pandas(progress=False)
        emit("jsdata", "stream_to_pandas_warm", len(df), time.perf_counter() - t)
        check_frame(df, n)
        del df
    n = len(values)
    with jsdata.connect(url) as js:
        try:
            js.delete_key_value("PEERS_JS")
        except jsdata.errors.BucketNotFoundError:
            pass
        kv = js.create_key_value(bucket="PEERS_JS", history=1)
        t = time.perf_counter()
        for i, v in enumerate(values):
            kv.put(f"k.{i % NKEYS}", v)
        emit("jsdata", "kv_put", n, time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(n):
            e = kv.get(f"k.{i % NKEYS}")
        emit("jsdata", "kv_get", n, time.perf_counter() - t)
        check(e.value, values[n - 1], f"k.{(n - 1) % NKEYS}")


async def aio(url: str, values: list[bytes], n: int) -> None:
    """jsdata's asyncio surface, the same calls."""
    js = await jsdata.aio.connect(url)
    try:
        s = await js.stream(STREAM)
        t = time.perf_counter()
        df = await s.to_pandas(progress=False)
        emit("jsdata-aio", "stream_to_pandas_warm", len(df), time.perf_counter() - t)
        check_frame(df, n)
        del df
        n = len(values)
        try:
            await js.delete_key_value("PEERS_AIO")
        except jsdata.errors.BucketNotFoundError:
            pass
        kv = await js.create_key_value(bucket="PEERS_AIO", history=1)
        t = time.perf_counter()
        for i, v in enumerate(values):
            await kv.put(f"k.{i % NKEYS}", v)
        emit("jsdata-aio", "kv_put", n, time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(n):
            e = await kv.get(f"k.{i % NKEYS}")
        emit("jsdata-aio", "kv_get", n, time.perf_counter() - t)
        check(e.value, values[n - 1], f"k.{(n - 1) % NKEYS}")
    finally:
        await js.close()


async def natspy(url: str, values: list[bytes]) -> None:
    """nats-py's own asyncio KV API (``js.create_key_value``, ``kv.put``, ``kv.get``)."""
    import nats
    from nats.js.api import KeyValueConfig
    n = len(values)
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        try:
            await js.delete_key_value("PEERS_NP")
        except Exception:  # noqa: BLE001 - not there yet
            pass
        kv = await js.create_key_value(KeyValueConfig(bucket="PEERS_NP", history=1))
        t = time.perf_counter()
        for i, v in enumerate(values):
            await kv.put(f"k.{i % NKEYS}", v)
        emit("nats-py", "kv_put", n, time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(n):
            e = await kv.get(f"k.{i % NKEYS}")
        emit("nats-py", "kv_get", n, time.perf_counter() - t)
        check(e.value, values[n - 1], f"k.{(n - 1) % NKEYS}")
    finally:
        await nc.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--n", type=int, default=200_000, help="messages in the harness's stream")
    ap.add_argument("--naive-n", type=int, default=20_000, help="awaited calls per operation")
    ap.add_argument("--aio", action="store_true")
    a = ap.parse_args()
    values = make_payloads(max(a.naive_n, NKEYS))
    import_frames("jsdata-aio" if a.aio else "jsdata")
    if a.aio:
        asyncio.run(aio(a.url, values, a.n))
    else:
        blocking(a.url, values, a.n)
        asyncio.run(natspy(a.url, values))


if __name__ == "__main__":
    main()
