"""consume() and messages() on pull consumers, against real servers.

Pre-buffering is checked by watching the pull requests themselves on a second, plain
nats-py connection; missed heartbeats come from a stalled (SIGSTOP) or stopped server.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from typing import Any

import nats
import pytest

import jsdata
from jsdata import errors
from jsdata.client.pull_context import pull_options
from tests.helpers import await_for, await_info, wait_for, wait_stopped  # noqa: F401

pytestmark = pytest.mark.timeout(90)

posix_only = pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")


# -- helpers -----------------------------------------------------------------------------------

class PullSpy:
    """A plain nats-py connection (own thread and loop) recording every pull request."""

    def __init__(self, url: str) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="spy", daemon=True)
        self._thread.start()
        self._run(self._connect(url))

    async def _connect(self, url: str) -> None:
        self.nc = await nats.connect(url)

        async def cb(msg: Any) -> None:
            self.requests.append((msg.subject, json.loads(msg.data)))

        await self.nc.subscribe("$JS.API.CONSUMER.MSG.NEXT.>", cb=cb)
        await self.nc.flush()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def batches(self) -> list[int]:
        return [r["batch"] for _, r in self.requests]

    def close(self) -> None:
        self._run(self.nc.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


@pytest.fixture
def spy(server) -> Any:
    s = PullSpy(server.url)
    try:
        yield s
    finally:
        s.close()


async def wait_delivered(c: Any, n: int) -> None:
    """Wait until the server delivered ``n`` messages of consumer ``c``."""
    await await_info(c, lambda i: i.delivered.consumer_seq >= n,
                     what=f"the server to deliver {n} messages")


async def wait_waiting(c: Any, n: int = 1) -> None:
    """Wait until the server holds ``n`` pull requests for consumer ``c``."""
    await await_info(c, lambda i: i.num_waiting >= n, what="the pull request")


def fill(js: Any, stream: str, n: int, start: int = 0) -> None:
    subj = f"{stream.lower()}.x"
    for i in range(start, start + n):
        js.publish_async(subj, b"%d" % i)
    js.publish_async_complete(10)


async def afill(js: Any, stream: str, n: int, start: int = 0) -> None:
    subj = f"{stream.lower()}.x"
    for i in range(start, start + n):
        await js.publish_async(subj, b"%d" % i)
    await js.publish_async_complete(10)


def make_stream(js: Any, name: str, **kw: Any) -> Any:
    return js.create_stream(name=name, subjects=[f"{name.lower()}.>"], **kw)


async def amake_stream(js: Any, name: str, **kw: Any) -> Any:
    return await js.create_stream(name=name, subjects=[f"{name.lower()}.>"], **kw)


class Stalled:
    """SIGSTOP the server process for a while (TCP stays up, the server goes silent)."""

    def __init__(self, server: Any) -> None:
        self.pid = server.pid

    def __enter__(self) -> Stalled:
        os.kill(self.pid, signal.SIGSTOP)
        wait_stopped(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        os.kill(self.pid, signal.SIGCONT)


# -- options -----------------------------------------------------------------------------------

def test_option_defaults_follow_go() -> None:
    o = pull_options()
    assert (o.max_messages, o.max_bytes, o.threshold_messages) == (500, 0, 250)
    assert (o.expires, o.heartbeat) == (30.0, 15.0)
    o = pull_options(max_bytes=10_000)
    assert (o.max_messages, o.max_bytes, o.threshold_bytes) == (1_000_000, 10_000, 5_000)
    assert pull_options(expiry=100).heartbeat == 30.0  # capped at 30s
    assert pull_options(max_messages=7).threshold_messages == 4  # half, rounded up
    assert pull_options(expiry=30, ordered=True).heartbeat == 5.0
    assert pull_options(expiry=4, ordered=True).heartbeat == 2.0
    o = pull_options(max_messages_with_bytes_limit=(20, 3000))
    assert (o.max_messages, o.max_bytes, o.limit_size) == (20, 3000, True)


BAD_OPTIONS = [
    {"max_messages": 0}, {"max_messages": -1}, {"max_messages": True}, {"max_messages": "5"},
    {"max_bytes": 0}, {"max_messages": 10, "max_bytes": 1000}, {"expiry": 0.5},
    {"expiry": "30"}, {"heartbeat": 0.1}, {"heartbeat": 31}, {"expiry": 10, "heartbeat": 6},
    {"threshold_messages": -1}, {"threshold_bytes": 1.5},
    {"max_messages_with_bytes_limit": (10,)}, {"max_messages_with_bytes_limit": (0, 100)},
    {"max_messages_with_bytes_limit": (10, 100), "max_messages": 10},
]


@pytest.mark.parametrize("bad", BAD_OPTIONS, ids=[repr(b) for b in BAD_OPTIONS])
async def test_bad_options_are_typed_errors(ajs, bad) -> None:
    await amake_stream(ajs, "OPT")
    c = await ajs.create_consumer("OPT", durable="c", ack_policy="none")
    with pytest.raises(errors.InvalidArgumentError):
        await c.consume(lambda m: None, **bad)
    with pytest.raises(errors.InvalidArgumentError):
        await c.messages(**bad)


def test_bad_options_blocking(js) -> None:
    make_stream(js, "OPTB")
    c = js.create_consumer("OPTB", durable="c", ack_policy="none")
    with pytest.raises(errors.InvalidArgumentError, match="max_messages or max_bytes"):
        c.consume(lambda m: None, max_messages=5, max_bytes=100)
    with pytest.raises(errors.HandlerRequiredError):
        c.consume(None)
    with pytest.raises(errors.InvalidArgumentError, match="expiry"):
        c.messages(expiry=0.2)


# -- consume: delivery -------------------------------------------------------------------------

def test_consume_blocking_in_order_with_acks(js) -> None:
    make_stream(js, "CB")
    fill(js, "CB", 1200)
    c = js.create_consumer("CB", durable="c", ack_policy="explicit")
    got: list[int] = []
    threads: set[str] = set()

    def handler(m: Any) -> None:
        threads.add(threading.current_thread().name)
        got.append(int(m.data))
        m.ack()

    cc = c.consume(handler, max_messages=100)
    assert isinstance(cc, jsdata.ConsumeContext)
    wait_for(lambda: len(got) == 1200, what="1200 messages")
    cc.stop()
    assert cc.closed
    assert got == list(range(1200))
    assert threads == {"jsdata-handlers"}  # one worker thread, never the loop
    wait_for(lambda: c.info().num_ack_pending == 0, what="acks")


@pytest.mark.parametrize("kind", ["plain", "coroutine", "returns-awaitable"])
async def test_consume_async_handler_kinds(ajs, kind) -> None:
    await amake_stream(ajs, "CA")
    await afill(ajs, "CA", 700)
    c = await ajs.create_consumer("CA", durable="c", ack_policy="explicit")
    got: list[int] = []

    if kind == "plain":
        def handler(m: Any) -> None:
            got.append(int(m.data))
            ajs._spawn(m.ack())
    elif kind == "coroutine":
        async def handler(m: Any) -> None:
            got.append(int(m.data))
            await m.ack()
    else:
        def handler(m: Any) -> Any:
            got.append(int(m.data))
            return m.ack()

    cc = await c.consume(handler, max_messages=50)
    await await_for(lambda: len(got) == 700)
    await cc.stop()
    assert got == list(range(700))
    assert cc.closed
    info = await c.info()
    assert info.delivered.consumer_seq == 700


async def test_consume_headers_only_and_metadata(ajs) -> None:
    await amake_stream(ajs, "HO")
    await ajs.publish("ho.x", b"payload", headers={"K": "v"})
    c = await ajs.create_consumer("HO", durable="c", ack_policy="none", headers_only=True)
    got: list[Any] = []
    cc = await c.consume(got.append)
    await await_for(lambda: len(got) == 1)
    await cc.stop()
    m = got[0]
    assert m.data == b"" and m.headers["K"] == "v" and m.headers["Nats-Msg-Size"] == "7"
    assert m.metadata.sequence.stream == 1 and m.metadata.stream == "HO"


async def test_handler_exception_goes_to_error_handler(ajs) -> None:
    await amake_stream(ajs, "HE")
    await afill(ajs, "HE", 10)
    c = await ajs.create_consumer("HE", durable="c", ack_policy="none")
    got: list[int] = []
    errs: list[BaseException] = []

    async def handler(m: Any) -> None:
        if int(m.data) == 3:
            raise ValueError("bad message 3")
        got.append(int(m.data))

    cc = await c.consume(handler, error_handler=lambda ctx, e: errs.append(e))
    await await_for(lambda: len(got) == 9)
    await cc.stop()
    assert [type(e) for e in errs] == [ValueError]


def test_handler_exception_blocking(js) -> None:
    make_stream(js, "HEB")
    fill(js, "HEB", 10)
    c = js.create_consumer("HEB", durable="c", ack_policy="none")
    got: list[int] = []
    errs: list[tuple[Any, BaseException]] = []

    def handler(m: Any) -> None:
        if int(m.data) == 5:
            raise KeyError("boom")
        got.append(int(m.data))

    cc = c.consume(handler, error_handler=lambda ctx, e: errs.append((ctx, e)))
    wait_for(lambda: len(got) == 9 and len(errs) == 1)
    cc.stop()
    assert isinstance(errs[0][1], KeyError)
    assert isinstance(errs[0][0], jsdata.ConsumeContext)  # the blocking twin


# -- consume: pre-buffering (pull requests seen on the wire) --------------------------------------

async def test_prebuffer_never_exceeds_max_messages(ajs, spy) -> None:
    await amake_stream(ajs, "PB")
    await afill(ajs, "PB", 100)
    c = await ajs.create_consumer("PB", durable="c", ack_policy="none")
    gate = asyncio.Event()
    seen: list[int] = []

    async def handler(m: Any) -> None:
        seen.append(int(m.data))
        if len(seen) == 1:
            await gate.wait()

    cc = await c.consume(handler, max_messages=10)
    # the handler is stuck on the first message: 10 delivered to the client, no more asked
    await await_for(lambda: spy.batches() == [10])
    await wait_delivered(c, 10)
    await asyncio.sleep(0.3)
    info = await c.info()
    assert info.delivered.consumer_seq == 10 and info.num_waiting == 0
    assert spy.batches() == [10]
    gate.set()
    await await_for(lambda: len(seen) == 100)
    await cc.stop()
    assert seen == list(range(100))
    batches = spy.batches()
    # a refill when pending drops below the threshold (5): 10 - 4 = 6 each time
    assert batches[0] == 10 and set(batches[1:]) == {6}
    assert sum(batches) <= 100 + 10  # buffered + requested never exceeded max_messages
    for subject, req in spy.requests:
        assert subject == "$JS.API.CONSUMER.MSG.NEXT.PB.c"
        assert req["expires"] == 30_000_000_000 and req["idle_heartbeat"] == 15_000_000_000


def test_prebuffer_blocking_handler_counts_when_done(js, spy) -> None:
    make_stream(js, "PBB")
    fill(js, "PBB", 60)
    c = js.create_consumer("PBB", durable="c", ack_policy="none")
    gate = threading.Event()
    seen: list[int] = []

    def handler(m: Any) -> None:
        seen.append(int(m.data))
        if len(seen) == 1:
            gate.wait(10)

    cc = c.consume(handler, max_messages=10, threshold_messages=8)
    wait_for(lambda: spy.batches() == [10])
    wait_for(lambda: c.info().delivered.consumer_seq == 10)
    time.sleep(0.3)
    assert spy.batches() == [10]  # handed to the worker thread is not "consumed"
    gate.set()
    wait_for(lambda: len(seen) == 60)
    cc.stop()
    batches = spy.batches()
    assert batches[0] == 10 and set(batches[1:]) == {3}  # threshold 8: 10 - 7
    assert sum(batches) <= 60 + 10


async def test_prebuffer_max_bytes(ajs, spy) -> None:
    await amake_stream(ajs, "MB")
    await afill(ajs, "MB", 200)
    c = await ajs.create_consumer("MB", durable="c", ack_policy="none")
    got: list[int] = []
    cc = await c.consume(lambda m: got.append(int(m.data)), max_bytes=2048)
    await await_for(lambda: len(got) == 200)
    await cc.stop()
    assert got == list(range(200))
    reqs = [r for _, r in spy.requests]
    assert reqs[0]["batch"] == 1_000_000 and reqs[0]["max_bytes"] == 2048
    assert len(reqs) > 2 and all(0 < r["max_bytes"] <= 2048 for r in reqs)


async def test_prebuffer_max_messages_with_bytes_limit(ajs, spy) -> None:
    await amake_stream(ajs, "MWB")
    await afill(ajs, "MWB", 100)
    c = await ajs.create_consumer("MWB", durable="c", ack_policy="none")
    got: list[int] = []
    cc = await c.consume(lambda m: got.append(int(m.data)),
                         max_messages_with_bytes_limit=(20, 3000))
    await await_for(lambda: len(got) == 100)
    await cc.stop()
    reqs = [r for _, r in spy.requests]
    assert reqs[0]["batch"] == 20
    assert all(r["batch"] <= 20 and r["max_bytes"] == 3000 for r in reqs)


async def test_expired_requests_are_renewed(ajs, spy) -> None:
    """408 Request Timeout gives the pending count back: a full new pull, no error."""
    await amake_stream(ajs, "EX")
    c = await ajs.create_consumer("EX", durable="c", ack_policy="none")
    errs: list[BaseException] = []
    got: list[bytes] = []
    cc = await c.consume(lambda m: got.append(m.data), max_messages=7, expiry=1.0,
                         heartbeat=0.5, error_handler=lambda ctx, e: errs.append(e))
    await await_for(lambda: len(spy.requests) >= 3, what="renewed pulls")
    assert set(spy.batches()) == {7}
    assert all(r["expires"] == 1_000_000_000 and r["idle_heartbeat"] == 500_000_000
               for _, r in spy.requests)
    await ajs.publish("ex.x", b"late")
    await await_for(lambda: got == [b"late"])
    await cc.stop()
    assert errs == []


# -- heartbeats, server stop/restart, deletion ---------------------------------------------------

@posix_only
async def test_missed_heartbeats_while_server_stalls(ajs, server) -> None:
    await amake_stream(ajs, "HB")
    c = await ajs.create_consumer("HB", durable="c", ack_policy="none")
    errs: list[BaseException] = []
    got: list[bytes] = []
    cc = await c.consume(lambda m: got.append(m.data), expiry=2.0, heartbeat=1.0,
                         error_handler=lambda ctx, e: errs.append(e))
    with Stalled(server):
        await asyncio.sleep(3.5)
    await await_for(lambda: any(isinstance(e, errors.NoHeartbeatError) for e in errs))
    await ajs.publish("hb.x", b"after")  # consumption goes on with a fresh pull
    await await_for(lambda: got == [b"after"])
    await cc.stop()
    assert all(isinstance(e, errors.NoHeartbeatError) for e in errs)


def test_server_stop_and_restart_consume(js, server) -> None:
    make_stream(js, "RS")
    fill(js, "RS", 10)
    c = js.create_consumer("RS", durable="c", ack_policy="explicit")
    got: list[int] = []
    errs: list[BaseException] = []

    def handler(m: Any) -> None:
        got.append(int(m.data))
        m.ack()

    cc = c.consume(handler, expiry=2.0, heartbeat=1.0,
                   error_handler=lambda ctx, e: errs.append(e))
    wait_for(lambda: len(got) == 10)
    server.stop()
    wait_for(lambda: any(isinstance(e, errors.NoHeartbeatError) for e in errs), what="NoHb")
    server.start()
    wait_for(lambda: js.nc.is_connected, what="reconnect")
    fill(js, "RS", 10, start=10)
    wait_for(lambda: len(got) == 20, what="messages after the restart")
    cc.stop()
    assert got == list(range(20))


def test_reconnect_repulls(js, server, spy) -> None:
    make_stream(js, "RC")
    c = js.create_consumer("RC", durable="c", ack_policy="none")
    got: list[bytes] = []
    cc = c.consume(lambda m: got.append(m.data))
    wait_for(lambda: len(spy.requests) == 1)
    server.restart()  # waiting pull requests are gone with the old process
    wait_for(lambda: js.nc.is_connected and js.nc.stats["reconnects"] >= 1)
    js.publish("rc.x", b"x")
    wait_for(lambda: got == [b"x"], what="a message after the reconnect")
    cc.stop()


async def test_consumer_deleted_stops_consume(ajs) -> None:
    await amake_stream(ajs, "CD")
    c = await ajs.create_consumer("CD", durable="c", ack_policy="none")
    errs: list[BaseException] = []
    cc = await c.consume(lambda m: None, error_handler=lambda ctx, e: errs.append(e))
    await wait_waiting(c)
    await ajs.delete_consumer("CD", "c")
    assert await cc.wait_closed(5)
    assert any(isinstance(e, errors.ConsumerDeletedError) for e in errs)
    assert cc.closed


# -- stop / drain --------------------------------------------------------------------------------

async def started(seen: list[int]) -> None:
    """Until the handler has been called once."""
    while not seen:
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("how", ["stop", "drain"])
async def test_stop_discards_drain_delivers(ajs, how) -> None:
    await amake_stream(ajs, "SD")
    await afill(ajs, "SD", 50)
    c = await ajs.create_consumer("SD", durable="c", ack_policy="none")
    gate = asyncio.Event()
    seen: list[int] = []

    async def handler(m: Any) -> None:
        seen.append(int(m.data))
        if len(seen) == 1:
            await gate.wait()

    cc = await c.consume(handler, max_messages=10)
    await wait_delivered(c, 10)
    await asyncio.wait_for(started(seen), 10)  # the handler runs: stop must wait for it
    closing = asyncio.ensure_future(getattr(cc, how)())
    await asyncio.sleep(0.2)
    assert not closing.done()  # waits for the running handler
    gate.set()
    await asyncio.wait_for(closing, 10)
    assert cc.closed
    assert seen == (list(range(10)) if how == "drain" else [0])


@pytest.mark.parametrize("how", ["stop", "drain"])
def test_stop_and_drain_blocking(js, how) -> None:
    make_stream(js, "SDB")
    fill(js, "SDB", 50)
    c = js.create_consumer("SDB", durable="c", ack_policy="none")
    gate = threading.Event()
    seen: list[int] = []

    def handler(m: Any) -> None:
        seen.append(int(m.data))
        if len(seen) == 1:
            gate.wait(10)

    cc = c.consume(handler, max_messages=10)
    wait_for(lambda: c.info().delivered.consumer_seq == 10)
    wait_for(lambda: len(seen) == 1)  # the handler runs (its thread may start late): stop
    # must wait for it; before it started, stop would rightly discard message 0 unhandled
    t = threading.Thread(target=getattr(cc, how))
    t.start()
    time.sleep(0.2)
    assert t.is_alive()  # joins the running handler
    gate.set()
    t.join(10)
    assert cc.closed
    time.sleep(0.2)
    assert seen == (list(range(10)) if how == "drain" else [0])


def test_stop_from_inside_blocking_handler(js) -> None:
    make_stream(js, "SI")
    fill(js, "SI", 100)
    c = js.create_consumer("SI", durable="c", ack_policy="none")
    seen: list[int] = []
    box: dict[str, Any] = {}
    ready = threading.Event()

    def handler(m: Any) -> None:
        ready.wait(5)
        seen.append(int(m.data))
        if len(seen) == 5:
            box["cc"].stop()

    box["cc"] = cc = c.consume(handler, max_messages=20)
    ready.set()
    wait_for(lambda: cc.closed)
    time.sleep(0.2)
    assert seen == list(range(5))


async def test_stop_from_inside_async_handler(ajs) -> None:
    await amake_stream(ajs, "SIA")
    await afill(ajs, "SIA", 100)
    c = await ajs.create_consumer("SIA", durable="c", ack_policy="none")
    seen: list[int] = []
    box: dict[str, Any] = {}
    ready = asyncio.Event()

    async def handler(m: Any) -> None:
        await ready.wait()
        seen.append(int(m.data))
        if len(seen) == 5:
            await box["cc"].stop()

    box["cc"] = cc = await c.consume(handler, max_messages=20)
    ready.set()
    assert await cc.wait_closed(5)
    await asyncio.sleep(0.1)
    assert seen == list(range(5))


def test_context_managers(js) -> None:
    make_stream(js, "CMB")
    fill(js, "CMB", 5)
    c = js.create_consumer("CMB", durable="c", ack_policy="none")
    got: list[bytes] = []
    with c.consume(lambda m: got.append(m.data)) as cc:
        wait_for(lambda: len(got) == 5)
    assert cc.closed
    c2 = js.create_consumer("CMB", durable="c2", ack_policy="none")
    with c2.messages() as it:
        assert it.next(timeout=5).data == b"0"
    assert it.closed


async def test_async_context_managers(ajs) -> None:
    await amake_stream(ajs, "CMA")
    await afill(ajs, "CMA", 5)
    c = await ajs.create_consumer("CMA", durable="c", ack_policy="none")
    got: list[bytes] = []
    async with await c.consume(got.append) as cc:
        await await_for(lambda: len(got) == 5)
    assert cc.closed
    async with await c.messages() as it:
        await ajs.publish("cma.x", b"more")
        assert (await it.next(timeout=5)).data == b"more"
    assert it.closed


def test_closing_connection_ends_consume(server) -> None:
    js = jsdata.connect(server.url)
    make_stream(js, "CC")
    c = js.create_consumer("CC", durable="c", ack_policy="none")
    cc = c.consume(lambda m: None)
    it = c.messages()
    js.close()
    assert cc.closed and it.closed
    leaked = [t for t in threading.enumerate() if t.name.startswith("jsdata")]
    assert not leaked


# -- slow blocking handlers never stall I/O ------------------------------------------------------

def test_slow_blocking_handler_does_not_stall_io(js, server) -> None:
    make_stream(js, "SL")
    c = js.create_consumer("SL", durable="c", ack_policy="explicit")
    started, release = threading.Event(), threading.Event()
    got: list[int] = []

    def handler(m: Any) -> None:
        if not got:
            started.set()
            release.wait(20)
        got.append(int(m.data))
        m.ack()

    cc = c.consume(handler)
    js.publish("sl.x", b"0")
    assert started.wait(5)
    # the handler thread is blocked; the connection's loop keeps doing round trips
    for i in range(1, 51):
        assert js.publish("sl.x", b"%d" % i).sequence == i + 1
    assert js.stream("SL").info().state.messages == 51
    with jsdata.connect(server.url) as other:  # and another connection keeps publishing
        for i in range(51, 101):
            other.publish("sl.x", b"%d" % i)
    assert len(got) == 0
    release.set()
    wait_for(lambda: len(got) == 101)
    cc.stop()
    assert got == list(range(101))


# -- messages() ----------------------------------------------------------------------------------

def test_messages_blocking_iteration(js) -> None:
    make_stream(js, "MI")
    fill(js, "MI", 300)
    c = js.create_consumer("MI", durable="c", ack_policy="explicit")
    it = c.messages(max_messages=50)
    assert isinstance(it, jsdata.MessagesContext)
    out = []
    for m in it:
        out.append(int(m.data))
        m.ack()
        if len(out) == 300:
            break
    assert out == list(range(300))
    with pytest.raises(errors.JetStreamTimeoutError):
        it.next(timeout=0.3)
    got_after: list[int] = []

    def reader() -> None:  # a thread blocked in iteration ends when the context stops
        for m in it:
            got_after.append(int(m.data))

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.2)
    it.stop()
    t.join(5)
    assert not t.is_alive() and got_after == []
    with pytest.raises(errors.MsgIteratorClosedError):
        it.next(timeout=1)


async def test_messages_async_iteration(ajs) -> None:
    await amake_stream(ajs, "MA")
    await afill(ajs, "MA", 120)
    c = await ajs.create_consumer("MA", durable="c", ack_policy="none")
    it = await c.messages(max_messages=25)
    first = await it.next()
    assert first.data == b"0"
    out = [int(first.data)]
    async for m in it:
        out.append(int(m.data))
        if len(out) == 120:
            break
    assert out == list(range(120))
    await it.stop()
    assert [m async for m in it] == []
    with pytest.raises(errors.MsgIteratorClosedError):
        await it.next()


async def test_messages_prebuffer_and_drain(ajs, spy) -> None:
    await amake_stream(ajs, "MD")
    await afill(ajs, "MD", 30)
    c = await ajs.create_consumer("MD", durable="c", ack_policy="none")
    it = await c.messages(max_messages=10)
    assert (await it.next()).data == b"0"
    await wait_delivered(c, 10)
    await asyncio.sleep(0.2)
    assert spy.batches() == [10]  # 1 handed out, 9 buffered: nothing more requested
    await it.drain()
    assert it.closed
    rest = [int(m.data) async for m in it]
    assert rest == list(range(1, 10))  # drain hands out what was buffered, then ends
    info = await c.info()
    assert info.delivered.consumer_seq == 10


async def test_messages_refill_threshold(ajs, spy) -> None:
    await amake_stream(ajs, "MR")
    await afill(ajs, "MR", 40)
    c = await ajs.create_consumer("MR", durable="c", ack_policy="none")
    it = await c.messages(max_messages=10)
    out = [int((await it.next(timeout=5)).data) for _ in range(40)]
    await it.stop()
    assert out == list(range(40))
    b = spy.batches()
    assert b[0] == 10 and set(b[1:]) == {6}


@posix_only
async def test_messages_missing_heartbeat(ajs, server) -> None:
    await amake_stream(ajs, "MH")
    c = await ajs.create_consumer("MH", durable="c", ack_policy="none")
    it = await c.messages(expiry=2.0, heartbeat=1.0)
    quiet = await c.messages(expiry=2.0, heartbeat=1.0, err_on_missing_heartbeat=False)
    with Stalled(server):
        with pytest.raises(errors.NoHeartbeatError):
            await it.next(timeout=6)
        with pytest.raises(errors.JetStreamTimeoutError):
            await quiet.next(timeout=3)
    await ajs.publish("mh.x", b"after")
    assert (await it.next(timeout=5)).data == b"after"  # a fresh pull went out
    await it.stop()
    await quiet.stop()


def test_messages_server_restart(js, server) -> None:
    make_stream(js, "MS")
    fill(js, "MS", 5)
    c = js.create_consumer("MS", durable="c", ack_policy="none")
    it = c.messages(expiry=2.0, heartbeat=1.0)
    assert [int(it.next(timeout=5).data) for _ in range(5)] == list(range(5))
    server.stop()
    with pytest.raises(errors.NoHeartbeatError):
        it.next(timeout=10)
    server.start()
    wait_for(lambda: js.nc.is_connected, what="reconnect")
    fill(js, "MS", 5, start=5)
    got = []
    while len(got) < 5:
        try:
            got.append(int(it.next(timeout=10).data))
        except errors.NoHeartbeatError:
            continue  # one may still be reported from the outage
    assert got == list(range(5, 10))
    it.stop()


async def test_messages_consumer_deleted(ajs) -> None:
    await amake_stream(ajs, "MX")
    c = await ajs.create_consumer("MX", durable="c", ack_policy="none")
    it = await c.messages()
    await wait_waiting(c)
    await ajs.delete_consumer("MX", "c")
    with pytest.raises(errors.ConsumerDeletedError):
        await it.next(timeout=5)
    with pytest.raises(errors.MsgIteratorClosedError):
        await it.next(timeout=1)
    assert it.closed


def test_work_queue_five_workers_exactly_once(js, spy) -> None:
    make_stream(js, "WQ", retention="workqueue")
    n = 300
    fill(js, "WQ", n)
    c = js.create_consumer("WQ", durable="w", ack_policy="explicit")
    it = c.messages(max_messages=1)
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while True:
            try:
                m = it.next(timeout=2.0)
            except (errors.JetStreamTimeoutError, errors.MsgIteratorClosedError):
                return
            with lock:
                seen.append((name, int(m.data)))
            time.sleep(0.001)
            m.double_ack()

    workers = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(5)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    it.stop()
    values = sorted(v for _, v in seen)
    assert values == list(range(n))  # each message processed exactly once
    assert len({w for w, _ in seen}) > 1  # really shared between workers
    assert set(spy.batches()) == {1}  # strictly one at a time
    info = c.info()
    assert info.num_redelivered == 0 and info.num_ack_pending == 0
    wait_for(lambda: js.stream("WQ").info().state.messages == 0)


async def test_messages_concurrent_next_distinct(ajs) -> None:
    await amake_stream(ajs, "MC")
    await afill(ajs, "MC", 100)
    c = await ajs.create_consumer("MC", durable="c", ack_policy="none")
    it = await c.messages(max_messages=3)

    async def take(k: int) -> list[int]:
        return [int((await it.next(timeout=5)).data) for _ in range(k)]

    parts = await asyncio.gather(*(take(20) for _ in range(5)))
    await it.stop()
    assert sorted(v for p in parts for v in p) == list(range(100))


@pytest.mark.parametrize("kind", ["plain", "coroutine"])
async def test_connection_close_ends_running_contexts(ajs, kind) -> None:
    await amake_stream(ajs, "CL")
    await afill(ajs, "CL", 20)
    c = await ajs.create_consumer("CL", durable="c", ack_policy="none")
    errs: list[BaseException] = []
    got: list[bytes] = []
    if kind == "plain":
        def handler(m: Any) -> None:
            got.append(m.data)
    else:
        async def handler(m: Any) -> None:
            got.append(m.data)
    cc = await c.consume(handler, error_handler=lambda ctx, e: errs.append(e))
    c2 = await ajs.create_consumer("CL", durable="c2", ack_policy="none")
    it = await c2.messages()
    oc = await ajs.ordered_consumer("CL")
    occ = await oc.consume(lambda m: None)
    await await_for(lambda: len(got) == 20)
    await ajs.close()  # nothing stopped: closing the connection ends them all
    assert cc.closed and it.closed and occ.closed
    assert any(isinstance(e, errors.ConnectionClosedError) for e in errs)
    with pytest.raises(errors.ConnectionClosedError):
        await it.next(timeout=1)
