"""Batched direct get and multi-subject last-message get (nats-server 2.11+), both
surfaces, against a real server: subject filters, start_time, max_bytes, up_to_seq/time."""

from __future__ import annotations

import datetime as dt

import pytest

import jsdata
from jsdata import errors


def _fill(js: jsdata.JetStream, name: str, **kw: object) -> jsdata.Stream:
    s = js.create_stream(name=name, subjects=[f"{name}.>"], allow_direct=True, **kw)
    for i in range(1, 11):
        js.publish(f"{name}.{'a' if i % 2 else 'b'}.{i % 3}", f"m{i}".encode(),
                   headers={"X-I": str(i)})
    return s


def test_get_batch_by_sequence_subject_and_bytes(js: jsdata.JetStream) -> None:
    s = _fill(js, "GB1")
    msgs = s.get_batch(4)
    assert [m.sequence for m in msgs] == [1, 2, 3, 4]
    assert [m.data for m in msgs] == [b"m1", b"m2", b"m3", b"m4"]
    assert msgs[0].headers.get("X-I") == "1" and msgs[0].subject == "GB1.a.1"
    assert "Nats-Sequence" not in msgs[0].headers  # metadata is not a user header
    assert [m.sequence for m in s.get_batch(3, seq=8)] == [8, 9, 10]
    assert [m.sequence for m in s.get_batch(100, subject="GB1.b.>")] == [2, 4, 6, 8, 10]
    assert [m.sequence for m in s.get_batch(2, seq=5, subject="GB1.a.*")] == [5, 7]
    # max_bytes: the server counts subject + stored headers + payload of each message it
    # sends and stops once the total reaches the limit (the message crossing it is sent)
    cost = len("GB1.a.1") + len(b"NATS/1.0\r\nX-I: 1\r\n\r\n") + len(b"m1")
    assert [m.sequence for m in s.get_batch(10, max_bytes=2 * cost)] == [1, 2]  # exactly
    assert [m.sequence for m in s.get_batch(10, max_bytes=2 * cost - 1)] == [1, 2]  # under
    assert [m.sequence for m in s.get_batch(10, max_bytes=2 * cost + 1)] == [1, 2, 3]  # over
    assert [m.sequence for m in s.get_batch(10, max_bytes=1)] == [1]
    assert len(s.get_batch(10, max_bytes=10_000)) == 10


def test_get_batch_from_a_time(js: jsdata.JetStream) -> None:
    s = _fill(js, "GB2")
    t5 = s.get_msg(5).time
    assert [m.sequence for m in s.get_batch(3, start_time=t5)] == [5, 6, 7]
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    assert s.get_batch(3, start_time=later) == []
    with pytest.raises(errors.InvalidArgumentError, match="seq or start_time"):
        s.get_batch(3, seq=1, start_time=t5)
    with pytest.raises(errors.InvalidArgumentError, match="batch"):
        s.get_batch(0)


def test_get_last_msgs_for(js: jsdata.JetStream) -> None:
    s = _fill(js, "GL1")
    last = s.get_last_msgs_for(["GL1.a.*"])
    # a-subjects: odd i; per subject GL1.a.<i%3>: last odd i with that remainder
    assert {k: v.sequence for k, v in last.items()} == {"GL1.a.1": 7, "GL1.a.0": 9,
                                                         "GL1.a.2": 5}
    both = s.get_last_msgs_for(["GL1.a.1", "GL1.b.1"])
    assert {k: v.sequence for k, v in both.items()} == {"GL1.a.1": 7, "GL1.b.1": 10}
    asof = s.get_last_msgs_for("GL1.>", up_to_seq=3)
    assert {k: v.sequence for k, v in asof.items()} == {"GL1.a.1": 1, "GL1.b.2": 2,
                                                        "GL1.a.0": 3}
    t3 = s.get_msg(3).time  # up_to_time: messages stored before that time
    assert {k: v.sequence for k, v in s.get_last_msgs_for(["GL1.>"], up_to_time=t3).items()
            } == {"GL1.a.1": 1, "GL1.b.2": 2}
    assert s.get_last_msgs_for(["GL1.zzz"]) == {}


def test_direct_needs_allow_direct(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="GB3", subjects=["GB3.>"])
    js.publish("GB3.x", b"1")
    with pytest.raises(errors.InvalidConfigError, match="allow_direct"):
        s.get_batch(1)


async def test_direct_on_the_asyncio_surface(ajs: jsdata.aio.JetStream) -> None:
    s = await ajs.create_stream(name="GBA", subjects=["GBA.>"], allow_direct=True)
    for i in range(5):
        await ajs.publish(f"GBA.{i % 2}", str(i).encode())
    assert [m.data for m in await s.get_batch(10, subject="GBA.1")] == [b"1", b"3"]
    last = await s.get_last_msgs_for(["GBA.*"])
    assert {k: v.data for k, v in last.items()} == {"GBA.0": b"4", "GBA.1": b"3"}
