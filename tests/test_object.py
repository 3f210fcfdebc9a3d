"""Object stores (API.md §6) on both surfaces, against real servers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
from datetime import datetime, timezone

import pytest

import jsdata
from jsdata import aio, errors
from jsdata.client.config import (
    ObjectLink,
    ObjectMeta,
    ObjectMetaOptions,
    ObjectStoreConfig,
    Placement,
)
from jsdata.objects.layout import ObjectInfo, ObjectStoreStatus
from jsdata.objects.manager import ObjectStoreManager


def _digest(data: bytes) -> str:
    return "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()


def _meta_subject(bucket: str, name: str) -> str:
    return f"$O.{bucket}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"


def _subject_counts(js, bucket: str) -> dict[str, int]:
    info = js.stream(f"OBJ_{bucket}").info(subjects_filter=">")
    return dict(info.state.subjects or {})


# -- buckets ------------------------------------------------------------------------------------

async def test_bucket_layout_matches_official_clients(ajs) -> None:
    obs = await ajs.create_object_store(
        bucket="configs", description="cfg files", ttl=3600, max_bytes=1 << 30,
        storage="memory", replicas=1, compression=True, metadata={"team": "data"})
    assert isinstance(obs, aio.ObjectStore) and obs.bucket == "configs"
    c = (await ajs.stream("OBJ_configs")).cached_info().config
    assert c.name == "OBJ_configs"
    assert c.subjects == ["$O.configs.C.>", "$O.configs.M.>"]
    assert c.description == "cfg files" and c.max_age == 3600 and c.max_bytes == 1 << 30
    assert c.storage == jsdata.StorageType.MEMORY and c.num_replicas == 1
    assert c.discard == jsdata.DiscardPolicy.NEW
    assert c.allow_rollup_hdrs and c.allow_direct
    assert str(c.compression) == "s2" and c.metadata["team"] == "data"

    await ajs.create_object_store(bucket="plain")
    c = (await ajs.stream("OBJ_plain")).cached_info().config
    assert c.max_bytes == -1 and not c.max_age and str(c.compression) == "none"
    assert c.storage == jsdata.StorageType.FILE


def test_every_config_field_reaches_the_stream() -> None:
    cfg = ObjectStoreConfig(bucket="b", description="d", ttl=5.0, max_bytes=10,
                            storage="memory", replicas=3,
                            placement=Placement(cluster="c1", tags=["ssd"]),
                            compression=True, metadata={"k": "v"})
    s = ObjectStoreManager._object_stream_config(cfg)
    j = s.to_json()
    assert j["name"] == "OBJ_b" and j["max_age"] == 5_000_000_000 and j["max_bytes"] == 10
    assert j["storage"] == "memory" and j["num_replicas"] == 3
    assert j["placement"] == {"cluster": "c1", "tags": ["ssd"]}
    assert j["compression"] == "s2" and j["metadata"] == {"k": "v"}
    assert j["discard"] == "new" and j["allow_rollup_hdrs"] and j["allow_direct"]
    assert j["description"] == "d"


def test_bucket_management(js) -> None:
    obs = js.create_object_store(bucket="b1", description="one")
    assert type(obs) is jsdata.ObjectStore
    assert js.create_object_store(bucket="b1", description="one").bucket == "b1"  # idempotent
    with pytest.raises(errors.BucketExistsError, match="b1") as ei:
        js.create_object_store(bucket="b1", description="other")
    assert isinstance(ei.value, errors.StreamNameAlreadyInUseError)
    assert js.update_object_store(bucket="b1", description="two").status().description == "two"
    with pytest.raises(errors.BucketNotFoundError):
        js.update_object_store(bucket="nope")
    js.create_or_update_object_store(bucket="b2", metadata={"a": "1"})
    js.create_or_update_object_store(bucket="b2", metadata={"a": "2"})
    assert js.object_store("b2").status().metadata["a"] == "2"
    js.create_key_value(bucket="notobj")  # not listed as an object store
    js.create_stream(name="OTHER", subjects=["x"])
    assert sorted(js.object_store_names()) == ["b1", "b2"]
    stats = sorted(js.object_stores(), key=lambda s: s.bucket)
    assert [s.bucket for s in stats] == ["b1", "b2"]
    assert all(isinstance(s, ObjectStoreStatus) for s in stats)
    js.delete_object_store("b2")
    with pytest.raises(errors.BucketNotFoundError) as ei:
        js.object_store("b2")
    assert isinstance(ei.value, KeyError)
    with pytest.raises(errors.BucketNotFoundError):
        js.delete_object_store("b2")
    for bad in ("a.b", "", "a b", "x*"):
        with pytest.raises(errors.InvalidBucketNameError):
            js.create_object_store(bucket=bad)
        with pytest.raises(errors.InvalidBucketNameError):
            js.object_store(bad)


def test_status(js) -> None:
    obs = js.create_object_store(bucket="st", description="d", ttl=60, storage="memory",
                                 compression=True, metadata={"m": "1"})
    obs.put_bytes("x", b"12345")
    st = obs.status()
    assert isinstance(st, ObjectStoreStatus)
    assert (st.bucket, st.description, st.ttl, st.storage, st.replicas, st.sealed) == \
        ("st", "d", 60.0, jsdata.StorageType.MEMORY, 1, False)
    assert st.size > 5 and st.backing_store == "JetStream" and st.is_compressed
    assert st.metadata == {"m": "1"} and st.stream_info.config.name == "OBJ_st"
    st2 = js.create_object_store(bucket="st2").status()
    assert st2.ttl == 0.0 and st2.metadata is None and not st2.is_compressed


# -- put / get --------------------------------------------------------------------------------

def test_put_get_and_wire_format(js) -> None:
    obs = js.create_object_store(bucket="wire")
    data = os.urandom(300_000)
    info = obs.put(ObjectMeta(name="dir/a.bin", description="desc", headers={"H": ["1", "2"]},
                              metadata={"k": "v"}), data)
    assert isinstance(info, ObjectInfo)
    assert (info.name, info.bucket, info.size, info.chunks) == ("dir/a.bin", "wire", 300_000, 3)
    assert info.digest == _digest(data) and info.mtime is not None and not info.deleted
    assert info.link is None and info.opts.max_chunk_size == 128 * 1024
    assert len(info.nuid) == 22 and info.nuid.isalnum()
    # the meta message, exactly as nats.go writes it
    s = js.stream("OBJ_wire")
    m = s.get_last_msg_for_subject(_meta_subject("wire", "dir/a.bin"))
    assert m.subject == "$O.wire.M.ZGlyL2EuYmlu" and m.headers["Nats-Rollup"] == "sub"
    body = json.loads(m.data)
    assert list(body) == ["name", "description", "headers", "metadata", "options", "bucket",
                          "nuid", "size", "mtime", "chunks", "digest"]
    assert body["options"] == {"max_chunk_size": 131072}
    assert body["headers"] == {"H": ["1", "2"]} and body["metadata"] == {"k": "v"}
    assert body["mtime"] == "0001-01-01T00:00:00Z" and body["size"] == 300_000
    assert body["digest"] == _digest(data)
    # chunks live on $O.<bucket>.C.<nuid>
    counts = _subject_counts(js, "wire")
    assert counts[f"$O.wire.C.{info.nuid}"] == 3
    chunk = s.get_msg(1)
    assert chunk.subject == f"$O.wire.C.{info.nuid}" and chunk.data == data[:131072]
    # reading back
    got = obs.get_info("dir/a.bin")
    assert got.nuid == info.nuid and got.size == 300_000 and got.description == "desc"
    assert got.headers == {"H": ["1", "2"]} and got.metadata == {"k": "v"}
    assert isinstance(got.mtime, datetime) and got.mtime.tzinfo is not None
    assert obs.get_bytes("dir/a.bin") == data
    with obs.get("dir/a.bin") as r:
        assert isinstance(r, jsdata.ObjectResult) and isinstance(r, io.BufferedIOBase)
        assert r.info.nuid == info.nuid and r.read() == data


def test_put_variants(js, tmp_path) -> None:
    obs = js.create_object_store(bucket="var")
    assert obs.put_string("s", "héllo").size == len("héllo".encode())
    assert obs.get_string("s") == "héllo"
    assert obs.put_bytes("b", bytearray(b"xyz")).size == 3
    assert obs.get_bytes("b") == b"xyz"
    assert obs.put("mv", memoryview(b"0123456789")[2:5]).size == 3
    assert obs.get_bytes("mv") == b"234"
    # readers, iterables, empty objects, custom chunk sizes
    data = os.urandom(50_000)
    assert obs.put("reader", io.BytesIO(data)).digest == _digest(data)
    assert obs.put("iter", (data[i:i + 999] for i in range(0, len(data), 999))).size == 50_000
    assert obs.get_bytes("iter") == data
    e = obs.put("empty", b"")
    assert (e.size, e.chunks, e.digest) == (0, 0, _digest(b""))
    assert obs.get_bytes("empty") == b"" and obs.put("none").size == 0
    small = obs.put(ObjectMeta(name="small", opts=ObjectMetaOptions(max_chunk_size=1000)), data)
    assert small.chunks == 50 and small.opts.max_chunk_size == 1000
    assert obs.get_bytes("small") == data
    assert obs.put("kw", data, chunk_size=7000).chunks == 8
    assert obs.get_bytes("kw") == data
    assert obs.put({"name": "mapping", "description": "m"}, b"1").description == "m"
    # files
    p = tmp_path / "in.bin"
    p.write_bytes(data)
    info = obs.put_file(p)
    assert info.name == str(p) and obs.get_bytes(str(p)) == data
    assert obs.put_file(str(p), name="named").name == "named"
    out = tmp_path / "out.bin"
    got = obs.get_file("named", out)
    assert out.read_bytes() == data and got.size == len(data)
    with pytest.raises(errors.ObjectNotFoundError):
        obs.get_file("missing", tmp_path / "nothing.bin")
    assert not (tmp_path / "nothing.bin").exists()
    with pytest.raises(errors.InvalidArgumentError):
        obs.put("bad", 12345)
    with pytest.raises(errors.InvalidArgumentError):
        obs.put("bad", io.StringIO("text"))
    with pytest.raises(errors.ObjectNotFoundError):
        obs.get_info("bad")


async def test_put_variants_async(ajs) -> None:
    obs = await ajs.create_object_store(bucket="avar")
    data = os.urandom(200_000)

    class AsyncReader:
        def __init__(self) -> None:
            self.buf = io.BytesIO(data)

        async def read(self, n: int = -1) -> bytes:
            await asyncio.sleep(0)
            return self.buf.read(n)

    async def agen():
        for i in range(0, len(data), 10_000):
            yield data[i:i + 10_000]

    assert (await obs.put("r", AsyncReader())).digest == _digest(data)
    assert (await obs.put("g", agen())).size == len(data)
    assert await obs.get_bytes("r") == data and await obs.get_bytes("g") == data
    # copy an object by handing one ObjectResult to put()
    async with obs.open("r") as src:
        copied = await obs.put("copy", src)
    assert copied.digest == _digest(data)
    assert await obs.get_bytes("copy") == data


def test_overwrite_purges_previous_chunks(js) -> None:
    obs = js.create_object_store(bucket="ow")
    first = obs.put_bytes("x", os.urandom(400_000))
    second = obs.put_bytes("x", b"small")
    assert first.nuid != second.nuid
    counts = _subject_counts(js, "ow")
    assert f"$O.ow.C.{first.nuid}" not in counts
    assert counts[f"$O.ow.C.{second.nuid}"] == 1
    assert counts[_meta_subject("ow", "x")] == 1  # rolled up
    assert obs.get_bytes("x") == b"small"


def test_failed_put_leaves_nothing_visible(js) -> None:
    obs = js.create_object_store(bucket="fail")
    old = obs.put_bytes("x", b"old")

    def broken():
        yield os.urandom(300_000)
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed"):
        obs.put("x", broken())
    with pytest.raises(RuntimeError):
        obs.put("new", broken())
    assert obs.get_bytes("x") == b"old" and obs.get_info("x").nuid == old.nuid
    with pytest.raises(errors.ObjectNotFoundError):
        obs.get_info("new")
    counts = _subject_counts(js, "fail")
    chunk_subjects = [s for s in counts if ".C." in s]
    assert chunk_subjects == [f"$O.fail.C.{old.nuid}"]  # the partial chunks were purged


def test_bucket_limits_fail_the_put_cleanly(js) -> None:
    obs = js.create_object_store(bucket="tiny", max_bytes=200_000)
    with pytest.raises(errors.JetStreamError):
        obs.put_bytes("big", os.urandom(500_000))
    with pytest.raises(errors.ObjectNotFoundError):
        obs.get_info("big")
    assert obs.put_bytes("fits", b"ok").size == 2


def test_missing_objects_and_buckets(js) -> None:
    obs = js.create_object_store(bucket="miss")
    for call in (lambda: obs.get("nope"), lambda: obs.get_bytes("nope"),
                 lambda: obs.get_info("nope"), lambda: obs.delete("nope"),
                 lambda: obs.update_meta("nope", ObjectMeta(name="x"))):
        with pytest.raises(errors.ObjectNotFoundError) as ei:
            call()
        assert isinstance(ei.value, KeyError) and "nope" in str(ei.value)
    for bad in ("", None, 5):
        with pytest.raises(errors.InvalidObjectNameError):
            obs.get_info(bad)
        with pytest.raises(errors.InvalidObjectNameError):
            obs.put_bytes(bad, b"x")
    js.delete_object_store("miss")
    with pytest.raises(errors.BucketNotFoundError):
        obs.get_info("x")
    with pytest.raises(errors.BucketNotFoundError):
        obs.status()


# -- delete, update_meta, links, seal ---------------------------------------------------------

def test_delete_semantics(js) -> None:
    obs = js.create_object_store(bucket="del")
    info = obs.put_bytes("x", os.urandom(300_000))
    obs.delete("x")
    with pytest.raises(errors.ObjectNotFoundError):
        obs.get_info("x")
    with pytest.raises(errors.ObjectNotFoundError):
        obs.get("x")
    d = obs.get_info("x", show_deleted=True)
    assert d.deleted and d.size == 0 and d.chunks == 0 and d.digest is None
    assert d.nuid == info.nuid
    body = json.loads(js.stream("OBJ_del").get_last_msg_for_subject(
        _meta_subject("del", "x")).data)
    assert body["deleted"] is True and "digest" not in body and body["size"] == 0
    assert f"$O.del.C.{info.nuid}" not in _subject_counts(js, "del")
    with obs.get("x", show_deleted=True) as r:
        assert r.read() == b""
    obs.delete("x")  # deleting again is fine
    assert obs.list() == []
    assert [i.name for i in obs.list(show_deleted=True)] == ["x"]
    assert obs.put_bytes("x", b"back").size == 4 and obs.get_bytes("x") == b"back"


def test_update_meta(js) -> None:
    obs = js.create_object_store(bucket="upd")
    data = os.urandom(1000)
    orig = obs.put(ObjectMeta(name="a", opts=ObjectMetaOptions(max_chunk_size=100)), data)
    obs.put_bytes("b", b"b")
    obs.update_meta("a", ObjectMeta(name="a", description="new", metadata={"x": "1"},
                                    headers={"H": "v"}))
    i = obs.get_info("a")
    assert (i.description, i.metadata, i.headers) == ("new", {"x": "1"}, {"H": ["v"]})
    assert i.nuid == orig.nuid and i.opts.max_chunk_size == 100 and i.digest == orig.digest
    with pytest.raises(errors.ObjectExistsError):
        obs.update_meta("a", ObjectMeta(name="b"))
    obs.update_meta("a", ObjectMeta(name="c", description="renamed"))
    with pytest.raises(errors.ObjectNotFoundError):
        obs.get_info("a")
    assert _meta_subject("upd", "a") not in _subject_counts(js, "upd")
    assert obs.get_info("c").description == "renamed" and obs.get_bytes("c") == data
    obs.delete("b")
    obs.update_meta("c", {"name": "b"})  # renaming onto a deleted object is allowed
    assert obs.get_bytes("b") == data
    obs.update_meta("b", {"description": "kept name"})
    assert obs.get_info("b").description == "kept name"


def test_links(js) -> None:
    obs = js.create_object_store(bucket="lnk")
    other = js.create_object_store(bucket="lnk2")
    target = obs.put_bytes("target", b"payload")
    remote = other.put_bytes("remote", b"far away")
    li = obs.add_link("ln", target)
    assert li.link == ObjectLink(bucket="lnk", name="target") and li.is_link()
    assert obs.get_bytes("ln") == b"payload"
    with obs.get("ln") as r:
        assert r.info.name == "target"
    assert obs.add_link("far", remote).link.bucket == "lnk2"
    assert obs.get_bytes("far") == b"far away"
    body = json.loads(js.stream("OBJ_lnk").get_last_msg_for_subject(
        _meta_subject("lnk", "ln")).data)
    assert body["options"] == {"link": {"bucket": "lnk", "name": "target"}}
    with pytest.raises(errors.ObjectLinkError):
        obs.add_link("ln2", obs.get_info("ln"))  # link to a link
    obs.put_bytes("gone", b"x")
    gone = obs.get_info("gone")
    obs.delete("gone")
    with pytest.raises(errors.ObjectLinkError):
        obs.add_link("ln3", obs.get_info("gone", show_deleted=True))
    with pytest.raises(errors.ObjectExistsError):
        obs.add_link("target", remote)  # an object of that name exists
    assert obs.add_link("ln", remote).link.name == "remote"  # re-pointing a link is fine
    assert obs.get_bytes("ln") == b"far away"
    bl = obs.add_bucket_link("all", other)
    assert bl.link == ObjectLink(bucket="lnk2", name=None)
    with pytest.raises(errors.ObjectLinkError, match="bucket"):
        obs.get("all")
    assert obs.add_bucket_link("all2", "lnk2").link.bucket == "lnk2"
    with pytest.raises(errors.ObjectLinkError):
        obs.put(ObjectMeta(name="p", opts=ObjectMetaOptions(link=ObjectLink(bucket="lnk"))),
                b"x")
    assert gone.name == "gone"
    obs.delete("ln")
    with pytest.raises(errors.ObjectNotFoundError):
        obs.get("ln")


def test_seal(js, server) -> None:
    obs = js.create_object_store(bucket="seal")
    obs.put_bytes("a", b"kept")
    with jsdata.connect(server.url) as js2:
        stale = js2.object_store("seal")  # bound before sealing: learns it from the server
        obs.seal()
        assert obs.status().sealed and obs.cached_status().sealed
        for call in (lambda: obs.put_bytes("b", b"x"), lambda: obs.delete("a"),
                     lambda: obs.update_meta("a", ObjectMeta(name="a", description="d")),
                     lambda: obs.add_link("l", obs.get_info("a")),
                     lambda: obs.open("w", "wb"),
                     lambda: stale.put_bytes("b", os.urandom(200_000)),
                     lambda: stale.delete("a")):
            with pytest.raises(errors.BucketSealedError) as ei:
                call()
            assert "'seal'" in str(ei.value)  # names the bucket
        assert obs.get_bytes("a") == b"kept" and stale.get_bytes("a") == b"kept"
        assert [i.name for i in obs.list()] == ["a"]
        assert "sealed" in repr(obs)


# -- watch and list ---------------------------------------------------------------------------

def test_watch_blocking(js) -> None:
    obs = js.create_object_store(bucket="w")
    obs.put_bytes("a", b"1")
    obs.put_bytes("a", b"22")
    obs.put_bytes("b", b"3")
    with obs.watch() as w:
        assert type(w) is jsdata.ObjectWatcher
        first = [w.next(5), w.next(5)]
        assert [(i.name, i.size) for i in first] == [("a", 2), ("b", 1)]
        assert all(isinstance(i.mtime, datetime) for i in first)
        assert w.next(5) is None
        obs.put_bytes("c", b"cc")
        obs.delete("b")
        nxt = w.next(5)
        assert (nxt.name, nxt.size) == ("c", 2)
        d = w.next(5)
        assert d.name == "b" and d.deleted
        with pytest.raises(errors.JetStreamTimeoutError):
            w.next(0.2)
    w.stop()
    assert list(w) == []


async def test_watch_options_async(ajs) -> None:
    obs = await ajs.create_object_store(bucket="wa")
    w = await obs.watch()
    assert await w.next(5) is None  # empty bucket: the marker at once
    await w.stop()
    await obs.put_bytes("a", b"1")
    await obs.put_bytes("a", b"2")
    await obs.put_bytes("d", b"x")
    await obs.delete("d")
    hist = await obs.watch(include_history=True)
    seen = []
    async for info in hist:
        if info is None:
            break
        seen.append((info.name, info.deleted))
    assert seen == [("a", False), ("d", True)]  # meta messages roll up: one per name
    await hist.stop()
    w = await obs.watch(ignore_deletes=True)
    items = []
    while (i := await w.next(5)) is not None:
        items.append(i.name)
    assert items == ["a"]
    await w.stop()
    w = await obs.watch(updates_only=True)
    with pytest.raises(errors.JetStreamTimeoutError):
        await w.next(0.3)  # no initial values, no marker
    await obs.put_bytes("n", b"new")
    assert (await w.next(5)).name == "n"
    many = await asyncio.wait_for(_put_and_collect(obs, w), 10)
    assert [i.name for i in many] == ["m1", "m2"]
    async with w:
        pass
    with pytest.raises(StopAsyncIteration):
        await w.__anext__()


async def _put_and_collect(obs, w) -> list:
    await obs.put_bytes("m1", b"1")
    await obs.put_bytes("m2", b"2")
    out: list = []
    while len(out) < 2:
        out += await w._next_many()
    return out


def test_list(js) -> None:
    obs = js.create_object_store(bucket="ls")
    assert obs.list() == [] and obs.list(show_deleted=True) == []
    for n in ("b", "a", "c"):
        obs.put_bytes(n, n.encode() * 3)
    obs.delete("c")
    infos = obs.list()
    assert sorted(i.name for i in infos) == ["a", "b"]
    assert all(isinstance(i, ObjectInfo) and i.size == 3 for i in infos)
    assert sorted(i.name for i in obs.list(show_deleted=True)) == ["a", "b", "c"]


# -- the asyncio surface ----------------------------------------------------------------------

async def test_async_surface(ajs, tmp_path) -> None:
    obs = await ajs.create_object_store(bucket="aio")
    assert type(obs) is aio.ObjectStore
    data = os.urandom(333_333)
    info = await obs.put_bytes("x", data)
    assert info.digest == _digest(data)
    r = await obs.get("x")
    assert type(r) is aio.ObjectResult
    assert await r.read(10) == data[:10] and r.tell() == 10
    r.seek(-5, io.SEEK_END)
    assert await r.read() == data[-5:]
    await r.close()
    async with obs.open("w", "wb", description="streamed") as f:
        for i in range(0, len(data), 4096):
            await f.write(data[i:i + 4096])
        assert f.tell() == len(data)
    assert f.info.description == "streamed" and f.info.digest == _digest(data)
    f2 = await obs.open("w")
    assert await f2.read() == data
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    assert (await obs.put_file(p, name="file")).size == len(data)
    await obs.get_file("file", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == data
    assert [n async for n in ajs.object_store_names()] == ["aio"]
    assert [s.bucket async for s in ajs.object_stores()] == ["aio"]
    assert (await obs.status()).bucket == "aio"
    await obs.update_meta("x", ObjectMeta(name="y"))
    lk = await obs.add_link("lk", await obs.get_info("y"))
    assert await obs.get_bytes("lk") == data and lk.link.name == "y"
    await obs.delete("y")
    assert sorted(i.name for i in await obs.list()) == ["file", "lk", "w"]
    await obs.seal()
    with pytest.raises(errors.BucketSealedError):
        await obs.put_bytes("z", b"1")
    await ajs.delete_object_store("aio")


# -- reprs ------------------------------------------------------------------------------------

def test_reprs_from_cached_info(server) -> None:
    js = jsdata.connect(server.url)
    obs = js.create_object_store(bucket="rep", description="<b>x</b>")
    info = obs.put(ObjectMeta(name="n<i>", description="d"), b"abc")
    st = obs.status()
    js.close()
    assert repr(obs) == f"<ObjectStore 'rep' size={st.size} B (cached)>"  # status() refreshed it
    assert "rep" in obs._repr_html_() and "<b>x</b>" not in obs._repr_html_()
    r = repr(info)
    assert r.startswith("ObjectInfo(name='n<i>', bucket='rep', size=3, chunks=1")
    h = info._repr_html_()
    assert "n&lt;i&gt;" in h and "SHA-256=" in h and "<i>" not in h
    assert "rep" in st._repr_html_()
    link = ObjectInfo(name="l", bucket="rep", opts=ObjectMetaOptions(
        link=ObjectLink(bucket="rep", name="n")), mtime=datetime.now(timezone.utc))
    assert "link=rep/n" in repr(link) and "rep/n" in link._repr_html_()
