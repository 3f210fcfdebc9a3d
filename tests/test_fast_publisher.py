"""The fast-ingest publisher (ADR-50, nats-server 2.14+) as a public API, both surfaces."""

from __future__ import annotations

import pytest

import jsdata
from jsdata import errors


def test_add_commit_stores_everything_in_order(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="FP1", subjects=["FP1.>"], allow_batched=True)
    fp = js.fast_publisher(flow=10)
    for i in range(499):
        fp.add(f"FP1.{i % 4}", str(i).encode(), headers={"I": str(i)})
    ack = fp.commit("FP1.last", b"499")
    assert ack.stream == "FP1" and ack.count == 500 and ack.sequence == 500
    assert s.info().state.messages == 500
    assert s.get_msg(1).data == b"0" and s.get_msg(500).data == b"499"
    assert s.get_msg(250).headers.get("I") == "249"
    with pytest.raises(errors.BatchCompletedError):
        fp.add("FP1.x", b"late")


def test_close_without_a_last_message_and_gap_mode(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="FP2", subjects=["FP2.>"], allow_batched=True)
    with js.fast_publisher(continue_on_gap=True, max_outstanding_acks=1) as fp:
        for i in range(100):
            fp.add("FP2.x", str(i).encode(), msg_id=f"m{i}")
    assert fp.lost == []
    assert s.info().state.messages == 100
    assert s.get_msg(100).headers.get("Nats-Msg-Id") == "m99"


def test_stream_without_allow_batched_fails_named(js: jsdata.JetStream) -> None:
    js.create_stream(name="FP3", subjects=["FP3.>"])
    fp = js.fast_publisher()
    fp.add("FP3.x", b"0")  # the first message is an ordinary publish: stored
    with pytest.raises(errors.JetStreamError):
        fp.add("FP3.x", b"1")  # the batch itself is refused
        fp.close()
    with pytest.raises(errors.InvalidArgumentError, match="flow"):
        js.fast_publisher(flow=0)


async def test_asyncio_surface(ajs: jsdata.aio.JetStream) -> None:
    s = await ajs.create_stream(name="FPA", subjects=["FPA.>"], allow_batched=True)
    async with await ajs.fast_publisher() as fp:
        for i in range(20):
            await fp.add("FPA.x", str(i).encode())
        ack = await fp.commit("FPA.x", b"20")
    assert ack.count == 21 and (await s.info()).state.messages == 21
