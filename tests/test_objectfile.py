"""Object files: the streaming writer and the seekable, chunk-indexed reader, both surfaces.

Includes corruption checks (chunks published or deleted behind the store's back), aborted
writes, and a 200 MiB round trip in a subprocess whose peak RSS must stay well under the
object's size.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import textwrap

import pytest

import jsdata
from jsdata import aio, errors
from jsdata.client.config import ObjectMeta, ObjectMetaOptions
from tests.helpers import wait_for


def _chunk_counts(js, bucket: str) -> dict[str, int]:
    info = js.stream(f"OBJ_{bucket}").info(subjects_filter=f"$O.{bucket}.C.>")
    return dict(info.state.subjects or {})


def _small_chunks(name: str, size: int = 1000) -> ObjectMeta:
    return ObjectMeta(name=name, opts=ObjectMetaOptions(max_chunk_size=size))


# -- reader semantics -------------------------------------------------------------------------

def test_reader_behaves_like_bytesio(js) -> None:
    obs = js.create_object_store(bucket="rd")
    rnd = random.Random(7)
    data = bytes(rnd.getrandbits(8) for _ in range(50_000)).replace(b"\x00", b"\n")
    obs.put(_small_chunks("x", 997), data)
    ref = io.BytesIO(data)
    with obs.get("x") as f:
        assert isinstance(f, io.BufferedIOBase) and isinstance(f, jsdata.ObjectResult)
        assert f.readable() and f.seekable() and not f.writable() and f.mode == "rb"
        for _ in range(400):
            op = rnd.choice(["read", "read", "seek", "seek_cur", "seek_end", "readline",
                             "readinto", "tell"])
            if op == "read":
                n = rnd.choice([-1, 0, 1, 10, 996, 997, 998, 5000, 60_000])
                if n == -1 and rnd.random() < 0.8:
                    n = 333
                assert f.read(n) == ref.read(n)
            elif op == "seek":
                p = rnd.randrange(0, 52_000)
                assert f.seek(p) == ref.seek(p)
            elif op == "seek_cur":
                d = rnd.randrange(-2000, 2000)
                if ref.tell() + d >= 0:
                    assert f.seek(d, io.SEEK_CUR) == ref.seek(d, io.SEEK_CUR)
            elif op == "seek_end":
                d = -rnd.randrange(0, 3000)
                assert f.seek(d, io.SEEK_END) == ref.seek(d, io.SEEK_END)
            elif op == "readline":
                lim = rnd.choice([-1, 5, 100])
                assert f.readline(lim) == ref.readline(lim)
            elif op == "readinto":
                b1, b2 = bytearray(rnd.randrange(0, 3000)), bytearray(0)
                b2 = bytearray(len(b1))
                assert f.readinto(b1) == ref.readinto(b2) and b1 == b2
            assert f.tell() == ref.tell()
        f.seek(0)
        ref.seek(0)
        assert list(f) == list(ref)
        f.seek(100)
        ref.seek(100)
        assert f.readlines() == ref.readlines()
        with pytest.raises(ValueError):
            f.seek(-1)
        with pytest.raises(ValueError):
            f.seek(0, 7)
    assert f.closed
    with pytest.raises(ValueError):
        f.read()
    with pytest.raises(ValueError):
        f.seek(0)


async def test_async_reader_behaves_like_bytesio(ajs) -> None:
    obs = await ajs.create_object_store(bucket="ard")
    rnd = random.Random(3)
    data = os.urandom(30_000).replace(b"\x07", b"\n")
    await obs.put(_small_chunks("x", 1024), data)
    ref = io.BytesIO(data)
    async with obs.open("x", "rb") as f:
        assert type(f) is aio.ObjectResult
        for _ in range(200):
            op = rnd.choice(["read", "seek", "readline", "readinto"])
            if op == "read":
                n = rnd.choice([0, 1, 100, 1023, 1025, 4000])
                assert await f.read(n) == ref.read(n)
            elif op == "seek":
                p = rnd.randrange(0, 31_000)
                assert f.seek(p) == ref.seek(p)
            elif op == "readline":
                assert await f.readline() == ref.readline()
            else:
                b1, b2 = bytearray(700), bytearray(700)
                assert await f.readinto(b1) == ref.readinto(b2) and b1 == b2
            assert f.tell() == ref.tell()
        f.seek(0)
        ref.seek(0)
        assert [line async for line in f] == ref.readlines()
        f.seek(0)
        assert await f.readlines() == io.BytesIO(data).readlines()
    assert f.closed


def test_seek_and_small_read_fetch_only_needed_chunks(js) -> None:
    obs = js.create_object_store(bucket="few")
    data = os.urandom(200 * 1024)
    obs.put(_small_chunks("x", 1024), data)  # 200 chunks
    with obs.get("x") as f:
        f.seek(150 * 1024 + 10)
        assert f.read(100) == data[150 * 1024 + 10:150 * 1024 + 110]
        assert f.fetched_chunks == 1
        f.seek(-20, io.SEEK_END)
        assert f.read() == data[-20:]
        assert f.fetched_chunks == 2
        f.seek(10 * 1024 - 50)  # spans two chunks
        assert f.read(100) == data[10 * 1024 - 50:10 * 1024 + 50]
        assert f.fetched_chunks == 4
        f.seek(150 * 1024 + 500)  # cached
        assert f.read(10) == data[150 * 1024 + 500:150 * 1024 + 510]
        assert f.fetched_chunks == 4 and f.requests == 3
    with obs.get("x") as f:  # a sequential read takes big batches
        assert f.read() == data
        assert f.fetched_chunks == 200 and f.requests <= 10


def test_interleaved_writers_make_non_contiguous_chunks(server) -> None:
    async def main() -> None:
        async with await aio.connect(server.url) as ajs:
            obs = await ajs.create_object_store(bucket="mix")
            a, b = os.urandom(100_000), os.urandom(100_000)
            wa = await obs.open(_small_chunks("a", 1000), "wb")
            wb = await obs.open(_small_chunks("b", 1000), "wb")
            for i in range(0, 100_000, 5000):  # alternate: the chunks interleave
                await wa.write(a[i:i + 5000])
                await wb.write(b[i:i + 5000])
            await wa.close()
            await wb.close()
            for name, data in (("a", a), ("b", b)):
                assert await obs.get_bytes(name) == data
                async with obs.open(name) as f:
                    f.seek(77_777)
                    assert await f.read(3000) == data[77_777:80_777]
                    assert f.fetched_chunks == 4
                    f.seek(1234)
                    assert await f.read(10) == data[1234:1244]
                    f.seek(0)
                    assert await f.read() == data
    asyncio.run(main())


def test_variable_chunk_sizes_from_other_writers(js) -> None:
    """Go's Put publishes whatever each Read returned: chunks of any size, no options."""
    js.create_object_store(bucket="var")
    sizes = [1000, 300, 1000, 7, 131072, 500]
    data = os.urandom(sum(sizes))
    nuid = "HANDMADE0000000000000A"
    off = 0
    for n in sizes:
        js.publish(f"$O.var.C.{nuid}", data[off:off + n])
        off += n
    meta = {"name": "odd", "bucket": "var", "nuid": nuid, "size": len(data),
            "mtime": "0001-01-01T00:00:00Z", "chunks": len(sizes),
            "digest": "SHA-256=" + base64.urlsafe_b64encode(
                hashlib.sha256(data).digest()).decode()}
    js.publish("$O.var.M.b2Rk", json.dumps(meta).encode(), headers={"Nats-Rollup": "sub"})
    obs = js.object_store("var")
    assert obs.get_bytes("odd") == data
    with obs.get("odd") as f:
        for pos, n in ((2305, 10), (1299, 2), (0, 1), (len(data) - 3, 10), (2200, 131_000)):
            f.seek(pos)
            assert f.read(n) == data[pos:pos + n]
        f.seek(0)
        assert [len(c) for c in f.iter_chunks()] == sizes


def test_iter_chunks(js) -> None:
    obs = js.create_object_store(bucket="ic")
    data = os.urandom(10_500)
    obs.put(_small_chunks("x", 1000), data)
    with obs.get("x") as f:
        chunks = list(f.iter_chunks())
    assert [len(c) for c in chunks] == [1000] * 10 + [500] and b"".join(chunks) == data
    with obs.get("x") as f:
        f.seek(2500)
        assert b"".join(f.iter_chunks()) == data[2500:]
    obs.put_bytes("empty", b"")
    with obs.get("empty") as f:
        assert list(f.iter_chunks()) == []


async def test_iter_chunks_async(ajs) -> None:
    obs = await ajs.create_object_store(bucket="aic")
    data = os.urandom(5_000)
    await obs.put(_small_chunks("x", 1024), data)
    r = await obs.get("x")
    assert b"".join([c async for c in r.iter_chunks()]) == data


def test_streams_without_direct_get(js) -> None:
    obs = js.create_object_store(bucket="nodirect")
    data = os.urandom(20_000)
    obs.put(_small_chunks("x", 1000), data)
    cfg = js.stream("OBJ_nodirect").cached_info().config.replace(allow_direct=False)
    js.update_stream(cfg)
    obs = js.object_store("nodirect")
    assert obs.get_bytes("x") == data
    with obs.get("x") as f:
        f.seek(15_500)
        assert f.read(1000) == data[15_500:16_500] and f.fetched_chunks == 2


# -- corruption -------------------------------------------------------------------------------

def test_corrupt_chunk_is_a_digest_mismatch(js) -> None:
    obs = js.create_object_store(bucket="bad")
    data = os.urandom(5000)
    info = obs.put(_small_chunks("x", 1000), data)
    js.stream("OBJ_bad").delete_msg(5)  # the last chunk (sequences 1..5 are chunks)
    js.publish(f"$O.bad.C.{info.nuid}", os.urandom(1000))  # same size, other bytes
    with pytest.raises(errors.DigestMismatchError, match="digest"):
        obs.get_bytes("x")
    with obs.get("x") as f:
        with pytest.raises(errors.DigestMismatchError):
            f.read()
    with obs.get("x") as f:
        f.seek(1000)  # random access does not hash: the first 4 chunks still read fine
        assert f.read(1000) == data[1000:2000]
    with obs.get("x") as f, pytest.raises(errors.DigestMismatchError):
        for _ in f.iter_chunks():
            pass


def test_extra_chunk_is_detected(js) -> None:
    obs = js.create_object_store(bucket="extra")
    data = os.urandom(3000)
    info = obs.put(_small_chunks("x", 1000), data)
    js.publish(f"$O.extra.C.{info.nuid}", b"bogus")
    with pytest.raises(errors.DigestMismatchError):
        obs.get_bytes("x")
    with obs.get("x") as f:
        f.seek(2500)
        with pytest.raises(errors.DigestMismatchError, match="chunks"):
            f.read(10)


def test_missing_chunk_is_detected(js, tmp_path) -> None:
    obs = js.create_object_store(bucket="trunc")
    data = os.urandom(5000)
    obs.put(_small_chunks("x", 1000), data)
    js.stream("OBJ_trunc").delete_msg(3)
    with pytest.raises(errors.DigestMismatchError, match="missing|match"):
        obs.get_bytes("x")
    with pytest.raises(errors.DigestMismatchError):
        obs.get_file("x", tmp_path / "x.bin")
    assert not (tmp_path / "x.bin").exists()
    with obs.get("x") as f:
        f.seek(4500)
        with pytest.raises(errors.DigestMismatchError):
            f.read(10)
    obs.put(_small_chunks("y", 1000), data)
    last_seq = js.stream("OBJ_trunc").info().state.last_seq - 1  # the last chunk of y
    js.stream("OBJ_trunc").delete_msg(last_seq)
    with pytest.raises(errors.DigestMismatchError):
        obs.get_bytes("y")


# -- writer -----------------------------------------------------------------------------------

def test_blocking_writer(js) -> None:
    obs = js.create_object_store(bucket="wr")
    data = os.urandom(3 * 1024 * 1024 + 17)
    with obs.open("x", "wb") as f:
        assert isinstance(f, io.BufferedIOBase) and f.writable() and not f.readable()
        assert not f.seekable() and f.mode == "wb"
        for i in range(0, len(data), 70_001):
            assert f.write(data[i:i + 70_001]) == len(data[i:i + 70_001])
        f.write(memoryview(b""))
        assert f.tell() == len(data)
        with pytest.raises(errors.ObjectNotFoundError):
            obs.get_info("x")  # nothing visible before close
    assert f.closed and f.info.size == len(data) and f.info.chunks == 25
    assert obs.get_bytes("x") == data
    with pytest.raises(ValueError):
        f.write(b"more")
    with obs.open(ObjectMeta(name="meta", description="d"), "wb", chunk_size=4096,
                  metadata={"a": "b"}) as f:
        f.write(b"z" * 10_000)
    i = obs.get_info("meta")
    assert (i.description, i.metadata, i.chunks, i.opts.max_chunk_size) == \
        ("d", {"a": "b"}, 3, 4096)
    with obs.open("empty", "wb"):
        pass
    assert obs.get_info("empty").size == 0
    for bad in ("ab", "r+b", "rt", "a"):
        with pytest.raises(errors.InvalidArgumentError):
            obs.open("x", bad)


def test_exception_in_with_aborts_the_write(js) -> None:
    obs = js.create_object_store(bucket="ab")
    obs.put_bytes("x", b"old")
    with pytest.raises(KeyError):
        with obs.open("x", "wb") as f:
            f.write(os.urandom(3 * 1024 * 1024))  # published chunks
            raise KeyError("boom")
    assert f.closed and f.info is None
    assert obs.get_bytes("x") == b"old"
    nuid = obs.get_info("x").nuid
    assert list(_chunk_counts(js, "ab")) == [f"$O.ab.C.{nuid}"]
    w = obs.open("y", "wb")
    w.write(os.urandom(500_000))
    w.abort()
    with pytest.raises(errors.ObjectNotFoundError):
        obs.get_info("y")
    assert list(_chunk_counts(js, "ab")) == [f"$O.ab.C.{nuid}"]


def test_dropped_writer_publishes_nothing(js) -> None:
    obs = js.create_object_store(bucket="gc")
    w = obs.open("y", "wb")
    w.write(os.urandom(2 * 1024 * 1024))
    del w
    gc.collect()
    with pytest.raises(errors.ObjectNotFoundError):
        obs.get_info("y")
    # the abort runs on the loop without anyone waiting for it
    wait_for(lambda: not _chunk_counts(js, "gc"), timeout=20, what="the chunks to be purged")
    assert obs.list() == []


async def test_async_writer_abort(ajs) -> None:
    obs = await ajs.create_object_store(bucket="aab")
    with pytest.raises(RuntimeError):
        async with obs.open("x", "wb") as f:
            await f.write(os.urandom(600_000))
            raise RuntimeError("no")
    assert f.closed and f.info is None
    with pytest.raises(errors.ObjectNotFoundError):
        await obs.get_info("x")
    si = await (await ajs.stream("OBJ_aab")).info(subjects_filter=">")
    assert not si.state.subjects
    with pytest.raises(errors.InvalidArgumentError):
        await f.write(b"after")


# -- memory -----------------------------------------------------------------------------------

_MEMORY_SCRIPT = textwrap.dedent("""
    import hashlib, json, os, resource, sys
    import jsdata
    MiB = 1 << 20
    url, size_mib, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with jsdata.connect(url) as js:
        obs = js.create_object_store(bucket="mem")
        block = os.urandom(MiB)
        h = hashlib.sha256()
        with obs.open("big", "wb") as f:
            for i in range(size_mib):
                b = i.to_bytes(8, "big") + block[8:]
                h.update(b)
                f.write(b)
        h2, n = hashlib.sha256(), 0
        with obs.open("big", "rb") as f:
            while True:
                piece = f.read(MiB)
                if not piece:
                    break
                n += len(piece)
                h2.update(piece)
        assert h.digest() == h2.digest() and n == size_mib * MiB
        obs.get_file("big", path)
        assert os.path.getsize(path) == n
        print(json.dumps({"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
""")


# Linux carries the parent's peak RSS over fork + exec into ru_maxrss, so a direct child of a
# big pytest process would report pytest's peak: start the measured script from a small
# launcher process instead.
_LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def test_200mib_round_trip_in_bounded_memory(server, tmp_path) -> None:
    size_mib = 200
    out = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, sys.executable, "-c", _MEMORY_SCRIPT, server.url,
         str(size_mib), str(tmp_path / "big.bin")], capture_output=True, text=True,
        timeout=100)
    assert out.returncode == 0, out.stderr
    peak_mib = json.loads(out.stdout.strip().splitlines()[-1])["peak_kib"] / 1024
    assert peak_mib < size_mib / 2, f"peak RSS {peak_mib:.0f} MiB for a {size_mib} MiB object"
    assert hashlib.sha256  # the digest was compared in the subprocess
