#!/usr/bin/env python3
"""Awaited KV round trips for the peer harness run (``bash dev.sh peers``).

The harness's ``jsdatabench.py`` (read-only, in ``../shared/peers``) has no key-value
operation, and neither do its nats-py, nats.js or nats.go benchmarks, but issue 12's
targets include "an awaited blocking KV get >= 1.0x nats-py's asyncio API". This script
is run by ``bench/peers_py.sh`` right after each ``jsdatabench.py`` call, against the
harness's own server and with the same arguments, so its figures land in the same run
(and the same results file) as everything else:

    python bench/peers_kv.py --url nats://127.0.0.1:PORT [--naive-n 20000] [--aio]

Without ``--aio`` it measures jsdata's blocking surface (client ``jsdata``) and then
nats-py's asyncio KV API (client ``nats-py``, the project's nats-py); with ``--aio``
jsdata's asyncio surface (client ``jsdata-aio``). Each measures ``--naive-n`` awaited
``put`` calls, then as many awaited ``get`` calls, over 1,000 keys of ~116-byte values
(the harness's payloads). Output: one JSON object per line like the harness's,
``{"client","op","n","secs","rate","load"}`` with ops ``kv_put`` and ``kv_get``; ``load``
is the 1-minute load average when the measurement ended (others share the machine).
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


def blocking(url: str, values: list[bytes]) -> None:
    """jsdata's blocking surface: each put and get awaited before the next."""
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


async def aio(url: str, values: list[bytes]) -> None:
    """jsdata's asyncio surface, the same calls."""
    n = len(values)
    js = await jsdata.aio.connect(url)
    try:
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
    ap.add_argument("--n", type=int, default=200_000, help="ignored (the harness passes it)")
    ap.add_argument("--naive-n", type=int, default=20_000, help="awaited calls per operation")
    ap.add_argument("--aio", action="store_true")
    a = ap.parse_args()
    values = make_payloads(max(a.naive_n, NKEYS))
    if a.aio:
        asyncio.run(aio(a.url, values))
    else:
        blocking(a.url, values)
        asyncio.run(natspy(a.url, values))


if __name__ == "__main__":
    main()
