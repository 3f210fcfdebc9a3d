"""Wire interop of key-value buckets with nats-py's own KV API, both ways (real server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import nats.js.errors
import pytest

from jsdata import errors
from jsdata.kv.entry import KeyValueOp


@pytest.fixture
async def npy(server) -> AsyncIterator[nats.js.JetStreamContext]:
    """nats-py's JetStream context on the same server."""
    nc = await nats.connect(server.url)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def _npy_initial(w, timeout: float = 5.0) -> list:
    out = []
    while True:
        e = await w.updates(timeout)
        if e is None:
            return out
        out.append(e)


async def test_jsdata_writes_nats_py_reads(ajs, npy) -> None:
    kv = await ajs.create_key_value(bucket="jw", history=5)
    r = [await kv.put("sue.color", c) for c in (b"blue", b"green", b"red")]
    await kv.put("sue.age", b"43")
    await kv.put("gone", b"x")
    await kv.delete("gone")
    await kv.put("wiped", b"1")
    await kv.put("wiped", b"2")
    await kv.purge("wiped")
    await kv.update_many({"bulk.1": b"a", "bulk.2": b"b"})

    nkv = await npy.key_value("jw")
    e = await nkv.get("sue.color")
    assert e.value == b"red" and e.revision == r[2] and e.bucket == "jw"
    assert (await nkv.get("sue.color", revision=r[0])).value == b"blue"
    with pytest.raises(nats.js.errors.KeyNotFoundError):
        await nkv.get("gone")  # nats-py reports a deleted key as not found
    with pytest.raises(nats.js.errors.KeyNotFoundError):
        await nkv.get("wiped")
    h = await nkv.history("sue.color")
    assert [x.value for x in h] == [b"blue", b"green", b"red"]
    assert [x.revision for x in h] == r
    assert [x.operation for x in await nkv.history("gone")] == [None, "DEL"]
    assert [x.operation for x in await nkv.history("wiped")] == ["PURGE"]
    assert sorted(await nkv.keys()) == ["bulk.1", "bulk.2", "sue.age", "sue.color"]
    st = await nkv.status()
    assert st.values == (await kv.status()).values and st.history == 5

    w = await nkv.watchall()
    init = await _npy_initial(w)
    ops = {x.key: x.operation for x in init}
    assert ops == {"sue.color": None, "sue.age": None, "gone": "DEL", "wiped": "PURGE",
                   "bulk.1": None, "bulk.2": None}
    await kv.put("live", b"now")
    await kv.delete("sue.age")
    live1, live2 = await w.updates(5), await w.updates(5)
    assert (live1.key, live1.value, live1.operation) == ("live", b"now", None)
    assert (live2.key, live2.operation) == ("sue.age", "DEL")
    await w.stop()

    # compare-and-set across clients
    rev = await nkv.update("sue.color", b"purple", last=r[2])
    assert (await kv.get("sue.color")).revision == rev
    with pytest.raises(nats.js.errors.KeyWrongLastSequenceError):
        await nkv.update("sue.color", b"stale", last=r[2])


async def test_nats_py_writes_jsdata_reads(ajs, npy) -> None:
    nkv = await npy.create_key_value(bucket="nw", history=5)  # nats-py: no direct get
    r1 = await nkv.put("a", b"1")
    r2 = await nkv.put("a", b"2")
    await nkv.create("b", b"new")
    await nkv.put("c", b"x")
    await nkv.delete("c")
    await nkv.put("d", b"y")
    await nkv.purge("d")

    kv = await ajs.key_value("nw")
    assert not kv.stream.cached_info().config.allow_direct  # reads use STREAM.MSG.GET
    e = await kv.get("a")
    assert (e.value, e.revision, e.operation) == (b"2", r2, KeyValueOp.PUT)
    assert e.created is not None
    assert (await kv.get("a", revision=r1)).value == b"1"
    with pytest.raises(errors.KeyDeletedError):
        await kv.get("c")
    with pytest.raises(errors.KeyDeletedError, match="purged"):
        await kv.get("d")
    assert [x.operation for x in await kv.history("c")] == ["PUT", "DEL"]
    assert [x.operation for x in await kv.history("d")] == ["PURGE"]
    assert sorted(await kv.list_keys()) == ["a", "b"]
    w = await kv.watch_all()
    init = []
    while (x := await w.next(5)) is not None:
        init.append(x)
    assert {x.key: str(x.operation) for x in init} == {"a": "PUT", "b": "PUT", "c": "DEL",
                                                         "d": "PURGE"}
    await nkv.put("e", b"live")
    assert (await w.next(5)).key == "e"
    await w.stop()

    # create over nats-py's delete marker, CAS with nats-py revisions
    rc = await kv.create("c", b"back")
    assert (await nkv.get("c")).revision == rc
    with pytest.raises(errors.KeyExistsError):
        await kv.update("a", b"stale", last_revision=r1)
    r3 = await kv.update("a", b"3", last_revision=r2)
    assert (await nkv.get("a")).revision == r3
    df = await kv.to_pandas(codec="bytes")
    assert sorted(df.index) == ["a", "b", "c", "e"] and df.loc["a", "value"] == b"3"


async def test_bucket_layouts_and_create_across_clients(ajs, npy) -> None:
    await ajs.create_key_value(bucket="lay", history=3)
    # nats-py lays buckets out differently (no direct get; allow_msg_ttl on), so its
    # create_key_value on a jsdata bucket is refused by the server, like any config change.
    with pytest.raises(nats.js.errors.BadRequestError):
        await npy.create_key_value(bucket="lay", history=3)
    nkv = await npy.key_value("lay")  # opening it works
    await nkv.put("k", b"v")
    await npy.create_key_value(bucket="nlay", history=3)
    with pytest.raises(errors.BucketExistsError):
        await ajs.create_key_value(bucket="nlay", history=3)
    kv = await ajs.key_value("nlay")
    await kv.put("k", b"v")
    assert sorted([n async for n in ajs.key_value_store_names()]) == ["lay", "nlay"]


async def test_ttl_markers_across_clients(ajs, npy) -> None:
    kv = await ajs.create_key_value(bucket="tm", history=3, limit_marker_ttl=5)
    nkv = await npy.key_value("tm")
    nw = await nkv.watchall()
    assert await nw.updates(5) is None
    w = await kv.watch_all()
    assert await w.next(5) is None

    await kv.create("by_jsdata", b"short", ttl=1)
    await nkv.create("by_nats_py", b"short", msg_ttl=1)
    await kv.put("stays", b"v")
    await kv.put("purged", b"v")
    await kv.purge("purged", ttl=60)  # a client-written purge marker with its own TTL

    seen: dict[str, list] = {}
    for _ in range(5):  # 4 puts/creates + purge, then the server's two expiry markers
        e = await w.next(15)
        seen.setdefault(e.key, []).append(e.operation)
    for _ in range(2):
        e = await w.next(15)
        seen.setdefault(e.key, []).append(e.operation)
    assert seen["by_jsdata"] == ["PUT", "PURGE"] and seen["by_nats_py"] == ["PUT", "PURGE"]
    assert seen["purged"] == ["PUT", "PURGE"]

    nseen: dict[str, list] = {}
    for _ in range(7):
        e = await nw.updates(15)
        nseen.setdefault(e.key, []).append(e.operation)
    # nats-py >= 2.16 maps the server's Nats-Marker-Reason (MaxAge) to PURGE as well
    assert nseen["by_jsdata"] == [None, "PURGE"] and nseen["by_nats_py"] == [None, "PURGE"]
    await w.stop()
    await nw.stop()

    with pytest.raises(errors.KeyNotFoundError):
        await kv.get("by_nats_py")
    assert sorted(await kv.list_keys()) == ["stays"]
    # nats-py's get does not look at Nats-Marker-Reason: on a server-written marker it
    # returns an entry with an empty value instead of raising KeyNotFoundError.
    marker = await nkv.get("by_jsdata")
    assert not marker.value and marker.operation is None
    with pytest.raises(nats.js.errors.KeyNotFoundError):
        await nkv.get("purged")  # client markers carry KV-Operation: nats-py sees them
    await asyncio.sleep(0)
