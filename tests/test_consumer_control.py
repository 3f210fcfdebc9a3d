"""Consumer pause/resume (2.11), reset (2.14), unpin (2.11) and feature gating, against a
real nats-server; the server-side effect is checked through consumer info and delivery."""

from __future__ import annotations

import datetime as dt

import pytest

import jsdata
from jsdata import errors


def _stream(js: jsdata.JetStream, name: str, n: int) -> jsdata.Stream:
    s = js.create_stream(name=name, subjects=[f"{name}.>"])
    for i in range(n):
        js.publish(f"{name}.x", str(i + 1).encode())
    return s


def test_pause_holds_delivery_and_resume_releases_it(js: jsdata.JetStream) -> None:
    s = _stream(js, "PAUSE1", 3)
    c = s.create_consumer(durable="p")
    until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    r = js.pause_consumer("PAUSE1", "p", until)
    assert r.paused is True
    assert abs((r.pause_until - until).total_seconds()) < 1e-3
    assert r.pause_remaining is not None and 3500 < r.pause_remaining <= 3600
    info = c.info()
    assert info.paused is True and info.config.pause_until is not None
    assert len(list(c.fetch(3, max_wait=0.3))) == 0  # the server delivers nothing
    r = s.resume_consumer("p")
    assert r.paused is False
    assert c.info().paused is False
    assert [m.data for m in list(c.fetch(3, max_wait=2))] == [b"1", b"2", b"3"]


def test_pause_for_a_duration_and_bad_until(js: jsdata.JetStream) -> None:
    _stream(js, "PAUSE2", 1)
    js.create_consumer("PAUSE2", durable="p")
    r = js.pause_consumer("PAUSE2", "p", dt.timedelta(minutes=10))
    assert r.paused and 500 < (r.pause_remaining or 0) <= 600
    r = js.pause_consumer("PAUSE2", "p", 30)
    assert r.paused and 20 < (r.pause_remaining or 0) <= 30
    with pytest.raises(errors.InvalidArgumentError, match="until"):
        js.pause_consumer("PAUSE2", "p", "tomorrow")  # type: ignore[arg-type]
    with pytest.raises(errors.ConsumerNotFoundError, match="nope"):
        js.pause_consumer("PAUSE2", "nope", 30)


def test_reset_to_ack_floor_redelivers_and_to_a_sequence_jumps(js: jsdata.JetStream) -> None:
    s = _stream(js, "RESET1", 6)
    c = s.create_consumer(durable="r", ack_wait=300)
    got = list(c.fetch(2, max_wait=2))
    for m in got:
        m.double_ack()
    assert [m.data for m in list(c.fetch(2, max_wait=2))] == [b"3", b"4"]  # not acked
    r = js.reset_consumer("RESET1", "r")
    assert r.reset_seq == 3  # ack floor (2) + 1
    assert r.name == "r" and r.stream_name == "RESET1"
    assert [m.data for m in list(c.fetch(2, max_wait=2))] == [b"3", b"4"]  # again
    r = s.reset_consumer("r", seq=6)
    assert r.reset_seq == 6
    assert [m.data for m in list(c.fetch(5, max_wait=0.5))] == [b"6"]
    with pytest.raises(errors.InvalidArgumentError, match="seq"):
        s.reset_consumer("r", seq=0)


async def test_control_on_the_asyncio_surface(ajs: jsdata.aio.JetStream) -> None:
    s = await ajs.create_stream(name="CTRLA", subjects=["CTRLA.>"])
    for i in range(3):
        await ajs.publish("CTRLA.x", str(i + 1).encode())
    c = await s.create_consumer(durable="a")
    r = await s.pause_consumer("a", dt.timedelta(hours=1))
    assert r.paused and (await c.info()).paused
    assert not (await ajs.resume_consumer("CTRLA", "a")).paused
    assert [m.data async for m in await c.fetch(1, max_wait=2)] == [b"1"]
    r2 = await ajs.reset_consumer("CTRLA", "a", seq=2)
    assert r2.reset_seq == 2
    assert [m.data async for m in await c.fetch(5, max_wait=0.5)] == [b"2", b"3"]


def test_pinned_client_unpin_moves_the_pin(js: jsdata.JetStream, server) -> None:
    s = _stream(js, "PIN1", 6)
    a = s.create_consumer(durable="w", priority_policy="pinned_client",
                          priority_groups=["jobs"], priority_timeout=30.0, ack_policy="none")
    with jsdata.connect(server.url) as other:
        b = other.stream("PIN1").consumer("w")
        assert [m.data for m in a.fetch(1, max_wait=2, group="jobs")] == [b"1"]
        pinned = a.info().priority_groups[0].pinned_client_id
        assert pinned and a.pin_id  # the client kept the id the server gave it
        # the other client is not pinned: its pulls wait and get nothing
        assert list(b.fetch(1, max_wait=0.5, group="jobs")) == []
        assert [m.data for m in a.fetch(1, max_wait=2, group="jobs")] == [b"2"]
        s.unpin_consumer("w", group="jobs")
        # after the unpin the next pull (here b's) gets the pin
        assert [m.data for m in b.fetch(1, max_wait=2, group="jobs")] == [b"3"]
        assert a.info().priority_groups[0].pinned_client_id not in ("", None, pinned)
        # a's stale id is refused with 423: the batch ends with the typed error, id cleared
        mb = a.fetch(1, max_wait=2, group="jobs")
        assert list(mb) == []
        assert isinstance(mb.error, errors.PinIdMismatchError)
        assert a.pin_id is None
    with pytest.raises(errors.InvalidArgumentError, match="group"):
        s.unpin_consumer("w", group="")


def test_group_is_required_and_options_checked(js: jsdata.JetStream) -> None:
    s = _stream(js, "PRIO1", 3)
    c = s.create_consumer(durable="o", priority_policy="overflow", priority_groups=["g"],
                          ack_policy="explicit")
    mb = c.fetch(1, max_wait=0.5)  # no group: the server refuses the pull
    assert list(mb) == [] and mb.error is not None
    with pytest.raises(errors.InvalidArgumentError, match="min_pending"):
        c.fetch(1, min_pending=0, group="g")
    with pytest.raises(errors.InvalidArgumentError, match="needs group"):
        c.fetch(1, min_pending=2)
    with pytest.raises(errors.InvalidArgumentError, match="priority"):
        c.fetch(1, priority=10, group="g")
    # overflow: served only while at least min_pending messages are pending
    assert list(c.fetch(1, max_wait=0.5, group="g", min_pending=10)) == []
    assert [m.data for m in c.fetch(1, max_wait=2, group="g", min_pending=3)] == [b"1"]
    # min_ack_pending: 1 unacked now; asking for >= 5 gets nothing
    assert list(c.fetch(1, max_wait=0.5, group="g", min_ack_pending=5)) == []
    assert [m.data for m in c.fetch(1, max_wait=2, group="g", min_ack_pending=1)] == [b"2"]


def test_api_level_and_gating_before_sending(js: jsdata.JetStream) -> None:
    assert js.api_level >= 4  # the embedded server is 2.15
    s = _stream(js, "GATE1", 1)
    s.create_consumer(durable="g")
    before = js.account_info().api.total
    # a connection that announced an older level (as a 2.11 server does) refuses 2.14 calls
    core = js._core
    saved = dict(core.nc._server_info)
    core.nc._server_info["api_lvl"] = 1
    try:
        with pytest.raises(errors.FeatureNotSupportedError) as ei:
            js.reset_consumer("GATE1", "g")
        e = ei.value
        assert e.feature == "consumer reset" and e.required_level == 4 and e.server_level == 1
        assert "2.14" in str(e) and saved["version"] in str(e)
        js.pause_consumer("GATE1", "g", 5)  # level 1 is enough for pause
    finally:
        core.nc._server_info.clear()
        core.nc._server_info.update(saved)
    # only the pause and the account info reached the server
    assert js.account_info().api.total == before + 2


def test_consume_and_messages_with_a_priority_group(js: jsdata.JetStream, server) -> None:
    s = _stream(js, "PIN2", 5)
    a = s.create_consumer(durable="w", priority_policy="pinned_client",
                          priority_groups=["jobs"], priority_timeout=30.0)
    it = a.messages(group="jobs")
    try:
        m = next(it)
        assert m.data == b"1"
        m.double_ack()
        assert a.pin_id  # the pin id came with the message
        with jsdata.connect(server.url) as other:
            b = other.stream("PIN2").consumer("w")
            assert list(b.fetch(1, max_wait=0.5, group="jobs")) == []  # a holds the pin
        assert next(it).data == b"2"
    finally:
        it.stop()
    got: list[bytes] = []
    c = s.create_consumer(durable="o", priority_policy="overflow", priority_groups=["g"])
    cc = c.consume(lambda msg: (got.append(msg.data), msg.ack()), group="g", min_pending=1)
    try:
        from tests.helpers import wait_for
        wait_for(lambda: len(got) == 5, what="5 messages through consume with a group")
    finally:
        cc.stop()
    assert got == [b"1", b"2", b"3", b"4", b"5"]
    with pytest.raises(errors.InvalidArgumentError, match="needs group"):
        c.consume(lambda msg: None, min_pending=1)


def test_messages_stop_ends_iteration_at_once_drain_delivers(js: jsdata.JetStream) -> None:
    """Go: after MessagesContext.Stop(), Next returns ErrMsgIteratorClosed at once, even with
    messages buffered; only Drain() hands the buffered ones out."""
    s = _stream(js, "STOPIT", 50)
    c = s.create_consumer(durable="st", ack_policy="none")
    it = c.messages(max_messages=50)
    first = next(it)
    assert first.data == b"1"
    from tests.helpers import wait_for
    wait_for(lambda: c.info().num_pending == 0, what="all 50 delivered to the client")
    it.stop()
    assert list(it) == []  # nothing more comes out of the loop
    with pytest.raises(errors.MsgIteratorClosedError):
        it.next()
    # drain: the buffered messages are still handed out, then the iteration ends
    d = s.create_consumer(durable="dr", ack_policy="none")
    it2 = d.messages(max_messages=50)
    assert next(it2).data == b"1"
    wait_for(lambda: d.info().num_pending == 0, what="all 50 delivered to the client")
    it2.drain()
    rest = [m.data for m in it2]
    assert rest == [str(i).encode() for i in range(2, 51)]


def test_consumer_config_takes_durable_in_its_constructor(js: jsdata.JetStream) -> None:
    s = _stream(js, "DURCFG", 1)
    c = s.create_consumer(jsdata.ConsumerConfig(durable="d1", ack_wait=30))
    info = c.info()
    assert info.config.durable == "d1" == info.config.durable_name
    assert info.name == "d1"
    assert [n for n in s.consumer_names()] == ["d1"]
    with pytest.raises(errors.InvalidConfigError, match="durable or durable_name"):
        jsdata.ConsumerConfig(durable="a", durable_name="b")


def test_fetch_bytes_on_a_pinned_group_counts_like_the_server(js: jsdata.JetStream) -> None:
    """The server charges max_bytes before it adds Nats-Pin-Id: a budget that fits exactly
    three messages delivers three, and the pull ends on its own (no timeout)."""
    s = _stream(js, "PINB", 6)
    c = s.create_consumer(durable="pb", priority_policy="pinned_client",
                          priority_groups=["g"], ack_policy="none")
    first = list(c.fetch(1, max_wait=2, group="g"))  # take the pin
    assert len(first) == 1
    m = first[0]
    cost = len(m.subject) + len(m.reply) + len(m.data)  # no stored headers
    mb = c.fetch_bytes(3 * cost, max_wait=10, group="g")
    assert [x.data for x in mb] == [b"2", b"3", b"4"]  # counting the pin would stop at 2
    assert mb.error is None
