"""Bulk reads survive a dropped connection and a restarted server, with the exact result.

The client connects through :class:`cutproxy.CutProxy`, which cuts the connection once it
has forwarded a fixed number of bytes of the read (deterministically mid-read, after the
first batches arrived) while the server stays up, or at that point restarts the server
(file storage: the data survives) or stops it for good. The read must then return exactly
the stream (no gap, no duplicate) or, only when the server does not come back, raise
ReadInterruptedError naming the range read and how to resume.
"""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest
from cutproxy import CutProxy

import jsdata
from jsdata import errors

N = 12_000
CUT_AFTER = 400_000  # bytes server -> client before the cut: a few batches into the read


def _fill(js, name: str, mechanism: str = "consumer") -> None:
    """N rows on stream ``name``; a "direct" stream allows direct get."""
    js.create_stream(name=name, subjects=[f"{name.lower()}.>"],
                     allow_direct=mechanism == "direct")
    df = pd.DataFrame({"i": range(N), "pad": ["x" * 90] * N})
    js.publish_dataframe(f"{name.lower()}.x", df, progress=False)
    assert js.stream(name).info().state.messages == N


def _check(i_values, seqs) -> None:
    assert list(i_values) == list(range(N))  # no gap, no duplicate, in order
    assert list(seqs) == list(range(1, N + 1))


def _connect_blocking(url: str, **kw):
    return jsdata.connect(url, reconnect_time_wait=0.1, **kw)


@pytest.fixture(params=["direct", "consumer"])
def mechanism(request):
    """The read mechanism, by the conditions that choose it: a stream that allows direct get
    read in one batch (:func:`_whole`) is read by batched direct get; a stream without
    allow_direct through an ephemeral consumer."""
    return request.param


def _whole(mechanism: str) -> dict:
    """Read options for a whole-stream read by ``mechanism``."""
    return {"batch_size": N} if mechanism == "direct" else {}


def _batches(mechanism: str) -> dict:
    """Read options for a streaming read by ``mechanism`` (several batches by consumer)."""
    return {"batch_size": N} if mechanism == "direct" else {"batch_size": 500}


# ---------------------------------------------------------------------------------------------
# the connection drops, the server stays up

def test_to_arrow_survives_a_cut_blocking(js, server, mechanism):
    _fill(js, "RCA", mechanism)
    with CutProxy(server.port, cut_after=CUT_AFTER) as proxy, \
            _connect_blocking(proxy.url) as pjs:
        t = pjs.stream("RCA").to_arrow(progress=False, **_whole(mechanism))
        assert proxy.cuts == 1 and proxy.connections >= 2  # it was cut and reconnected
    _check(t.column("i").to_pylist(), t.column("_seq").to_pylist())


def test_read_stream_and_to_batches_survive_a_cut_blocking(js, server):
    _fill(js, "RCB")
    with CutProxy(server.port, cut_after=CUT_AFTER) as proxy, \
            _connect_blocking(proxy.url) as pjs:
        df = jsdata.read_stream("RCB", js=pjs, progress=False)
        assert proxy.cuts == 1
        _check(df["i"], df["_seq"])
        proxy.arm()
        rows, seqs = [], []
        for b in pjs.stream("RCB").to_batches(progress=False, batch_size=1000):
            rows += b.column("i").to_pylist()
            seqs += b.column("_seq").to_pylist()
        assert proxy.cuts == 1
    _check(rows, seqs)


async def test_to_pandas_survives_a_cut_async(ajs, server, mechanism):
    await asyncio.get_running_loop().run_in_executor(None, _fill_url, server.url, "ARC", mechanism)
    with CutProxy(server.port, cut_after=CUT_AFTER) as proxy:
        async with await jsdata.aio.connect(proxy.url, reconnect_time_wait=0.1) as pjs:
            s = await pjs.stream("ARC")
            df = await s.to_pandas(progress=False, **_whole(mechanism))
            assert proxy.cuts == 1 and proxy.connections >= 2
            _check(df["i"], df["_seq"])
            proxy.arm()
            rs = await s.to_batches(progress=False, batch_size=1000)
            rows, seqs = [], []
            async for b in rs:
                rows += b.column("i").to_pylist()
                seqs += b.column("_seq").to_pylist()
            assert proxy.cuts == 1
            _check(rows, seqs)


async def test_direct_read_resumes_through_the_one_batch_loop_async(ajs, server):
    """A direct-get read cut mid-request: the core's batch direct get loop asks again for
    the rest of the request from the sequence after the last message received."""
    from jsdata.frames import fetch
    await asyncio.get_running_loop().run_in_executor(None, _fill_url, server.url, "ARD",
                                                     "direct")
    with CutProxy(server.port, cut_after=CUT_AFTER) as proxy:
        async with await jsdata.aio.connect(proxy.url, reconnect_time_wait=0.1) as pjs:
            rs = await (await pjs.stream("ARD")).to_batches(progress=False, batch_size=N)
            rows, seqs = [], []
            async for b in rs:
                rows += b.column("i").to_pylist()
                seqs += b.column("_seq").to_pylist()
            assert proxy.cuts == 1
            assert isinstance(rs._fetcher, fetch._DirectFetcher)
            assert rs._fetcher.resumes >= 1  # the rest of the cut request was asked for
    _check(rows, seqs)


def _fill_url(url: str, name: str, mechanism: str = "consumer") -> None:
    with jsdata.connect(url) as bjs:
        _fill(bjs, name, mechanism)


# ---------------------------------------------------------------------------------------------
# the server restarts (file storage) within the reconnect window

def test_to_arrow_survives_a_server_restart_blocking(js, server, mechanism):
    _fill(js, "RRA", mechanism)
    with CutProxy(server.port, cut_after=CUT_AFTER, on_cut=server.restart) as proxy, \
            _connect_blocking(proxy.url) as pjs:
        t = pjs.stream("RRA").to_arrow(progress=False, **_whole(mechanism))
        assert proxy.cut_done.is_set()
    _check(t.column("i").to_pylist(), t.column("_seq").to_pylist())


async def test_to_pandas_survives_a_server_restart_async(ajs, server, mechanism):
    await asyncio.get_running_loop().run_in_executor(None, _fill_url, server.url, "ARR", mechanism)
    with CutProxy(server.port, cut_after=CUT_AFTER, on_cut=server.restart) as proxy:
        async with await jsdata.aio.connect(proxy.url, reconnect_time_wait=0.1) as pjs:
            df = await (await pjs.stream("ARR")).to_pandas(progress=False, **_whole(mechanism))
            assert proxy.cut_done.is_set()
    _check(df["i"], df["_seq"])


# ---------------------------------------------------------------------------------------------
# the server does not come back: a typed error naming the range, batches before it exact

def _assert_interrupted(e: errors.ReadInterruptedError, name: str) -> None:
    assert e.stream == name and e.first_seq == 1
    assert 0 <= e.last_seq < N
    assert f"start={e.last_seq + 1}" in str(e) and e.resume_seq == e.last_seq + 1


def test_server_gone_raises_read_interrupted_blocking(js, server, mechanism):
    _fill(js, "RGA", mechanism)
    with CutProxy(server.port, cut_after=CUT_AFTER, on_cut=server.stop) as proxy, \
            _connect_blocking(proxy.url, max_reconnect_attempts=3) as pjs:
        seqs: list[int] = []
        with pytest.raises(errors.ReadInterruptedError) as ei:
            for b in pjs.stream("RGA").to_batches(progress=False, **_batches(mechanism)):
                seqs += b.column("_seq").to_pylist()
        _assert_interrupted(ei.value, "RGA")
        # what was handed out is exactly the range the error names
        assert seqs == list(range(1, ei.value.last_seq + 1))
        assert proxy.cut_done.is_set()


def test_server_gone_past_the_resume_window_blocking(js, server):
    _fill(js, "RGW")
    # nats-py keeps reconnecting forever: the read gives up after the connection's window
    with CutProxy(server.port, cut_after=CUT_AFTER, on_cut=server.stop) as proxy, \
            _connect_blocking(proxy.url, resume_window=1.0) as pjs:
        assert pjs.resume_window == 1.0
        with pytest.raises(errors.ReadInterruptedError) as ei:
            pjs.stream("RGW").to_arrow(progress=False)
        _assert_interrupted(ei.value, "RGW")
        assert "did not come back within 1s" in str(ei.value)


async def test_server_gone_raises_read_interrupted_async(ajs, server, mechanism):
    await asyncio.get_running_loop().run_in_executor(None, _fill_url, server.url, "ARG", mechanism)
    with CutProxy(server.port, cut_after=CUT_AFTER, on_cut=server.stop) as proxy:
        async with await jsdata.aio.connect(proxy.url, reconnect_time_wait=0.1,
                                            max_reconnect_attempts=3) as pjs:
            s = await pjs.stream("ARG")
            seqs: list[int] = []
            with pytest.raises(errors.ReadInterruptedError) as ei:
                async for b in await s.to_batches(progress=False, **_batches(mechanism)):
                    seqs += b.column("_seq").to_pylist()
            _assert_interrupted(ei.value, "ARG")
            assert seqs == list(range(1, ei.value.last_seq + 1))
            with pytest.raises(errors.ConnectionClosedError):  # a new read: nothing to resume
                await s.to_pandas(progress=False)


# ---------------------------------------------------------------------------------------------
# object reads

BLOB = bytes(range(256)) * 6000  # 1.5 MB: 12 chunks of 128 KiB


def test_object_get_survives_a_cut_blocking(js, server):
    js.create_object_store(bucket="rco").put("blob", BLOB)
    with CutProxy(server.port, cut_after=CUT_AFTER) as proxy, \
            _connect_blocking(proxy.url) as pjs:
        obs = pjs.object_store("rco")
        assert obs.get_bytes("blob") == BLOB
        assert proxy.cuts == 1
        proxy.arm()
        with obs.get("blob") as r:
            assert r.read() == BLOB
        assert proxy.cuts == 1


async def test_object_get_survives_a_restart_async(ajs, server):
    await (await ajs.create_object_store(bucket="arco")).put("blob", BLOB)
    with CutProxy(server.port, cut_after=CUT_AFTER, on_cut=server.restart) as proxy:
        async with await jsdata.aio.connect(proxy.url, reconnect_time_wait=0.1) as pjs:
            obs = await pjs.object_store("arco")
            r = await obs.get("blob")
            assert await r.read() == BLOB
            assert proxy.cut_done.is_set()


# ---------------------------------------------------------------------------------------------
# consumer batches: fetch_arrow re-sends its pull, iter_arrow re-pulls (ordered: recreated at
# the next sequence)

def test_fetch_arrow_survives_a_cut_blocking(js, server):
    """The pull lost in the cut is re-sent for what is missing: the batch is complete and
    holds no message twice (those lost on the wire are redelivered later, as AckExplicit
    promises)."""
    _fill(js, "RFA")
    js.create_consumer("RFA", durable="w", ack_policy="explicit", ack_wait=60.0,
                       max_ack_pending=-1)
    with CutProxy(server.port, cut_after=CUT_AFTER) as proxy, \
            _connect_blocking(proxy.url) as pjs:
        ab = pjs.consumer("RFA", "w").fetch_arrow(3000, max_wait=20)
        assert proxy.cuts == 1 and ab.error is None
        got = ab.record_batch.column("i").to_pylist()
    assert len(got) == 3000 and got == sorted(set(got)) and set(got) <= set(range(N))


async def test_iter_arrow_ordered_survives_a_cut_async(ajs, server):
    await asyncio.get_running_loop().run_in_executor(None, _fill_url, server.url, "ARI")
    with CutProxy(server.port, cut_after=CUT_AFTER) as proxy:
        async with await jsdata.aio.connect(proxy.url, reconnect_time_wait=0.1) as pjs:
            oc = await pjs.ordered_consumer("ARI")
            rows: list[int] = []
            seqs: list[int] = []
            it = await oc.iter_arrow(batch_size=2000, max_latency=1)
            async for ab in it:
                rows += ab.record_batch.column("i").to_pylist()
                seqs += ab.record_batch.column("_seq").to_pylist()
                if len(rows) >= N:
                    break
            await it.stop()
            assert proxy.cuts == 1
    _check(rows, seqs)


def test_fsspec_read_survives_a_cut_blocking(js, server):
    import fsspec

    from jsdata.fs import JetStreamFileSystem
    js.create_object_store(bucket="rcf").put("data.bin", BLOB)
    JetStreamFileSystem.clear_instance_cache()
    with CutProxy(server.port, cut_after=CUT_AFTER) as proxy, \
            _connect_blocking(proxy.url) as pjs:
        fs = fsspec.filesystem("jetstream", js=pjs)
        try:
            with fs.open("rcf/data.bin", "rb") as f:
                assert f.read() == BLOB
        finally:
            fs.close()
            JetStreamFileSystem.clear_instance_cache()
        assert proxy.cuts == 1


def test_object_without_direct_get_survives_a_cut_blocking(js, server):
    js.create_object_store(bucket="rcn").put("blob", BLOB)
    cfg = js.stream("OBJ_rcn").cached_info().config.replace(allow_direct=False)
    js.update_stream(cfg)
    with CutProxy(server.port, cut_after=CUT_AFTER) as proxy, \
            _connect_blocking(proxy.url) as pjs:
        assert pjs.object_store("rcn").get_bytes("blob") == BLOB
        assert proxy.cuts == 1


def test_ordered_fetch_arrow_survives_a_cut_blocking(js, server):
    """An ordered consumer's fetch ends its batch at the cut (a gap-free prefix); the next
    fetch recreates the consumer after the last message received: the frames add up to
    the stream exactly."""
    _fill(js, "RFO")
    with CutProxy(server.port, cut_after=CUT_AFTER) as proxy, \
            _connect_blocking(proxy.url) as pjs:
        oc = pjs.ordered_consumer("RFO")
        rows: list[int] = []
        seqs: list[int] = []
        while len(rows) < N:
            ab = oc.fetch_arrow(3000, max_wait=10)
            rows += ab.record_batch.column("i").to_pylist()
            seqs += ab.record_batch.column("_seq").to_pylist()
        assert proxy.cuts == 1
    _check(rows, seqs)
