"""Key-value benchmark: jsdata beside nats-py's own KV API, in one run, one server.

    python bench/bench_kv.py [--ops 10000] [--bulk 10000] [--watch 50000] [--reps 3]

Starts its own nats-server (file storage) and prints ops/s (entries/s for watches) with the
jsdata / nats-py ratio:

- put / get, each awaited (asyncio and blocking jsdata; nats-py asyncio), ~120 B JSON values
  over 1,000 keys;
- bulk: ``kv.update_many`` (or the blocking ``kv.as_dict("bytes").update``) of ``--bulk`` keys
  against nats-py putting the same keys one awaited ``put`` at a time (nats-py has no bulk
  put); the target is >= 5x;
- watch: the time from ``watch_all()`` to the initial-values ``None`` over a bucket of
  ``--watch`` keys, in entries/s (and the live feed of ``--watch`` updates written by a
  pipelined writer in a second connection).
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

import jsdata  # noqa: E402
from jsdata import aio  # noqa: E402

NKEYS = 1000


async def _fresh(url: str, bucket: str) -> None:
    js = await aio.connect(url)
    try:
        await js.delete_key_value(bucket)
    except jsdata.errors.BucketNotFoundError:
        pass
    await js.create_key_value(bucket=bucket, history=1)
    await js.close()


async def _fill(url: str, bucket: str, n: int, data: list[bytes]) -> None:
    await _fresh(url, bucket)
    js = await aio.connect(url)
    kv = await js.key_value(bucket)
    for i in range(0, n, 10_000):
        await kv.update_many({f"k.{j}": data[j % len(data)] for j in range(i, min(n, i + 10_000))})
    await js.close()


# -- jsdata ---------------------------------------------------------------------------------------
async def js_put(url: str, data: list[bytes]) -> float:
    await _fresh(url, "BJ")
    js = await aio.connect(url)
    kv = await js.key_value("BJ")
    t = time.perf_counter()
    for i, v in enumerate(data):
        await kv.put(f"k.{i % NKEYS}", v)
    dt = time.perf_counter() - t
    await js.close()
    return len(data) / dt


async def js_get(url: str, n: int) -> float:
    js = await aio.connect(url)
    kv = await js.key_value("BJ")
    t = time.perf_counter()
    for i in range(n):
        await kv.get(f"k.{i % NKEYS}")
    dt = time.perf_counter() - t
    await js.close()
    return n / dt


def js_put_blocking(url: str, data: list[bytes]) -> float:
    asyncio.run(_fresh(url, "BJ"))
    with jsdata.connect(url) as js:
        kv = js.key_value("BJ")
        t = time.perf_counter()
        for i, v in enumerate(data):
            kv.put(f"k.{i % NKEYS}", v)
        return len(data) / (time.perf_counter() - t)


def js_get_blocking(url: str, n: int) -> float:
    with jsdata.connect(url) as js:
        kv = js.key_value("BJ")
        t = time.perf_counter()
        for i in range(n):
            kv.get(f"k.{i % NKEYS}")
        return n / (time.perf_counter() - t)


async def js_bulk(url: str, data: list[bytes]) -> float:
    await _fresh(url, "BB")
    js = await aio.connect(url)
    kv = await js.key_value("BB")
    m = {f"k.{i}": v for i, v in enumerate(data)}
    t = time.perf_counter()
    await kv.update_many(m)
    dt = time.perf_counter() - t
    await js.close()
    return len(data) / dt


def js_bulk_blocking(url: str, data: list[bytes]) -> float:
    asyncio.run(_fresh(url, "BB"))
    with jsdata.connect(url) as js:
        d = js.key_value("BB").as_dict("bytes")
        m = {f"k.{i}": v for i, v in enumerate(data)}
        t = time.perf_counter()
        d.update(m)
        return len(data) / (time.perf_counter() - t)


async def js_watch_initial(url: str, n: int) -> float:
    js = await aio.connect(url)
    kv = await js.key_value("BW")
    t = time.perf_counter()
    w = await kv.watch_all()
    got = 0
    while True:
        items = await w._next_many()
        if None in items:
            got += items.index(None)
            break
        got += len(items)
    dt = time.perf_counter() - t
    await w.stop()
    await js.close()
    assert got == n, got
    return n / dt


def js_watch_initial_blocking(url: str, n: int) -> float:
    with jsdata.connect(url) as js:
        kv = js.key_value("BW")
        t = time.perf_counter()
        got = 0
        with kv.watch_all() as w:
            for e in w:
                if e is None:
                    break
                got += 1
        dt = time.perf_counter() - t
    assert got == n, got
    return n / dt


async def _writer(url: str, bucket: str, data: list[bytes]) -> None:
    js = await aio.connect(url)
    kv = await js.key_value(bucket)
    await kv.update_many({f"u.{i}": v for i, v in enumerate(data)})
    await js.close()


async def js_watch_live(url: str, data: list[bytes]) -> float:
    await _fresh(url, "BL")
    js = await aio.connect(url)
    kv = await js.key_value("BL")
    w = await kv.watch_all(updates_only=True)
    writer = asyncio.create_task(_writer(url, "BL", data))
    t = time.perf_counter()
    got = 0
    while got < len(data):
        got += len(await w._next_many())
    dt = time.perf_counter() - t
    await writer
    await w.stop()
    await js.close()
    return len(data) / dt


# -- nats-py --------------------------------------------------------------------------------------
async def np_put(url: str, data: list[bytes]) -> float:
    await _fresh(url, "BN")
    nc = await nats.connect(url)
    kv = await nc.jetstream().key_value("BN")
    t = time.perf_counter()
    for i, v in enumerate(data):
        await kv.put(f"k.{i % NKEYS}", v)
    dt = time.perf_counter() - t
    await nc.close()
    return len(data) / dt


async def np_get(url: str, n: int) -> float:
    nc = await nats.connect(url)
    kv = await nc.jetstream().key_value("BN")
    t = time.perf_counter()
    for i in range(n):
        await kv.get(f"k.{i % NKEYS}")
    dt = time.perf_counter() - t
    await nc.close()
    return n / dt


async def np_bulk(url: str, data: list[bytes]) -> float:
    await _fresh(url, "BN")
    nc = await nats.connect(url)
    kv = await nc.jetstream().key_value("BN")
    t = time.perf_counter()
    for i, v in enumerate(data):
        await kv.put(f"k.{i}", v)
    dt = time.perf_counter() - t
    await nc.close()
    return len(data) / dt


async def np_watch_initial(url: str, n: int) -> float:
    nc = await nats.connect(url)
    kv = await nc.jetstream().key_value("BW")
    t = time.perf_counter()
    w = await kv.watchall()
    got = 0
    while True:
        e = await w.updates(timeout=30)
        if e is None:
            break
        got += 1
    dt = time.perf_counter() - t
    await w.stop()
    await nc.close()
    assert got == n, got
    return n / dt


async def np_watch_live(url: str, data: list[bytes]) -> float:
    await _fresh(url, "BL")
    nc = await nats.connect(url)
    kv = await nc.jetstream().key_value("BL")
    w = await kv.watchall()
    assert await w.updates(timeout=5) is None
    writer = asyncio.create_task(_writer(url, "BL", data))
    t = time.perf_counter()
    got = 0
    while got < len(data):
        await w.updates(timeout=30)
        got += 1
    dt = time.perf_counter() - t
    await writer
    await w.stop()
    await nc.close()
    return len(data) / dt


def med(fn, reps: int) -> float:
    return statistics.median(fn() for _ in range(reps))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=10_000, help="awaited puts / gets")
    ap.add_argument("--bulk", type=int, default=10_000, help="keys in the bulk update")
    ap.add_argument("--watch", type=int, default=50_000, help="keys / updates watched")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--url", default=None, help="use this server instead of starting one")
    a = ap.parse_args()
    data = payloads(max(a.ops, a.bulk, a.watch))
    srv = None
    if a.url is None:
        srv = jsdata.EmbeddedServer()
        srv.start()
    url = a.url or srv.url
    r = a.reps
    try:
        ops = data[: a.ops]
        rows = []
        np_put_rate = med(lambda: asyncio.run(np_put(url, ops)), r)
        rows.append(("put, awaited (aio)", med(lambda: asyncio.run(js_put(url, ops)), r),
                     np_put_rate))
        rows.append(("put, awaited (blocking)", med(lambda: js_put_blocking(url, ops), r),
                     np_put_rate))
        np_get_rate = med(lambda: asyncio.run(np_get(url, a.ops)), r)
        rows.append(("get, awaited (aio)", med(lambda: asyncio.run(js_get(url, a.ops)), r),
                     np_get_rate))
        rows.append(("get, awaited (blocking)", med(lambda: js_get_blocking(url, a.ops), r),
                     np_get_rate))
        bulk = data[: a.bulk]
        np_bulk_rate = med(lambda: asyncio.run(np_bulk(url, bulk)), r)
        rows.append((f"bulk: update_many of {a.bulk:,} keys vs awaited puts (aio)",
                     med(lambda: asyncio.run(js_bulk(url, bulk)), r), np_bulk_rate))
        rows.append((f"bulk: as_dict().update of {a.bulk:,} keys vs awaited puts (blocking)",
                     med(lambda: js_bulk_blocking(url, bulk), r), np_bulk_rate))
        asyncio.run(_fill(url, "BW", a.watch, data))
        np_watch = med(lambda: asyncio.run(np_watch_initial(url, a.watch)), r)
        rows.append((f"watch_all: initial values of {a.watch:,} keys (aio)",
                     med(lambda: asyncio.run(js_watch_initial(url, a.watch)), r), np_watch))
        rows.append((f"watch_all: initial values of {a.watch:,} keys (blocking)",
                     med(lambda: js_watch_initial_blocking(url, a.watch), r), np_watch))
        live = data[: a.watch]
        rows.append((f"watch_all: {a.watch:,} live updates (aio)",
                     med(lambda: asyncio.run(js_watch_live(url, live)), r),
                     med(lambda: asyncio.run(np_watch_live(url, live)), r)))
        print(table(f"Key-value: ~{sum(map(len, data)) // len(data)} B JSON values, file "
                    f"storage, history 1, median of {r}", rows, unit="ops/s"))
    finally:
        if srv is not None:
            srv.stop()


if __name__ == "__main__":
    main()
