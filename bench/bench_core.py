"""Foundation benchmark: publish, publish_async and fetch, jsdata beside nats-py in one run.

    python bench/bench_core.py [--n 200000] [--naive-n 20000] [--reps 3]

Starts its own nats-server (file storage), prints msgs/s and the jsdata / nats-py ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import nats  # noqa: E402
from _common import payloads, table  # noqa: E402
from nats.js.api import AckPolicy as NAck  # noqa: E402
from nats.js.api import ConsumerConfig as NConsumerConfig  # noqa: E402

import jsdata  # noqa: E402
from jsdata import aio  # noqa: E402

SUBJ = "bench.orders"


async def _reset(url: str) -> None:
    js = await aio.connect(url)
    try:
        await js.delete_stream("BENCH")
    except jsdata.errors.StreamNotFoundError:
        pass
    await js.create_stream(name="BENCH", subjects=["bench.>"], storage="file")
    await js.close()


async def _fill(url: str, data: list[bytes]) -> None:
    await _reset(url)
    js = await aio.connect(url)
    for p in data:
        await js.publish_async(SUBJ, p)
    await js.publish_async_complete()
    await js.close()


# -- jsdata -------------------------------------------------------------------------------------
async def js_publish(url: str, data: list[bytes]) -> float:
    await _reset(url)
    js = await aio.connect(url)
    t = time.perf_counter()
    for p in data:
        await js.publish(SUBJ, p)
    dt = time.perf_counter() - t
    await js.close()
    return len(data) / dt


def js_publish_blocking(url: str, data: list[bytes]) -> float:
    asyncio.run(_reset(url))
    with jsdata.connect(url) as js:
        t = time.perf_counter()
        for p in data:
            js.publish(SUBJ, p)
        return len(data) / (time.perf_counter() - t)


async def js_publish_async(url: str, data: list[bytes]) -> float:
    await _reset(url)
    js = await aio.connect(url, publish_async_max_pending=4000)
    t = time.perf_counter()
    for p in data:
        await js.publish_async(SUBJ, p)
    await js.publish_async_complete()
    dt = time.perf_counter() - t
    await js.close()
    return len(data) / dt


def js_publish_async_blocking(url: str, data: list[bytes]) -> float:
    asyncio.run(_reset(url))
    with jsdata.connect(url, publish_async_max_pending=4000) as js:
        t = time.perf_counter()
        for p in data:
            js.publish_async(SUBJ, p)
        js.publish_async_complete()
        return len(data) / (time.perf_counter() - t)


async def js_fetch(url: str, n: int, ack: str) -> float:
    js = await aio.connect(url)
    c = await js.create_consumer("BENCH", ack_policy=ack, max_ack_pending=-1)
    got = 0
    t = time.perf_counter()
    while got < n:
        async for m in await c.fetch(1000, max_wait=5):
            got += 1
            if ack == "explicit":
                await m.ack()
    dt = time.perf_counter() - t
    await js.delete_consumer("BENCH", c.name)
    await js.close()
    return n / dt


def js_fetch_blocking(url: str, n: int, ack: str) -> float:
    with jsdata.connect(url) as js:
        c = js.create_consumer("BENCH", ack_policy=ack, max_ack_pending=-1)
        got = 0
        t = time.perf_counter()
        while got < n:
            for m in c.fetch(1000, max_wait=5):
                got += 1
                if ack == "explicit":
                    m.ack()
        dt = time.perf_counter() - t
        js.delete_consumer("BENCH", c.name)
        return n / dt


# -- nats-py ------------------------------------------------------------------------------------
async def np_publish(url: str, data: list[bytes]) -> float:
    await _reset(url)
    nc = await nats.connect(url)
    js = nc.jetstream()
    t = time.perf_counter()
    for p in data:
        await js.publish(SUBJ, p)
    dt = time.perf_counter() - t
    await nc.close()
    return len(data) / dt


async def np_publish_async(url: str, data: list[bytes]) -> float:
    await _reset(url)
    nc = await nats.connect(url)
    js = nc.jetstream(publish_async_max_pending=4000)
    t = time.perf_counter()
    for p in data:
        await js.publish_async(SUBJ, p)
    await js.publish_async_completed()
    dt = time.perf_counter() - t
    await nc.close()
    return len(data) / dt


async def np_fetch(url: str, n: int, ack: str) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    pol = NAck.NONE if ack == "none" else NAck.EXPLICIT
    sub = await js.pull_subscribe(SUBJ, durable="NPB", stream="BENCH",
                                  config=NConsumerConfig(ack_policy=pol, max_ack_pending=-1))
    got = 0
    t = time.perf_counter()
    while got < n:
        msgs = await sub.fetch(1000, timeout=5)
        for m in msgs:
            got += 1
            if ack == "explicit":
                await m.ack()
    dt = time.perf_counter() - t
    await js.delete_consumer("BENCH", "NPB")
    await nc.close()
    return n / dt


def med(fn, reps: int) -> float:
    return statistics.median(fn() for _ in range(reps))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--naive-n", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--url", default=None, help="use this server instead of starting one")
    a = ap.parse_args()
    data = payloads(a.n)
    small = data[: a.naive_n]
    srv = None
    if a.url is None:
        srv = jsdata.EmbeddedServer()
        srv.start()
    url = a.url or srv.url
    try:
        r = a.reps
        rows = []
        rows.append(("publish, await each ack (aio)",
                     med(lambda: asyncio.run(js_publish(url, small)), r),
                     med(lambda: asyncio.run(np_publish(url, small)), r)))
        rows.append(("publish, await each ack (blocking)",
                     med(lambda: js_publish_blocking(url, small), r), rows[-1][2]))
        rows.append(("publish_async, 4000 in flight (aio)",
                     med(lambda: asyncio.run(js_publish_async(url, data)), r),
                     med(lambda: asyncio.run(np_publish_async(url, data)), r)))
        rows.append(("publish_async, 4000 in flight (blocking)",
                     med(lambda: js_publish_async_blocking(url, data), r), rows[-1][2]))
        asyncio.run(_fill(url, data))
        for ack, label in (("none", "AckNone"), ("explicit", "AckExplicit, ack each")):
            np_rate = med(lambda ack=ack: asyncio.run(np_fetch(url, a.n, ack)), r)
            rows.append((f"fetch(1000), {label} (aio)",
                         med(lambda ack=ack: asyncio.run(js_fetch(url, a.n, ack)), r), np_rate))
            rows.append((f"fetch(1000), {label} (blocking)",
                         med(lambda ack=ack: js_fetch_blocking(url, a.n, ack), r), np_rate))
        print(table(f"Foundation: N={a.n} (awaited publish N={a.naive_n}), "
                    f"~{sum(map(len, data)) // len(data)} B JSON, file storage, median of {r}",
                    rows))
    finally:
        if srv is not None:
            srv.stop()


if __name__ == "__main__":
    main()
