"""Errors that name things: every not-found / already-exists / mismatch error says which
stream, consumer, bucket, key or object, and which fields differ; a publish that timed out
says that only a retry with msg_id is safe. Both surfaces, against a real server."""

from __future__ import annotations

import pytest

from jsdata import errors


def test_stream_errors_name_the_stream(js) -> None:
    js.create_stream(name="EN1", subjects=["en1.>"], storage="memory")
    for call in (lambda: js.stream("NOPE1"), lambda: js.delete_stream("NOPE1"),
                 lambda: js.update_stream(name="NOPE1", subjects=["n.>"]),
                 lambda: js.create_consumer("NOPE1", durable="C")):
        with pytest.raises(errors.StreamNotFoundError) as ei:
            call()
        assert "'NOPE1'" in str(ei.value) and ei.value.stream == "NOPE1"
        assert isinstance(ei.value, KeyError)


def test_stream_mismatch_names_the_fields(js) -> None:
    js.create_stream(name="EN2", subjects=["en2.>"], storage="memory")
    with pytest.raises(errors.StreamNameAlreadyInUseError) as ei:
        js.create_stream(name="EN2", subjects=["other2.>"], storage="memory", max_msgs=10)
    msg = str(ei.value)
    assert "'EN2'" in msg
    assert "subjects: ['other2.>'] (existing: ['en2.>'])" in msg
    assert "max_msgs: 10 (existing: -1)" in msg
    assert "storage" not in msg  # the same in both: not named
    assert len(ei.value.differences) == 2


def test_overlapping_subjects_name_the_other_stream(js) -> None:
    js.create_stream(name="EN3", subjects=["en3.>"], storage="memory")
    with pytest.raises(errors.StreamSubjectsOverlapError) as ei:
        js.create_stream(name="EN3B", subjects=["en3.a"], storage="memory")
    assert "'EN3B'" in str(ei.value) and "'en3.a' (captured by 'EN3')" in str(ei.value)


def test_consumer_errors_name_consumer_and_stream(js) -> None:
    s = js.create_stream(name="EN4", subjects=["en4.>"], storage="memory")
    with pytest.raises(errors.ConsumerNotFoundError) as ei:
        s.consumer("NOC")
    assert "consumer 'NOC' not found on stream 'EN4'" in str(ei.value)
    assert (ei.value.stream, ei.value.consumer) == ("EN4", "NOC")
    with pytest.raises(errors.ConsumerNotFoundError, match="'NOC'.*'EN4'"):
        js.delete_consumer("EN4", "NOC")
    s.create_consumer(durable="C1", filter_subject="en4.a")
    with pytest.raises(errors.ConsumerExistsError) as ei:
        s.create_consumer(durable="C1", filter_subject="en4.b")
    msg = str(ei.value)
    assert "consumer 'C1' already exists on stream 'EN4'" in msg
    assert "filter_subject: 'en4.b' (existing: 'en4.a')" in msg
    assert ei.value.differences == ["filter_subject: 'en4.b' (existing: 'en4.a')"]


def test_message_errors_name_stream_and_message(js) -> None:
    s = js.create_stream(name="EN5", subjects=["en5.>"], storage="memory")
    with pytest.raises(errors.MsgNotFoundError, match=r"stream 'EN5' \(sequence 9\)"):
        s.get_msg(9)
    with pytest.raises(errors.MsgNotFoundError, match="'en5.none'"):
        s.get_last_msg_for_subject("en5.none")
    d = js.create_stream(name="EN5D", subjects=["en5d.>"], storage="memory", allow_direct=True)
    with pytest.raises(errors.MsgNotFoundError, match=r"stream 'EN5D' \(sequence 3\)"):
        d.get_msg(3)


def test_bucket_key_and_object_errors_name_them(js) -> None:
    with pytest.raises(errors.BucketNotFoundError, match="'NOKV6'"):
        js.key_value("NOKV6")
    kv = js.create_key_value(bucket="EN6", history=1)
    with pytest.raises(errors.BucketExistsError) as ei:
        js.create_key_value(bucket="EN6", history=5)
    assert "'EN6'" in str(ei.value) and "history: 5 (existing: 1)" in str(ei.value)
    with pytest.raises(errors.KeyNotFoundError, match="'missing'.*'EN6'"):
        kv.get("missing")
    with pytest.raises(errors.ObjectNotFoundError, match="'nothing'.*'EN6O'"):
        js.create_object_store(bucket="EN6O").get_info("nothing")
    with pytest.raises(errors.BucketExistsError) as ei:
        js.create_object_store(bucket="EN6O", max_bytes=1000)
    assert "'EN6O'" in str(ei.value) and "max_bytes: 1000 (existing: -1)" in str(ei.value)


async def test_errors_name_things_async(ajs) -> None:
    with pytest.raises(errors.StreamNotFoundError, match="'NOPE7'"):
        await ajs.stream("NOPE7")
    s = await ajs.create_stream(name="EN7", subjects=["en7.>"], storage="memory")
    with pytest.raises(errors.StreamNameAlreadyInUseError, match="subjects: \\['x7.>'\\]"):
        await ajs.create_stream(name="EN7", subjects=["x7.>"], storage="memory")
    with pytest.raises(errors.ConsumerNotFoundError, match="'NOC'.*'EN7'"):
        await s.consumer("NOC")
    await s.create_consumer(durable="C", ack_policy="explicit")
    with pytest.raises(errors.ConsumerExistsError, match="ack_policy: 'none'"):
        await s.create_consumer(durable="C", ack_policy="none")


# -- publish timeouts and msg_id --------------------------------------------------------------

def test_publish_timeout_says_retry_is_safe_only_with_msg_id(server, js) -> None:
    """The issue's case: a publish timed out while the server was down, the buffered
    message was stored after the reconnect; a retry with the same msg_id is deduplicated."""
    js.create_stream(name="EN8", subjects=["en8.>"], storage="file")
    server.stop()
    with pytest.raises(errors.PublishTimeoutError) as ei:
        js.publish("en8.a", b"order-1", msg_id="order-1", timeout=0.3)
    e = ei.value
    assert isinstance(e, TimeoutError) and isinstance(e, errors.APITimeoutError)
    assert "msg_id" in str(e) and "'en8.a'" in str(e) and "retrying is safe only" in str(e)
    server.start()
    ack = js.publish("en8.a", b"order-1", msg_id="order-1", timeout=10)  # the safe retry
    s = js.stream("EN8")
    assert s.info().state.messages == 1  # stored once, whichever send got there first
    assert ack.sequence == 1


async def test_publish_timeout_async(server, ajs) -> None:
    await ajs.create_stream(name="EN9", subjects=["en9.>"], storage="file")
    server.stop()
    with pytest.raises(errors.PublishTimeoutError, match="msg_id"):
        await ajs.publish("en9.a", b"x", timeout=0.3)
    f = await ajs.publish_async("en9.b", b"y", timeout=0.3)
    with pytest.raises(errors.PublishTimeoutError, match="msg_id"):
        await f.wait(timeout=10)
