"""Ordered consumers against real servers: in-order, exactly-once delivery across resets."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import nats
import pytest

import jsdata
from jsdata import errors
from tests.helpers import await_for, await_info, await_refreshed, wait_for  # noqa: F401

pytestmark = pytest.mark.timeout(90)

# what the error handler hears when an ordered consumer's server-side consumer disappears
RESET_CAUSES = (errors.ConsumerDeletedError, errors.NoRespondersError, errors.NoHeartbeatError)


def fill(js: Any, subject: str, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        js.publish_async(subject, b"%d" % i)
    js.publish_async_complete(10)


async def afill(js: Any, subject: str, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        await js.publish_async(subject, b"%d" % i)
    await js.publish_async_complete(10)


# -- the server-side consumer --------------------------------------------------------------------

async def test_underlying_consumer_config_and_names(ajs) -> None:
    await ajs.create_stream(name="OC", subjects=["oc.>"])
    await afill(ajs, "oc.a", 3)
    oc = await ajs.ordered_consumer("OC", name_prefix="feed", filter_subjects=["oc.a"])
    assert oc.cached_info() is None
    with pytest.raises(errors.OrderedConsumerNotCreatedError):
        await oc.info()
    got: list[int] = []
    cc = await oc.consume(lambda m: got.append(int(m.data)))
    await await_for(lambda: len(got) == 3)
    info = await oc.info()
    assert info.name == "feed_1" == oc.name
    cfg = info.config
    assert cfg.ack_policy == "none" and cfg.mem_storage and cfg.num_replicas == 1
    assert cfg.inactive_threshold == 300.0 and cfg.filter_subject == "oc.a"
    assert cfg.durable_name is None
    assert oc.cached_info().name == "feed_1"
    await cc.stop()


async def test_prefix_is_random_and_valid(ajs) -> None:
    await ajs.create_stream(name="OR", subjects=["or.>"])
    oc1 = await ajs.ordered_consumer("OR")
    oc2 = await ajs.ordered_consumer("OR")
    it1, it2 = await oc1.messages(), await oc2.messages()
    assert oc1.name != oc2.name and oc1.name.endswith("_1")
    await it1.stop()
    await it2.stop()


# -- consume: resets -----------------------------------------------------------------------------

def test_delete_underlying_consumer_mid_read_blocking(js) -> None:
    js.create_stream(name="OD", subjects=["od.>"])
    fill(js, "od.x", 2000)
    oc = js.ordered_consumer("OD", name_prefix="od")
    got: list[int] = []
    errs: list[BaseException] = []
    deleted = threading.Event()

    def handler(m: Any) -> None:
        got.append(int(m.data))
        if len(got) == 700 and not deleted.is_set():
            deleted.set()
            js.delete_consumer("OD", oc.name)  # from the handler thread, mid-read

    # Short heartbeats: the server may drop a waiting pull of a consumer being deleted
    # without a 409; then two missed heartbeats are what triggers the reset (as in Go).
    cc = oc.consume(handler, max_messages=100, expiry=2.0, heartbeat=1.0,
                    error_handler=lambda ctx, e: errs.append(e))
    wait_for(lambda: len(got) == 2000, timeout=20, what="every message")
    time.sleep(0.2)
    cc.stop()
    assert got == list(range(2000))  # each once, in order
    assert oc.name == "od_2" and oc.resets == 1
    assert errs and all(isinstance(e, RESET_CAUSES) for e in errs)
    assert js.consumer_names("OD") and "od_1" not in list(js.consumer_names("OD"))


async def test_delete_underlying_consumer_mid_read_async(ajs) -> None:
    await ajs.create_stream(name="ODA", subjects=["oda.>"])
    await afill(ajs, "oda.x", 1500)
    oc = await ajs.ordered_consumer("ODA")
    got: list[int] = []

    async def handler(m: Any) -> None:
        got.append(int(m.data))
        if len(got) == 400:
            await ajs.delete_consumer("ODA", oc.name)
            await asyncio.sleep(0.05)

    cc = await oc.consume(handler, max_messages=50, expiry=2.0, heartbeat=1.0)
    await await_for(lambda: len(got) == 1500, timeout=20)
    await asyncio.sleep(0.2)
    await cc.stop()
    assert got == list(range(1500))
    assert oc.name.endswith("_2")


def test_server_restart_mid_read(js, server) -> None:
    js.create_stream(name="ORS", subjects=["ors.>"], storage="file")
    fill(js, "ors.x", 3000)
    oc = js.ordered_consumer("ORS")
    got: list[int] = []
    gate = threading.Event()
    gate.set()

    def handler(m: Any) -> None:
        gate.wait(20)
        got.append(int(m.data))

    cc = oc.consume(handler, max_messages=200, expiry=2.0, heartbeat=1.0)
    wait_for(lambda: len(got) >= 500)
    gate.clear()  # hold the handler while the server restarts
    server.restart()
    gate.set()
    wait_for(lambda: js.nc.is_connected)
    fill(js, "ors.x", 500, start=3000)
    wait_for(lambda: len(got) == 3500, timeout=30, what="every message after the restart")
    time.sleep(0.3)
    cc.stop()
    assert got == list(range(3500))  # in order, each once
    assert oc.resets >= 1


async def test_sequence_gap_resets(ajs, server) -> None:
    """A consumer-sequence gap makes the consumer recreate itself after the last delivered.

    The gap is real: another client pulls one message from the underlying consumer.
    """
    await ajs.create_stream(name="OG", subjects=["og.>"])
    await afill(ajs, "og.x", 20)
    oc = await ajs.ordered_consumer("OG", name_prefix="gap")
    got: list[int] = []
    gate = asyncio.Event()

    async def handler(m: Any) -> None:
        got.append(int(m.data))
        if len(got) == 5:
            await gate.wait()

    cc = await oc.consume(handler, max_messages=10)
    await await_for(lambda: len(got) == 5)
    # all 10 requested were delivered; no pull of ours is waiting
    await await_info(oc, lambda i: i.delivered.consumer_seq == 10 and i.num_waiting == 0)
    nc = await nats.connect(server.url)
    sub = await nc.subscribe("thief")
    await nc.publish("$JS.API.CONSUMER.MSG.NEXT.OG.gap_1", b'{"batch":1,"no_wait":true}',
                     reply="thief")
    stolen = await sub.next_msg(5)
    await nc.close()
    assert stolen.data == b"10"  # consumer sequence 11 went elsewhere
    gate.set()
    await afill(ajs, "og.x", 10, start=20)
    await await_for(lambda: len(got) >= 30)
    await asyncio.sleep(0.2)
    await cc.stop()
    assert got == list(range(30))  # nothing skipped, nothing twice
    assert oc.name == "gap_2"


async def test_start_options_apply_only_to_first_creation(ajs) -> None:
    await ajs.create_stream(name="OS", subjects=["os.>"])
    await afill(ajs, "os.x", 100)
    oc = await ajs.ordered_consumer("OS", deliver_policy="by_start_sequence", opt_start_seq=50)
    got: list[int] = []

    async def handler(m: Any) -> None:
        got.append(m.metadata.sequence.stream)
        if len(got) == 10:
            await ajs.delete_consumer("OS", oc.name)
            await asyncio.sleep(0.05)

    cc = await oc.consume(handler, expiry=2.0, heartbeat=1.0)
    await await_for(lambda: len(got) == 51, timeout=20)
    await cc.stop()
    assert got == list(range(50, 101))
    info = await oc.info()
    assert info.config.deliver_policy == "by_start_sequence"
    assert info.config.opt_start_seq == 60  # after the last delivered, not 50 again


async def test_max_reset_attempts_gives_up(ajs) -> None:
    await ajs.create_stream(name="OM", subjects=["om.>"])
    oc = await ajs.ordered_consumer("OM", max_reset_attempts=2)
    errs: list[BaseException] = []
    cc = await oc.consume(lambda m: None, error_handler=lambda ctx, e: errs.append(e))
    await await_info(oc, lambda i: i.num_waiting > 0)  # the pull request is registered
    await ajs.delete_stream("OM")  # the consumer goes too; recreating it fails
    assert await cc.wait_closed(15)
    assert any(isinstance(e, errors.ConsumerDeletedError) for e in errs)
    assert isinstance(errs[-1], errors.StreamNotFoundError)


# -- messages ------------------------------------------------------------------------------------

def test_messages_blocking_with_deletion(js) -> None:
    js.create_stream(name="OMB", subjects=["omb.>"])
    fill(js, "omb.x", 500)
    oc = js.ordered_consumer("OMB")
    out: list[int] = []
    with oc.messages(max_messages=50, expiry=2.0, heartbeat=1.0) as it:
        for m in it:
            out.append(int(m.data))
            if len(out) == 100:
                js.delete_consumer("OMB", oc.name)
            if len(out) == 500:
                break
    assert out == list(range(500))
    assert oc.name.endswith("_2")


async def test_messages_async_server_restart(ajs, server) -> None:
    await ajs.create_stream(name="OMA", subjects=["oma.>"], storage="file")
    await afill(ajs, "oma.x", 300)
    oc = await ajs.ordered_consumer("OMA")
    it = await oc.messages(max_messages=40, expiry=2.0, heartbeat=1.0)
    out = [int((await it.next(timeout=5)).data) for _ in range(100)]
    await asyncio.get_running_loop().run_in_executor(None, server.restart)
    for _ in range(200):
        out.append(int((await it.next(timeout=20)).data))
    await it.stop()
    assert out == list(range(300))


# -- fetch ---------------------------------------------------------------------------------------

async def test_fetch_variants_continue_in_order(ajs) -> None:
    await ajs.create_stream(name="OF", subjects=["of.>"])
    await afill(ajs, "of.x", 60)
    oc = await ajs.ordered_consumer("OF", name_prefix="f")
    b1 = await oc.fetch(10, max_wait=2)
    assert [int(m.data) for m in await b1.messages()] == list(range(10))
    b2 = await oc.fetch(10, max_wait=2)
    assert [int(m.data) for m in await b2.messages()] == list(range(10, 20))
    assert int((await oc.next(max_wait=2)).data) == 20
    b3 = await oc.fetch_no_wait(5)
    assert [int(m.data) for m in await b3.messages()] == list(range(21, 26))
    b4 = await oc.fetch_bytes(300, max_wait=2)
    rest = [int(m.data) for m in await b4.messages()]
    assert rest and rest == list(range(26, 26 + len(rest)))
    assert oc.name == "f_5"
    names: list[str] = []

    async def refresh() -> None:
        names[:] = [n async for n in (await ajs.stream("OF")).consumer_names()]

    # the previous consumers are deleted without waiting for the server's answer
    await await_refreshed(refresh, lambda: names == ["f_5"], what="only f_5 left")


def test_fetch_blocking_and_concurrency(js) -> None:
    js.create_stream(name="OFB", subjects=["ofb.>"])
    fill(js, "ofb.x", 5)
    oc = js.ordered_consumer("OFB")
    batch = oc.fetch(10, max_wait=1.0)
    with pytest.raises(errors.OrderedConsumerConcurrentRequestsError):
        oc.fetch(1)
    assert [int(m.data) for m in batch] == list(range(5))
    with pytest.raises(errors.JetStreamTimeoutError):
        oc.next(max_wait=0.5)
    fill(js, "ofb.x", 1, start=5)
    assert oc.next(max_wait=2).data == b"5"


async def test_mixing_consume_and_fetch_is_an_error(ajs) -> None:
    await ajs.create_stream(name="OX", subjects=["ox.>"])
    oc = await ajs.ordered_consumer("OX")
    await oc.fetch_no_wait(1)
    with pytest.raises(errors.OrderedConsumerUsedAsFetchError):
        await oc.consume(lambda m: None)
    with pytest.raises(errors.OrderedConsumerUsedAsFetchError):
        await oc.messages()
    oc2 = await ajs.ordered_consumer("OX")
    it = await oc2.messages()
    with pytest.raises(errors.OrderedConsumerUsedAsConsumeError):
        await oc2.fetch(1)
    with pytest.raises(errors.OrderedConsumerConcurrentRequestsError):
        await oc2.consume(lambda m: None)
    await it.stop()


def test_consume_again_after_stop_continues(js) -> None:
    js.create_stream(name="OA", subjects=["oa.>"])
    fill(js, "oa.x", 100)
    oc = js.ordered_consumer("OA")
    got: list[int] = []
    cc = oc.consume(lambda m: got.append(int(m.data)), max_messages=10)
    wait_for(lambda: len(got) >= 30)
    cc.stop()
    n = len(got)
    cc2 = oc.consume(lambda m: got.append(int(m.data)))
    wait_for(lambda: len(got) == 100)
    cc2.stop()
    assert got == list(range(100)) and n >= 30


async def test_filter_subjects_and_headers_only(ajs) -> None:
    await ajs.create_stream(name="OH", subjects=["oh.>"])
    for i in range(30):
        await ajs.publish(f"oh.{'abc'[i % 3]}", b"%d" % i)
    oc = await ajs.ordered_consumer("OH", filter_subjects=["oh.a", "oh.c"], headers_only=True)
    it = await oc.messages()
    got = [await it.next(timeout=5) for _ in range(20)]
    await it.stop()
    assert [m.subject for m in got] == [f"oh.{'abc'[i % 3]}" for i in range(30) if i % 3 != 1]
    assert all(m.data == b"" and m.headers["Nats-Msg-Size"] for m in got)
    assert (await oc.info()).config.filter_subjects == ["oh.a", "oh.c"]


def test_ordered_via_stream_and_no_leaks(js) -> None:
    s = js.create_stream(name="OL", subjects=["ol.>"])
    fill(js, "ol.x", 50)
    oc = s.ordered_consumer(deliver_policy="last")
    assert isinstance(oc, jsdata.OrderedConsumer)
    it = oc.messages()
    assert it.next(timeout=5).data == b"49"
    it.drain()
    assert it.closed


async def test_fetch_raises_the_servers_answer(ajs) -> None:
    await ajs.create_stream(name="OE", subjects=["oe.>"])
    await afill(ajs, "oe.x", 3)
    oc = await ajs.ordered_consumer("OE")
    assert len(await (await oc.fetch(3, max_wait=1)).messages()) == 3
    await ajs.delete_stream("OE")
    with pytest.raises(errors.StreamNotFoundError):
        await asyncio.wait_for(oc.fetch(1, max_wait=1), 10)
    oc2 = await ajs.ordered_consumer("OE")
    with pytest.raises(errors.StreamNotFoundError):
        await oc2.consume(lambda m: None)


def test_consume_again_after_stop_loses_nothing_with_a_slow_handler(js) -> None:
    """stop() drops the buffer; the next consume resumes after what the handler really got."""
    js.create_stream(name="OS", subjects=["os.>"])
    fill(js, "os.x", 300)
    oc = js.ordered_consumer("OS")
    got: list[int] = []

    def slow(m) -> None:
        got.append(int(m.data))
        time.sleep(0.002)

    cc = oc.consume(slow, max_messages=100)
    wait_for(lambda: len(got) >= 30)
    cc.stop()
    cc2 = oc.consume(lambda m: got.append(int(m.data)))
    wait_for(lambda: bool(got) and got[-1] == 299)
    cc2.stop()
    assert got == list(range(300))


async def test_messages_again_after_stop_resumes_after_last_taken(ajs) -> None:
    await ajs.create_stream(name="OT", subjects=["ot.>"])
    for i in range(200):
        await ajs.publish("ot.x", b"%d" % i)
    oc = await ajs.ordered_consumer("OT")
    it = await oc.messages(max_messages=100)
    first = [int((await it.next(timeout=5)).data) for _ in range(40)]
    await it.stop()
    it2 = await oc.messages()
    rest = [int((await it2.next(timeout=5)).data) for _ in range(160)]
    await it2.stop()
    assert first + rest == list(range(200))
