"""Blocking round trips driven on the calling thread (client/_portable.py, LoopThread._drive).

An awaited blocking publish, KV get/put or stream info no longer hops to the loop thread and
back: the calling thread runs the core coroutine, hands the request to the loop with one
``call_soon_threadsafe`` and waits on a lock the reader releases. These tests check that the
path is taken (no asyncio task per call) and that it behaves as the loop path does: many
threads at once without crossed replies, timeouts, a server restart, Ctrl-C, close() with
calls in flight, and the fallbacks (a thread with its own event loop, queued acks).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Iterator
from typing import Any

import nats
import pytest

import jsdata
from jsdata import errors
from jsdata.server import EmbeddedServer
from tests.helpers import wait_for
from tests.secure_servers import make_tls_files


class Silent:
    """A plain NATS subscriber on ``subject`` that never replies: requests to it time out."""

    def __init__(self, url: str, subject: str) -> None:
        self.got = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.nc: Any = self._run(nats.connect(url))
        self._run(self._subscribe(subject))

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _subscribe(self, subject: str) -> None:
        async def cb(msg: Any) -> None:
            self.got += 1

        await self.nc.subscribe(subject, cb=cb)
        await self.nc.flush()

    def close(self) -> None:
        self._run(self.nc.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def silent(server) -> Iterator[Silent]:
    s = Silent(server.url, "silent.>")
    try:
        yield s
    finally:
        s.close()


class TaskCounter:
    """Counts the asyncio tasks created on a connection's loop (a task factory)."""

    def __init__(self, js: jsdata.JetStream) -> None:
        self.n = 0
        js._lt.loop.set_task_factory(self._factory)

    def _factory(self, loop: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> asyncio.Task:
        self.n += 1
        return asyncio.Task(coro, loop=loop, **kw)


def _round_trips(js: jsdata.JetStream, kv: Any, n: int) -> None:
    for i in range(n):
        js.publish("d.x", b"%d" % i)
        kv.put("k", b"v%d" % i)
        assert kv.get("k").value == b"v%d" % i
        assert kv["k"] == b"v%d" % i
    assert js.stream_info("D").state.messages == n


def test_round_trips_run_without_a_task_per_call(js) -> None:
    js.create_stream(name="D", subjects=["d.>"], storage="memory")
    kv = js.create_key_value(bucket="DK", storage="memory")
    _round_trips(js, kv, 1)  # the reply subscription is up
    js.stream("D").purge()
    counter = TaskCounter(js)
    _round_trips(js, kv, 20)
    assert counter.n == 0
    # the same calls from a thread running its own event loop take the loop path, a task
    # per call: the count above can fail
    js.stream("D").purge()

    async def inside() -> None:
        _round_trips(js, kv, 20)

    asyncio.run(inside())
    assert counter.n >= 20 * 4


def test_many_threads_at_once_get_their_own_replies(js) -> None:
    js.create_stream(name="M", subjects=["m.>"], storage="memory")
    kv = js.create_key_value(bucket="MK", storage="memory")
    s = js.stream("M")
    n_threads, per = 8, 40
    failures: list[BaseException] = []
    acks: dict[int, list[int]] = {}
    start = threading.Barrier(n_threads)

    def worker(t: int) -> None:
        try:
            start.wait(10)
            seqs = acks.setdefault(t, [])
            for i in range(per):
                payload = b"t%d-%d" % (t, i)
                seqs.append(js.publish(f"m.{t}", payload).sequence)
                rev = kv.put(f"t{t}", payload)
                e = kv.get(f"t{t}")
                assert (e.key, e.value, e.revision) == (f"t{t}", payload, rev)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            failures.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not failures, failures
    all_seqs = [q for seqs in acks.values() for q in seqs]
    assert len(set(all_seqs)) == n_threads * per
    for t, seqs in acks.items():  # each ack names the message this thread published
        for i in (0, per // 2, per - 1):
            m = s.get_msg(seqs[i])
            assert (m.subject, m.data) == (f"m.{t}", b"t%d-%d" % (t, i))
    assert js._core._mux._waiters == {}


def test_out_stats_are_exact_with_threads_and_the_loop_publishing_at_once(js) -> None:
    js.create_stream(name="ST", subjects=["st.>"], storage="memory")
    js.publish("st.warm", b"x")
    nc = js._core.nc
    before = (nc.stats["out_msgs"], nc.stats["out_bytes"])
    n_threads, per, n_loop = 6, 60, 600
    failures: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def caller(t: int) -> None:  # awaited publishes: written by this thread
        try:
            start.wait(10)
            for i in range(per):
                js.publish(f"st.{t}", b"t%d-%03d" % (t, i))
        except BaseException as e:  # noqa: BLE001 - reported by the test
            failures.append(e)

    async def on_loop() -> None:  # nats-py's own publish, counted on the loop meanwhile
        for i in range(n_loop):
            await nc.publish("st.loop", b"l%04d" % i)
            if i % 50 == 0:
                await asyncio.sleep(0)
        await nc.flush()

    threads = [threading.Thread(target=caller, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    loop_done = asyncio.run_coroutine_threadsafe(on_loop(), js._lt.loop)
    for th in threads:
        th.join(120)
    loop_done.result(60)
    assert not failures, failures
    # every PUB and its payload counted once: the callers' acks have all come back, and a
    # caller-thread write is in the stats before its reply is handed on
    assert nc.stats["out_msgs"] - before[0] == n_threads * per + n_loop
    sent = n_threads * per * len(b"t0-000") + n_loop * len(b"l0000")
    assert nc.stats["out_bytes"] - before[1] == sent
    assert js.stream_info("ST").state.messages == 1 + n_threads * per + n_loop


def test_timeout_is_the_typed_error_and_leaves_nothing_waiting(js, silent) -> None:
    js.create_stream(name="T", subjects=["t.>"], storage="memory")
    with pytest.raises(errors.PublishTimeoutError) as ei:
        js.publish("silent.a", b"x", timeout=0.3, retry_attempts=0)
    assert "silent.a" in str(ei.value)
    assert silent.got == 1  # the request was sent; nobody answered
    assert js._core._mux._waiters == {}
    assert js.publish("t.1", b"after").sequence == 1  # the connection still works


def test_request_during_a_reconnect_is_answered_after_it(server) -> None:
    with jsdata.connect(server.url, timeout=20) as js:
        js.create_stream(name="R", subjects=["r.>"], storage="file")
        js.publish("r.1", b"before")
        server.stop()
        wait_for(lambda: not js._core.nc.is_connected, what="the disconnect")
        result: list[Any] = []
        t = threading.Thread(target=lambda: result.append(
            js.publish("r.2", b"during", retry_attempts=20, retry_wait=0.25)))
        t.start()
        server.start()
        t.join(60)
        assert not t.is_alive()
        assert result and result[0].sequence == 2  # buffered, sent after the reconnect
        assert js.stream("R").get_msg(2).data == b"during"


def test_a_write_tail_for_the_lost_socket_is_not_sent_on_the_new_one(server) -> None:
    with jsdata.connect(server.url, timeout=20) as js:
        js.create_stream(name="RT", subjects=["rt.>"], storage="file")
        js.publish("rt.1", b"before")
        nc = js._core.nc
        server.stop()
        wait_for(lambda: not nc.is_connected, what="the disconnect")
        with nc._wlock:  # what a calling thread's send cut short by the drop leaves behind
            nc._wrest = b"PUB rt.stale 5\r\nstale\r\n"
        server.start()
        wait_for(lambda: nc.is_connected, timeout=30, what="the reconnect")
        assert js.publish("rt.2", b"after").sequence == 2
        assert js.stream_info("RT").state.messages == 2  # nothing from the old socket's tail
        assert nc._wrest == b""


def test_server_restart_in_the_middle_of_many_calls(server) -> None:
    with jsdata.connect(server.url, timeout=3) as js:
        js.create_stream(name="S", subjects=["s.>"], storage="file")
        stop = threading.Event()
        outcomes: list[Any] = []

        def worker() -> None:
            while not stop.is_set():
                try:
                    outcomes.append(js.publish("s.x", b"x", retry_attempts=1, retry_wait=0.1))
                except errors.JetStreamError as e:  # typed errors only, nothing else
                    outcomes.append(e)
                except BaseException as e:  # noqa: BLE001 - reported by the test
                    outcomes.append(("untyped", e))
                    return

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for th in threads:
            th.start()
        wait_for(lambda: len(outcomes) >= 30, what="calls before the restart")
        server.restart()
        mark = len(outcomes)
        wait_for(lambda: any(not isinstance(o, (Exception, tuple)) for o in outcomes[mark:]),
                 timeout=30, what="a publish acked after the restart")
        stop.set()
        for th in threads:
            th.join(30)
        assert not any(th.is_alive() for th in threads)
        assert not [o for o in outcomes if isinstance(o, tuple)], outcomes
        assert js.publish("s.x", b"last").sequence > 30


needs_pthread_kill = pytest.mark.skipif(not hasattr(signal, "pthread_kill"),
                                        reason="needs pthread_kill")


@needs_pthread_kill
def test_ctrl_c_interrupts_a_direct_call(js, silent, ctrl_c_raises) -> None:
    assert threading.current_thread() is threading.main_thread()
    js.create_stream(name="C", subjects=["c.>"], storage="memory")
    js.publish("c.1", b"warm")
    main = threading.main_thread().ident
    timer = threading.Thread(target=lambda: (
        wait_for(lambda: silent.got == 1, what="the request at the silent subscriber"),
        signal.pthread_kill(main, signal.SIGINT)))  # type: ignore[arg-type]
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):  # not the PublishTimeoutError of 60 s
            js.publish("silent.c", b"x", timeout=60, retry_attempts=0)
    finally:
        timer.join(30)
    assert js._core._mux._waiters == {}  # the interrupted call cleaned up after itself
    assert js.publish("c.2", b"after").sequence == 2


def test_close_fails_calls_in_flight_and_leaks_nothing(server, silent) -> None:
    before = {t for t in threading.enumerate() if t.name.startswith("jsdata")}
    js = jsdata.connect(server.url)
    js.create_stream(name="X", subjects=["x.>"], storage="memory")
    js.publish("x.1", b"warm")
    outcomes: list[BaseException | object] = []

    def caller(i: int) -> None:
        try:
            outcomes.append(js.publish(f"silent.{i}", b"x", timeout=60, retry_attempts=0))
        except BaseException as e:  # noqa: BLE001 - checked below
            outcomes.append(e)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    wait_for(lambda: silent.got == 4, what="four requests in flight")
    js.close()
    for th in threads:
        th.join(30)
    assert not any(th.is_alive() for th in threads)
    assert len(outcomes) == 4
    assert all(isinstance(o, errors.ConnectionClosedError) for o in outcomes), outcomes
    with pytest.raises(errors.ConnectionClosedError):
        js.publish("x.2", b"closed")
    left = {t for t in threading.enumerate() if t.name.startswith("jsdata")} - before
    assert not left, left


async def test_aio_close_fails_requests_in_flight(ajs, server) -> None:
    s = await asyncio.to_thread(Silent, server.url, "silent.>")
    try:
        await ajs.create_stream(name="A", subjects=["a.>"], storage="memory")
        await ajs.publish("a.1", b"warm")
        pending = asyncio.ensure_future(
            ajs.publish("silent.a", b"x", timeout=60, retry_attempts=0))
        while s.got < 1:
            await asyncio.sleep(0.02)
        await ajs._mux.close()  # what JetStream.close() does first
        with pytest.raises(errors.ConnectionClosedError):
            await pending
    finally:
        await asyncio.to_thread(s.close)


def test_a_thread_with_its_own_event_loop_takes_the_loop_path(js) -> None:
    js.create_stream(name="L", subjects=["l.>"], storage="memory")
    kv = js.create_key_value(bucket="LK", storage="memory")

    async def inside() -> tuple[int, bytes]:
        # a blocking call from inside a running loop (not jsdata's) still works
        ack = js.publish("l.1", b"x")
        kv.put("k", b"v")
        return ack.sequence, kv.get("k").value

    assert asyncio.run(inside()) == (1, b"v")


def test_direct_call_waits_for_acks_queued_before_it(js) -> None:
    js.create_stream(name="Q", subjects=["q.>"], storage="memory")
    for i in range(200):
        js.publish("q.x", b"%d" % i)
    c = js.create_consumer("Q", durable="QC", ack_policy="explicit", max_ack_pending=-1)
    msgs = list(c.fetch(200, max_wait=5))
    assert len(msgs) == 200
    for m in msgs[:-1]:
        m.ack()  # fire-and-forget, queued on the loop
    # a direct round trip right after goes out behind every queued ack: when the server
    # confirms it, it has processed them all
    msgs[-1].double_ack()
    info = c.info()
    assert (info.num_ack_pending, info.ack_floor.consumer_seq) == (0, 200)


def test_double_ack_is_a_direct_round_trip(js) -> None:
    js.create_stream(name="DA", subjects=["da.>"], storage="memory")
    js.publish("da.1", b"x")
    c = js.create_consumer("DA", durable="DAC", ack_policy="explicit")
    m = c.next(max_wait=5)
    counter = TaskCounter(js)
    m.double_ack()
    assert counter.n == 0
    assert c.info().num_ack_pending == 0


def _shrink_send_buffer(js: jsdata.JetStream) -> None:
    import socket

    sock = js._core.nc._transport._io_writer.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)


def test_partial_writes_from_calling_threads_keep_the_stream_intact(js) -> None:
    js.create_stream(name="P", subjects=["p.>"], storage="memory")
    js.publish("p.warm", b"x")
    _shrink_send_buffer(js)  # big requests no longer fit in one send()
    big = {t: bytes([65 + t]) * (300_000 + t) for t in range(4)}
    failures: list[BaseException] = []
    acks: dict[int, list[int]] = {t: [] for t in big}

    def caller(t: int) -> None:
        try:
            for _ in range(3):
                acks[t].append(js.publish(f"p.{t}", big[t]).sequence)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            failures.append(e)

    threads = [threading.Thread(target=caller, args=(t,)) for t in big]
    for th in threads:
        th.start()
    futs = [js.publish_async("p.async", b"a%d" % i) for i in range(200)]  # loop-side writes
    js.publish_async_complete(timeout=60)
    for th in threads:
        th.join(120)
    assert not failures, failures
    assert all(f.result().sequence > 0 for f in futs)
    s = js.stream("P")
    for t, seqs in acks.items():
        for q in seqs:
            m = s.get_msg(q)
            assert (m.subject, m.data) == (f"p.{t}", big[t])
    assert s.info().state.messages == 1 + 12 + 200


def test_over_tls_calling_threads_leave_the_writes_to_the_loop(tmp_path) -> None:
    # a calling thread writing plaintext to a TLS socket would break the session: every call
    # from many threads is acked, stored intact, and the connection never drops
    tls = make_tls_files(tmp_path / "tls")
    srv = EmbeddedServer(store_dir=str(tmp_path / "store"), config=tls.server_config())
    srv.start()
    try:
        with jsdata.connect(srv.url, tls=tls.client_context(), timeout=20) as js:
            js.create_stream(name="TL", subjects=["tl.>"], storage="memory")
            kv = js.create_key_value(bucket="TLK", storage="memory")
            failures: list[BaseException] = []
            acks: dict[int, list[int]] = {t: [] for t in range(4)}

            def caller(t: int) -> None:
                try:
                    for i in range(30):
                        acks[t].append(js.publish(f"tl.{t}", b"t%d-%d" % (t, i)).sequence)
                        kv.put(f"k{t}", b"%d" % i)
                        assert kv[f"k{t}"] == b"%d" % i
                except BaseException as e:  # noqa: BLE001 - reported by the test
                    failures.append(e)

            threads = [threading.Thread(target=caller, args=(t,)) for t in acks]
            for th in threads:
                th.start()
            for th in threads:
                th.join(120)
            assert not failures, failures
            s = js.stream("TL")
            for t, seqs in acks.items():
                assert [s.get_msg(q).data for q in seqs[::10]] == [
                    b"t%d-%d" % (t, i) for i in range(0, 30, 10)]
            assert js._core.nc.stats["reconnects"] == 0
    finally:
        srv.stop()
