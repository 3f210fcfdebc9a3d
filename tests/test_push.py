"""Push consumers against real servers: consume, queue groups, heartbeats, flow control."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import nats
import pytest

import jsdata
from jsdata import errors
from tests.helpers import await_for, wait_for, wait_stopped  # noqa: F401

pytestmark = pytest.mark.timeout(90)

posix_only = pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")


def fill(js: Any, subject: str, n: int, start: int = 0, size: int = 0) -> None:
    for i in range(start, start + n):
        js.publish_async(subject, b"%d" % i + b" " * size)
    js.publish_async_complete(20)


async def afill(js: Any, subject: str, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        await js.publish_async(subject, b"%d" % i)
    await js.publish_async_complete(10)


# -- management and type checks ------------------------------------------------------------------

def test_push_and_pull_type_checks(js) -> None:
    js.create_stream(name="PT", subjects=["pt.>"])
    pc = js.create_push_consumer("PT", durable="push", deliver_subject="dl.pt")
    assert isinstance(pc, jsdata.PushConsumer)
    assert pc.cached_info().config.deliver_subject == "dl.pt"
    assert pc.info().name == "push"
    js.create_consumer("PT", durable="pull", ack_policy="explicit")
    with pytest.raises(errors.NotPullConsumerError):
        js.consumer("PT", "push")
    with pytest.raises(errors.NotPushConsumerError):
        js.push_consumer("PT", "pull")
    with pytest.raises(errors.InvalidConfigError):
        js.create_push_consumer("PT", durable="x")  # no deliver_subject
    with pytest.raises(errors.InvalidConfigError):
        js.create_consumer("PT", durable="y", deliver_subject="dl.y")
    s = js.stream("PT")
    assert s.push_consumer("push").name == "push"
    updated = js.update_push_consumer("PT", durable="push", deliver_subject="dl.pt",
                                      description="d")
    assert updated.cached_info().config.description == "d"
    with pytest.raises(errors.ConsumerNotFoundError):
        js.push_consumer("PT", "missing")


# -- consume -------------------------------------------------------------------------------------

def test_push_consume_blocking(js) -> None:
    js.create_stream(name="PB", subjects=["pb.>"])
    fill(js, "pb.x", 500)
    pc = js.create_push_consumer("PB", durable="c", deliver_subject="dl.pb",
                                 ack_policy="explicit")
    got: list[int] = []

    def handler(m: Any) -> None:
        got.append(int(m.data))
        m.ack()

    cc = pc.consume(handler)
    assert isinstance(cc, jsdata.ConsumeContext)
    with pytest.raises(errors.ConsumerAlreadyConsumingError):
        pc.consume(handler)
    wait_for(lambda: len(got) == 500)
    cc.stop()
    assert cc.closed
    assert got == list(range(500))
    wait_for(lambda: pc.info().num_ack_pending == 0)
    cc2 = pc.consume(handler)  # allowed again once stopped
    js.publish("pb.x", b"500")
    wait_for(lambda: len(got) == 501)
    cc2.drain()
    assert cc2.closed


@pytest.mark.parametrize("kind", ["plain", "coroutine"])
async def test_push_consume_async(ajs, kind) -> None:
    await ajs.create_stream(name="PA", subjects=["pa.>"])
    await afill(ajs, "pa.x", 300)
    pc = await ajs.create_push_consumer("PA", durable="c", deliver_subject="dl.pa",
                                       ack_policy="none")
    got: list[int] = []
    if kind == "plain":
        def handler(m: Any) -> None:
            got.append(int(m.data))
    else:
        async def handler(m: Any) -> None:
            got.append(int(m.data))
            await asyncio.sleep(0)
    cc = await pc.consume(handler)
    await await_for(lambda: len(got) == 300)
    await cc.stop()
    assert got == list(range(300))


def test_push_queue_group_splits_messages(js) -> None:
    js.create_stream(name="PQ", subjects=["pq.>"])
    js.create_push_consumer("PQ", durable="q", deliver_subject="dl.pq", deliver_group="workers",
                            ack_policy="explicit")
    a, b = js.push_consumer("PQ", "q"), js.push_consumer("PQ", "q")
    got_a: list[int] = []
    got_b: list[int] = []

    def on(bucket: list[int]) -> Callable[[Any], None]:
        def handler(m: Any) -> None:
            bucket.append(int(m.data))
            m.ack()
        return handler

    ca, cb = a.consume(on(got_a)), b.consume(on(got_b))
    fill(js, "pq.x", 400)
    wait_for(lambda: len(got_a) + len(got_b) == 400)
    ca.stop()
    cb.stop()
    assert sorted(got_a + got_b) == list(range(400))  # each once
    assert got_a and got_b  # really shared by the queue group


async def test_push_consumer_deleted_shows_as_missing_heartbeats(ajs) -> None:
    """The server tells push subscribers nothing when their consumer goes (as nats.go sees
    it too): the idle heartbeats stop, and that is what the error handler hears."""
    await ajs.create_stream(name="PD", subjects=["pd.>"])
    pc = await ajs.create_push_consumer("PD", durable="c", deliver_subject="dl.pd",
                                       ack_policy="none", idle_heartbeat=0.5)
    errs: list[BaseException] = []
    cc = await pc.consume(lambda m: None, error_handler=lambda ctx, e: errs.append(e))
    await ajs.delete_consumer("PD", "c")
    await await_for(lambda: any(isinstance(e, errors.NoHeartbeatError) for e in errs))
    assert not cc.closed  # not fatal: the consumer may come back
    await cc.stop()
    assert cc.closed


@posix_only
async def test_push_missed_heartbeats(ajs, server) -> None:
    await ajs.create_stream(name="PH", subjects=["ph.>"])
    pc = await ajs.create_push_consumer("PH", durable="c", deliver_subject="dl.ph",
                                       ack_policy="none", idle_heartbeat=1.0)
    errs: list[BaseException] = []
    got: list[bytes] = []
    cc = await pc.consume(lambda m: got.append(m.data),
                          error_handler=lambda ctx, e: errs.append(e))
    await asyncio.sleep(1.5)
    assert errs == []  # heartbeats arrive while the server is healthy
    os.kill(server.pid, signal.SIGSTOP)
    try:
        wait_stopped(server.pid)
        await asyncio.sleep(3.0)
    finally:
        os.kill(server.pid, signal.SIGCONT)
    await await_for(lambda: any(isinstance(e, errors.NoHeartbeatError) for e in errs))
    await ajs.publish("ph.x", b"after")
    await await_for(lambda: got == [b"after"])
    await cc.stop()


def test_push_heartbeats_server_stop(js, server) -> None:
    js.create_stream(name="PS", subjects=["ps.>"], storage="file")
    pc = js.create_push_consumer("PS", durable="c", deliver_subject="dl.ps",
                                 ack_policy="explicit", idle_heartbeat=1.0)
    errs: list[BaseException] = []
    got: list[bytes] = []

    def handler(m: Any) -> None:
        got.append(m.data)
        m.ack()

    cc = pc.consume(handler, error_handler=lambda ctx, e: errs.append(e))
    server.stop()
    wait_for(lambda: any(isinstance(e, errors.NoHeartbeatError) for e in errs))
    server.start()
    wait_for(lambda: js.nc.is_connected)
    js.publish("ps.x", b"back")
    wait_for(lambda: got == [b"back"])
    cc.stop()


async def test_push_flow_control(ajs, server) -> None:
    """Flow-control requests are answered; the consumer keeps delivering a large backlog.

    The spy watches the answers (``$JS.FC.>``), not the deliver subject: a second
    subscriber there is interest too, and the server would start pushing (AckNone, never
    redelivered) before the consumer's own subscription exists."""
    await ajs.create_stream(name="PF", subjects=["pf.>"])
    payload = b"x" * 16_000
    for _ in range(600):
        await ajs.publish_async("pf.x", payload)
    await ajs.publish_async_complete(20)
    pc = await ajs.create_push_consumer("PF", durable="c", deliver_subject="dl.pf",
                                       ack_policy="none", flow_control=True,
                                       idle_heartbeat=1.0)
    fc_replies: list[str] = []
    spy = await nats.connect(server.url)

    async def watch(msg: Any) -> None:
        fc_replies.append(msg.subject)

    await spy.subscribe("$JS.FC.PF.>", cb=watch)
    await spy.flush()
    got: list[int] = []

    async def handler(m: Any) -> None:
        got.append(len(m.data))
        if len(got) % 50 == 0:
            await asyncio.sleep(0.01)

    cc = await pc.consume(handler)
    await await_for(lambda: len(got) == 600, timeout=30, what="the whole backlog")
    await await_for(lambda: bool(fc_replies), timeout=10, what="a flow-control answer")
    await cc.stop()
    await spy.close()
    assert set(got) == {16_000}
    assert fc_replies  # the server asked and was answered; without answers it stalls


def test_push_no_leaks_on_close(server) -> None:
    before = {t for t in threading.enumerate() if t.name.startswith("jsdata")}  # others' own
    js = jsdata.connect(server.url)
    js.create_stream(name="PL", subjects=["pl.>"])
    pc = js.create_push_consumer("PL", durable="c", deliver_subject="dl.pl", ack_policy="none")
    cc = pc.consume(lambda m: None)
    js.close()
    assert cc.closed
    assert not [t for t in threading.enumerate()
                if t.name.startswith("jsdata") and t not in before]
