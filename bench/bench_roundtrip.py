"""Awaited round trips: publish with ack and KV get, one at a time, jsdata beside nats-py.

    python bench/bench_roundtrip.py [--n 3000] [--reps 5]

Starts its own nats-server (file storage) and runs, in one run with the reps interleaved
(every variant once per rep, so a load spike on the shared machine hits them all): nats-py's
asyncio ``js.publish`` and ``kv.get``, jsdata's asyncio API, and jsdata's blocking API three
ways: every call hopping to the loop thread and back (``LoopThread.direct_calls`` off: the
"before"), driven on the calling thread with the request written by the loop
(``Connection.thread_writes`` off), and driven on the calling thread writing the request
itself (the default: the "after"). Prints the median rate of each, its ratio to nats-py's
asyncio API, the process's context switches per round trip (getrusage: a figure the
machine's load barely moves) and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nats  # noqa: E402

import jsdata  # noqa: E402
from jsdata import aio  # noqa: E402
from jsdata.blocking.loop import LoopThread  # noqa: E402
from jsdata.client._conn import Connection  # noqa: E402

SUBJ = "rt.orders"
PAYLOAD = b'{"id":1,"region":"eu","customer":"c00042","amount":12.5,"qty":3,"ok":true}'


async def _setup(url: str) -> None:
    js = await aio.connect(url)
    try:
        await js.delete_stream("RT")
    except jsdata.errors.StreamNotFoundError:
        pass
    await js.create_stream(name="RT", subjects=["rt.>"], storage="file",
                           max_msgs=100_000)
    kv = await js.create_key_value(bucket="RTKV", storage="file")
    await kv.put("k1", PAYLOAD)
    await js.close()


# -- publish, await each ack ---------------------------------------------------------------
async def np_publish(url: str, n: int) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    t = time.perf_counter()
    for _ in range(n):
        await js.publish(SUBJ, PAYLOAD)
    dt = time.perf_counter() - t
    await nc.close()
    return n / dt


async def js_publish(url: str, n: int) -> float:
    js = await aio.connect(url)
    t = time.perf_counter()
    for _ in range(n):
        await js.publish(SUBJ, PAYLOAD)
    dt = time.perf_counter() - t
    await js.close()
    return n / dt


def _mode(mode: str) -> None:
    """hops: every call through the loop thread (the "before"); loop-write: driven on the
    calling thread, the request written by the loop; direct: written by the caller too."""
    LoopThread.direct_calls = mode != "hops"
    Connection.thread_writes = mode == "direct"


def js_publish_blocking(url: str, n: int, mode: str) -> float:
    _mode(mode)
    try:
        with jsdata.connect(url) as js:
            js.publish(SUBJ, PAYLOAD)  # the reply subscription is up before timing
            t = time.perf_counter()
            for _ in range(n):
                js.publish(SUBJ, PAYLOAD)
            return n / (time.perf_counter() - t)
    finally:
        _mode("direct")


# -- KV get --------------------------------------------------------------------------------
async def np_kv_get(url: str, n: int) -> float:
    nc = await nats.connect(url)
    kv = await nc.jetstream().key_value("RTKV")
    t = time.perf_counter()
    for _ in range(n):
        await kv.get("k1")
    dt = time.perf_counter() - t
    await nc.close()
    return n / dt


async def js_kv_get(url: str, n: int) -> float:
    js = await aio.connect(url)
    kv = await js.key_value("RTKV")
    t = time.perf_counter()
    for _ in range(n):
        await kv.get("k1")
    dt = time.perf_counter() - t
    await js.close()
    return n / dt


def js_kv_get_blocking(url: str, n: int, mode: str) -> float:
    _mode(mode)
    try:
        with jsdata.connect(url) as js:
            kv = js.key_value("RTKV")
            kv.get("k1")
            t = time.perf_counter()
            for _ in range(n):
                kv.get("k1")
            return n / (time.perf_counter() - t)
    finally:
        _mode("direct")


def _switches() -> int:
    """Context switches of this process so far (voluntary and involuntary, all threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_nvcsw + r.ru_nivcsw


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000, help="round trips per variant and rep")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--url", default=None, help="use this server instead of starting one")
    a = ap.parse_args()
    srv = None
    if a.url is None:
        srv = jsdata.EmbeddedServer()
        srv.start()
    url = a.url or srv.url
    n = a.n
    variants: list[tuple[str, str, Callable[[], float]]] = [
        ("publish", "nats-py asyncio", lambda: asyncio.run(np_publish(url, n))),
        ("publish", "jsdata aio", lambda: asyncio.run(js_publish(url, n))),
        ("publish", "jsdata blocking, two hops (before)",
         lambda: js_publish_blocking(url, n, "hops")),
        ("publish", "jsdata blocking, driven here, loop writes",
         lambda: js_publish_blocking(url, n, "loop-write")),
        ("publish", "jsdata blocking, driven here, caller writes (after)",
         lambda: js_publish_blocking(url, n, "direct")),
        ("kv get", "nats-py asyncio", lambda: asyncio.run(np_kv_get(url, n))),
        ("kv get", "jsdata aio", lambda: asyncio.run(js_kv_get(url, n))),
        ("kv get", "jsdata blocking, two hops (before)",
         lambda: js_kv_get_blocking(url, n, "hops")),
        ("kv get", "jsdata blocking, driven here, loop writes",
         lambda: js_kv_get_blocking(url, n, "loop-write")),
        ("kv get", "jsdata blocking, driven here, caller writes (after)",
         lambda: js_kv_get_blocking(url, n, "direct")),
    ]
    try:
        asyncio.run(_setup(url))
        load0 = os.getloadavg()
        rates: dict[tuple[str, str], list[float]] = {(op, who): [] for op, who, _ in variants}
        switches: dict[tuple[str, str], list[float]] = {k: [] for k in rates}
        for _ in range(a.reps):
            for op, who, fn in variants:
                c0 = _switches()
                rates[(op, who)].append(fn())
                switches[(op, who)].append((_switches() - c0) / n)
        load1 = os.getloadavg()
        print(f"### Awaited round trips, one at a time: N={n} per rep, median of {a.reps} "
              f"interleaved reps, ~{len(PAYLOAD)} B payload, file storage")
        print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f} (1 min; "
              f"{os.cpu_count()} cores)\n")
        print("| operation | API | round trips/s | us each | vs nats-py asyncio "
              "| context switches each |")
        print("|---|---|---:|---:|---:|---:|")
        for op in ("publish", "kv get"):
            base = statistics.median(rates[(op, "nats-py asyncio")])
            for (o, who), vals in rates.items():
                if o != op:
                    continue
                m = statistics.median(vals)
                cs = statistics.median(switches[(o, who)])
                print(f"| {op} | {who} | {m:,.0f} | {1e6 / m:.0f} | {m / base:.2f}x "
                      f"| {cs:.1f} |")
    finally:
        if srv is not None:
            srv.stop()


if __name__ == "__main__":
    main()
