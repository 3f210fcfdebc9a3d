"""Awaited round trips: publish with ack and KV get, one at a time, jsdata beside nats-py.

    python bench/bench_roundtrip.py [--n 3000] [--reps 5]

Starts its own nats-server (file storage) and runs, in one run with the reps interleaved
(every variant once per rep, so a load spike on the shared machine hits them all): nats-py's
asyncio ``js.publish`` and ``kv.get``, jsdata's asyncio API, and jsdata's blocking API twice:
with ``LoopThread.direct_calls`` off (every call hops to the loop thread and back: the
"before") and on (driven on the calling thread: the "after"). Prints the median rate of each
and its ratio to nats-py's asyncio API, and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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


def js_publish_blocking(url: str, n: int, direct: bool) -> float:
    LoopThread.direct_calls = direct
    try:
        with jsdata.connect(url) as js:
            js.publish(SUBJ, PAYLOAD)  # the reply subscription is up before timing
            t = time.perf_counter()
            for _ in range(n):
                js.publish(SUBJ, PAYLOAD)
            return n / (time.perf_counter() - t)
    finally:
        LoopThread.direct_calls = True


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


def js_kv_get_blocking(url: str, n: int, direct: bool) -> float:
    LoopThread.direct_calls = direct
    try:
        with jsdata.connect(url) as js:
            kv = js.key_value("RTKV")
            kv.get("k1")
            t = time.perf_counter()
            for _ in range(n):
                kv.get("k1")
            return n / (time.perf_counter() - t)
    finally:
        LoopThread.direct_calls = True


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
         lambda: js_publish_blocking(url, n, False)),
        ("publish", "jsdata blocking, direct (after)",
         lambda: js_publish_blocking(url, n, True)),
        ("kv get", "nats-py asyncio", lambda: asyncio.run(np_kv_get(url, n))),
        ("kv get", "jsdata aio", lambda: asyncio.run(js_kv_get(url, n))),
        ("kv get", "jsdata blocking, two hops (before)",
         lambda: js_kv_get_blocking(url, n, False)),
        ("kv get", "jsdata blocking, direct (after)",
         lambda: js_kv_get_blocking(url, n, True)),
    ]
    try:
        asyncio.run(_setup(url))
        load0 = os.getloadavg()
        rates: dict[tuple[str, str], list[float]] = {(op, who): [] for op, who, _ in variants}
        for _ in range(a.reps):
            for op, who, fn in variants:
                rates[(op, who)].append(fn())
        load1 = os.getloadavg()
        print(f"### Awaited round trips, one at a time: N={n} per rep, median of {a.reps} "
              f"interleaved reps, ~{len(PAYLOAD)} B payload, file storage")
        print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f} (1 min; "
              f"{os.cpu_count()} cores)\n")
        print("| operation | API | round trips/s | us each | vs nats-py asyncio |")
        print("|---|---|---:|---:|---:|")
        for op in ("publish", "kv get"):
            base = statistics.median(rates[(op, "nats-py asyncio")])
            for (o, who), vals in rates.items():
                if o != op:
                    continue
                m = statistics.median(vals)
                print(f"| {op} | {who} | {m:,.0f} | {1e6 / m:.0f} | {m / base:.2f}x |")
    finally:
        if srv is not None:
            srv.stop()


if __name__ == "__main__":
    main()
