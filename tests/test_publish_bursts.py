"""A blocking ``publish_async`` loop: calls made faster than the loop takes them join one
queued burst (one queue entry, one wake-up and one write per burst, no closure per call),
order is kept with other fire-and-forget work queued in between, and pending publishes are
left out of the cycle collector while they hold nothing that could form a cycle (with the
C extension), so that thousands in flight do not make its full passes frequent."""

from __future__ import annotations

import asyncio
import gc
import threading
import time

import pytest

import jsdata
from jsdata.client import _native
from jsdata.client.publish import PubAckFuture
from jsdata.server import EmbeddedServer
from tests.helpers import wait_for


def _loop_held(js: jsdata.JetStream) -> threading.Event:
    """Block the loop thread until the returned event is set (work queues up meanwhile)."""
    release, held = threading.Event(), threading.Event()

    def hold() -> None:
        held.set()
        release.wait(30)

    js._lt.loop.call_soon_threadsafe(hold)
    assert held.wait(10)
    return release


def test_calls_made_while_the_loop_is_busy_join_one_burst(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="BURST", subjects=["burst.>"], storage="memory")
    js.publish_async("burst.0", b"0")  # the ack subscription is up: bursts from here on
    js.publish_async_complete(timeout=10)
    lt = js._lt
    release = _loop_held(js)
    ran_at: list[int] = []
    try:
        for i in range(1, 301):
            js.publish_async(f"burst.{i}", b"%d" % i)
        lt.submit_nowait(lambda: ran_at.append(lt._nowait_done), "a marker")
        for i in range(301, 401):
            js.publish_async(f"burst.{i}", b"%d" % i)
        # three entries: the first burst, the marker, the second burst
        assert len(lt._nowait) == 3
        assert lt._burst is not None and len(lt._burst[1]) == 100
    finally:
        release.set()
    js.publish_async_complete(timeout=30)
    assert ran_at == [301]  # the marker ran after the 300 publishes queued before it
    assert s.info().state.messages == 401
    assert [s.get_msg(q).subject for q in (1, 2, 300, 301, 302, 401)] == [
        "burst.0", "burst.1", "burst.299", "burst.300", "burst.301", "burst.400"]


def test_a_burst_past_the_high_water_mark_waits_for_the_loop(js: jsdata.JetStream) -> None:
    """The caller waits (handing the loop its turn) once a burst holds 512 calls, as it
    does for other fire-and-forget work; the publishes all land, in order."""
    s = js.create_stream(name="HIGH", subjects=["high.>"], storage="memory")
    n = 5000
    for i in range(n):
        js.publish_async("high.x", b"%d" % i)
    js.publish_async_complete(timeout=60)
    assert s.info().state.messages == n
    assert s.get_msg(n).data == b"%d" % (n - 1)


@pytest.mark.skipif(_native.untrack is None, reason="needs the C extension")
def test_pending_publishes_stay_out_of_the_cycle_collector(js: jsdata.JetStream) -> None:
    js.create_stream(name="GCX", subjects=["gcx.>"], storage="memory")
    futs = [js.publish_async("gcx.a", b"x") for _ in range(200)]
    assert not any(gc.is_tracked(f._core) for f in futs)
    with_headers = js.publish_async("gcx.h", b"x", headers={"k": "v"})
    assert gc.is_tracked(with_headers._core)  # a user's mapping: left to the collector
    js.publish_async_complete(timeout=10)
    assert all(f.result().stream == "GCX" for f in futs)
    failed = js.publish_async("nowhere.x", b"x", retry_attempts=0)
    with pytest.raises(jsdata.errors.NoStreamResponseError):
        failed.result(timeout=10)
    assert gc.is_tracked(failed._core)  # holds an exception (a traceback): tracked again


@pytest.mark.skipif(_native.untrack is None, reason="needs the C extension")
def test_a_waited_for_publish_is_tracked_again() -> None:
    """A waiter's asyncio future (its callbacks may lead back to the publish) puts the
    publish back in the collector's care, as an exception does."""
    paf = PubAckFuture("s.a", b"x", None, b"", time.monotonic() + 5, 0, 0.1)
    assert not gc.is_tracked(paf)

    async def wait_briefly() -> None:
        with pytest.raises(jsdata.errors.JetStreamTimeoutError):
            await paf.wait(0.01)

    asyncio.run(wait_briefly())
    assert paf._fut is not None and gc.is_tracked(paf)
    other = PubAckFuture("s.a", b"x", None, b"", time.monotonic() + 5, 0, 0.1)
    other._set_exception(jsdata.errors.JetStreamTimeoutError("timed out"))
    assert gc.is_tracked(other)


def test_a_burst_that_cannot_be_queued_fails_each_publish(server: EmbeddedServer) -> None:
    """Disconnected with no room to buffer: every publish of a burst (one formatted buffer)
    fails with the connection's error, none is left pending; after the reconnect the next
    burst lands whole."""
    js = jsdata.connect(server.url, pending_size=1)
    try:
        s = js.create_stream(name="NOQ", subjects=["noq.>"])
        js.publish_async("noq.0", b"0")
        js.publish_async_complete(timeout=10)
        server.stop()
        wait_for(lambda: not js.nc.is_connected, timeout=20, what="the client to see the loss")
        release = _loop_held(js)
        try:
            futs = [js.publish_async("noq.x", b"%d" % i) for i in range(40)]
        finally:
            release.set()
        for f in futs:
            assert isinstance(f.exception(timeout=10), jsdata.errors.NotConnectedError)
        assert js.publish_async_pending() == 0
        server.start()
        wait_for(lambda: js.nc.is_connected, timeout=30, what="the reconnect")
        release = _loop_held(js)
        try:
            futs = [js.publish_async("noq.y", b"%d" % i) for i in range(40)]
        finally:
            release.set()
        assert [f.result(timeout=10).sequence for f in futs] == list(range(2, 42))
        assert s.info().state.messages == 41
    finally:
        js.close()
