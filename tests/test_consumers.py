"""Consumer management (API.md §3: create / update / get / delete / list) on real servers."""

from __future__ import annotations

import pytest

import jsdata
from jsdata import errors
from tests.helpers import wait_for


@pytest.fixture
def stream(js) -> jsdata.Stream:
    s = js.create_stream(name="S", subjects=["s.>"], storage="memory")
    for i in range(4):
        js.publish(f"s.{i % 2}", str(i))
    return s


def test_create_on_jetstream_and_on_stream(js, stream) -> None:
    c = js.create_consumer("S", durable="C1", ack_policy="explicit")
    assert isinstance(c, jsdata.Consumer)
    assert (c.stream, c.name) == ("S", "C1")
    info = c.cached_info()
    assert isinstance(info, jsdata.ConsumerInfo)
    assert info.stream_name == "S" and info.name == "C1" and info.num_pending == 4
    assert info.config.durable_name == "C1"
    assert info.config.ack_policy == jsdata.AckPolicy.EXPLICIT
    c2 = stream.create_consumer(durable="C2", ack_policy=jsdata.AckPolicy.NONE)
    assert c2.stream == "S" and c2.cached_info().config.ack_policy == "none"
    cfg = jsdata.ConsumerConfig(durable_name="C3", deliver_policy="last")
    c3 = stream.create_consumer(cfg)
    assert c3.cached_info().config.deliver_policy == jsdata.DeliverPolicy.LAST
    assert sorted(stream.consumer_names()) == ["C1", "C2", "C3"]


def test_create_is_idempotent_and_conflict_raises(js, stream) -> None:
    js.create_consumer("S", durable="C", ack_policy="explicit", max_deliver=3)
    same = js.create_consumer("S", durable="C", ack_policy="explicit", max_deliver=3)
    assert same.name == "C"
    with pytest.raises(errors.ConsumerExistsError) as ei:
        js.create_consumer("S", durable="C", ack_policy="explicit", max_deliver=5)
    assert isinstance(ei.value, errors.APIError)
    assert ei.value.err_code in (10148, 10105, 10013) and ei.value.description
    assert js.consumer("S", "C").cached_info().config.max_deliver == 3


def test_update_consumer(js, stream) -> None:
    c = stream.create_consumer(durable="C", ack_policy="explicit", max_deliver=3)
    u = js.update_consumer("S", durable="C", ack_policy="explicit", max_deliver=7,
                           description="updated")
    assert u.cached_info().config.max_deliver == 7
    assert c.info().config.description == "updated"
    u2 = stream.update_consumer(durable="C", ack_policy="explicit", max_deliver=8)
    assert u2.cached_info().config.max_deliver == 8


def test_update_missing_consumer(js, stream) -> None:
    with pytest.raises(errors.ConsumerDoesNotExistError) as ei:
        js.update_consumer("S", durable="NOPE", ack_policy="explicit")
    e = ei.value
    assert isinstance(e, errors.ConsumerNotFoundError) and isinstance(e, KeyError)
    assert e.err_code == 10149
    with pytest.raises(errors.ConsumerNotFoundError):
        stream.update_consumer(durable="NOPE")
    assert list(stream.consumer_names()) == []


def test_create_or_update_consumer(js, stream) -> None:
    c = js.create_or_update_consumer("S", durable="C", ack_policy="explicit")
    assert c.cached_info().config.max_deliver == -1
    c = stream.create_or_update_consumer(durable="C", ack_policy="explicit", max_deliver=4)
    assert c.cached_info().config.max_deliver == 4
    assert js.consumer("S", "C").cached_info().config.max_deliver == 4


def test_consumer_get_and_delete(js, stream) -> None:
    stream.create_consumer(durable="C")
    c = js.consumer("S", "C")
    assert c.name == "C" and c.cached_info().num_pending == 4
    assert stream.consumer("C").name == "C"
    js.delete_consumer("S", "C")
    with pytest.raises(errors.ConsumerNotFoundError) as ei:
        js.consumer("S", "C")
    assert isinstance(ei.value, KeyError) and ei.value.err_code == 10014
    with pytest.raises(errors.ConsumerNotFoundError):
        stream.delete_consumer("C")
    with pytest.raises(errors.ConsumerNotFoundError):
        c.info()


def test_consumer_on_missing_stream(js) -> None:
    with pytest.raises(errors.StreamNotFoundError):
        js.create_consumer("NOPE", durable="C")
    with pytest.raises(errors.StreamNotFoundError):
        js.consumer("NOPE", "C")
    with pytest.raises(errors.StreamNotFoundError):
        list(js.consumer_names("NOPE"))


def test_info_and_cached_info(js, stream) -> None:
    c = stream.create_consumer(durable="C", ack_policy="explicit")
    assert c.cached_info().num_pending == 4
    js.publish("s.9", b"x")
    assert c.cached_info().num_pending == 4
    # the server updates a consumer's pending count asynchronously: poll for it
    wait_for(lambda: c.info().num_pending == 5, what="num_pending to reach 5")
    info = c.info()
    assert info.num_pending == 5 and c.cached_info() is info
    assert info.delivered.stream_seq == 0 and info.ack_floor.stream_seq == 0
    assert info.created is not None and info.created.tzinfo is not None
    assert "C" in repr(c)


def test_ephemeral_consumer_gets_a_name(js, stream) -> None:
    c = stream.create_consumer(inactive_threshold=30.0)
    assert c.name and c.cached_info().config.durable_name is None
    assert c.cached_info().config.inactive_threshold == 30.0
    assert js.consumer("S", c.name).name == c.name
    named = stream.create_consumer(name="EPH", inactive_threshold=10)
    assert named.name == "EPH"


def test_empty_durable_is_ephemeral(js, stream) -> None:
    c = stream.create_consumer(durable="", inactive_threshold=5)
    assert c.name and c.cached_info().config.durable_name is None


def test_name_and_durable_must_match(js, stream) -> None:
    with pytest.raises(errors.InvalidConfigError):
        stream.create_consumer(name="A", durable="B")
    assert stream.create_consumer(name="A", durable="A").name == "A"


def test_filter_subject_and_subjects(js, stream) -> None:
    c = stream.create_consumer(durable="F1", filter_subject="s.1")
    assert c.cached_info().num_pending == 2
    assert c.cached_info().config.filter_subject == "s.1"
    msgs = list(c.fetch_no_wait(10))
    assert [m.subject for m in msgs] == ["s.1", "s.1"]
    c2 = stream.create_consumer(durable="F2", filter_subjects=["s.0", "s.1"])
    assert c2.cached_info().num_pending == 4
    assert c2.cached_info().config.filter_subjects == ["s.0", "s.1"]
    c3 = stream.create_consumer(durable="F3", filter_subjects=["s.0"])
    assert c3.cached_info().num_pending == 2
    with pytest.raises(errors.InvalidConfigError):
        stream.create_consumer(durable="F4", filter_subject="s.0", filter_subjects=["s.1"])
    with pytest.raises(errors.InvalidSubjectError):
        stream.create_consumer(durable="F5", filter_subject="s. bad")
    with pytest.raises(errors.InvalidSubjectError):
        stream.create_consumer(durable="F6", filter_subjects=["s.>.x"])


def test_push_and_pull_type_errors(js, stream) -> None:
    pc = js.create_push_consumer("S", durable="P", deliver_subject="deliver.p")
    assert isinstance(pc, jsdata.PushConsumer)
    with pytest.raises(errors.NotPullConsumerError) as ei:
        js.consumer("S", "P")
    assert isinstance(ei.value, errors.ConsumerTypeError)
    with pytest.raises(errors.NotPullConsumerError):
        stream.consumer("P")
    stream.create_consumer(durable="L")
    with pytest.raises(errors.NotPushConsumerError):
        js.push_consumer("S", "L")
    assert js.push_consumer("S", "P").name == "P"
    with pytest.raises(errors.InvalidConfigError):
        js.create_consumer("S", durable="X", deliver_subject="deliver.x")
    with pytest.raises(errors.InvalidConfigError):
        js.create_push_consumer("S", durable="Y")
    js.delete_consumer("S", "P")  # delete works for push consumers too
    assert sorted(stream.consumer_names()) == ["L"]


@pytest.mark.parametrize("bad", ["", "a.b", "a b", "a*", "a>", "a/b", "a\\b"])
def test_invalid_consumer_names(js, stream, bad) -> None:
    if bad:  # durable="" means no durable name (an ephemeral consumer), as in Go
        with pytest.raises(errors.InvalidConsumerNameError):
            js.create_consumer("S", durable=bad)
        with pytest.raises(errors.InvalidConsumerNameError):
            js.create_consumer("S", name=bad)
    with pytest.raises(errors.InvalidConsumerNameError):
        js.consumer("S", bad)
    with pytest.raises(errors.InvalidConsumerNameError):
        js.delete_consumer("S", bad)
    with pytest.raises(errors.InvalidStreamNameError):
        js.consumer(bad or "a.b", "C")
    assert list(stream.consumer_names()) == []


def test_unknown_consumer_config_field(js, stream) -> None:
    with pytest.raises(errors.InvalidConfigError) as ei:
        stream.create_consumer(durable="C", ack_polcy="explicit")
    assert "ack_polcy" in str(ei.value)


def test_list_consumers_and_names(js, stream) -> None:
    for n in ("A", "B", "C"):
        stream.create_consumer(durable=n)
    assert sorted(js.consumer_names("S")) == ["A", "B", "C"]
    infos = list(js.list_consumers("S"))
    assert sorted(i.name for i in infos) == ["A", "B", "C"]
    assert all(isinstance(i, jsdata.ConsumerInfo) and i.num_pending == 4 for i in infos)
    assert sorted(i.name for i in stream.list_consumers()) == ["A", "B", "C"]


def test_list_consumers_paging(js, stream) -> None:
    n = 300  # CONSUMER.LIST pages at 256
    for i in range(n):
        stream.create_consumer(durable=f"C{i:03d}", ack_policy="none")
    names = list(stream.consumer_names())
    assert len(names) == n and len(set(names)) == n
    infos = list(stream.list_consumers())
    assert len({i.name for i in infos}) == n


# -- asyncio -------------------------------------------------------------------------------------

async def test_async_consumer_management(ajs) -> None:
    s = await ajs.create_stream(name="S", subjects=["s.>"], storage="memory")
    await ajs.publish("s.1", b"x")
    c = await ajs.create_consumer("S", durable="C", ack_policy="explicit")
    assert isinstance(c, jsdata.aio.Consumer)
    assert (await c.info()).num_pending == 1
    with pytest.raises(errors.ConsumerExistsError):
        await s.create_consumer(durable="C", ack_policy="none")
    with pytest.raises(errors.ConsumerDoesNotExistError):
        await s.update_consumer(durable="NOPE")
    u = await s.update_consumer(durable="C", ack_policy="explicit", max_deliver=2)
    assert u.cached_info().config.max_deliver == 2
    cu = await ajs.create_or_update_consumer("S", durable="D")
    assert cu.name == "D"
    assert sorted([n async for n in ajs.consumer_names("S")]) == ["C", "D"]
    assert sorted([i.name async for i in s.list_consumers()]) == ["C", "D"]
    assert (await s.consumer("D")).name == "D"
    await ajs.create_push_consumer("S", durable="P", deliver_subject="d.p")
    with pytest.raises(errors.NotPullConsumerError):
        await ajs.consumer("S", "P")
    with pytest.raises(errors.NotPushConsumerError):
        await ajs.push_consumer("S", "C")
    await s.delete_consumer("D")
    with pytest.raises(errors.ConsumerNotFoundError):
        await ajs.consumer("S", "D")
