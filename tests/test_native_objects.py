"""Messages and blocking twins built in C straight into their slots
(jsdata._cparse.received_msgs / twins, used by jsdata.client.message.received_run and
jsdata.blocking.twin.wrap_all): the same objects, slot by slot, as the Python builders make;
the same errors for bad input; and a fetch on a real server that reads, decodes headers and
metadata and acknowledges the same way with the C builders and with the Python ones."""

from __future__ import annotations

import random

import pytest

import jsdata
from jsdata.blocking import twin as twin_mod
from jsdata.client import _native, message
from jsdata.client.message import Msg, received

native = pytest.mark.skipif(_native.received_msgs is None,
                            reason="the C extension is not built or is ruled out")
SLOTS = Msg.__slots__


def _run(rnd: random.Random, n: int) -> tuple[list[bytes], list[bytes], list[bytes],
                                               list[bytes]]:
    """Four parallel lists as the parser cuts them: runs of equal subjects (some equal but
    distinct objects), non-ASCII subjects, empty and non-empty headers and payloads."""
    subjects, replies, hdrs, datas = [], [], [], []
    subject = b"orders.eu"
    for i in range(n):
        if rnd.random() < 0.2:
            subject = rnd.choice([b"orders.eu", "orders.üs".encode(), b"x" * 200, b"a"])
        subjects.append(bytes(bytearray(subject)) if rnd.random() < 0.5 else subject)
        replies.append(b"$JS.ACK.S.C.1.%d.%d.1700000000000000000.%d" % (i + 1, i + 1, n - i))
        hdrs.append(rnd.choice([b"", b"NATS/1.0\r\nK: %d\r\n\r\n" % i]))
        datas.append(rnd.randbytes(rnd.choice([0, 1, 100])))
    return subjects, replies, hdrs, datas


def _slots(m: Msg) -> tuple[object, ...]:
    return tuple(getattr(m, s) for s in SLOTS)


@native
@pytest.mark.parametrize("seed", range(10))
def test_same_msgs_as_python(seed: int) -> None:
    rnd = random.Random(seed)
    parts = _run(rnd, rnd.randrange(0, 400))
    js = object()
    c = _native.received_msgs(Msg, *parts, js)  # type: ignore[misc]
    py = [received(s, r, d, h, js) for s, r, h, d in zip(*parts, strict=True)]  # type: ignore[arg-type]
    assert [type(m) for m in c] == [Msg] * len(py)
    assert [_slots(m) for m in c] == [_slots(m) for m in py]
    assert all(m._js is js for m in c)
    # the headers and metadata decode lazily from the slots, as for the Python objects
    for a, b in zip(c, py, strict=True):
        assert dict(a.headers or {}) == dict(b.headers or {})
        assert a.metadata == b.metadata


@native
def test_bad_input() -> None:
    with pytest.raises(UnicodeDecodeError):
        _native.received_msgs(Msg, [b"ok", b"\xff"], [b"r", b"r"], [b"", b""],  # type: ignore[misc]
                              [b"", b""], None)
    with pytest.raises(UnicodeDecodeError):
        _native.received_msgs(Msg, [b"ok"], [b"\xc3"], [b""], [b""], None)  # type: ignore[misc]
    with pytest.raises(ValueError, match="differ in length"):
        _native.received_msgs(Msg, [b"a"], [], [], [b""], None)  # type: ignore[misc]
    with pytest.raises(TypeError, match="must be bytes"):
        _native.received_msgs(Msg, ["a"], [b"r"], [b""], [b""], None)  # type: ignore[misc]

    class NoSlots:
        subject = reply = data = _hdr = _headers = _js = _acked = _meta = None

    with pytest.raises(TypeError, match="is not a slot"):
        _native.received_msgs(NoSlots, [], [], [], [], None)  # type: ignore[misc]
    with pytest.raises(TypeError, match="expected a class"):
        _native.twins("not a class", [], None)  # type: ignore[misc]
    # a Python builder for the same input fails the same way
    with pytest.raises(UnicodeDecodeError):
        received(b"\xff", b"r", b"", b"", None)


@native
def test_twins_same_as_python(js: jsdata.JetStream) -> None:
    tw = jsdata.Msg  # the blocking twin of the core Msg
    cores = [received(b"s", b"r", b"%d" % i, b"", None) for i in range(50)]
    lt = js._lt  # type: ignore[attr-defined]
    c = _native.twins(tw, cores, lt)  # type: ignore[misc]
    assert [type(t) for t in c] == [tw] * 50
    assert [t._core for t in c] == cores and all(t._lt is lt for t in c)
    assert [t.data for t in c] == [b"%d" % i for i in range(50)]


@pytest.mark.parametrize("impl", ["native", "python"])
def test_fetch_reads_and_acks(js: jsdata.JetStream, impl: str,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A fetch of messages with and without headers returns blocking Msgs whose subject,
    data, headers and metadata are exact and whose acks the server records, through the C
    builders and through the Python ones."""
    if impl == "native" and _native.received_msgs is None:
        pytest.skip("the C extension is not built or is ruled out")
    if impl == "python":
        monkeypatch.setattr(message, "_creceived", None)
        monkeypatch.setattr(twin_mod, "bulk_wrap", None)
    name = f"NOBJ_{impl}"
    js.create_stream(name=name, subjects=[f"nobj.{impl}.>"])
    try:
        for i in range(300):
            js.publish(f"nobj.{impl}.{i % 3}", b"p%d" % i,
                       headers={"K": str(i)} if i % 2 else None)
        c = js.create_consumer(name, durable="d", ack_policy="explicit")
        got = []
        for _ in range(3):
            batch = c.fetch(100, max_wait=5)
            got.extend(batch)
        assert len(got) == 300
        assert all(type(m) is jsdata.Msg for m in got)
        assert [m.data for m in got] == [b"p%d" % i for i in range(300)]
        assert [m.subject for m in got] == [f"nobj.{impl}.{i % 3}" for i in range(300)]
        assert [(m.headers or {}).get("K") for m in got] == [
            str(i) if i % 2 else None for i in range(300)]
        assert [m.metadata.sequence.stream for m in got] == list(range(1, 301))
        assert [m.metadata.num_pending for m in got] == list(range(299, -1, -1))
        for m in got[:200]:
            m.ack()
        got[200].double_ack()  # confirmed after the 200 acks queued before it
        info = c.info()
        assert info.ack_floor.consumer_seq == info.ack_floor.stream_seq == 201
        assert info.num_ack_pending == 99
    finally:
        js.delete_stream(name)
