"""Counters (nats-server 2.12+, ADR-49) on both surfaces: totals read back exactly."""

from __future__ import annotations

import pytest

import jsdata
from jsdata import errors


def _counter_stream(js: jsdata.JetStream, name: str) -> None:
    js.create_stream(name=name, subjects=[f"{name}.>"], allow_msg_counter=True,
                     allow_direct=True)


def test_add_get_get_many(js: jsdata.JetStream) -> None:
    _counter_stream(js, "CNT1")
    ctr = js.counter("CNT1")
    assert ctr.add("CNT1.eu", 5) == 5
    assert ctr.add("CNT1.eu", -2) == 3
    assert ctr.add("CNT1.us", 10) == 10
    big = 2**70  # arbitrary size: beyond int64
    assert ctr.add("CNT1.big", big) == big
    assert ctr.add("CNT1.big", big) == 2 * big
    assert ctr.get("CNT1.eu") == 3
    assert ctr.get("CNT1.big") == 2 * big
    assert ctr.get_many("CNT1.*") == {"CNT1.eu": 3, "CNT1.us": 10, "CNT1.big": 2 * big}
    assert ctr.get_many(["CNT1.eu", "CNT1.us"]) == {"CNT1.eu": 3, "CNT1.us": 10}
    with pytest.raises(errors.MsgNotFoundError, match="CNT1.none"):
        ctr.get("CNT1.none")
    with pytest.raises(errors.InvalidArgumentError, match="delta"):
        ctr.add("CNT1.eu", 1.5)  # type: ignore[arg-type]


def test_counter_needs_a_counter_stream(js: jsdata.JetStream) -> None:
    js.create_stream(name="CNT2", subjects=["CNT2.>"], allow_direct=True)
    with pytest.raises(errors.InvalidConfigError, match="allow_msg_counter"):
        js.counter("CNT2")
    with pytest.raises(errors.StreamNotFoundError):
        js.counter("NOPE")


def test_totals_are_shared_between_clients(js: jsdata.JetStream, server) -> None:
    _counter_stream(js, "CNT3")
    a = js.counter("CNT3")
    with jsdata.connect(server.url) as other:
        b = other.counter("CNT3")
        for _ in range(10):
            a.add("CNT3.x", 1)
            b.add("CNT3.x", 2)
        assert b.get("CNT3.x") == 30
    assert a.get("CNT3.x") == 30


async def test_asyncio_surface(ajs: jsdata.aio.JetStream) -> None:
    await ajs.create_stream(name="CNTA", subjects=["CNTA.>"], allow_msg_counter=True,
                            allow_direct=True)
    ctr = await ajs.counter("CNTA")
    assert await ctr.add("CNTA.a", 7) == 7
    assert await ctr.get("CNTA.a") == 7
    assert await ctr.get_many("CNTA.>") == {"CNTA.a": 7}
