"""Pull fetching: fetch / fetch_bytes / fetch_no_wait / next, with Go's status semantics."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

import jsdata
from jsdata import errors
from tests.helpers import wait_for, wait_stopped


def _setup(js: jsdata.JetStream, n: int = 5, size: int = 10, **consumer) -> jsdata.Consumer:
    s = js.create_stream(name="S", subjects=["s.>"], storage="memory")
    for i in range(n):
        js.publish(f"s.{i}", str(i).encode().ljust(size, b"."))
    consumer.setdefault("durable", "C")
    return s.create_consumer(**consumer)


async def _asetup(js, n: int = 5, **consumer):
    s = await js.create_stream(name="S", subjects=["s.>"], storage="memory")
    for i in range(n):
        await js.publish(f"s.{i}", str(i))
    consumer.setdefault("durable", "C")
    return await s.create_consumer(**consumer)


# -- fetch ----------------------------------------------------------------------------------------

def test_fetch_full_batch(js) -> None:
    c = _setup(js, 5)
    b = c.fetch(3, max_wait=5)
    assert isinstance(b, jsdata.MessageBatch)
    msgs = list(b)
    assert [m.data[:1] for m in msgs] == [b"0", b"1", b"2"]
    assert all(isinstance(m, jsdata.Msg) for m in msgs)
    assert b.error is None and b.done
    assert list(b) == []  # exhausted
    for m in msgs:
        m.ack()
    rest = list(c.fetch(10, max_wait=0.5))
    assert [m.metadata.sequence.stream for m in rest] == [4, 5]


def test_a_loop_left_early_keeps_the_rest_of_the_batch(js) -> None:
    """A blocking ``for`` takes what has arrived a burst at a time; what a loop did not
    reach (``break``) stays in the batch, in order, for the next loop or ``next()``."""
    c = _setup(js, 50)
    b = c.fetch(50, max_wait=5)
    wait_for(lambda: b.done)  # the whole batch has arrived: one burst holds all of it
    first = []
    for m in b:
        first.append(int(m.data.rstrip(b".")))
        if len(first) == 10:
            break
    one = next(iter(b))  # a new loop starts where the last one stopped
    two = next(b)  # and next() on the batch itself goes on from there
    for m in b:
        if int(m.data.rstrip(b".")) == 20:
            break  # the loop's generator is dropped here: 21.. go back to the batch
    rest = [int(m.data.rstrip(b".")) for m in b]
    got = first + [int(one.data.rstrip(b".")), int(two.data.rstrip(b"."))]
    assert got == list(range(12))
    assert rest == list(range(21, 50))
    assert list(b) == [] and b.error is None


def test_fetch_partial_batch_ends_at_max_wait_without_error(js) -> None:
    c = _setup(js, 2)
    t0 = time.monotonic()
    b = c.fetch(10, max_wait=0.5)
    msgs = list(b)
    assert len(msgs) == 2 and b.error is None
    assert time.monotonic() - t0 >= 0.4  # waited for more until the request expired (408)


def test_fetch_nothing_available(js) -> None:
    c = _setup(js, 0)
    b = c.fetch(5, max_wait=0.3)
    assert list(b) == [] and b.error is None and b.done


def test_fetch_gets_messages_published_while_waiting(js) -> None:
    c = _setup(js, 0)
    b = c.fetch(2, max_wait=10)
    threading.Timer(0.2, lambda: [js.publish("s.late", b"a"), js.publish("s.late", b"b")]).start()
    assert [m.data for m in b] == [b"a", b"b"]
    assert b.error is None


def test_fetch_with_heartbeat_and_no_messages(js) -> None:
    """Idle heartbeats (status 100) keep the batch alive and are not messages."""
    c = _setup(js, 0)
    b = c.fetch(5, max_wait=1.2, heartbeat=0.3)
    assert list(b) == [] and b.error is None


def test_fetch_with_heartbeat_gets_messages(js) -> None:
    c = _setup(js, 3)
    b = c.fetch(3, max_wait=5, heartbeat=1)
    assert len(list(b)) == 3 and b.error is None


def test_fetch_no_wait(js) -> None:
    c = _setup(js, 3)
    t0 = time.monotonic()
    b = c.fetch_no_wait(10)
    msgs = list(b)
    assert len(msgs) == 3 and b.error is None
    assert time.monotonic() - t0 < 3  # did not wait for the rest of the batch
    b = c.fetch_no_wait(10)
    assert list(b) == [] and b.error is None  # 404 No Messages ends it cleanly
    for m in msgs:
        m.ack()
    js.publish("s.x", b"new")
    assert [m.data for m in c.fetch_no_wait(1)] == [b"new"]


def test_fetch_bytes(js) -> None:
    c = _setup(js, 10, size=100)
    b = c.fetch_bytes(450, max_wait=1)
    msgs = list(b)
    assert 1 <= len(msgs) <= 4 and b.error is None
    assert sum(len(m.data) for m in msgs) <= 450


def test_fetch_bytes_message_larger_than_max_bytes_ends_cleanly(js) -> None:
    c = _setup(js, 2, size=200)
    b = c.fetch_bytes(50, max_wait=1)
    assert list(b) == [] and b.error is None  # 409 Message Size Exceeds MaxBytes


def test_next(js) -> None:
    c = _setup(js, 2)
    m = c.next(max_wait=5)
    assert m.data[:1] == b"0" and m.metadata.sequence.stream == 1
    m.ack()
    assert c.next(max_wait=5).data[:1] == b"1"


def test_next_timeout(js) -> None:
    c = _setup(js, 0)
    with pytest.raises(errors.JetStreamTimeoutError) as ei:
        c.next(max_wait=0.3)
    assert isinstance(ei.value, TimeoutError)
    assert "0.3" in str(ei.value)
    with pytest.raises(TimeoutError):
        c.next(max_wait=0.3, heartbeat=0.1)


# -- argument validation (before anything is sent) ---------------------------------------------

@pytest.mark.parametrize("batch", [0, -1, 1.5, True, "3", None])
def test_bad_batch(js, batch) -> None:
    c = _setup(js, 1)
    with pytest.raises(errors.InvalidArgumentError):
        c.fetch(batch, max_wait=1)
    with pytest.raises(errors.InvalidArgumentError):
        c.fetch_no_wait(batch)
    # nothing was requested: the message is still there for a good fetch
    assert c.info().num_waiting == 0
    assert len(list(c.fetch_no_wait(1))) == 1


def test_bad_max_wait_and_heartbeat(js) -> None:
    c = _setup(js, 1)
    with pytest.raises(errors.InvalidArgumentError, match="heartbeat"):
        c.fetch(1, max_wait=1, heartbeat=0.6)  # max_wait < 2 * heartbeat
    with pytest.raises(errors.InvalidArgumentError):
        c.fetch(1, max_wait=0)
    with pytest.raises(errors.InvalidArgumentError):
        c.fetch(1, max_wait=-1)
    with pytest.raises(errors.InvalidArgumentError):
        c.fetch(1, max_wait=5, heartbeat=-1)
    with pytest.raises(errors.InvalidArgumentError):
        c.next(max_wait=1, heartbeat=0.9)
    for bad in (0, -5, 1.5, True):
        with pytest.raises(errors.InvalidArgumentError):
            c.fetch_bytes(bad, max_wait=1)
    assert c.info().num_waiting == 0


def test_timedelta_durations(js) -> None:
    from datetime import timedelta
    c = _setup(js, 1)
    assert len(list(c.fetch(5, max_wait=timedelta(milliseconds=300)))) == 1


# -- 409 statuses end the batch with an error ----------------------------------------------------

def test_exceeded_max_request_batch(js) -> None:
    c = _setup(js, 5, max_request_batch=2)
    b = c.fetch(5, max_wait=2)
    assert list(b) == []
    assert isinstance(b.error, errors.JetStreamError) and b.error.code == 409
    assert "MaxRequestBatch" in str(b.error)
    assert len(list(c.fetch(2, max_wait=2))) == 2


def test_exceeded_max_request_max_bytes(js) -> None:
    c = _setup(js, 5, max_request_max_bytes=100)
    b = c.fetch_bytes(1000, max_wait=2)
    assert list(b) == []
    assert b.error is not None and b.error.code == 409
    assert "MaxRequestMaxBytes" in str(b.error)


def test_exceeded_max_request_expires(js) -> None:
    c = _setup(js, 5, max_request_expires=1.0)
    b = c.fetch(5, max_wait=5)
    assert list(b) == []
    assert b.error is not None and b.error.code == 409
    assert "MaxRequestExpires" in str(b.error)


def test_exceeded_max_waiting(js) -> None:
    c = _setup(js, 0, max_waiting=1)
    # no heartbeats: the server does not answer a heartbeat request that exceeds max_waiting
    # (the client then ends it with NoHeartbeatError after two missed heartbeats)
    first = c.fetch(1, max_wait=5, heartbeat=None)
    _wait_waiting(c)  # the server has registered the first request
    second = c.fetch(1, max_wait=5, heartbeat=None)
    assert list(second) == []
    assert second.error is not None and second.error.code == 409
    assert "MaxWaiting" in str(second.error)
    js.publish("s.now", b"x")
    assert [m.data for m in first] == [b"x"] and first.error is None


def test_next_raises_the_batch_error(js) -> None:
    c = _setup(js, 1, max_request_expires=0.5)
    with pytest.raises(errors.JetStreamError) as ei:
        c.next(max_wait=2)
    assert ei.value.code == 409 and not isinstance(ei.value, TimeoutError)


# -- deleted consumers and dead servers -----------------------------------------------------------

def test_fetch_from_deleted_consumer(js) -> None:
    c = _setup(js, 2)
    js.delete_consumer("S", "C")
    b = c.fetch(1, max_wait=2)
    assert list(b) == []
    assert isinstance(b.error, errors.JetStreamError)
    with pytest.raises(errors.JetStreamError) as ei:
        c.next(max_wait=2)
    assert not isinstance(ei.value, TimeoutError)


def test_consumer_deleted_during_fetch(js) -> None:
    c = _setup(js, 0)
    b = c.fetch(1, max_wait=10)
    _wait_waiting(c)
    js.delete_consumer("S", "C")
    assert list(b) == []
    assert isinstance(b.error, errors.ConsumerDeletedError)


def _wait_waiting(c: jsdata.Consumer, n: int = 1) -> None:
    wait_for(lambda: c.info().num_waiting >= n, timeout=20, what="the pull request")


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")
def test_no_heartbeat_when_server_freezes(server, js) -> None:
    """A server that stops answering (frozen, network gone) ends the fetch: NoHeartbeatError."""
    c = _setup(js, 0)
    b = c.fetch(1, max_wait=20, heartbeat=0.25)
    _wait_waiting(c)
    os.kill(server.pid, signal.SIGSTOP)
    wait_stopped(server.pid)
    try:
        t0 = time.monotonic()
        assert list(b) == []
        assert isinstance(b.error, errors.NoHeartbeatError)
        assert time.monotonic() - t0 < 10
    finally:
        os.kill(server.pid, signal.SIGCONT)
    assert c.info().name == "C"  # the connection recovers


def test_no_heartbeat_when_server_is_killed(server, js) -> None:
    """A server that dies without a goodbye (SIGKILL): NoHeartbeatError, as in Go."""
    c = _setup(js, 0)
    b = c.fetch(1, max_wait=20, heartbeat=0.25)
    _wait_waiting(c)
    server.process.kill()
    server.process.wait(10)
    assert list(b) == []
    assert isinstance(b.error, errors.NoHeartbeatError)


def test_server_stopped_during_fetch_ends_it(server, js) -> None:
    c = _setup(js, 0)
    b = c.fetch(1, max_wait=20, heartbeat=0.25)
    _wait_waiting(c)
    server.stop()
    t0 = time.monotonic()
    assert list(b) == []
    assert isinstance(b.error, errors.JetStreamError)  # 409 Server Shutdown, or no heartbeat
    assert time.monotonic() - t0 < 10


def test_server_shutdown_status_is_typed(server, js) -> None:
    c = _setup(js, 0)
    b = c.fetch(1, max_wait=20)
    _wait_waiting(c)
    server.stop()
    assert list(b) == []
    assert isinstance(b.error, errors.ServerShutdownError)


def test_fetch_after_server_restart(server, js) -> None:
    s = js.create_stream(name="S", subjects=["s.>"], storage="file")
    c = s.create_consumer(durable="C")
    js.publish("s.1", b"before")
    server.restart()
    wait_for(lambda: js.nc.is_connected, timeout=30, what="the reconnect")
    m = c.next(max_wait=5)
    assert m.data == b"before"


# -- asyncio -------------------------------------------------------------------------------------

async def test_async_fetch_iteration_and_messages(ajs) -> None:
    c = await _asetup(ajs, 5)
    b = await c.fetch(3, max_wait=5)
    assert isinstance(b, jsdata.aio.MessageBatch)
    got = [m.data async for m in b]
    assert got == [b"0", b"1", b"2"] and b.error is None
    b2 = await c.fetch(5, max_wait=0.5)
    assert [m.data for m in await b2.messages()] == [b"3", b"4"]
    b3 = await c.fetch_no_wait(5)
    assert await b3.messages() == [] and b3.error is None


async def test_async_fetch_bytes_and_next(ajs) -> None:
    c = await _asetup(ajs, 3)
    b = await c.fetch_bytes(10_000, max_wait=0.5)
    assert len(await b.messages()) == 3
    with pytest.raises(errors.JetStreamTimeoutError):
        await c.next(max_wait=0.3)
    await ajs.publish("s.9", b"z")
    assert (await c.next(max_wait=5)).data == b"z"


async def test_async_validation(ajs) -> None:
    c = await _asetup(ajs, 1)
    with pytest.raises(errors.InvalidArgumentError):
        await c.fetch(0)
    with pytest.raises(errors.InvalidArgumentError):
        await c.fetch(1, max_wait=1, heartbeat=1)


async def test_async_concurrent_fetches(ajs) -> None:
    c = await _asetup(ajs, 0)
    batches = [await c.fetch(1, max_wait=5) for _ in range(4)]
    for i in range(4):
        await ajs.publish("s.x", str(i))
    got = await asyncio.gather(*(b.messages() for b in batches))
    assert sorted(m.data for ms in got for m in ms) == [b"0", b"1", b"2", b"3"]
