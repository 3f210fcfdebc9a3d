"""Continuous consumption: consume(), messages() and ordered consumers beside nats-py.

    python bench/bench_consume.py [--n 200000] [--reps 3] [--url nats://...]

Starts its own nats-server (file storage), fills a stream with N ~120-byte JSON messages and
reads all of them back in one run with: jsdata ``consume()`` and ``messages()`` (AckNone),
jsdata's ordered consumer, nats-py's ordered push subscription
(``js.subscribe(subject, ordered_consumer=True)``) and nats-py's pull ``fetch(1000)``.
Prints msgs/s (median of --reps runs) and the jsdata / nats-py ratios as a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import nats  # noqa: E402
from _common import fmt, payloads  # noqa: E402
from nats.js.api import AckPolicy as NAck  # noqa: E402
from nats.js.api import ConsumerConfig as NConsumerConfig  # noqa: E402

import jsdata  # noqa: E402
from jsdata import aio  # noqa: E402

STREAM = "CBENCH"
SUBJ = "cbench.orders"


async def fill(url: str, data: list[bytes]) -> None:
    js = await aio.connect(url)
    try:
        await js.delete_stream(STREAM)
    except jsdata.errors.StreamNotFoundError:
        pass
    await js.create_stream(name=STREAM, subjects=["cbench.>"], storage="file")
    for p in data:
        await js.publish_async(SUBJ, p)
    await js.publish_async_complete(60)
    await js.close()


# -- jsdata, asyncio ----------------------------------------------------------------------------
async def js_consume(url: str, n: int, **opts: object) -> float:
    js = await aio.connect(url)
    c = await js.create_consumer(STREAM, ack_policy="none", inactive_threshold=60)
    done = asyncio.get_running_loop().create_future()
    count = 0

    def handler(m: object) -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set_result(None)

    t = time.perf_counter()
    cc = await c.consume(handler, **opts)  # type: ignore[arg-type]
    await done
    dt = time.perf_counter() - t
    await cc.stop()
    await js.delete_consumer(STREAM, c.name)
    await js.close()
    return n / dt


async def js_messages(url: str, n: int) -> float:
    js = await aio.connect(url)
    c = await js.create_consumer(STREAM, ack_policy="none", inactive_threshold=60)
    count = 0
    t = time.perf_counter()
    it = await c.messages()
    async for _ in it:
        count += 1
        if count == n:
            break
    dt = time.perf_counter() - t
    await it.stop()
    await js.delete_consumer(STREAM, c.name)
    await js.close()
    return n / dt


async def js_ordered(url: str, n: int, how: str) -> float:
    js = await aio.connect(url)
    oc = await js.ordered_consumer(STREAM)
    count = 0
    t = time.perf_counter()
    if how == "consume":
        done = asyncio.get_running_loop().create_future()

        def handler(m: object) -> None:
            nonlocal count
            count += 1
            if count == n:
                done.set_result(None)

        ctx = await oc.consume(handler)
        await done
    else:
        ctx = await oc.messages()
        async for _ in ctx:
            count += 1
            if count == n:
                break
    dt = time.perf_counter() - t
    await ctx.stop()
    await js.close()
    return n / dt


# -- jsdata, blocking ---------------------------------------------------------------------------
def js_consume_blocking(url: str, n: int, ordered: bool = False) -> float:
    with jsdata.connect(url) as js:
        if ordered:
            c = js.ordered_consumer(STREAM)
        else:
            c = js.create_consumer(STREAM, ack_policy="none", inactive_threshold=60)
        done = threading.Event()
        count = 0

        def handler(m: object) -> None:
            nonlocal count
            count += 1
            if count == n:
                done.set()

        t = time.perf_counter()
        cc = c.consume(handler)
        done.wait(120)
        dt = time.perf_counter() - t
        cc.stop()
        return n / dt


def js_messages_blocking(url: str, n: int) -> float:
    with jsdata.connect(url) as js:
        c = js.create_consumer(STREAM, ack_policy="none", inactive_threshold=60)
        count = 0
        t = time.perf_counter()
        it = c.messages()
        for _ in it:
            count += 1
            if count == n:
                break
        dt = time.perf_counter() - t
        it.stop()
        return n / dt


# -- nats-py ------------------------------------------------------------------------------------
async def np_ordered_push(url: str, n: int) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    done = asyncio.get_running_loop().create_future()
    count = 0

    async def cb(msg: object) -> None:
        nonlocal count
        count += 1
        if count == n and not done.done():
            done.set_result(None)

    t = time.perf_counter()
    sub = await js.subscribe(SUBJ, ordered_consumer=True, cb=cb, stream=STREAM)
    await done
    dt = time.perf_counter() - t
    await sub.unsubscribe()
    await nc.close()
    return n / dt


async def np_fetch(url: str, n: int) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    sub = await js.pull_subscribe(SUBJ, durable="NPF", stream=STREAM,
                                  config=NConsumerConfig(ack_policy=NAck.NONE))
    count = 0
    t = time.perf_counter()
    while count < n:
        msgs = await sub.fetch(1000, timeout=5)
        count += len(msgs)
    dt = time.perf_counter() - t
    await js.delete_consumer(STREAM, "NPF")
    await nc.close()
    return n / dt


def med(fn: Callable[[], float], reps: int) -> float:
    return statistics.median(fn() for _ in range(reps))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--url", default=None, help="use this server instead of starting one")
    a = ap.parse_args()
    data = payloads(a.n)
    srv = None
    if a.url is None:
        srv = jsdata.EmbeddedServer()
        srv.start()
    url = a.url or srv.url
    n, r = a.n, a.reps
    try:
        asyncio.run(fill(url, data))
        push = med(lambda: asyncio.run(np_ordered_push(url, n)), r)
        fetch = med(lambda: asyncio.run(np_fetch(url, n)), r)
        rows = [
            ("consume(), AckNone, defaults (aio)",
             med(lambda: asyncio.run(js_consume(url, n)), r)),
            ("consume(max_messages=1000), AckNone (aio)",
             med(lambda: asyncio.run(js_consume(url, n, max_messages=1000)), r)),
            ("messages(), AckNone, `async for` (aio)",
             med(lambda: asyncio.run(js_messages(url, n)), r)),
            ("ordered consumer, consume() (aio)",
             med(lambda: asyncio.run(js_ordered(url, n, "consume")), r)),
            ("ordered consumer, messages() (aio)",
             med(lambda: asyncio.run(js_ordered(url, n, "messages")), r)),
            ("consume(), AckNone, handler thread (blocking)",
             med(lambda: js_consume_blocking(url, n), r)),
            ("messages(), AckNone, `for` (blocking)",
             med(lambda: js_messages_blocking(url, n), r)),
            ("ordered consumer, consume() (blocking)",
             med(lambda: js_consume_blocking(url, n, ordered=True), r)),
        ]
        size = sum(map(len, data)) // len(data)
        print(f"### Continuous consumption: N={n}, ~{size} B JSON, file storage, "
              f"median of {r}\n")
        print(f"nats-py baselines: ordered push subscription {fmt(push)} msgs/s, "
              f"pull fetch(1000) {fmt(fetch)} msgs/s\n")
        print("| operation | jsdata (msgs/s) | / nats-py ordered push | / nats-py fetch(1000) |")
        print("|---|---|---|---|")
        for name, rate in rows:
            print(f"| {name} | {fmt(rate)} | {rate / push:.2f}× | {rate / fetch:.2f}× |")
        print(f"| nats-py ordered push subscription | {fmt(push)} | 1.00× | "
              f"{push / fetch:.2f}× |")
        print(f"| nats-py pull fetch(1000), AckNone | {fmt(fetch)} | {fetch / push:.2f}× | "
              f"1.00× |")
    finally:
        if srv is not None:
            srv.stop()


if __name__ == "__main__":
    main()
