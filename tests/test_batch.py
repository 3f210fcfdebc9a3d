"""Consumer batch readers: fetch_arrow / iter_arrow, acked as units, on real servers."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator

import pyarrow as pa
import pytest

import jsdata
from jsdata import errors
from jsdata.frames.batch import ArrowMethods
from jsdata.server import EmbeddedServer
from tests.helpers import await_info, wait_for


@pytest.fixture(scope="module")
def mjs(shared_server: EmbeddedServer) -> Iterator[jsdata.JetStream]:
    conn = jsdata.connect(shared_server.url)
    try:
        yield conn
    finally:
        conn.close()


_counter = iter(range(1_000_000))


def setup(js: jsdata.JetStream, n: int, ack_policy: str = "explicit",
          **cfg: object) -> tuple[jsdata.Stream, jsdata.Consumer]:
    name = f"B{next(_counter)}"
    s = js.create_stream(name=name, subjects=[f"{name}.>"])
    for i in range(n):
        js.publish_async(f"{name}.x", json.dumps({"i": i, "sq": i * i}).encode())
    js.publish_async_complete()
    c = s.create_consumer(durable="C", ack_policy=ack_policy, ack_wait=30.0, **cfg)
    return s, c


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``check`` (a server-side count that follows fire-and-forget acks) until true."""
    wait_for(check, timeout, what="the server's counts to follow the acks")



def test_fetch_arrow_and_ack(mjs: jsdata.JetStream) -> None:
    s, c = setup(mjs, 250)
    ab = c.fetch_arrow(100, max_wait=2.0)
    assert ab.messages == 100 and len(ab) == 100
    rb = ab.record_batch
    assert isinstance(rb, pa.RecordBatch)
    assert rb.schema.names == ["i", "sq", "_subject", "_seq", "_time"]
    assert rb.column("i").to_pylist() == list(range(100))
    assert ab.sequences == list(range(1, 101))
    df = ab.to_pandas()
    assert df["sq"].tolist()[-1] == 99 * 99
    assert c.info().num_ack_pending == 100
    ab.ack()
    eventually(lambda: c.info().num_ack_pending == 0)
    info = c.info()
    assert info.ack_floor.stream_seq == 100 and info.num_pending == 150
    with pytest.raises(errors.MsgAlreadyAckedError):
        ab.ack()


def test_fetch_arrow_nak_redelivers(mjs: jsdata.JetStream) -> None:
    s, c = setup(mjs, 20)
    ab = c.fetch_arrow(20, max_wait=2.0)
    ab.nak()  # fire-and-forget: the fetch waits until the redeliveries arrive
    again = c.fetch_arrow(20, max_wait=20.0)
    assert again.record_batch.column("i").to_pylist() == list(range(20))
    info = c.info()
    assert info.num_redelivered == 20 and info.num_ack_pending == 20
    again.term()
    eventually(lambda: c.info().num_ack_pending == 0)
    assert c.fetch_arrow(5, max_wait=0.3).messages == 0  # terminated: no redelivery


def test_context_manager_acks_or_naks(mjs: jsdata.JetStream) -> None:
    s, c = setup(mjs, 30)
    with c.fetch_arrow(10, max_wait=2.0) as ab:
        assert ab.num_rows == 10
    eventually(lambda: c.info().num_ack_pending == 0)
    assert c.info().ack_floor.stream_seq == 10
    with pytest.raises(RuntimeError, match="boom"), c.fetch_arrow(10, max_wait=2.0):
        raise RuntimeError("boom")
    redo = c.fetch_arrow(10, max_wait=2.0)  # naked: the same ten again
    assert redo.sequences == list(range(11, 21))
    assert c.info().num_redelivered == 10
    redo.ack()


def test_ack_all_acks_the_last(mjs: jsdata.JetStream) -> None:
    s, c = setup(mjs, 50, ack_policy="all")
    ab = c.fetch_arrow(50, max_wait=2.0)
    assert c.info().num_ack_pending == 50
    ab.ack()
    eventually(lambda: c.info().num_ack_pending == 0)
    assert c.info().ack_floor.stream_seq == 50


def test_fetch_arrow_decode_options(mjs: jsdata.JetStream) -> None:
    s, c = setup(mjs, 5)
    mjs.publish(f"{s.name}.x", b"not json")
    ab = c.fetch_arrow(10, max_wait=1.0, codec="json", on_error="keep", metadata=("seq",),
                       columns=["i"])
    assert ab.record_batch.schema.names == ["i", "_seq", "_error", "_data"]
    assert ab.record_batch.column("_data").to_pylist()[-1] == b"not json"
    ab.ack()
    schema = pa.schema([("i", pa.int32())])
    empty = c.fetch_arrow(10, max_wait=0.3, schema=schema)
    assert empty.messages == 0 and empty.record_batch.schema.field("i").type == pa.int32()
    with pytest.raises(errors.InvalidArgumentError, match="decode option"):
        c.fetch_arrow(1, max_wait=0.3, start=5)


def test_iter_arrow_micro_batches(mjs: jsdata.JetStream) -> None:
    s, c = setup(mjs, 2500)
    seen: list[int] = []
    sizes: list[int] = []
    # max_latency well above the time 1000 queued messages take to arrive, even on a loaded
    # machine: only the last, short batch may be cut by it
    with c.iter_arrow(batch_size=1000, max_latency=3.0) as it:
        for ab in it:
            sizes.append(ab.messages)
            seen += ab.record_batch.column("i").to_pylist()
            ab.ack()
            if len(seen) >= 2500:
                break
    assert sizes == [1000, 1000, 500]  # the last one after max_latency
    assert seen == list(range(2500))
    eventually(lambda: c.info().num_ack_pending == 0)


def test_iter_arrow_live_and_stop(mjs: jsdata.JetStream) -> None:
    s, c = setup(mjs, 0)
    it = c.iter_arrow(batch_size=100, max_latency=0.1)
    got: list[int] = []

    def consume() -> None:
        for ab in it:
            got.extend(ab.record_batch.column("i").to_pylist())
            ab.ack()

    t = threading.Thread(target=consume)
    t.start()
    for i in range(250):
        mjs.publish(f"{s.name}.x", json.dumps({"i": i}).encode())
    eventually(lambda: len(got) == 250)
    it.stop()
    t.join(5)
    assert not t.is_alive()
    assert got == list(range(250))


def test_bad_iter_arguments(mjs: jsdata.JetStream) -> None:
    s, c = setup(mjs, 0)
    with pytest.raises(errors.InvalidArgumentError, match="batch_size"):
        c.iter_arrow(batch_size=0)
    with pytest.raises(errors.InvalidArgumentError, match="max_latency"):
        c.iter_arrow(max_latency=0)


def test_ordered_consumer_blocking(mjs: jsdata.JetStream) -> None:
    s, _ = setup(mjs, 120)
    oc = s.ordered_consumer()
    ab = oc.fetch_arrow(100, max_wait=2.0)
    assert ab.record_batch.column("i").to_pylist() == list(range(100))
    ab.ack()  # AckNone: nothing to send, still a settled unit
    assert oc.fetch_arrow(100, max_wait=1.0).record_batch.column("i").to_pylist() == list(
        range(100, 120))


async def test_asyncio_and_ordered_consumer(ajs: jsdata.aio.JetStream) -> None:
    s = await ajs.create_stream(name="AB", subjects=["AB.>"])
    for i in range(300):
        await ajs.publish_async("AB.x", json.dumps({"i": i}).encode())
    await ajs.publish_async_complete()
    c = await s.create_consumer(durable="D", ack_policy="explicit")
    async with await c.fetch_arrow(120, max_wait=2.0) as ab:
        assert ab.record_batch.num_rows == 120
    # acks are sent without waiting for the server: wait for the count it reports
    await await_info(c, lambda i: i.num_ack_pending == 0, what="the acks to be processed")
    it = await c.iter_arrow(batch_size=100, max_latency=0.2)
    total = 0
    async with it:
        async for ab in it:
            total += ab.messages
            await ab.ack()
            if total >= 180:
                break
    assert total == 180
    # ordered consumers: the same methods (ArrowMethods works on any consumer with fetch)
    oc = await s.ordered_consumer()
    ab = await ArrowMethods.fetch_arrow(oc, 250, max_wait=2.0)  # type: ignore[arg-type]
    assert ab.record_batch.column("i").to_pylist() == list(range(250))
    await ab.ack()
    oc2 = await s.ordered_consumer()
    it2 = await ArrowMethods.iter_arrow(oc2, batch_size=300, max_latency=0.2)  # type: ignore[arg-type]
    async with it2:
        async for ab in it2:
            assert ab.record_batch.column("i").to_pylist() == list(range(300))
            break
