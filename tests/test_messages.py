"""Messages (API.md §4): content, headers, metadata and every kind of acknowledgement."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

import pytest

import jsdata
from jsdata import errors
from jsdata.client.message import MsgMetadata, parse_metadata


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll ``check`` until it is true (acks are fire-and-forget, as in Go)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def _setup(js: jsdata.JetStream, n: int = 1, **consumer) -> jsdata.Consumer:
    s = js.create_stream(name="S", subjects=["s.>"], storage="memory")
    for i in range(n):
        js.publish(f"s.{i}", f"m{i}")
    consumer.setdefault("durable", "C")
    consumer.setdefault("ack_policy", "explicit")
    return s.create_consumer(**consumer)


# -- parse_metadata (unit) ------------------------------------------------------------------------

def test_parse_metadata_9_tokens() -> None:
    md = parse_metadata("$JS.ACK.ORDERS.CONS.3.101.7.1700000000123456789.42")
    assert isinstance(md, MsgMetadata)
    assert md.stream == "ORDERS" and md.consumer == "CONS" and md.domain == ""
    assert md.num_delivered == 3 and md.num_pending == 42
    assert md.sequence.stream == 101 and md.sequence.consumer == 7
    assert md.timestamp == datetime(2023, 11, 14, 22, 13, 20, 123457, tzinfo=timezone.utc)
    assert md.timestamp_ns == 1700000000123456789


def test_parse_metadata_12_tokens_with_domain() -> None:
    md = parse_metadata("$JS.ACK.HUB.ACCHASH.ORDERS.CONS.1.5.4.1700000000000000000.0.rnd123")
    assert md.domain == "HUB" and md.stream == "ORDERS" and md.consumer == "CONS"
    assert (md.num_delivered, md.sequence.stream, md.sequence.consumer, md.num_pending) == (
        1, 5, 4, 0)
    assert md.timestamp.tzinfo is not None
    # "_" is the placeholder for "no domain"
    assert parse_metadata("$JS.ACK._.ACC.S.C.1.2.3.1700000000000000000.9.x").domain == ""
    # more tokens may follow in future servers
    assert parse_metadata("$JS.ACK.D.ACC.S.C.1.2.3.1700000000000000000.9.x.extra").stream == "S"


@pytest.mark.parametrize("bad", [
    "", "foo", "$JS.ACK.S.C.1.2.3.4", "$JS.ACK.S.C.1.2.3.4.5.6", "$JS.NAK.S.C.1.2.3.4.5",
    "$JS.ACK.S.C.x.2.3.4.5", "_INBOX.abc.def.1.2.3.4.5.6", "$JS.ACK.D.A.S.C.1.2.3.4.x.r",
])
def test_parse_metadata_rejects(bad: str) -> None:
    with pytest.raises(errors.NotJetStreamMsgError):
        parse_metadata(bad)


# -- content --------------------------------------------------------------------------------------

def test_message_content_and_headers(js) -> None:
    s = js.create_stream(name="S", subjects=["s.>"], storage="memory")
    js.publish("s.h", b"payload", headers={"K": ["v1", "v2"], "Single": "one"})
    js.publish("s.plain", "text")
    c = s.create_consumer(durable="C", ack_policy="explicit")
    m1, m2 = list(c.fetch(2, max_wait=5))
    assert isinstance(m1, jsdata.Msg)
    assert m1.subject == "s.h" and m1.data == b"payload"
    assert m1.reply.startswith("$JS.ACK.S.C.")
    h = m1.headers
    assert isinstance(h, jsdata.Headers)
    assert h["K"] == "v1" and h.get_all("K") == ["v1", "v2"] and h["Single"] == "one"
    assert h["k"] == "v1"  # lookups fall back to case-insensitive
    assert "K" in h and "Missing" not in h and h.get("Missing") is None
    assert h.get_all("Missing") == []
    assert m2.data == b"text" and len(m2.headers) == 0 and dict(m2.headers) == {}
    md = m1.metadata
    assert md.stream == "S" and md.consumer == "C" and md.domain == ""
    assert md.sequence.stream == 1 and md.sequence.consumer == 1
    assert md.num_delivered == 1 and md.num_pending == 1
    assert abs((datetime.now(timezone.utc) - md.timestamp).total_seconds()) < 60
    assert m2.metadata.num_pending == 0 and m2.metadata.sequence.stream == 2
    assert "s.h" in repr(m1)


def test_msg_built_by_hand_has_no_metadata() -> None:
    m = jsdata.Msg(subject="a.b", data="hi", headers={"X": "1"})
    assert m.data == b"hi" and m.headers["X"] == "1" and m.reply == ""
    with pytest.raises(errors.NotJetStreamMsgError):
        _ = m.metadata
    with pytest.raises(errors.JetStreamError):
        m.ack()


def test_headers_type() -> None:
    h = jsdata.Headers({"A": ["1", "2"]}, B="3")
    assert h["A"] == "1" and h.get_all("A") == ["1", "2"] and h["B"] == "3"
    assert list(h) == ["A", "B"] and len(h) == 2
    with pytest.raises(KeyError):
        h["C"]
    with pytest.raises(errors.InvalidArgumentError):
        jsdata.Headers({"bad name": "x"})
    with pytest.raises(errors.InvalidArgumentError):
        jsdata.Headers({"A": "line\r\nbreak"})


# -- acks -----------------------------------------------------------------------------------------

def test_ack_and_consumer_info(js) -> None:
    c = _setup(js, 3)
    msgs = list(c.fetch(3, max_wait=5))
    info = c.info()
    assert info.num_ack_pending == 3 and info.delivered.stream_seq == 3
    msgs[0].ack()
    msgs[1].ack()
    assert eventually(lambda: c.info().ack_floor.stream_seq == 2)
    assert c.cached_info().num_ack_pending == 1
    msgs[2].ack()
    assert eventually(lambda: c.info().num_ack_pending == 0)
    assert c.cached_info().ack_floor.consumer_seq == 3


def test_ack_twice_raises(js) -> None:
    c = _setup(js, 5)
    a, b, d, e, f = list(c.fetch(5, max_wait=5))
    a.ack()
    with pytest.raises(errors.MsgAlreadyAckedError):
        a.ack()
    b.nak()
    with pytest.raises(errors.MsgAlreadyAckedError):
        b.ack()
    d.term()
    with pytest.raises(errors.MsgAlreadyAckedError):
        d.nak()
    e.double_ack()
    with pytest.raises(errors.MsgAlreadyAckedError):
        e.double_ack()
    f.in_progress()  # not final
    f.in_progress()
    f.ack()
    with pytest.raises(errors.MsgAlreadyAckedError):
        f.term_with_reason("late")


def test_double_ack_is_confirmed(js) -> None:
    c = _setup(js, 2)
    m1, m2 = list(c.fetch(2, max_wait=5))
    m1.double_ack()
    m2.double_ack(timeout=5)
    info = c.info()  # the server confirmed both acks before double_ack returned
    assert info.num_ack_pending == 0 and info.ack_floor.stream_seq == 2


def test_nak_redelivers_now(js) -> None:
    c = _setup(js, 1)
    m = c.next(max_wait=5)
    assert m.metadata.num_delivered == 1
    m.nak()
    again = c.next(max_wait=5)
    assert again.data == m.data and again.metadata.num_delivered == 2
    assert again.metadata.sequence.stream == 1
    assert c.info().num_redelivered == 1
    again.ack()


def test_nak_with_delay(js) -> None:
    c = _setup(js, 1)
    m = c.next(max_wait=5)
    t0 = time.monotonic()
    # the delay is far longer than the empty fetch, so a loaded machine cannot make the
    # redelivery land inside it
    m.nak_with_delay(3.0)
    assert list(c.fetch(1, max_wait=0.5)) == []  # not redelivered before the delay
    again = c.next(max_wait=10)
    assert time.monotonic() - t0 >= 2.9
    assert again.metadata.num_delivered == 2 and again.data == b"m0"
    again.ack()


def test_nak_with_timedelta_delay(js) -> None:
    from datetime import timedelta
    c = _setup(js, 1)
    c.next(max_wait=5).nak_with_delay(timedelta(milliseconds=200))
    assert c.next(max_wait=5).metadata.num_delivered == 2


def test_in_progress_resets_ack_wait(js) -> None:
    c = _setup(js, 1, ack_wait=2.0)
    m = c.next(max_wait=5)
    for _ in range(6):  # 3 s of work, past ack_wait, kept alive by +WPI every 0.5 s
        time.sleep(0.5)  # (a 1.5 s margin per +WPI for a loaded machine)
        m.in_progress()
    assert list(c.fetch_no_wait(1)) == []  # not redelivered
    m.ack()
    assert eventually(lambda: c.info().num_ack_pending == 0)
    assert c.cached_info().num_redelivered == 0


def test_without_in_progress_ack_wait_redelivers(js) -> None:
    c = _setup(js, 1, ack_wait=0.5)
    m = c.next(max_wait=5)
    again = c.next(max_wait=5)  # redelivered once ack_wait passes
    assert again.metadata.sequence.stream == m.metadata.sequence.stream
    assert again.metadata.num_delivered == 2


def test_term_stops_redelivery(js) -> None:
    c = _setup(js, 2, ack_wait=0.5)
    m1, m2 = list(c.fetch(2, max_wait=5))
    m1.term()
    m2.term_with_reason("bad payload")
    assert list(c.fetch(1, max_wait=1.2)) == []  # past ack_wait: nothing comes back
    # terms are fire-and-forget (as in Go): wait for the server's count to follow
    assert eventually(lambda: c.info().num_ack_pending == 0)
    assert c.cached_info().ack_floor.stream_seq == 2


def test_max_deliver_and_num_delivered(js) -> None:
    c = _setup(js, 1, max_deliver=2)
    c.next(max_wait=5).nak()
    m = c.next(max_wait=5)
    assert m.metadata.num_delivered == 2
    m.nak()
    assert list(c.fetch(1, max_wait=0.5)) == []  # max_deliver reached


def test_ack_none_policy_messages(js) -> None:
    c = _setup(js, 2, ack_policy="none")
    msgs = list(c.fetch(2, max_wait=5))
    assert len(msgs) == 2
    assert c.info().num_ack_pending == 0


# -- asyncio -------------------------------------------------------------------------------------

async def test_async_acks(ajs) -> None:
    s = await ajs.create_stream(name="S", subjects=["s.>"], storage="memory")
    for i in range(4):
        await ajs.publish("s.x", str(i), headers={"N": [str(i), "x"]})
    c = await s.create_consumer(durable="C", ack_policy="explicit")
    a, b, d, e = await (await c.fetch(4, max_wait=5)).messages()
    assert a.headers.get_all("N") == ["0", "x"]
    assert a.metadata.sequence.stream == 1 and e.metadata.num_pending == 0
    await a.ack()
    with pytest.raises(errors.MsgAlreadyAckedError):
        await a.ack()
    await b.double_ack()
    await d.in_progress()
    await d.term_with_reason("no")
    await e.nak()
    m = await c.next(max_wait=5)
    assert m.data == b"3" and m.metadata.num_delivered == 2
    await m.nak_with_delay(0.2)
    m2 = await c.next(max_wait=5)
    assert m2.metadata.num_delivered == 3
    await m2.double_ack()
    info = await c.info()
    assert info.num_ack_pending == 0 and info.ack_floor.stream_seq == 4
