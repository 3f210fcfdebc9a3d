"""Wire interop with nats-py's object store, both ways, on a real server."""

from __future__ import annotations

import base64
import hashlib
import os

import nats
import pytest
from nats.js import api as napi

from jsdata import errors
from jsdata.client.config import ObjectMeta, ObjectMetaOptions


@pytest.fixture
async def nc(server):
    conn = await nats.connect(server.url)
    try:
        yield conn
    finally:
        await conn.close()


def _digest(data: bytes) -> str:
    return "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()


async def test_natspy_reads_what_jsdata_writes(ajs, nc) -> None:
    obs = await ajs.create_object_store(bucket="to_natspy", description="from jsdata")
    big = os.urandom(1_000_000)
    await obs.put(ObjectMeta(name="dir/big.bin", description="big one",
                             headers={"X-Kind": ["blob"]}), big)
    await obs.put_string("small.txt", "hello nats-py")
    await obs.put(ObjectMeta(name="tiny-chunks", opts=ObjectMetaOptions(max_chunk_size=1000)),
                  big[:10_000])
    await obs.put_bytes("empty", b"")
    await obs.put_bytes("gone", b"bye")
    await obs.delete("gone")
    await obs.add_link("link", await obs.get_info("small.txt"))

    nobs = await nc.jetstream().object_store("to_natspy")
    res = await nobs.get("dir/big.bin")
    assert res.data == big  # nats-py verifies the digest itself
    info = res.info
    assert (info.name, info.bucket, info.size, info.chunks) == ("dir/big.bin", "to_natspy",
                                                                 1_000_000, 8)
    assert info.digest == _digest(big) and info.description == "big one"
    assert info.headers == {"X-Kind": ["blob"]}
    assert info.options.max_chunk_size == 128 * 1024
    assert (await nobs.get("small.txt")).data == b"hello nats-py"
    tiny = await nobs.get("tiny-chunks")
    assert tiny.data == big[:10_000] and tiny.info.chunks == 10
    assert (await nobs.get("empty")).data == b""
    assert (await nobs.get("link")).data == b"hello nats-py"
    names = sorted(i.name for i in await nobs.list(ignore_deletes=True))
    assert names == ["dir/big.bin", "empty", "link", "small.txt", "tiny-chunks"]
    with pytest.raises(Exception):  # noqa: B017 - nats-py's ObjectNotFoundError (deleted)
        await nobs.get("gone")
    # nats-py deletes an object jsdata wrote
    await nobs.delete("small.txt")
    with pytest.raises(errors.ObjectNotFoundError):
        await obs.get_info("small.txt")
    d = await obs.get_info("small.txt", show_deleted=True)
    assert d.deleted and d.size == 0
    si = await (await ajs.stream("OBJ_to_natspy")).info(subjects_filter="$O.to_natspy.C.>")
    chunk_subjects = set(si.state.subjects or {})
    big_nuid = (await obs.get_info("dir/big.bin")).nuid
    assert f"$O.to_natspy.C.{big_nuid}" in chunk_subjects
    assert not any(s.endswith(d.nuid) for s in chunk_subjects)
    # nats-py overwrites: jsdata reads the new version
    await nobs.put("dir/big.bin", big[::-1])
    assert await obs.get_bytes("dir/big.bin") == big[::-1]


async def test_jsdata_reads_what_natspy_writes(ajs, nc) -> None:
    njs = nc.jetstream()
    nobs = await njs.create_object_store("from_natspy")
    data = os.urandom(700_001)
    ninfo = await nobs.put("data.bin", data,
                           meta=napi.ObjectMeta(name="data.bin", description="by nats-py"))
    await nobs.put("note.txt", b"text")
    await nobs.put("removed", b"x")
    await nobs.delete("removed")

    obs = await ajs.object_store("from_natspy")
    info = await obs.get_info("data.bin")
    assert info.nuid == ninfo.nuid and info.size == 700_001 and info.chunks == 6
    assert info.digest == _digest(data) and info.description == "by nats-py"
    assert info.mtime is not None
    assert await obs.get_bytes("data.bin") == data  # digest verified by jsdata
    async with obs.open("data.bin") as f:
        f.seek(654_321)
        assert await f.read(1000) == data[654_321:655_321] and f.fetched_chunks == 1
    assert await obs.get_string("note.txt") == "text"
    assert sorted(i.name for i in await obs.list()) == ["data.bin", "note.txt"]
    removed = await obs.get_info("removed", show_deleted=True)
    assert removed.deleted and removed.size == 0
    with pytest.raises(errors.ObjectNotFoundError):
        await obs.get("removed")
    # jsdata overwrites and deletes; nats-py follows
    await obs.put_bytes("note.txt", b"replaced by jsdata")
    assert (await nobs.get("note.txt")).data == b"replaced by jsdata"
    await obs.delete("data.bin")
    with pytest.raises(Exception):  # noqa: B017 - nats-py's ObjectNotFoundError
        await nobs.get("data.bin")
    st = await obs.status()
    assert st.bucket == "from_natspy" and not st.sealed
