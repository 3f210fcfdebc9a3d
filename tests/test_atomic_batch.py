"""Atomic batch publishing (nats-server 2.12+): all stored or none, on both surfaces."""

from __future__ import annotations

import pytest

import jsdata
from jsdata import errors


def _stream(js: jsdata.JetStream, name: str, **kw: object) -> jsdata.Stream:
    return js.create_stream(name=name, subjects=[f"{name}.>"], allow_atomic=True, **kw)


def test_publish_batch_stores_all_in_order(js: jsdata.JetStream) -> None:
    s = _stream(js, "AB1")
    msgs = [jsdata.Msg(f"AB1.{i % 3}", f"m{i}".encode(), headers={"K": str(i)})
            for i in range(50)]
    ack = js.publish_batch(msgs)
    assert ack.stream == "AB1" and ack.count == 50 and ack.sequence == 50 and ack.batch
    for i in (1, 25, 50):
        m = s.get_msg(i)
        assert m.data == f"m{i - 1}".encode() and m.headers.get("K") == str(i - 1)
        assert m.headers.get("Nats-Batch-Id") == ack.batch  # stored with the batch headers
        assert m.headers.get("Nats-Batch-Sequence") == str(i)
    assert s.info().state.messages == 50


def test_a_refused_message_stores_nothing(js: jsdata.JetStream) -> None:
    s = _stream(js, "AB2", max_msg_size=100)
    msgs = [jsdata.Msg("AB2.x", b"ok"), jsdata.Msg("AB2.x", b"x" * 500),
            jsdata.Msg("AB2.x", b"ok")]
    with pytest.raises(errors.BatchPublishError, match="nothing stored"):
        js.publish_batch(msgs)
    assert s.info().state.messages == 0
    # expectations hold for the whole batch: a wrong expected sequence refuses all
    js.publish("AB2.x", b"first")
    with pytest.raises(errors.JetStreamError):
        js.publish_batch([jsdata.Msg("AB2.x", b"a",
                                     headers={"Nats-Expected-Last-Sequence": "7"}),
                          jsdata.Msg("AB2.x", b"b")])
    assert s.info().state.messages == 1


def test_stream_without_allow_atomic_and_limits(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="AB3", subjects=["AB3.>"])
    with pytest.raises(errors.BatchPublishError, match="AB3|atomic"):
        js.publish_batch([jsdata.Msg("AB3.x", b"1"), jsdata.Msg("AB3.x", b"2")])
    assert s.info().state.messages == 0
    with pytest.raises(errors.InvalidArgumentError, match="at most 1000"):
        js.publish_batch([jsdata.Msg("AB3.x", b"1")] * 1001)
    with pytest.raises(errors.InvalidArgumentError, match="no messages"):
        js.publish_batch([])


def test_batch_publisher_commit_discard_and_exception(js: jsdata.JetStream) -> None:
    s = _stream(js, "AB4")
    with js.batch_publisher() as b:
        b.add("AB4.a", b"1")
        b.add("AB4.b", b"2", msg_id="id-2")
        assert s.info().state.messages == 0  # staged, not stored
        ack = b.commit("AB4.c", b"3")
    assert ack.count == 3 and s.info().state.messages == 3
    with pytest.raises(errors.BatchCompletedError):
        b.add("AB4.a", b"again")
    # an exception inside the block: nothing stored
    with pytest.raises(RuntimeError), js.batch_publisher() as b2:
        b2.add("AB4.a", b"x")
        raise RuntimeError("boom")
    b3 = js.batch_publisher()
    b3.add("AB4.a", b"y")
    b3.discard()
    assert s.info().state.messages == 3
    # commit without a last message: an end-of-batch marker, not stored itself
    with js.batch_publisher() as b4:
        b4.add("AB4.a", b"p")
        b4.add("AB4.a", b"q")
        ack = b4.commit()
    assert ack.count == 2 and s.info().state.messages == 5
    assert s.get_msg(5).data == b"q"


async def test_asyncio_surface(ajs: jsdata.aio.JetStream) -> None:
    s = await ajs.create_stream(name="ABA", subjects=["ABA.>"], allow_atomic=True)
    ack = await ajs.publish_batch([jsdata.aio.Msg("ABA.x", b"1"), jsdata.aio.Msg("ABA.x", b"2")])
    assert ack.count == 2
    async with await ajs.batch_publisher() as b:
        await b.add("ABA.y", b"3")
        ack = await b.commit("ABA.y", b"4")
    assert ack.count == 2 and ack.sequence == 4
    assert (await s.info()).state.messages == 4


def test_kv_update_many_atomic(js: jsdata.JetStream) -> None:
    kv = js.create_key_value(bucket="ATOMKV")
    with pytest.raises(errors.InvalidConfigError, match="allow_atomic"):
        kv.update_many({"a": b"1"}, atomic=True)
    cfg = js.stream("KV_ATOMKV").info().config
    cfg.allow_atomic = True
    js.update_stream(cfg)
    kv.put("z", b"0")
    revs = kv.update_many({"a": b"1", "b": b"2", "c.d": b"3"}, atomic=True)
    assert revs == {"a": 2, "b": 3, "c.d": 4}
    for k, r in revs.items():
        assert kv.get(k).revision == r
    # one refused value (over the bucket's max value size) changes nothing
    big = js.create_key_value(bucket="ATOMKV2", max_value_size=10)
    c2 = js.stream("KV_ATOMKV2").info().config
    c2.allow_atomic = True
    js.update_stream(c2)
    with pytest.raises(errors.ValueTooLargeError):
        big.update_many({"a": b"1", "b": b"x" * 50}, atomic=True)  # refused before sending
    assert big.status().values == 0
    with pytest.raises(errors.InvalidArgumentError, match="at most 1000"):
        kv.update_many({f"k{i}": b"v" for i in range(1001)}, atomic=True)
