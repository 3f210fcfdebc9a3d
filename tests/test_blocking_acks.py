"""Blocking acks go to the server in bursts, with no later call needed to push them.

``Msg.ack`` (and nak / term / in_progress) on the blocking surface returns at once; the
frame joins the burst still queued for the loop (``LoopThread.submit_burst``), which the
loop writes as one when it takes it; a burst of ``_NOWAIT_HIGH_WATER`` makes the caller
wait for the loop. These tests watch the effect from a second connection, so nothing on
the acking connection could push the acks out by accident.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

import jsdata
from jsdata.blocking import loop as loop_mod
from jsdata.server import EmbeddedServer
from tests.helpers import wait_for

_names = iter(range(1_000_000))


@pytest.fixture(scope="module")
def two(shared_server: EmbeddedServer) -> Iterator[tuple[jsdata.JetStream, jsdata.JetStream]]:
    a = jsdata.connect(shared_server.url)
    b = jsdata.connect(shared_server.url)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def _consumer(js: jsdata.JetStream, n: int) -> tuple[str, jsdata.Consumer]:
    name = f"HA{next(_names)}"
    s = js.create_stream(name=name, subjects=[f"{name}.>"])
    for i in range(n):
        js.publish_async(f"{name}.x", b"%d" % i)
    js.publish_async_complete()
    return name, s.create_consumer(durable="C", ack_policy="explicit", ack_wait=60.0,
                                   max_ack_pending=-1)


def _ack_pending(js: jsdata.JetStream, stream: str) -> int:
    return js.stream(stream).consumer("C").info().num_ack_pending


def test_an_ack_reaches_the_server_with_no_later_call(
        two: tuple[jsdata.JetStream, jsdata.JetStream]) -> None:
    js, watcher = two
    name, c = _consumer(js, 3)
    msgs = list(c.fetch(3, max_wait=5))
    assert [m.data for m in msgs] == [b"0", b"1", b"2"]
    assert _ack_pending(watcher, name) == 3
    msgs[1].ack()  # nothing else is called on `js` from here on
    wait_for(lambda: _ack_pending(watcher, name) == 2, timeout=20, what="the ack")
    info = watcher.stream(name).consumer("C").info()
    assert info.ack_floor.stream_seq == 0  # message 1 (seq 2) acked, seq 1 still pending


def test_a_burst_over_the_high_water_mark_lands_whole_and_in_order(
        two: tuple[jsdata.JetStream, jsdata.JetStream]) -> None:
    js, watcher = two
    n = loop_mod._NOWAIT_HIGH_WATER * 3 + 7
    name, c = _consumer(js, n)
    got = []
    while len(got) < n:
        got.extend(c.fetch(n - len(got), max_wait=5))
    assert [int(m.data) for m in got] == list(range(n))
    for m in got[:-1]:
        m.ack()
    got[-1].term()  # a different kind in the same burst
    wait_for(lambda: _ack_pending(watcher, name) == 0, timeout=30, what="every ack")
    info = watcher.stream(name).consumer("C").info()
    assert info.ack_floor.stream_seq == n and info.num_pending == 0 and info.num_redelivered == 0


def test_acks_from_several_threads_all_land(
        two: tuple[jsdata.JetStream, jsdata.JetStream]) -> None:
    js, watcher = two
    n = 600
    name, c = _consumer(js, n)
    got = []
    while len(got) < n:
        got.extend(c.fetch(n - len(got), max_wait=5))
    parts = [got[i::4] for i in range(4)]
    threads = [threading.Thread(target=lambda p=p: [m.ack() for m in p]) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_for(lambda: _ack_pending(watcher, name) == 0, timeout=30, what="acks of 4 threads")
    assert watcher.stream(name).consumer("C").info().ack_floor.stream_seq == n


def test_the_next_call_comes_after_the_queued_acks(
        two: tuple[jsdata.JetStream, jsdata.JetStream]) -> None:
    """An ack then ``double_ack`` of the next message: the server confirms the second only
    after it processed it, and it got the first before (one ordered stream of bytes)."""
    js, watcher = two
    name, c = _consumer(js, 2)
    a, b = list(c.fetch(2, max_wait=5))
    a.ack()
    b.double_ack(timeout=10)
    info = watcher.stream(name).consumer("C").info()
    assert info.num_ack_pending == 0 and info.ack_floor.stream_seq == 2
