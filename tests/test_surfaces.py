"""The two surfaces: ``jsdata`` (blocking twins) and ``jsdata.aio`` share one async core."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Iterator

import pytest

import jsdata
from jsdata import errors

# The foundation's exported names (API.md "Exported names", §1-§4)
BLOCKING_CLASSES = ["JetStream", "Stream", "Consumer", "Msg", "MessageBatch", "PubAckFuture"]
SHARED_CLASSES = ["PubAck", "StreamInfo", "ConsumerInfo", "RawStreamMsg", "Headers"]
CONFIG_NAMES = ["StreamConfig", "ConsumerConfig", "OrderedConsumerConfig", "AckPolicy",
                "DeliverPolicy", "ReplayPolicy", "RetentionPolicy", "StorageType", "DiscardPolicy"]

# every server-talking method of the foundation, per asyncio class
CORO_METHODS = {
    "JetStream": ["close", "create_stream", "update_stream", "create_or_update_stream", "stream",
                  "delete_stream", "stream_name_by_subject", "account_info", "create_consumer",
                  "update_consumer", "create_or_update_consumer", "consumer", "delete_consumer",
                  "publish", "publish_msg", "publish_async", "publish_msg_async",
                  "publish_async_complete"],
    "Stream": ["info", "purge", "get_msg", "get_last_msg_for_subject", "delete_msg",
               "secure_delete_msg", "create_consumer", "update_consumer",
               "create_or_update_consumer", "consumer", "delete_consumer"],
    "Consumer": ["info", "fetch", "fetch_bytes", "fetch_no_wait", "next"],
    "Msg": ["ack", "double_ack", "nak", "nak_with_delay", "in_progress", "term",
            "term_with_reason"],
}
LISTING = {"JetStream": ["list_streams", "stream_names", "list_consumers", "consumer_names"],
           "Stream": ["list_consumers", "consumer_names"]}


@pytest.mark.parametrize("name", ["connect", "aio", "errors", "EmbeddedServer", "local_cluster",
                                  "JetStreamError", *BLOCKING_CLASSES, *SHARED_CLASSES,
                                  *CONFIG_NAMES])
def test_exported_from_jsdata(name: str) -> None:
    assert getattr(jsdata, name) is not None
    assert name in dir(jsdata) and name in jsdata.__all__


@pytest.mark.parametrize("name", ["connect", *BLOCKING_CLASSES, *SHARED_CLASSES])
def test_exported_from_aio(name: str) -> None:
    assert getattr(jsdata.aio, name) is not None
    assert name in dir(jsdata.aio)


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError):
        jsdata.NoSuchThing  # noqa: B018
    with pytest.raises(AttributeError):
        jsdata.aio.NoSuchThing  # noqa: B018


@pytest.mark.parametrize("name", BLOCKING_CLASSES)
def test_blocking_classes_are_twins(name: str) -> None:
    b, a = getattr(jsdata, name), getattr(jsdata.aio, name)
    assert b is not a and b.__name__ == name and b.__module__.startswith("jsdata")
    assert b._core_cls is a


@pytest.mark.parametrize("name", SHARED_CLASSES + ["JetStreamError"])
def test_shared_classes_are_the_same(name: str) -> None:
    if name == "JetStreamError":
        assert jsdata.JetStreamError is errors.JetStreamError
        return
    assert getattr(jsdata, name) is getattr(jsdata.aio, name)


@pytest.mark.parametrize("cls,method", [(c, m) for c, ms in CORO_METHODS.items() for m in ms])
def test_aio_methods_are_coroutines_and_blocking_are_not(cls: str, method: str) -> None:
    a = getattr(getattr(jsdata.aio, cls), method)
    b = getattr(getattr(jsdata, cls), method)
    assert inspect.iscoroutinefunction(a), f"aio {cls}.{method} is not a coroutine function"
    assert not inspect.iscoroutinefunction(b), f"blocking {cls}.{method} is a coroutine function"
    assert b.__doc__, f"blocking {cls}.{method} lost its docstring"


@pytest.mark.parametrize("cls,method", [(c, m) for c, ms in LISTING.items() for m in ms])
def test_listing_methods_exist(cls: str, method: str) -> None:
    assert callable(getattr(getattr(jsdata.aio, cls), method))
    assert callable(getattr(getattr(jsdata, cls), method))


def test_blocking_signatures_follow_the_core() -> None:
    a = inspect.signature(jsdata.aio.Consumer.fetch)
    b = inspect.signature(jsdata.Consumer.fetch)
    assert list(a.parameters) == list(b.parameters)
    assert list(inspect.signature(jsdata.JetStream.publish).parameters)[:3] == [
        "self", "subject", "data"]


# -- objects crossing the surfaces ----------------------------------------------------------------

def test_blocking_results_are_twins(js) -> None:
    s = js.create_stream(name="S", subjects=["s.>"], storage="memory")
    assert type(s) is jsdata.Stream and isinstance(s._core, jsdata.aio.Stream)
    assert type(js.stream("S")) is jsdata.Stream
    c = s.create_consumer(durable="C")
    assert type(c) is jsdata.Consumer and type(js.consumer("S", "C")) is jsdata.Consumer
    ack = js.publish("s.1", b"x")
    assert type(ack) is jsdata.PubAck
    f = js.publish_async("s.1", b"y")
    assert type(f) is jsdata.PubAckFuture
    f.result(timeout=5)
    b = c.fetch(2, max_wait=2)
    assert type(b) is jsdata.MessageBatch
    msgs = list(b)
    assert all(type(m) is jsdata.Msg for m in msgs)
    assert type(s.get_msg(1)) is jsdata.RawStreamMsg
    assert type(s.info()) is jsdata.StreamInfo and type(c.info()) is jsdata.ConsumerInfo
    names = js.stream_names()
    assert isinstance(names, Iterator) and not hasattr(names, "__anext__")
    assert list(names) == ["S"]
    assert all(type(i) is jsdata.StreamInfo for i in js.list_streams())
    assert all(type(i) is jsdata.ConsumerInfo for i in s.list_consumers())
    assert s.name == "S" and c.name == "C" and c.stream == "S"


def test_blocking_twin_arguments_are_unwrapped(js) -> None:
    s = js.create_stream(name="S", subjects=["s.>"], storage="memory")
    m = jsdata.Msg(subject="s.m", data=b"twin", headers={"K": "v"})
    assert type(m) is jsdata.Msg and isinstance(m._core, jsdata.aio.Msg)
    assert js.publish_msg(m).sequence == 1
    assert s.get_msg(1).headers["K"] == "v"
    cfg = jsdata.StreamConfig(name="S2", subjects=["s2"], storage="memory")
    assert js.create_stream(cfg).name == "S2"


async def test_aio_results_are_core_objects(ajs) -> None:
    s = await ajs.create_stream(name="S", subjects=["s.>"], storage="memory")
    assert type(s) is jsdata.aio.Stream
    c = await s.create_consumer(durable="C")
    assert type(c) is jsdata.aio.Consumer
    await ajs.publish("s.1", b"x")
    b = await c.fetch(1, max_wait=2)
    assert type(b) is jsdata.aio.MessageBatch and hasattr(b, "__anext__")
    m = await b.__anext__()
    assert type(m) is jsdata.aio.Msg
    names = ajs.stream_names()
    assert hasattr(names, "__anext__") and not inspect.iscoroutine(names)
    assert [n async for n in names] == ["S"]
    f = await ajs.publish_async("s.1", b"y")
    assert type(f) is jsdata.aio.PubAckFuture and (await f).sequence == 2


def test_same_behaviour_on_both_surfaces(server) -> None:
    """One core: the same calls give the same results through either surface."""
    with jsdata.connect(server.url) as js:
        js.create_stream(name="B", subjects=["b.>"], storage="memory")
        backs = [js.publish("b.x", str(i), msg_id=str(i % 2)) for i in range(3)]

    async def aio_side() -> list:
        async with await jsdata.aio.connect(server.url) as ajs:
            await ajs.create_stream(name="A", subjects=["a.>"], storage="memory")
            return [await ajs.publish("a.x", str(i), msg_id=str(i % 2)) for i in range(3)]

    aacks = asyncio.run(aio_side())
    assert [(a.sequence, a.duplicate) for a in backs] == [(a.sequence, a.duplicate)
                                                         for a in aacks]


def test_blocking_call_on_the_loop_thread_is_refused(js) -> None:
    result: list[BaseException | None] = []
    done = threading.Event()

    def on_loop() -> None:
        try:
            js.account_info()
            result.append(None)
        except BaseException as e:  # noqa: BLE001 - inspected below
            result.append(e)
        done.set()

    js._lt.loop.call_soon_threadsafe(on_loop)
    assert done.wait(5)
    assert isinstance(result[0], RuntimeError) and "jsdata.aio" in str(result[0])
    assert js.account_info().streams == 0  # nothing broke


def test_blocking_api_after_close(server) -> None:
    js = jsdata.connect(server.url)
    s = js.create_stream(name="S", subjects=["s.>"], storage="memory")
    c = s.create_consumer(durable="C")
    js.close()
    with pytest.raises(errors.ConnectionClosedError):
        js.publish("s.x", b"x")
    with pytest.raises(errors.ConnectionClosedError):
        s.info()
    with pytest.raises(errors.ConnectionClosedError):
        c.fetch(1)
    with pytest.raises(errors.ConnectionClosedError):
        js.publish_async("s.x", b"x")
    with pytest.raises(errors.NotConnectedError):  # ConnectionClosedError is one
        list(js.stream_names())


async def test_aio_api_after_close(server) -> None:
    ajs = await jsdata.aio.connect(server.url)
    s = await ajs.create_stream(name="S", subjects=["s.>"], storage="memory")
    await ajs.close()
    with pytest.raises(errors.ConnectionClosedError):
        await ajs.publish("s.x", b"x")
    with pytest.raises(errors.ConnectionClosedError):
        await s.info()
    with pytest.raises(errors.ConnectionClosedError):
        await ajs.publish_async("s.x", b"x")


def test_two_blocking_connections_are_independent(server) -> None:
    a = jsdata.connect(server.url)
    b = jsdata.connect(server.url)
    try:
        assert a._lt is not b._lt
        a.create_stream(name="S", subjects=["s.>"], storage="memory")
        a.close()
        assert b.publish("s.1", b"x").sequence == 1
    finally:
        a.close()
        b.close()


def test_reprs(js) -> None:
    s = js.create_stream(name="S", subjects=["s.>"], storage="memory")
    c = s.create_consumer(durable="C")
    assert "S" in repr(s) and "C" in repr(c) and "JetStream" in repr(js)
    assert "PubAck" in repr(js.publish("s.1", b"x"))
