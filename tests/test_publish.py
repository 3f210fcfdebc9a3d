"""Publishing (API.md §4): publish / publish_msg / publish_async with every option."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

import jsdata
from jsdata import errors
from jsdata.server import EmbeddedServer
from tests.helpers import wait_stopped


def _stream(js: jsdata.JetStream, **kw) -> jsdata.Stream:
    kw.setdefault("storage", "memory")
    return js.create_stream(name="S", subjects=["s.>"], **kw)


# -- publish and its expectations -----------------------------------------------------------------

def test_publish_returns_pub_ack(js) -> None:
    s = _stream(js)
    ack = js.publish("s.a", b"hello")
    assert isinstance(ack, jsdata.PubAck)
    assert (ack.stream, ack.sequence, ack.duplicate) == ("S", 1, False)
    assert js.publish("s.b", b"x").sequence == 2
    m = s.get_msg(1)
    assert m.subject == "s.a" and m.data == b"hello"


@pytest.mark.parametrize("name", ["A&B<C", "Ünïcode", 'q"uote'])
def test_pub_ack_with_escaped_stream_names(js, name) -> None:
    """The server JSON-escapes some characters of the stream name in its acks."""
    js.create_stream(name=name, subjects=["e.>"], storage="memory")
    assert js.publish("e.1", b"x").stream == name
    assert js.publish_async("e.1", b"x").result(timeout=5).stream == name
    assert list(js.stream_names()) == [name]


@pytest.mark.parametrize("data,expected", [
    (b"bytes", b"bytes"), (bytearray(b"ba"), b"ba"), (memoryview(b"mv-data")[3:], b"data"),
    ("héllo", "héllo".encode()), ("", b""), (b"", b""), (None, b""),
])
def test_data_types(js, data, expected) -> None:
    s = _stream(js)
    js.publish("s.d", data)
    f = js.publish_async("s.d", data)
    assert f.result(timeout=5).sequence == 2
    assert s.get_msg(1).data == expected and s.get_msg(2).data == expected


@pytest.mark.parametrize("data", [12, 1.5, ["x"], {"a": 1}, object()])
def test_bad_data_type(js, data) -> None:
    _stream(js)
    with pytest.raises(errors.InvalidArgumentError):
        js.publish("s.d", data)
    with pytest.raises(errors.InvalidArgumentError):
        js.publish_async("s.d", data)


def test_headers_multi_valued(js) -> None:
    s = _stream(js)
    js.publish("s.h", b"x", headers={"K": ["1", "2"], "Z": "z"}, msg_id="id-1")
    h = s.get_msg(1).headers
    assert h.get_all("K") == ["1", "2"] and h["Z"] == "z" and h["Nats-Msg-Id"] == "id-1"
    js.publish("s.h", b"y", headers=jsdata.Headers({"A": ["a", "b"]}))
    assert s.get_msg(2).headers.get_all("A") == ["a", "b"]


def test_msg_id_dedup(js) -> None:
    s = _stream(js)
    a1 = js.publish("s.x", b"1", msg_id="m1")
    a2 = js.publish("s.x", b"1-again", msg_id="m1")
    assert not a1.duplicate and a2.duplicate and a2.sequence == a1.sequence
    f = js.publish_async("s.x", b"1-async", msg_id="m1")
    assert f.result(timeout=5).duplicate
    assert s.info().state.messages == 1


def test_expect_stream(js) -> None:
    _stream(js)
    assert js.publish("s.x", b"1", expect_stream="S").stream == "S"
    with pytest.raises(errors.StreamWrongExpectedError) as ei:
        js.publish("s.x", b"2", expect_stream="OTHER")
    assert ei.value.err_code == 10060 and ei.value.code == 400
    assert isinstance(ei.value, errors.APIError)


def test_expect_last_sequence_zero_means_empty_stream(js) -> None:
    s = _stream(js)
    assert js.publish("s.x", b"first", expect_last_sequence=0).sequence == 1
    with pytest.raises(errors.WrongLastSequenceError) as ei:
        js.publish("s.x", b"again", expect_last_sequence=0)
    assert ei.value.err_code == 10071
    assert js.publish("s.x", b"second", expect_last_sequence=1).sequence == 2
    with pytest.raises(errors.WrongLastSequenceError):
        js.publish("s.x", b"x", expect_last_sequence=1)
    assert s.info().state.messages == 2


def test_expect_last_sequence_per_subject(js) -> None:
    _stream(js)
    js.publish("s.a", b"1")                                                   # seq 1
    assert js.publish("s.b", b"2", expect_last_sequence_per_subject=0).sequence == 2
    assert js.publish("s.a", b"3", expect_last_sequence_per_subject=1).sequence == 3
    with pytest.raises(errors.WrongLastSequenceError):
        js.publish("s.a", b"4", expect_last_sequence_per_subject=1)
    with pytest.raises(errors.WrongLastSequenceError):
        js.publish("s.b", b"4", expect_last_sequence_per_subject=0)


def test_expect_last_msg_id(js) -> None:
    _stream(js)
    js.publish("s.x", b"1", msg_id="a")
    assert js.publish("s.x", b"2", msg_id="b", expect_last_msg_id="a").sequence == 2
    with pytest.raises(errors.WrongLastMsgIdError) as ei:
        js.publish("s.x", b"3", expect_last_msg_id="a")
    assert ei.value.err_code == 10070


def test_expectation_errors_on_publish_async(js) -> None:
    _stream(js)
    js.publish("s.x", b"1")
    f1 = js.publish_async("s.x", b"2", expect_last_sequence=0)
    f2 = js.publish_async("s.x", b"3", expect_stream="NOPE")
    f3 = js.publish_async("s.x", b"4", expect_last_msg_id="zzz")
    js.publish_async_complete(timeout=5)
    assert isinstance(f1.exception(), errors.WrongLastSequenceError)
    assert isinstance(f2.exception(), errors.StreamWrongExpectedError)
    assert isinstance(f3.exception(), errors.WrongLastMsgIdError)
    with pytest.raises(errors.WrongLastSequenceError):
        f1.result()


def test_ttl(js) -> None:
    s = _stream(js, allow_msg_ttl=True)
    js.publish("s.t", b"short", ttl=1)
    js.publish("s.t", b"str-ttl", ttl="1h")
    js.publish("s.t", b"td", ttl=timedelta(hours=1))
    assert s.get_msg(1).headers["Nats-TTL"] == "1s"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            s.get_msg(1)
        except errors.MsgNotFoundError:
            break
        time.sleep(0.1)
    with pytest.raises(errors.MsgNotFoundError):
        s.get_msg(1)  # expired
    assert s.get_msg(2).data == b"str-ttl" and s.get_msg(3).data == b"td"


def test_ttl_validation_and_disabled_stream(js) -> None:
    _stream(js)
    for bad in (0.5, 0, -1, 1.5):
        with pytest.raises(errors.InvalidArgumentError):
            js.publish("s.t", b"x", ttl=bad)
    with pytest.raises(errors.APIError):  # the stream does not allow per-message TTLs
        js.publish("s.t", b"x", ttl=5)


# -- subjects and sizes are checked before sending ------------------------------------------------

@pytest.mark.parametrize("subject", [
    "", "a b", "a\tb", "a.*", "a.>", "*", ">", "a..b", ".a", "a.", "a\nb", None, 5,
])
def test_invalid_subjects(js, subject) -> None:
    _stream(js)
    before = js.nc.stats["out_msgs"]
    with pytest.raises(errors.InvalidSubjectError):
        js.publish(subject, b"x")
    with pytest.raises(errors.InvalidSubjectError):
        js.publish_async(subject, b"x")
    with pytest.raises(errors.InvalidSubjectError):
        js.publish_msg(jsdata.Msg(subject=subject, data=b"x"))
    with pytest.raises(errors.InvalidNameError):
        js.publish_msg_async(jsdata.Msg(subject=subject, data=b"x"))
    assert js.nc.stats["out_msgs"] == before


@pytest.fixture
def small_payload_server(tmp_path) -> Iterator[EmbeddedServer]:
    conf = tmp_path / "small.conf"
    conf.write_text("max_payload: 1024\n")
    srv = EmbeddedServer(store_dir=str(tmp_path / "store"), args=["-c", str(conf)])
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_max_payload_exceeded(small_payload_server) -> None:
    with jsdata.connect(small_payload_server.url) as js:
        assert js.nc.max_payload == 1024
        s = _stream(js)
        before = js.nc.stats["out_msgs"]
        with pytest.raises(errors.MaxPayloadExceededError) as ei:
            js.publish("s.big", b"x" * 2000)
        assert "1024" in str(ei.value)
        with pytest.raises(errors.MaxPayloadExceededError):
            js.publish("s.big", b"x" * 1000, headers={"H": "y" * 100})  # headers count too
        assert js.nc.stats["out_msgs"] == before
        assert js.publish("s.ok", b"x" * 900).sequence == 1
        assert s.info().state.messages == 1


def test_max_payload_exceeded_async_publish(small_payload_server) -> None:
    with jsdata.connect(small_payload_server.url) as js:
        _stream(js)
        with pytest.raises(errors.MaxPayloadExceededError):
            js.publish_async("s.big", b"x" * 2000)
        with pytest.raises(errors.MaxPayloadExceededError):
            js.publish_msg_async(jsdata.Msg(subject="s.big", data=b"x" * 1000,
                                            headers={"H": "y" * 100}))
        assert js.publish_async_pending() == 0
        assert js.publish_async("s.ok", b"x").result(timeout=5).sequence == 1


async def test_max_payload_exceeded_aio(small_payload_server) -> None:
    async with await jsdata.aio.connect(small_payload_server.url) as js:
        await js.create_stream(name="S", subjects=["s.>"], storage="memory")
        with pytest.raises(errors.MaxPayloadExceededError):
            await js.publish("s.big", b"x" * 2000)
        with pytest.raises(errors.MaxPayloadExceededError):
            await js.publish_async("s.big", b"x" * 2000)
        assert js.publish_async_pending() == 0


# -- no responders: retries -----------------------------------------------------------------------

def test_no_stream_response_after_retries(js) -> None:
    t0 = time.monotonic()
    with pytest.raises(errors.NoStreamResponseError) as ei:
        js.publish("nobody.home", b"x", retry_attempts=3, retry_wait=0.1)
    assert time.monotonic() - t0 >= 0.25  # it retried 3 times, 0.1 s apart
    assert "nobody.home" in str(ei.value)
    with pytest.raises(errors.NoStreamResponseError):
        js.publish("nobody.home", b"x", retry_attempts=0)
    f = js.publish_async("nobody.home", b"x", retry_attempts=1, retry_wait=0.05)
    with pytest.raises(errors.NoStreamResponseError):
        f.result(timeout=5)


def test_stream_created_during_retry_window(js) -> None:
    t = threading.Timer(0.5, lambda: js.create_stream(name="LATE", subjects=["late.>"],
                                                      storage="memory"))
    t.start()
    try:
        ack = js.publish("late.x", b"x", retry_attempts=100, retry_wait=0.2)
    finally:
        t.join()
    assert ack.stream == "LATE" and ack.sequence == 1


def test_stream_created_during_async_retry_window(js) -> None:
    # a 20 s retry window: the stream is created well inside it even on a loaded machine
    f = js.publish_async("late.x", b"x", retry_attempts=100, retry_wait=0.2, timeout=30)
    time.sleep(0.5)
    assert not f.done()
    js.create_stream(name="LATE", subjects=["late.>"], storage="memory")
    assert f.result(timeout=30).stream == "LATE"


async def test_stream_created_during_retry_window_aio(ajs) -> None:
    async def later() -> None:
        await asyncio.sleep(0.5)
        await ajs.create_stream(name="LATE", subjects=["late.>"], storage="memory")

    task = asyncio.ensure_future(later())
    ack = await ajs.publish("late.x", b"x", retry_attempts=100, retry_wait=0.2)
    await task
    assert ack.stream == "LATE"


# -- publish_msg ---------------------------------------------------------------------------------

def test_publish_msg(js) -> None:
    s = _stream(js)
    m = jsdata.Msg(subject="s.m", data=b"body", headers={"A": ["1", "2"]})
    ack = js.publish_msg(m, msg_id="x1")
    assert ack.sequence == 1
    got = s.get_msg(1)
    assert got.data == b"body" and got.headers.get_all("A") == ["1", "2"]
    assert got.headers["Nats-Msg-Id"] == "x1"
    assert js.publish_msg(m, msg_id="x1").duplicate
    with pytest.raises(errors.WrongLastSequenceError):
        js.publish_msg(m, expect_last_sequence=0)
    f = js.publish_msg_async(jsdata.Msg(subject="s.m", data="async"))
    assert f.result(timeout=5).sequence == 2
    assert f.msg.subject == "s.m" and f.msg.data == b"async"


def test_republish_a_received_message(js) -> None:
    s = _stream(js)
    js.publish("s.orig", b"payload", headers={"K": ["a", "b"]})
    c = s.create_consumer(durable="C")
    m = c.next(max_wait=5)
    copy = jsdata.Msg(subject="s.copy", data=m.data, headers=m.headers)
    js.publish_msg(copy)
    got = s.get_msg(2)
    assert got.data == b"payload" and got.headers.get_all("K") == ["a", "b"]


# -- publish_async --------------------------------------------------------------------------------

def test_publish_async_futures(js) -> None:
    s = _stream(js)
    futs = [js.publish_async(f"s.{i % 3}", str(i)) for i in range(500)]
    assert all(isinstance(f, jsdata.PubAckFuture) for f in futs)
    js.publish_async_complete(timeout=10)
    assert js.publish_async_pending() == 0
    assert all(f.done() for f in futs)
    seqs = [f.result().sequence for f in futs]
    assert seqs == list(range(1, 501))  # one connection keeps publish order
    assert all(f.exception() is None for f in futs)
    assert s.info().state.messages == 500
    assert "acked" in repr(futs[0])


def test_publish_async_pending_and_complete_timeout(server, js) -> None:
    _stream(js)
    js.publish("s.x", b"warm-up")
    server.stop()
    f = js.publish_async("s.x", b"while down", timeout=30)
    assert js.publish_async_pending() == 1
    assert not f.done()
    with pytest.raises(errors.JetStreamTimeoutError) as ei:
        js.publish_async_complete(timeout=0.3)
    assert isinstance(ei.value, TimeoutError)
    with pytest.raises(TimeoutError):
        f.result(timeout=0.2)
    assert not f.done()
    server.start()
    js.publish_async_complete(timeout=20)
    assert f.done()  # acked after the reconnect, or failed with a clear error
    assert f.exception() is None or isinstance(f.exception(), errors.JetStreamError)


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")
def test_publish_timeout_on_a_frozen_server(server, js) -> None:
    _stream(js)
    os.kill(server.pid, signal.SIGSTOP)
    wait_stopped(server.pid)  # kill() returns before every server thread has stopped
    try:
        with pytest.raises(errors.JetStreamTimeoutError) as ei:
            js.publish("s.x", b"x", timeout=0.3)
        assert isinstance(ei.value, TimeoutError)
    finally:
        os.kill(server.pid, signal.SIGCONT)
    assert js.publish("s.x", b"y").stream == "S"


def test_publish_async_ack_timeout(server, js) -> None:
    _stream(js)
    js.publish("s.x", b"warm-up")
    server.stop()
    f = js.publish_async("s.x", b"lost", timeout=0.5)
    with pytest.raises(errors.JetStreamTimeoutError):
        f.result(timeout=10)  # the ack timeout fails the future itself
    assert f.done() and isinstance(f.exception(), TimeoutError)
    assert js.publish_async_pending() == 0


def test_too_many_stalled(server) -> None:
    js = jsdata.connect(server.url, publish_async_max_pending=1)
    try:
        _stream(js)
        js.publish("s.x", b"warm-up")
        server.stop()
        f = js.publish_async("s.x", b"1", timeout=30)
        with pytest.raises(errors.TooManyStalledMsgsError):
            js.publish_async("s.x", b"2")
        assert js.publish_async_pending() == 1 and not f.done()
    finally:
        js.close()
    assert f.done() and isinstance(f.exception(), errors.JetStreamError)


async def test_too_many_stalled_aio(server) -> None:
    js = await jsdata.aio.connect(server.url, publish_async_max_pending=1)
    try:
        await js.create_stream(name="S", subjects=["s.>"], storage="memory")
        await js.publish("s.x", b"warm-up")
        server.stop()
        f = await js.publish_async("s.x", b"1", timeout=30)
        with pytest.raises(errors.TooManyStalledMsgsError):
            await js.publish_async("s.x", b"2")
        assert not f.done()
    finally:
        await js.close()
    assert f.done()
    with pytest.raises(errors.ConnectionClosedError):
        await f


def test_publish_async_max_pending_validation(server) -> None:
    with pytest.raises(errors.InvalidArgumentError):
        jsdata.connect(server.url, publish_async_max_pending=0)


def test_max_pending_window_is_respected(server) -> None:
    with jsdata.connect(server.url, publish_async_max_pending=16) as js:
        s = _stream(js)
        futs = [js.publish_async("s.x", b"x") for _ in range(2000)]
        js.publish_async_complete(timeout=20)
        assert all(f.result().stream == "S" for f in futs)
        assert s.info().state.messages == 2000


def test_server_restart_during_publish_async(server, js) -> None:
    """Every future resolves (acked or a clear error) and nothing hangs across a restart."""
    s = _stream(js, storage="file")
    n = 20_000
    restarter = threading.Timer(0.05, server.restart)
    futs = []
    raised: collections.Counter[str] = collections.Counter()
    restarter.start()
    try:
        for _ in range(n):
            try:
                futs.append(js.publish_async("s.r", b"x" * 64, timeout=5))
            except errors.TooManyStalledMsgsError:  # while the server is away
                raised["stalled"] += 1
                time.sleep(0.01)
    finally:
        restarter.join()
    js.publish_async_complete(timeout=60)
    assert js.publish_async_pending() == 0
    outcome: collections.Counter[str] = collections.Counter()
    for f in futs:
        assert f.done()
        e = f.exception()
        if e is None:
            assert f.result().stream == "S"
            outcome["ok"] += 1
        else:
            assert isinstance(e, errors.JetStreamError) and str(e)
            outcome[type(e).__name__] += 1
    assert outcome["ok"] > 0
    assert len(futs) + raised["stalled"] == n
    # the stream holds at least every acknowledged message
    assert s.info().state.messages >= outcome["ok"]
    assert js.publish("s.after", b"y").stream == "S"


async def test_server_restart_during_publish_async_aio(server, ajs) -> None:
    await ajs.create_stream(name="S", subjects=["s.>"], storage="file")
    n = 5000
    futs = []
    restart = asyncio.get_running_loop().run_in_executor(None, server.restart)
    for _ in range(n):
        try:
            futs.append(await ajs.publish_async("s.r", b"x" * 64, timeout=5))
        except errors.TooManyStalledMsgsError:
            await asyncio.sleep(0.01)
    await restart
    await ajs.publish_async_complete(timeout=60)
    assert all(f.done() for f in futs)
    for f in futs:
        e = f.exception()
        assert e is None or (isinstance(e, errors.JetStreamError) and str(e))
    assert (await ajs.publish("s.after", b"y")).stream == "S"


# -- asyncio publish ------------------------------------------------------------------------------

async def test_publish_aio(ajs) -> None:
    s = await ajs.create_stream(name="S", subjects=["s.>"], storage="memory")
    ack = await ajs.publish("s.a", "text", headers={"H": ["1", "2"]}, msg_id="a")
    assert ack.sequence == 1
    assert (await ajs.publish("s.a", b"dup", msg_id="a")).duplicate
    with pytest.raises(errors.WrongLastSequenceError):
        await ajs.publish("s.a", b"x", expect_last_sequence=0)
    with pytest.raises(errors.InvalidSubjectError):
        await ajs.publish("s.*", b"x")
    with pytest.raises(errors.NoStreamResponseError):
        await ajs.publish("zzz", b"x", retry_attempts=1, retry_wait=0.01)
    futs = [await ajs.publish_async("s.b", bytearray(b"x")) for _ in range(100)]
    await ajs.publish_async_complete(timeout=10)
    assert ajs.publish_async_pending() == 0
    acks = [await f for f in futs]
    assert [a.sequence for a in acks] == list(range(2, 102))
    assert futs[0].result().sequence == 2 and futs[0].done()
    m = jsdata.aio.Msg(subject="s.m", data=memoryview(b"mv"), headers={"K": "v"})
    assert (await ajs.publish_msg(m)).sequence == 102
    f = await ajs.publish_msg_async(m)
    assert (await f).sequence == 103
    assert (await s.get_msg(102)).headers["K"] == "v"
    with pytest.raises(errors.WrongLastMsgIdError):
        await (await ajs.publish_async("s.z", b"x", expect_last_msg_id="nope"))


def test_async_acks_read_after_completion_carry_their_own_values(js: jsdata.JetStream) -> None:
    """Acks that arrive before anyone asks are kept raw and parsed on first read: each
    future still gives its own stream, sequence and duplicate flag, on both reads."""
    js.create_stream(name="LAZYACK", subjects=["lazy.>"])
    futs = [js.publish_async("lazy.x", b"%d" % i, msg_id=f"m{i}") for i in range(50)]
    dup = js.publish_async("lazy.x", b"again", msg_id="m7")
    js.publish_async_complete(timeout=30)
    assert all(f.done() for f in futs) and dup.done()
    for i, f in enumerate(futs):
        ack = f.result()
        assert (ack.stream, ack.sequence, ack.duplicate) == ("LAZYACK", i + 1, False)
        assert f.result() is ack  # parsed once
    assert dup.result().duplicate and dup.result().sequence == 8
