"""Message schedules (2.12/2.14) and per-message TTL (2.11), against a real server: the
schedule fires on its target; a TTL'd message disappears. We wait for the observable
state (the server's clock drives both), never a fixed sleep."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

import jsdata
from jsdata import errors
from tests.helpers import wait_for


def _count(s: jsdata.Stream, subject: str) -> int:
    st = s.info(subjects_filter=subject).state
    return sum((st.subjects or {}).values())


def test_every_schedule_fires_on_its_target(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="SCH1", subjects=["SCH1.>"], allow_msg_schedules=True)
    ack = js.publish("SCH1.sched.tick", b"tick", schedule="@every 1s",
                     schedule_target="SCH1.out")
    assert ack.stream == "SCH1"
    wait_for(lambda: _count(s, "SCH1.out") >= 2, timeout=15, what="two ticks on SCH1.out")
    m = s.get_last_msg_for_subject("SCH1.out")
    assert m.data == b"tick"
    assert m.headers.get("Nats-Scheduler") == "SCH1.sched.tick"  # which schedule fired


def test_at_schedule_fires_once_with_a_ttl(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="SCH2", subjects=["SCH2.>"], allow_msg_schedules=True,
                         allow_msg_ttl=True)
    at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    js.publish("SCH2.sched.once", b"later", schedule=at, schedule_target="SCH2.out",
               schedule_ttl=60)
    wait_for(lambda: _count(s, "SCH2.out") == 1, timeout=15, what="the @at message")
    m = s.get_last_msg_for_subject("SCH2.out")
    assert m.data == b"later" and m.headers.get("Nats-TTL") == "60s"
    # a one-shot schedule is removed once it fired
    wait_for(lambda: _count(s, "SCH2.sched.once") == 0, timeout=15, what="schedule purged")


def test_schedule_argument_errors(js: jsdata.JetStream) -> None:
    js.create_stream(name="SCH3", subjects=["SCH3.>"], allow_msg_schedules=True)
    with pytest.raises(errors.InvalidArgumentError, match="schedule_target"):
        js.publish("SCH3.s", b"x", schedule="@every 1s")
    with pytest.raises(errors.InvalidArgumentError, match="need schedule"):
        js.publish("SCH3.s", b"x", schedule_target="SCH3.out")
    with pytest.raises(errors.InvalidArgumentError, match="cron"):
        js.publish("SCH3.s", b"x", schedule="@every 1s", schedule_target="SCH3.out",
                   schedule_time_zone="Europe/Paris")
    with pytest.raises(errors.APIError):  # the server refuses an invalid pattern
        js.publish("SCH3.s", b"x", schedule="@every soon", schedule_target="SCH3.out")
    js.create_stream(name="SCH4", subjects=["SCH4.>"])
    with pytest.raises(errors.APIError):  # schedules not allowed on this stream
        js.publish("SCH4.s", b"x", schedule="@every 1s", schedule_target="SCH4.out")


def test_message_ttl_removes_the_message(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="TTL1", subjects=["TTL1.>"], allow_msg_ttl=True)
    js.publish("TTL1.short", b"gone soon", ttl=1)
    js.publish("TTL1.keep", b"stays")
    assert s.info().state.messages == 2
    assert s.get_msg(1).headers.get("Nats-TTL") == "1s"
    wait_for(lambda: s.info().state.messages == 1, timeout=15, what="TTL expiry")
    assert s.get_msg(2).data == b"stays"
    with pytest.raises(errors.MsgNotFoundError):
        s.get_msg(1)


async def test_schedule_on_the_asyncio_surface(ajs: jsdata.aio.JetStream) -> None:
    s = await ajs.create_stream(name="SCHA", subjects=["SCHA.>"], allow_msg_schedules=True)
    f = await ajs.publish_async("SCHA.sched", b"a", schedule="@every 1s",
                                schedule_target="SCHA.out")
    await f
    deadline = time.monotonic() + 15
    while True:  # poll the observable state: the schedule's first message on its target
        st = (await s.info(subjects_filter="SCHA.out")).state
        if sum((st.subjects or {}).values()) >= 1:
            break
        assert time.monotonic() < deadline, "the schedule never fired"
        await asyncio.sleep(0.05)
    assert (await s.get_last_msg_for_subject("SCHA.out")).data == b"a"


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "consumer"])
def test_readers_skip_subject_delete_markers(js: jsdata.JetStream, direct: bool) -> None:
    """When a subject's last message expires, nats-server (2.11+, subject_delete_marker_ttl)
    writes a delete marker: no payload, a Nats-Marker-Reason header. Reads skip markers
    unless include_markers=True. (A real marker lives only subject_delete_marker_ttl, which
    the server also imposes as the expiring message's minimum TTL, so this test stores one
    of the same shape itself, to stay deterministic.)"""
    name = f"MARK{int(direct)}"
    s = js.create_stream(name=name, subjects=[f"{name}.>"], allow_direct=direct)
    js.publish(f"{name}.kept", b'{"v": 2}')
    js.publish(f"{name}.gone", b"", headers={"Nats-Marker-Reason": "MaxAge"})
    js.publish(f"{name}.kept", b'{"v": 3}')
    assert s.get_msg(2).headers.get("Nats-Marker-Reason") == "MaxAge"
    df = s.to_pandas()
    assert df["v"].tolist() == [2, 3] and df["_seq"].tolist() == [1, 3]
    assert str(df["v"].dtype) == "int64"  # no all-null marker row turning ints into floats
    assert s.to_pandas(include_markers=True)["_seq"].tolist() == [1, 2, 3]
    assert s.to_arrow().num_rows == 2
    assert sum(b.num_rows for b in s.to_batches(batch_size=1)) == 2
    c = s.create_consumer(durable="mk")
    with c.fetch_arrow(10, max_wait=2) as ab:
        assert ab.record_batch.column("v").to_pylist() == [2, 3]
