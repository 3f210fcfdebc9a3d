"""Key-value buckets (API.md §5) on both surfaces, against real servers."""

from __future__ import annotations

import asyncio
import collections.abc
import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

import jsdata
from jsdata import aio, errors
from jsdata.client.config import KeyValueConfig, Placement, StreamSource, SubjectTransformConfig
from jsdata.kv.entry import KeyValueEntry, KeyValueOp, KeyValueStatus
from jsdata.kv.manager import _stream_config
from tests.helpers import await_for, await_refreshed, wait_for


async def await_status(kv: aio.KeyValue, cond: collections.abc.Callable[[KeyValueStatus], bool],
                       what: str) -> None:
    """Poll the bucket's status until ``cond`` holds (mirrors and sources are async)."""
    box: list[KeyValueStatus] = []

    async def refresh() -> None:
        box[:] = [await kv.status()]

    await await_refreshed(refresh, lambda: cond(box[0]), what=what)


async def _drain_initial(w: aio.KeyWatcher, timeout: float = 10.0) -> list[KeyValueEntry]:
    """Entries up to (not including) the initial-values None."""
    out = []
    while True:
        e = await w.next(timeout)
        if e is None:
            return out
        out.append(e)


# -- bucket layout and management (asyncio) ---------------------------------------------------

async def test_layout_matches_official_clients(ajs) -> None:
    kv = await ajs.create_key_value(
        bucket="profiles", description="people", history=5, ttl=60, max_value_size=1024,
        max_bytes=1 << 20, storage="memory", compression=True, metadata={"team": "data"})
    assert isinstance(kv, aio.KeyValue) and kv.bucket == "profiles"
    c = (await ajs.stream("KV_profiles")).cached_info().config
    assert c.name == "KV_profiles" and c.subjects == ["$KV.profiles.>"]
    assert c.description == "people"
    assert c.max_msgs_per_subject == 5 and c.max_msgs == -1 and c.max_consumers == -1
    assert c.max_age == 60 and c.duplicate_window == 60  # min(ttl, 2 min)
    assert c.max_msg_size == 1024 and c.max_bytes == 1 << 20
    assert c.storage == jsdata.StorageType.MEMORY and c.num_replicas == 1
    assert c.allow_rollup_hdrs and c.deny_delete and c.allow_direct and not c.mirror_direct
    assert c.discard == jsdata.DiscardPolicy.NEW
    assert str(c.compression) == "s2"
    assert c.metadata["team"] == "data"
    assert not c.allow_msg_ttl and not c.subject_delete_marker_ttl


async def test_layout_defaults(ajs) -> None:
    await ajs.create_key_value(bucket="plain")
    c = (await ajs.stream("KV_plain")).cached_info().config
    assert c.max_msgs_per_subject == 1 and c.max_bytes == -1 and c.max_msg_size == -1
    assert c.duplicate_window == 120 and not c.max_age
    assert c.storage == jsdata.StorageType.FILE and str(c.compression) == "none"
    await ajs.create_key_value(bucket="longttl", ttl=timedelta(hours=1))
    c = (await ajs.stream("KV_longttl")).cached_info().config
    assert c.max_age == 3600 and c.duplicate_window == 120  # capped at 2 minutes


async def test_history_limits_and_bad_names(ajs) -> None:
    with pytest.raises(errors.InvalidConfigError, match="history"):
        await ajs.create_key_value(bucket="h", history=65)
    kv = await ajs.create_key_value(bucket="h", history=64)
    assert (await kv.status()).history == 64
    for bad in ("a.b", "a b", "", "a*", "a>"):
        with pytest.raises(errors.InvalidBucketNameError):
            await ajs.create_key_value(bucket=bad)
        with pytest.raises(errors.InvalidNameError):
            await ajs.key_value(bad)
    with pytest.raises(errors.InvalidConfigError, match="histroy"):
        await ajs.create_key_value(bucket="x", histroy=2)  # unknown field, with a suggestion


async def test_create_is_idempotent_and_conflicts_raise(ajs) -> None:
    await ajs.create_key_value(bucket="b", history=2)
    again = await ajs.create_key_value(KeyValueConfig(bucket="b", history=2))
    assert again.bucket == "b"
    with pytest.raises(errors.BucketExistsError) as ei:
        await ajs.create_key_value(bucket="b", history=3)
    assert isinstance(ei.value, errors.StreamNameAlreadyInUseError)
    assert ei.value.err_code == 10058 and "'b'" in str(ei.value)


async def test_update_and_create_or_update(ajs) -> None:
    await ajs.create_key_value(bucket="u", history=2)
    kv = await ajs.update_key_value(bucket="u", history=7, description="more")
    st = await kv.status()
    assert st.history == 7 and st.config.description == "more"
    with pytest.raises(errors.BucketNotFoundError):
        await ajs.update_key_value(bucket="nope", history=2)
    kv = await ajs.create_or_update_key_value(bucket="cu", history=3)
    assert (await kv.status()).history == 3
    kv = await ajs.create_or_update_key_value(bucket="cu", history=4)
    assert (await kv.status()).history == 4


async def test_missing_and_bad_buckets(ajs) -> None:
    with pytest.raises(errors.BucketNotFoundError) as ei:
        await ajs.key_value("missing")
    assert isinstance(ei.value, KeyError) and "missing" in str(ei.value)
    with pytest.raises(errors.BucketNotFoundError):
        await ajs.delete_key_value("missing")
    await ajs.create_stream(name="KV_fake", subjects=["fake.>"])  # not a KV layout
    with pytest.raises(errors.BadBucketError):
        await ajs.key_value("fake")
    kv = await ajs.create_key_value(bucket="gone")
    await kv.put("k", b"v")
    await ajs.delete_key_value("gone")
    with pytest.raises(errors.BucketNotFoundError):
        await ajs.key_value("gone")
    with pytest.raises(errors.BucketNotFoundError):
        await kv.status()


async def test_names_and_statuses(ajs) -> None:
    for b in ("one", "two", "three"):
        await ajs.create_key_value(bucket=b, history=2)
    await ajs.create_stream(name="OTHER", subjects=["other.>"])
    names = [n async for n in ajs.key_value_store_names()]
    assert sorted(names) == ["one", "three", "two"]
    kv = await ajs.key_value("one")
    await kv.put("a", b"12345")
    await kv.put("a", b"678")
    sts = {s.bucket: s async for s in ajs.key_values()}
    assert set(sts) == {"one", "two", "three"}
    st = sts["one"]
    assert isinstance(st, KeyValueStatus)
    assert st.values == 2 and st.history == 2 and st.ttl == 0 and st.bytes > 8
    assert st.backing_store == "JetStream" and st.is_compressed is False
    assert st.stream_info.config.name == "KV_one"
    assert st.config.bucket == "one" and st.config.history == 2
    fresh = await kv.status()
    assert fresh.values == 2 and fresh.bucket == "one"


async def test_limit_marker_ttl_layout(ajs) -> None:
    kv = await ajs.create_key_value(bucket="lm", limit_marker_ttl=5)
    c = kv.stream.cached_info().config
    assert c.allow_msg_ttl and c.subject_delete_marker_ttl == 5
    st = await kv.status()
    assert st.limit_marker_ttl == 5 and st.config.limit_marker_ttl == 5


async def test_stream_config_translation(ajs) -> None:
    cfg = KeyValueConfig(bucket="agg", placement=Placement(cluster="c1", tags=["ssd"]),
                         sources=[StreamSource(name="s1"), StreamSource(name="KV_s2"),
                                  StreamSource(name="ORDERS", subject_transforms=[
                                      SubjectTransformConfig(src="o.>", dest="$KV.agg.>")]),
                                  StreamSource(name="agg", domain="hub")])
    sc = await _stream_config(ajs, cfg)
    assert sc.placement.cluster == "c1" and sc.placement.tags == ["ssd"]
    assert sc.subjects == ["$KV.agg.>"]
    s1, s2, orders, remote = sc.sources
    assert s1.name == "KV_s1" and s1.subject_transforms[0].src == "$KV.s1.>"
    assert s1.subject_transforms[0].dest == "$KV.agg.>"
    assert s2.name == "KV_s2" and s2.subject_transforms[0].src == "$KV.s2.>"
    assert orders.name == "ORDERS" and orders.subject_transforms[0].src == "o.>"
    # the same bucket in another domain: no transform needed (as nats.go)
    assert remote.name == "KV_agg" and not remote.subject_transforms
    assert cfg.sources[0].name == "s1"  # the caller's config is not changed
    m = await _stream_config(ajs, KeyValueConfig(bucket="m", mirror=StreamSource(name="src")))
    assert m.mirror.name == "KV_src" and m.mirror_direct and not m.subjects


async def test_mirror_bucket(ajs) -> None:
    src = await ajs.create_key_value(bucket="origin", history=3)
    await src.put("a", b"1")
    await src.put("b", b"2")
    mirror = await ajs.create_key_value(bucket="copy", mirror=StreamSource(name="origin"))
    c = mirror.stream.cached_info().config
    assert c.mirror.name == "KV_origin" and c.mirror_direct and not c.subjects
    # the mirror catches up asynchronously
    await await_status(mirror, lambda st: st.values >= 2, what="the mirror to catch up")
    assert (await mirror.get("a")).value == b"1"
    assert sorted(await mirror.list_keys()) == ["a", "b"]
    rev = await mirror.put("c", b"3")  # writes go to the origin bucket
    assert (await src.get("c")).revision == rev


async def test_sources_translate_subjects(ajs) -> None:
    s1 = await ajs.create_key_value(bucket="s1")
    s2 = await ajs.create_key_value(bucket="s2")
    await s1.put("x", b"from1")
    await s2.put("y", b"from2")
    agg = await ajs.create_key_value(bucket="agg", sources=[StreamSource(name="s1"),
                                                            StreamSource(name="s2")])
    await await_status(agg, lambda st: st.values >= 2, what="the sources to arrive")
    assert (await agg.get("x")).value == b"from1"
    assert (await agg.get("y")).value == b"from2"


async def test_republish(ajs) -> None:
    got: list[tuple[str, bytes]] = []

    async def on_msg(m) -> None:
        got.append((m.subject, m.data))

    sub = await ajs.nc.subscribe("repub.>", cb=on_msg)
    kv = await ajs.create_key_value(
        bucket="rp", republish=jsdata.client.config.RePublish(src="$KV.rp.>", dest="repub.>"))
    await kv.put("k1", b"v1")
    await await_for(lambda: bool(got), timeout=20, what="the republished message")
    await sub.unsubscribe()
    assert got == [("repub.k1", b"v1")]


# -- entries (asyncio) ------------------------------------------------------------------------

async def test_put_get_entry_fields(ajs) -> None:
    kv = await ajs.create_key_value(bucket="e", history=3)
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    r1 = await kv.put("sue.color", b"blue")
    r2 = await kv.put_string("sue.age", "43")
    assert r2 == r1 + 1
    e = await kv.get("sue.color")
    assert isinstance(e, KeyValueEntry)
    assert (e.bucket, e.key, e.value, e.revision, e.delta) == ("e", "sue.color", b"blue", r1, 0)
    assert e.operation is KeyValueOp.PUT and e.operation == "PUT"
    assert before < e.created < datetime.now(timezone.utc) + timedelta(seconds=5)
    assert (await kv.get("sue.age")).value == b"43"
    r3 = await kv.put("sue.color", bytearray(b"red"))
    assert (await kv.get("sue.color")).value == b"red"
    assert (await kv.get("sue.color", revision=r1)).value == b"blue"
    assert (await kv.get("sue.color", revision=r3)).revision == r3
    with pytest.raises(errors.KeyNotFoundError):
        await kv.get("sue.color", revision=r2)  # a revision of another key
    with pytest.raises(errors.KeyNotFoundError) as ei:
        await kv.get("nobody")
    assert isinstance(ei.value, KeyError) and "nobody" in str(ei.value)
    with pytest.raises(errors.KeyNotFoundError):
        await kv.get("sue.color", revision=999)


async def test_create_update_compare_and_set(ajs) -> None:
    kv = await ajs.create_key_value(bucket="cas", history=5)
    r1 = await kv.create("k", b"v1")
    with pytest.raises(errors.KeyExistsError) as ei:
        await kv.create("k", b"again")
    assert ei.value.err_code == 10071 and "'k'" in str(ei.value)
    r2 = await kv.update("k", b"v2", last_revision=r1)
    with pytest.raises(errors.KeyExistsError):
        await kv.update("k", b"stale", last_revision=r1)
    with pytest.raises(errors.KeyExistsError):
        await kv.update("new", b"x", last_revision=r2)  # expects a revision the key never had
    assert await kv.update("fresh", b"x", last_revision=0) > r2  # 0: the key must not exist
    assert (await kv.get("k")).value == b"v2"


async def test_create_over_delete_and_purge_markers(ajs) -> None:
    kv = await ajs.create_key_value(bucket="cm", history=5)
    await kv.put("k", b"v1")
    await kv.delete("k")
    r = await kv.create("k", b"v2")  # over a delete marker, as nats.go
    assert (await kv.get("k")).revision == r
    await kv.purge("k")
    assert (await kv.create("k", b"v3")) > r
    assert (await kv.get("k")).value == b"v3"


async def test_delete_purge_and_history(ajs) -> None:
    kv = await ajs.create_key_value(bucket="dp", history=10)
    revs = [await kv.put("k", f"v{i}") for i in range(3)]
    await kv.put("other", b"o")
    await kv.delete("k")
    h = await kv.history("k")
    assert [e.revision for e in h[:3]] == revs and [e.value for e in h[:3]] == [b"v0", b"v1",
                                                                                 b"v2"]
    assert [e.operation for e in h] == ["PUT", "PUT", "PUT", "DEL"] and h[-1].value == b""
    with pytest.raises(errors.KeyDeletedError) as ei:
        await kv.get("k")
    assert isinstance(ei.value, errors.KeyNotFoundError) and isinstance(ei.value, KeyError)
    assert "deleted" in str(ei.value)
    await kv.put("k", b"back")
    with pytest.raises(errors.KeyExistsError):
        await kv.delete("k", last_revision=revs[0])
    last = (await kv.get("k")).revision
    await kv.delete("k", last_revision=last)
    await kv.put("k", b"again")
    await kv.purge("k")
    h = await kv.history("k")
    assert len(h) == 1 and h[0].operation is KeyValueOp.PURGE
    with pytest.raises(errors.KeyDeletedError, match="purged"):
        await kv.get("k")
    with pytest.raises(errors.KeyExistsError):
        await kv.purge("other", last_revision=1)
    with pytest.raises(errors.KeyNotFoundError):
        await kv.history("never")
    assert {e.key for e in await kv.history("*")} == {"k", "other"}  # patterns work too


async def test_list_keys_filters_and_alias(ajs) -> None:
    kv = await ajs.create_key_value(bucket="lk", history=3)
    assert await kv.list_keys() == []
    assert [k async for k in kv.list_keys()] == []
    for k in ("a.x", "a.y", "b.x", "c"):
        await kv.put(k, b"1")
    await kv.put("a.x", b"2")  # two revisions: listed once
    await kv.delete("c")       # deleted: not listed
    assert sorted(await kv.list_keys()) == ["a.x", "a.y", "b.x"]
    assert sorted([k async for k in kv.list_keys("a.*")]) == ["a.x", "a.y"]
    assert sorted(await kv.list_keys("*.x", "a.y")) == ["a.x", "a.y", "b.x"]
    assert sorted(await kv.keys(">")) == ["a.x", "a.y", "b.x"]
    assert await kv.list_keys("zzz") == []
    with pytest.raises(errors.InvalidKeyError):
        kv.list_keys("a b")


async def test_purge_deletes(ajs) -> None:
    kv = await ajs.create_key_value(bucket="pd", history=10)
    for k in ("a", "b", "c"):
        await kv.put(k, b"1")
        await kv.put(k, b"2")
    await kv.delete("a")
    await kv.purge("b")
    await kv.purge_deletes()  # default: markers younger than 30 min stay, data goes
    ha = await kv.history("a")
    assert [e.operation for e in ha] == ["DEL"]
    assert [e.operation for e in await kv.history("b")] == ["PURGE"]
    assert len(await kv.history("c")) == 2
    await kv.purge_deletes(older_than=-1)  # every marker goes
    with pytest.raises(errors.KeyNotFoundError):
        await kv.history("a")
    with pytest.raises(errors.KeyNotFoundError):
        await kv.history("b")
    assert (await kv.status()).values == 2
    await kv.delete("c")
    await kv.purge_deletes(older_than=timedelta(hours=1))  # young marker kept
    assert [e.operation for e in await kv.history("c")] == ["DEL"]


async def test_invalid_keys(ajs) -> None:
    kv = await ajs.create_key_value(bucket="ik")
    for bad in (".a", "a.", "a..b", "a b", "", "a*", "a>", "ä", 5):
        with pytest.raises(errors.InvalidKeyError):
            await kv.put(bad, b"v")  # type: ignore[arg-type]
        with pytest.raises(errors.InvalidKeyError):
            await kv.get(bad)  # type: ignore[arg-type]
    for bad in ("a b", "a.>.b", ".a"):
        with pytest.raises(errors.InvalidKeyError):
            await kv.watch(bad)
    with pytest.raises(errors.InvalidKeyError):
        await kv.delete("a b")
    with pytest.raises(errors.InvalidKeyError):
        await kv.update_many({"ok": b"1", "not ok": b"2"})
    assert (await kv.status()).values == 0  # nothing was sent
    await kv.put("a-b_c/d=e.F1", b"fine")


async def test_value_too_large(ajs) -> None:
    kv = await ajs.create_key_value(bucket="big", max_value_size=16)
    await kv.put("ok", b"x" * 16)
    with pytest.raises(errors.ValueTooLargeError) as ei:
        await kv.put("huge", b"x" * 17)
    assert "'huge'" in str(ei.value) and "17" in str(ei.value) and "16" in str(ei.value)
    with pytest.raises(errors.ValueTooLargeError):
        await kv.create("huge", b"y" * 100)
    with pytest.raises(errors.ValueTooLargeError):
        await kv.update_many({"a": b"1", "huge": b"x" * 17})
    assert (await kv.status()).values == 1
    # the server counts headers too: a create (which carries an expectation header) of a
    # value right at the limit is refused by the server, mapped to the same error
    with pytest.raises(errors.ValueTooLargeError) as ei:
        await kv.create("edge", b"x" * 16)
    assert ei.value.err_code == 10054 and "'edge'" in str(ei.value)


async def test_per_key_ttl_needs_limit_marker_ttl(ajs) -> None:
    kv = await ajs.create_key_value(bucket="nottl")
    with pytest.raises(errors.LimitMarkerTTLNotEnabledError):
        await kv.create("k", b"v", ttl=5)
    with pytest.raises(errors.LimitMarkerTTLNotEnabledError):
        await kv.purge("k", ttl=5)
    assert (await kv.status()).values == 0


async def test_per_key_ttl_expires_with_marker(ajs) -> None:
    kv = await ajs.create_key_value(bucket="ttl", history=3, limit_marker_ttl=5)
    w = await kv.watch("k")
    assert await w.next(5) is None
    await kv.create("k", b"short", ttl=1)
    await kv.put("stay", b"v")
    assert (await w.next(5)).value == b"short"
    marker = await w.next(10)  # written by the server when the key expires
    assert marker.key == "k" and marker.operation is KeyValueOp.PURGE and marker.value == b""
    with pytest.raises(errors.KeyNotFoundError):
        await kv.get("k")
    assert await kv.list_keys() == ["stay"]
    await kv.create("k", b"again")  # over the server's marker
    await w.stop()


async def test_purge_with_ttl_marker_expires(ajs) -> None:
    kv = await ajs.create_key_value(bucket="pttl", limit_marker_ttl=5)
    await kv.put("k", b"v")
    await kv.purge("k", ttl=1)
    assert [e.operation for e in await kv.history("k")] == ["PURGE"]
    deadline = time.monotonic() + 30  # the marker's ttl is 1 s; the server sweeps later
    while True:
        try:
            await kv.history("k")
        except errors.KeyNotFoundError:
            break
        if time.monotonic() > deadline:
            pytest.fail("the purge marker did not expire")
        await asyncio.sleep(0.1)


# -- watchers (asyncio) -----------------------------------------------------------------------

async def test_watch_empty_bucket_none_promptly(ajs) -> None:
    kv = await ajs.create_key_value(bucket="empty")
    w = await kv.watch_all()
    assert await w.next(timeout=5) is None
    with pytest.raises(errors.JetStreamTimeoutError) as ei:
        await w.next(timeout=0.2)
    assert isinstance(ei.value, TimeoutError)
    await kv.put("k", b"v")
    e = await w.next(5)
    assert e.key == "k" and e.value == b"v"
    await w.stop()
    with pytest.raises(errors.MsgIteratorClosedError):
        await w.next(1)


async def test_watch_initial_values_then_live(ajs) -> None:
    kv = await ajs.create_key_value(bucket="w", history=5)
    await kv.put("sue.color", b"blue")
    await kv.put("sue.color", b"green")
    await kv.put("sue.age", b"43")
    await kv.put("bob.age", b"50")
    async with await kv.watch("sue.*") as w:
        init = await _drain_initial(w)
        assert [(e.key, e.value) for e in init] == [("sue.color", b"green"), ("sue.age", b"43")]
        assert init[-1].delta == 0
        await kv.put("bob.age", b"51")
        await kv.put("sue.age", b"44")
        await kv.delete("sue.color")
        e1, e2 = await w.next(5), await w.next(5)
        assert (e1.key, e1.value, e1.operation) == ("sue.age", b"44", "PUT")
        assert (e2.key, e2.operation) == ("sue.color", KeyValueOp.DEL)
    assert w.stopped


async def test_watch_options(ajs) -> None:
    kv = await ajs.create_key_value(bucket="wo", history=5)
    r1 = await kv.put("a", b"1")
    await kv.put("a", b"2")
    await kv.put("b", b"1")
    await kv.delete("b")
    await kv.put("c.x", b"1")

    w = await kv.watch_all(include_history=True)
    assert [(e.key, e.value) for e in await _drain_initial(w)] == [
        ("a", b"1"), ("a", b"2"), ("b", b"1"), ("b", b""), ("c.x", b"1")]
    await w.stop()

    w = await kv.watch_all(ignore_deletes=True)
    assert [e.key for e in await _drain_initial(w)] == ["a", "c.x"]
    await kv.delete("a")
    await kv.put("d", b"1")
    assert (await w.next(5)).key == "d"  # the delete was skipped
    await w.stop()

    w = await kv.watch_all(meta_only=True)
    init = await _drain_initial(w)
    assert [(e.key, e.value, e.operation) for e in init] == [
        ("b", b"", "DEL"), ("c.x", b"", "PUT"), ("a", b"", "DEL"), ("d", b"", "PUT")]
    await w.stop()

    w = await kv.watch_all(updates_only=True)
    with pytest.raises(errors.JetStreamTimeoutError):
        await w.next(0.3)  # no initial values and no None
    await kv.put("e", b"new")
    e = await w.next(5)
    assert e.key == "e" and e.value == b"new"
    await w.stop()

    w = await kv.watch_all(include_history=True, resume_from_revision=r1 + 1)
    got = await _drain_initial(w)
    assert got[0].revision == r1 + 1 and [x.revision for x in got] == sorted(
        x.revision for x in got)
    await w.stop()

    w = await kv.watch(["a", "c.*"], include_history=True)
    assert [e.key for e in await _drain_initial(w)] == ["a", "a", "c.x", "a"]
    await kv.put("c.y", b"1")
    await kv.put("zzz", b"1")
    await kv.put("a", b"3")
    assert [(await w.next(5)).key for _ in range(2)] == ["c.y", "a"]
    await w.stop()

    with pytest.raises(errors.InvalidArgumentError):
        await kv.watch_all(include_history=True, updates_only=True)


async def test_watch_iteration_and_stop(ajs) -> None:
    kv = await ajs.create_key_value(bucket="wi")
    await kv.put("a", b"1")
    w = await kv.watch_all()
    got = []

    async def consume() -> None:
        async for e in w:
            got.append(e)
            if e is None:
                await kv.put("b", b"2")

    task = asyncio.create_task(consume())
    await await_for(lambda: len(got) >= 3, timeout=20, what="a, None, b")
    await w.stop()
    await asyncio.wait_for(task, 5)  # iteration ended
    assert [e.key if e else None for e in got] == ["a", None, "b"]


@pytest.mark.parametrize("history,updates", [(1, False), (1, True), (5, True)])
async def test_watch_none_never_early_with_concurrent_writers(ajs, history, updates) -> None:
    kv = await ajs.create_key_value(bucket="busy", history=history)
    n = 5000
    await kv.update_many({f"init.{i}": b"0" for i in range(n)})
    stop = asyncio.Event()

    async def writer() -> None:
        i = 0
        while not stop.is_set():
            futs = []
            for _ in range(50):
                i += 1
                key = f"init.{(i * 7919) % n}" if updates and i % 2 else f"new.{i}"
                futs.append(await ajs.publish_async(f"$KV.busy.{key}", b"w"))
            for f in futs:
                await f

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.05)
    existing = set(await kv.list_keys())  # all certainly there before the watch starts
    w = await kv.watch_all()
    started = w._feed.info.created  # when the server took the watch's snapshot
    init = await _drain_initial(w, timeout=20)
    live = [await w.next(10) for _ in range(5)]  # the writer keeps going after the None
    stop.set()
    await task
    await w.stop()
    keys = [e.key for e in init]
    assert existing <= set(keys)  # never early: every key that existed is there
    assert all(e is not None for e in live)
    if not updates:  # exactly the initial values: nothing written after the watch started
        assert len(keys) == len(set(keys))
        assert all(e.created < started for e in init)
        assert all(e.created > started for e in live)
    # snapshots built on the same feed list each key once
    listed = await kv.list_keys()
    assert len(listed) == len(set(listed)) and existing <= set(listed)


# -- bulk, dict views, pandas, codecs (asyncio) ------------------------------------------------

async def test_update_many(ajs) -> None:
    kv = await ajs.create_key_value(bucket="bulk", history=2)
    revs = await kv.update_many({f"k{i}": str(i) for i in range(5000)})
    assert len(revs) == 5000 and sorted(revs.values()) == list(range(1, 5001))
    assert (await kv.get("k4999")).value == b"4999"
    more = await kv.update_many([("k1", b"x"), ("z", bytearray(b"y"))])
    assert set(more) == {"k1", "z"} and (await kv.get("k1")).value == b"x"
    assert await kv.update_many({}) == {}
    with pytest.raises(errors.InvalidArgumentError):
        await kv.update_many({"a": 5})  # type: ignore[dict-item]


async def test_async_dict_view(ajs) -> None:
    kv = await ajs.create_key_value(bucket="ad")
    d = kv.as_dict()  # json
    await d.set("a", {"x": 1})
    await d.update({"b": [1, 2]}, c="s")
    assert await d.getitem("a") == {"x": 1} and await d.get("c") == "s"
    assert await d.get("nope", 7) == 7
    with pytest.raises(KeyError):
        await d.getitem("nope")
    assert await d.contains("b") and not await d.contains("nope")
    assert not await d.contains(3) and not await d.contains("bad key")
    assert sorted(await d.keys()) == ["a", "b", "c"] and await d.count() == 3
    assert await d.to_dict() == {"a": {"x": 1}, "b": [1, 2], "c": "s"}
    assert sorted(await d.values(), key=str) == sorted([{"x": 1}, [1, 2], "s"], key=str)
    assert await d.pop("c") == "s" and await d.pop("c", None) is None
    with pytest.raises(KeyError):
        await d.pop("c")
    await d.delete("a")
    with pytest.raises(KeyError):
        await d.delete("a")
    await d.clear()
    assert await d.count() == 0
    await kv.put("raw", b"{not json")
    with pytest.raises(errors.DecodeError):
        await d.getitem("raw")


async def test_to_pandas(ajs) -> None:
    kv = await ajs.create_key_value(bucket="pdx", history=3)
    df = await kv.to_pandas()
    assert df.empty and df.index.name == "key"
    assert list(df.columns) == ["value", "_revision", "_created"]
    await kv.put("u2", json.dumps({"name": "bo", "age": 7}))
    await kv.put("u1", json.dumps({"name": "al", "age": 5, "tags": ["x"]}))
    await kv.put("u1", json.dumps({"name": "al", "age": 6}))
    await kv.put("gone", b"{}")
    await kv.delete("gone")
    df = await kv.to_pandas()
    assert list(df.index) == ["u1", "u2"] and df.index.name == "key"
    assert df.loc["u1", "age"] == 6 and df.loc["u2", "name"] == "bo"
    assert df.loc["u1", "_revision"] == 3 and str(df["_created"].dt.tz) == "UTC"
    await kv.put("n", b"5")
    df = await kv.to_pandas()  # not all objects: one value column
    assert list(df.columns) == ["value", "_revision", "_created"]
    assert df.loc["n", "value"] == 5 and df.loc["u2", "value"] == {"name": "bo", "age": 7}
    raw = await kv.to_pandas(codec="bytes", keys=["u1", "u2", "n"])
    assert list(raw.index) == ["n", "u1", "u2"] and raw.loc["n", "value"] == b"5"
    await kv.put("bad", b"{oops")
    with pytest.raises(errors.DecodeError) as ei:
        await kv.to_pandas()
    assert "bad" in str(ei.value) and ei.value.sequence == (await kv.get("bad")).revision


async def test_to_pandas_decodes_as_read_stream(ajs) -> None:
    """Object values go through the DataFrame codec's bulk decoder: the same columns and
    types as reading the same payloads from a stream (ISO-8601 strings become timestamps)."""
    import pandas as pd
    kv = await ajs.create_key_value(bucket="pdbulk")
    await kv.put("a", json.dumps({"n": 1, "at": "2024-05-01T10:00:00Z"}))
    await kv.put("b", json.dumps({"n": 2, "at": "2024-05-02T10:00:00Z", "x": "y"}))
    df = await kv.to_pandas()
    assert list(df.index) == ["a", "b"] and list(df["n"]) == [1, 2]
    assert str(df["at"].dtype).startswith("datetime64") and df.loc["b", "x"] == "y"
    assert pd.isna(df.loc["a", "x"])
    s = await ajs.create_stream(name="PDBULK", subjects=["pdbulk.>"])
    for k in ("a", "b"):
        await ajs.publish(f"pdbulk.{k}", (await kv.get(k)).value)
    frame = await s.to_pandas()
    assert frame[["n", "at", "x"]].dtypes.equals(df[["n", "at", "x"]].dtypes)


async def test_codecs(ajs) -> None:
    from jsdata.frames.codec import MsgpackCodec
    kv = await ajs.create_key_value(bucket="cd")

    class Upper:
        def encode(self, v: str) -> bytes:
            return v.upper().encode()

        def decode(self, b: bytes) -> str:
            return b.decode().lower()

    d = kv.as_dict(Upper())
    await d.set("k", "hello")
    assert (await kv.get("k")).value == b"HELLO" and await d.getitem("k") == "hello"
    d = kv.as_dict((lambda v: str(v * 2), lambda b: int(b) // 2))  # str result is UTF-8
    await d.set("n", 21)
    assert (await kv.get("n")).value == b"42" and await d.getitem("n") == 21
    for codec in ("msgpack", MsgpackCodec(), MsgpackCodec):
        d = kv.as_dict(codec)
        await d.set("m", {"a": [1, 2]})
        assert await d.getitem("m") == {"a": [1, 2]}
    d = kv.as_dict("str")
    await d.set("s", "é")
    assert (await kv.get("s")).value == "é".encode()
    with pytest.raises(errors.EncodeError):
        await d.set("s", b"bytes are not str")
    with pytest.raises(errors.EncodeError):
        await kv.as_dict("json").set("j", object())
    d = kv.as_dict("bytes")
    await d.set("b", b"\x00\x01")
    assert await d.getitem("b") == b"\x00\x01"
    with pytest.raises(errors.InvalidArgumentError):
        kv.as_dict("nope")
    with pytest.raises(errors.InvalidArgumentError):
        kv.as_dict(42)


async def test_reprs_use_cached_info_only(ajs) -> None:
    kv = await ajs.create_key_value(bucket="rep", history=4, ttl=30)
    await kv.put("k", b"v")
    await kv.status()
    await ajs.close()  # no network from here on
    r = repr(kv)
    assert "rep" in r and "history=4" in r and "ttl=30s" in r and "values=1" in r
    html = kv._repr_html_()
    assert "<table" in html and "KeyValue rep" in html and "KV_rep" in html
    e = KeyValueEntry("b", "k", b"v" * 100, 3, None, 0, KeyValueOp.DEL)
    assert "rev=3" in repr(e) and "DEL" in repr(e) and "..." in repr(e)
    assert KeyValueOp("del") is KeyValueOp.DEL and str(KeyValueOp.PURGE) == "PURGE"


# -- the blocking surface ---------------------------------------------------------------------

def test_blocking_entries_and_management(js) -> None:
    kv = js.create_key_value(bucket="profiles", history=5)
    assert isinstance(kv, jsdata.KeyValue) and kv.bucket == "profiles"
    assert js.key_value("profiles").bucket == "profiles"
    r1 = kv.put("sue.color", b"blue")
    kv.put_string("sue.age", "43")
    e = kv.get("sue.color")
    assert isinstance(e, jsdata.KeyValueEntry) and e.value == b"blue" and e.revision == r1
    r = kv.create("k", b"v")
    with pytest.raises(errors.KeyExistsError):
        kv.create("k", b"v")
    r = kv.update("k", b"v2", last_revision=r)
    with pytest.raises(errors.KeyExistsError):
        kv.update("k", b"v3", last_revision=r - 1)
    kv.delete("k")
    with pytest.raises(errors.KeyDeletedError):
        kv.get("k")
    kv.create("k", b"v4")
    kv.purge("k")
    assert [x.operation for x in kv.history("k")] == ["PURGE"]
    assert sorted(kv.list_keys()) == ["sue.age", "sue.color"]
    assert sorted(kv.keys("sue.*")) == ["sue.age", "sue.color"]
    kv.purge_deletes(older_than=-1)
    st = kv.status()
    assert st.bucket == "profiles" and st.values == 2 and st.history == 5
    assert sorted(js.key_value_store_names()) == ["profiles"]
    assert [s.bucket for s in js.key_values()] == ["profiles"]
    with pytest.raises(KeyError):
        js.key_value("missing")
    js.delete_key_value("profiles")
    with pytest.raises(errors.BucketNotFoundError):
        js.key_value("profiles")


def test_blocking_mapping_protocol(js) -> None:
    kv = js.create_key_value(bucket="m")
    assert len(kv) == 0 and list(kv) == [] and bool(kv)
    kv["a"] = b"1"
    kv["b.c"] = "two"
    assert kv["a"] == b"1" and kv["b.c"] == b"two"
    assert "a" in kv and "zz" not in kv and 5 not in kv and "bad key" not in kv
    assert len(kv) == 2 and sorted(kv) == ["a", "b.c"]
    assert isinstance(kv.get("a"), jsdata.KeyValueEntry)  # get stays the entry lookup
    with pytest.raises(KeyError):
        kv["zz"]
    del kv["a"]
    with pytest.raises(KeyError):
        kv["a"]  # deleted
    with pytest.raises(errors.KeyDeletedError):
        kv["a"]
    with pytest.raises(KeyError):
        del kv["a"]
    assert "a" not in kv and len(kv) == 1
    with pytest.raises(errors.InvalidKeyError):
        kv["bad key"] = b"x"


def test_blocking_dict_view(js) -> None:
    kv = js.create_key_value(bucket="dv")
    d = kv.as_dict()
    assert isinstance(d, collections.abc.MutableMapping) and d.codec == "json"
    d["a"] = {"x": 1}
    d.update({f"k{i}": i for i in range(500)}, z=[1])
    assert d["a"] == {"x": 1} and d["k499"] == 499 and d["z"] == [1]
    assert d.get("nope") is None and d.get("nope", 3) == 3
    assert "k1" in d and "nope" not in d and len(d) == 502
    assert dict(d.items())["k7"] == 7 and sorted(d)[:2] == ["a", "k0"]
    assert 499 in list(d.values())
    assert d.to_dict()["z"] == [1]
    assert d.pop("z") == [1] and d.pop("z", "gone") == "gone"
    assert d.setdefault("new", {"n": 1}) == {"n": 1} and d.setdefault("new", 5) == {"n": 1}
    del d["a"]
    assert "a" not in d
    assert kv["new"] == b'{"n":1}'
    s = kv.as_dict("str")
    s["t"] = "text"
    assert s["t"] == "text" and kv["t"] == b"text"
    d.clear()
    assert len(d) == 0 and len(kv) == 0


def test_blocking_watch(js) -> None:
    kv = js.create_key_value(bucket="bw", history=3)
    kv.put("a", b"1")
    with kv.watch_all() as w:
        assert isinstance(w, jsdata.KeyWatcher)
        assert w.next(5).key == "a"
        assert w.next(5) is None
        with pytest.raises(TimeoutError):
            w.next(timeout=0.2)
        kv.put("b", b"2")
        assert w.next(5).value == b"2"
    assert w.stopped

    w = kv.watch("*")
    got = []

    def consume() -> None:
        for e in w:
            got.append(e)

    t = threading.Thread(target=consume)
    t.start()
    for i in range(20):
        kv.put(f"k{i}", str(i))
    wait_for(lambda: len(got) >= 23, timeout=20, what="every update")
    w.stop()  # ends the iteration in the other thread
    t.join(5)
    assert not t.is_alive()
    assert [e.key if e else None for e in got[:3]] == ["a", "b", None]
    assert [e.key for e in got[3:]] == [f"k{i}" for i in range(20)]


def test_blocking_watch_concurrent_writers(js) -> None:
    kv = js.create_key_value(bucket="bcw")
    kv.update_many({f"init.{i}": b"0" for i in range(1000)})
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            kv.put(f"new.{i}", b"w")

    t = threading.Thread(target=writer)
    t.start()
    try:
        w = kv.watch_all()
        # The initial values are what the consumer's create response counted as pending.
        # The server's "created" time and that count are not one instant: a concurrent
        # write can be an initial value newer than "created" (failed this test once, in a
        # JSDATA_PURE_PYTHON=1 suite run). Every initial value was stored before the
        # response came, so before watch_all() returned (same host, same clock).
        returned = datetime.now(timezone.utc)
        init = []
        for e in w:
            if e is None:
                break
            init.append(e)
        w.stop()
    finally:
        stop.set()
        t.join(5)
    keys = {e.key for e in init}
    assert {f"init.{i}" for i in range(1000)} <= keys
    assert all(e.created <= returned for e in init)


def test_blocking_to_pandas_and_errors(js) -> None:
    kv = js.create_key_value(bucket="bp", max_value_size=64)
    kv.as_dict().update({"a": {"v": 1}, "b": {"v": 2}})
    df = kv.to_pandas()
    assert list(df.index) == ["a", "b"] and list(df["v"]) == [1, 2]
    with pytest.raises(errors.ValueTooLargeError):
        kv["big"] = b"x" * 65
    with pytest.raises(errors.LimitMarkerTTLNotEnabledError):
        kv.create("t", b"v", ttl=2)
    r = repr(kv)
    assert "bp" in r and kv._repr_html_().startswith("<div")


def test_blocking_domain_prefixes_writes(tmp_path) -> None:
    # As nats.go: with a domain / API prefix, writes go to <prefix>.$KV.<bucket>.<key>
    with jsdata.EmbeddedServer(store_dir=str(tmp_path / "s"), domain="hub") as srv, \
            jsdata.connect(srv.url, domain="hub") as js:
        kv = js.create_key_value(bucket="d", history=2)
        assert kv._core._put_pre == "$JS.hub.API.$KV.d."
        r = kv.put("k", b"v")
        assert kv.get("k").revision == r and kv.create("n", b"1") == r + 1
        kv.delete("k")
        assert [e.operation for e in kv.history("k")] == ["PUT", "DEL"]
        assert sorted(kv.keys()) == ["n"]
