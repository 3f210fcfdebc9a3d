"""Byte-limited pulls end where nats-server ends them: exactly at, one byte under, one over.

The server counts subject + ack reply + header block + payload of each delivered message
against a pull's ``max_bytes`` and ends a pull whose messages reach it *exactly* with no
status at all (``jsdata/_budget.py``). Each test learns the exact cost of every message from
a probe consumer whose name has the same length as the test consumer's (so its ack replies
are as long), builds a limit that lands exactly on a message boundary (and one byte under
and over), and checks the exact messages delivered. A client that waited for a status
instead would end those pulls with NoHeartbeatError / ReadInterruptedError / a stall.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jsdata
from jsdata import errors
from jsdata.client._budget import (
    direct_batch_budget,
    direct_cost,
    msg_cost,
    pull_cost,
    stored_header_len,
)
from jsdata.client._packed import PackedSink
from jsdata.frames import fetch

DELTAS = [-1, 0, 1]  # limit = exact boundary + delta
ids = {-1: "one-under", 0: "exact", 1: "one-over"}


def _payloads(n: int, base: int, tag: str) -> list[bytes]:
    return [(tag * base)[:base + i % 7].encode() for i in range(n)]


def _expected(costs: list[int], limit: int) -> int:
    """How many messages a pull with ``limit`` bytes gets (the server's rule)."""
    spent = k = 0
    for c in costs:
        if spent + c > limit:
            break
        spent += c
        k += 1
    return k


@pytest.fixture(autouse=True)
def _one_stall_is_an_error(monkeypatch):
    # A pull that the client failed to see ending must fail the test, not be re-sent.
    monkeypatch.setattr(fetch, "STALLS", 1)


# ---------------------------------------------------------------------------------------------
# fetch_bytes / fetch_arrow(max_bytes=)

def _probe_costs(js, stream: str, n: int) -> list[int]:
    c = js.create_consumer(stream, durable="probe1", ack_policy="none")
    msgs = list(c.fetch(n, max_wait=5))
    assert len(msgs) == n
    js.delete_consumer(stream, "probe1")
    return [msg_cost(m.subject, m.reply, b"", m.data) for m in msgs]


async def _aprobe_costs(ajs, stream: str, n: int) -> list[int]:
    c = await ajs.create_consumer(stream, durable="probe1", ack_policy="none")
    msgs = [m async for m in await c.fetch(n, max_wait=5)]
    assert len(msgs) == n
    await ajs.delete_consumer(stream, "probe1")
    return [msg_cost(m.subject, m.reply, b"", m.data) for m in msgs]


@pytest.mark.parametrize("delta", DELTAS, ids=ids.get)
def test_fetch_bytes_boundary_blocking(js, delta):
    name = f"MBF{delta + 1}"
    js.create_stream(name=name, subjects=[f"mbf{delta + 1}.>"])
    data = _payloads(8, 40, "f")
    for d in data:
        js.publish(f"mbf{delta + 1}.x", d)
    costs = _probe_costs(js, name, 8)
    limit = sum(costs[:4]) + delta
    c = js.create_consumer(name, durable="test01", ack_policy="none")
    mb = c.fetch_bytes(limit, max_wait=5, heartbeat=1)
    got = [m.data for m in mb]
    assert got == data[:_expected(costs, limit)] == data[:4 if delta >= 0 else 3]
    assert mb.error is None  # not NoHeartbeatError: the end was seen when it came


@pytest.mark.parametrize("delta", DELTAS, ids=ids.get)
async def test_fetch_bytes_boundary_async(ajs, delta):
    name = f"AMBF{delta + 1}"
    await ajs.create_stream(name=name, subjects=[f"ambf{delta + 1}.>"])
    data = _payloads(8, 40, "g")
    for d in data:
        await ajs.publish(f"ambf{delta + 1}.x", d)
    costs = await _aprobe_costs(ajs, name, 8)
    limit = sum(costs[:5]) + delta
    c = await ajs.create_consumer(name, durable="test01", ack_policy="none")
    mb = await c.fetch_bytes(limit, max_wait=5, heartbeat=1)
    got = [m.data async for m in mb]
    assert got == data[:5 if delta >= 0 else 4]
    assert mb.error is None


@pytest.mark.parametrize("delta", DELTAS, ids=ids.get)
def test_fetch_arrow_max_bytes_blocking(js, delta):
    name = f"MBA{delta + 1}"
    js.create_stream(name=name, subjects=[f"mba{delta + 1}.>"])
    data = _payloads(6, 30, "a")
    for d in data:
        js.publish(f"mba{delta + 1}.x", d)
    costs = _probe_costs(js, name, 6)
    limit = sum(costs[:3]) + delta
    c = js.create_consumer(name, durable="test01", ack_policy="none")
    ab = c.fetch_arrow(100, max_wait=5, max_bytes=limit, codec="raw")
    assert ab.record_batch.column("_data").to_pylist() == data[:3 if delta >= 0 else 2]


@pytest.mark.parametrize("delta", DELTAS, ids=ids.get)
async def test_fetch_arrow_max_bytes_async(ajs, delta):
    name = f"AMBA{delta + 1}"
    await ajs.create_stream(name=name, subjects=[f"amba{delta + 1}.>"])
    data = _payloads(6, 30, "b")
    for d in data:
        await ajs.publish(f"amba{delta + 1}.x", d)
    costs = await _aprobe_costs(ajs, name, 6)
    limit = sum(costs[:2]) + delta
    c = await ajs.create_consumer(name, durable="test01", ack_policy="none")
    ab = await c.fetch_arrow(100, max_wait=5, max_bytes=limit, codec="raw")
    assert ab.record_batch.column("_data").to_pylist() == data[:2 if delta >= 0 else 1]


# ---------------------------------------------------------------------------------------------
# consume / messages / iter_arrow with max_bytes: every pull lands on a boundary

def _uniform(n: int, tag: str) -> list[bytes]:
    return [tag.encode() * 50 for _ in range(n)]


@pytest.mark.parametrize("delta", DELTAS, ids=ids.get)
def test_consume_and_messages_max_bytes_blocking(js, delta):
    name = f"MBC{delta + 1}"
    js.create_stream(name=name, subjects=[f"mbc{delta + 1}.>"])
    data = _uniform(12, "c")
    for d in data:
        js.publish(f"mbc{delta + 1}.x", d)
    costs = _probe_costs(js, name, 12)
    limit = sum(costs[:3]) + delta  # the first pull lands on (or next to) a boundary
    c = js.create_consumer(name, durable="test01", ack_policy="none")
    got: list[bytes] = []
    errs: list[BaseException] = []
    cc = c.consume(lambda m: got.append(m.data), max_bytes=limit, expiry=5,
                   error_handler=lambda _c, e: errs.append(e))
    from helpers import wait_for
    wait_for(lambda: len(got) >= 12 or bool(errs), what="12 messages consumed")
    cc.stop()
    assert got == data and not errs
    it = js.create_consumer(name, durable="test02", ack_policy="none").messages(
        max_bytes=limit, expiry=5)
    seen = [it.next(timeout=10).data for _ in range(12)]
    it.stop()
    assert seen == data
    # size-limited pulls: each pull ends at its byte budget, often with no status
    it = js.create_consumer(name, durable="test03", ack_policy="none").messages(
        max_messages_with_bytes_limit=(64, limit), expiry=30)
    seen = [it.next(timeout=60).data for _ in range(12)]  # a missed end: NoHeartbeatError
    it.stop()
    assert seen == data


@pytest.mark.parametrize("delta", DELTAS, ids=ids.get)
async def test_consume_messages_iter_arrow_max_bytes_async(ajs, delta):
    from helpers import await_for
    name = f"AMBC{delta + 1}"
    await ajs.create_stream(name=name, subjects=[f"ambc{delta + 1}.>"])
    data = _uniform(12, "d")
    for d in data:
        await ajs.publish(f"ambc{delta + 1}.x", d)
    costs = await _aprobe_costs(ajs, name, 12)
    limit = sum(costs[:3]) + delta
    c = await ajs.create_consumer(name, durable="test01", ack_policy="none")
    got: list[bytes] = []
    errs: list[BaseException] = []
    cc = await c.consume(lambda m: got.append(m.data), max_bytes=limit, expiry=5,
                         error_handler=lambda _c, e: errs.append(e))
    await await_for(lambda: len(got) >= 12 or bool(errs), what="12 messages consumed")
    await cc.stop()
    assert got == data and not errs
    it = await (await ajs.create_consumer(name, durable="test02", ack_policy="none")).messages(
        max_bytes=limit, expiry=5)
    seen = [(await it.next(timeout=10)).data for _ in range(12)]
    await it.stop()
    assert seen == data
    got2: list[bytes] = []
    cc = await (await ajs.create_consumer(name, durable="test04", ack_policy="none")).consume(
        lambda m: got2.append(m.data), max_messages_with_bytes_limit=(64, limit), expiry=30,
        error_handler=lambda _c, e: errs.append(e))
    await await_for(lambda: len(got2) >= 12 or bool(errs), 60, what="size-limited consume")
    await cc.stop()
    assert got2 == data and not errs
    c3 = await ajs.create_consumer(name, durable="test03", ack_policy="none")
    ai = await c3.iter_arrow(batch_size=12, max_latency=2, max_bytes=limit, codec="raw")
    rows: list[bytes] = []
    async for ab in ai:
        rows += ab.record_batch.column("_data").to_pylist()
        if len(rows) >= 12:
            break
    await ai.stop()
    assert rows == data


def test_iter_arrow_max_bytes_blocking(js):
    name = "MBI"
    js.create_stream(name=name, subjects=["mbi.>"])
    data = _uniform(12, "i")
    for d in data:
        js.publish("mbi.x", d)
    costs = _probe_costs(js, name, 12)
    c = js.create_consumer(name, durable="test01", ack_policy="none")
    rows: list[bytes] = []
    with c.iter_arrow(batch_size=12, max_latency=2, max_bytes=sum(costs[:3]),
                      codec="raw") as ai:
        for ab in ai:
            rows += ab.record_batch.column("_data").to_pylist()
            if len(rows) >= 12:
                break
    assert rows == data


# ---------------------------------------------------------------------------------------------
# the stream reader's pulls (to_arrow / to_pandas / to_batches): the reported bug


def _reader_stream(js, name: str, subject: str, n_fit: int, delta: int, limit: int) -> list[bytes]:
    """Messages whose first ``n_fit`` cost the reader's pull limit + ``delta`` in total.

    The reader's consumer is named ``jsdata_read_`` + 11 characters; a probe consumer with
    a name as long, on a stream and subject named as long holding as many messages, gets
    ack replies of the same lengths, so the costs are known before the real messages are
    published.
    """
    total = n_fit + 6
    probe, psubj = name[:-1] + "P", subject[:-1] + "p"
    js.create_stream(name=probe, subjects=[psubj])
    for _ in range(total):
        js.publish(psubj, b"x")
    pc = js.create_consumer(probe, durable="probe__read_" + "q" * 11, ack_policy="none")
    fixed = [msg_cost(m.subject, m.reply, b"", b"") for m in pc.fetch(total, max_wait=5)]
    assert len(fixed) == total  # the probe stays: deleting it just before the next create
    # was the one suspect of a lone "error creating store for stream" (10049) under load
    room = limit + delta - sum(fixed[:n_fit])
    sizes = [room // n_fit] * n_fit
    sizes[-1] += room - sum(sizes)
    sizes += [room // n_fit] * (total - n_fit)
    js.create_stream(name=name, subjects=[subject])
    data = [bytes([65 + i % 26]) * n for i, n in enumerate(sizes)]
    for d in data:
        js.publish(subject, d)
    assert sum(fixed[:n_fit]) + sum(map(len, data[:n_fit])) == limit + delta
    return data


@pytest.mark.parametrize("delta", DELTAS, ids=ids.get)
def test_to_arrow_pull_boundary_blocking(js, delta):
    # the stream does not allow direct get: the reader pulls from a consumer
    limit = fetch.MAX_REQUEST_BYTES  # the reader's real pull limit (8 MiB)
    assert limit >= 2 * js.nc.max_payload
    data = _reader_stream(js, f"MBR{delta + 1}", f"mbr{delta + 1}.x", 40, delta, limit)
    t = js.stream(f"MBR{delta + 1}").to_arrow(codec="raw", progress=False)
    assert t.column("_data").to_pylist() == data
    assert t.column("_seq").to_pylist() == list(range(1, len(data) + 1))
    df = jsdata.read_stream(f"MBR{delta + 1}", js=js, codec="raw", progress=False)
    assert df["_data"].tolist() == data


@pytest.mark.parametrize("delta", DELTAS, ids=ids.get)
async def test_to_pandas_pull_boundary_async(ajs, delta):
    limit = fetch.MAX_REQUEST_BYTES
    import asyncio
    url = ajs.nc.connected_url.geturl() if ajs.nc.connected_url else None
    assert url

    def setup() -> list[bytes]:
        with jsdata.connect(url) as bjs:
            return _reader_stream(bjs, f"AMBR{delta + 1}", f"ambr{delta + 1}.x", 40, delta,
                                  limit)

    data = await asyncio.get_running_loop().run_in_executor(None, setup)
    s = await ajs.stream(f"AMBR{delta + 1}")
    df = await s.to_pandas(codec="raw", progress=False)
    assert df["_data"].tolist() == data
    rs = await s.to_batches(codec="raw", progress=False)
    rows = []
    async for b in rs:
        rows += b.column("_data").to_pylist()
    assert rows == data
    assert isinstance(rs._fetcher, fetch._ConsumerFetcher)  # no allow_direct: a consumer
    assert rs._fetcher.resumes == 0  # every pull's end was seen, none had to be re-sent


# ---------------------------------------------------------------------------------------------
# batched direct get (reader small reads, object chunks): the server sends the message that
# reaches max_bytes, then always 204 EOB

async def _raw_direct(ajs, stream: str, req: dict) -> list[tuple[bytes, bytes]]:
    """A batched direct get by hand: (header block, payload) of each message until 204."""
    import asyncio
    import json

    from jsdata.client._conn import new_token, status_of
    out: list[tuple[bytes, bytes]] = []
    done = asyncio.get_running_loop().create_future()

    def on(subject, reply, data, hdr):
        st = status_of(hdr) if hdr and not data else None
        if st is not None:
            if not done.done():
                done.set_result(st)
            return
        out.append((hdr, data))

    inbox = f"_INBOX.{new_token()}"
    sub = await ajs.nc.fast_subscribe(inbox, on)
    try:
        await ajs.nc.publish_raw(f"$JS.API.DIRECT.GET.{stream}", inbox, json.dumps(req).encode())
        assert (await asyncio.wait_for(done, 30))[0] == 204  # hang guard only
    finally:
        await ajs.nc.fast_unsubscribe(sub)
    return out


@pytest.mark.parametrize("delta", DELTAS, ids=ids.get)
async def test_direct_batch_boundary_async(ajs, delta):
    from jsdata.objects.files import direct_batch
    name = f"AMBD{delta + 1}"
    subj = f"ambd{delta + 1}.x"
    await ajs.create_stream(name=name, subjects=[subj], allow_direct=True)
    data = _payloads(8, 60, "d")
    for i, d in enumerate(data):
        await ajs.publish(subj, d, headers={"K": "v" * i} if i % 2 else None)
    every = await _raw_direct(ajs, name, {"seq": 1, "batch": 8})
    assert [d for _, d in every] == data
    # the server counts the stored subject, stored header block and payload
    costs = [direct_cost(subj.encode(), stored_header_len(h), d) for h, d in every]
    assert [stored_header_len(h) > 0 for h, _ in every] == [bool(i % 2) for i in range(8)]
    limit = sum(costs[:3]) + delta
    got = [d for _, d in await _raw_direct(ajs, name, {"seq": 1, "batch": 8,
                                                        "max_bytes": limit})]
    # sent, then checked: the message reaching the budget is still sent, then 204 EOB
    assert got == data[:3 if delta <= 0 else 4]
    msgs, end = await direct_batch(ajs, name, {"seq": 1, "batch": 8, "max_bytes": limit},
                                   ajs.timeout)
    assert [d for _, _, d in msgs] == got and end == 8 - len(got)


def test_direct_reader_boundary_blocking(js, monkeypatch):
    # a small read uses the batched direct get with MAX_REQUEST_BYTES; make it small so
    # the byte budget, not the batch size, ends each request at an exact boundary
    monkeypatch.setattr(fetch, "MAX_REQUEST_BYTES", 3 * (len("mbd.x") + 100))
    js.create_stream(name="MBD", subjects=["mbd.x"], allow_direct=True)
    data = [bytes([97 + i]) * 100 for i in range(10)]
    for d in data:
        js.publish("mbd.x", d)
    t = js.stream("MBD").to_arrow(codec="raw", progress=False)
    assert t.column("_data").to_pylist() == data
    # the whole range in one batch, so still a direct get, in requests of 3 messages
    rs = js.stream("MBD").to_batches(codec="raw", progress=False, batch_size=10)
    assert [r for b in rs for r in b.column("_data").to_pylist()] == data


async def test_direct_reader_boundary_async(ajs, monkeypatch):
    monkeypatch.setattr(fetch, "MAX_REQUEST_BYTES", 3 * (len("ambd.x") + 100))
    await ajs.create_stream(name="AMBDR", subjects=["ambd.x"], allow_direct=True)
    data = [bytes([97 + i]) * 100 for i in range(10)]
    for d in data:
        await ajs.publish("ambd.x", d)
    s = await ajs.stream("AMBDR")
    t = await s.to_arrow(codec="raw", progress=False)
    assert t.column("_data").to_pylist() == data
    rs = await s.to_batches(codec="raw", progress=False)
    rows = []
    async for b in rs:
        rows += b.column("_data").to_pylist()
    assert rows == data
    assert isinstance(rs._fetcher, fetch._DirectFetcher)  # a small read: direct get


# ---------------------------------------------------------------------------------------------
# object reads: chunk requests sized with direct_batch_budget

@pytest.mark.parametrize("extra", [-1, 0, 1], ids=ids.get)
def test_object_get_chunk_boundaries_blocking(js, extra):
    obs = js.create_object_store(bucket=f"mbo{extra + 1}")
    blob = bytes(range(256)) * 40 + b"z" * (1024 + extra)  # 11 chunks of 1 KiB, +-1 byte
    obs.put("blob", blob, chunk_size=1024)
    assert obs.get_bytes("blob") == blob
    with obs.get("blob") as r:
        assert r.read(5000) == blob[:5000] and r.read() == blob[5000:]


@pytest.mark.parametrize("extra", [-1, 0, 1], ids=ids.get)
async def test_object_get_chunk_boundaries_async(ajs, extra):
    obs = await ajs.create_object_store(bucket=f"ambo{extra + 1}")
    blob = b"q" * (1024 * 7 + extra)
    await obs.put("blob", blob, chunk_size=1024)
    assert await obs.get_bytes("blob") == blob
    r = await obs.get("blob")
    assert await r.read() == blob


def test_direct_batch_budget_gets_count_messages():
    subj = b"$O.b.C.x"
    # count messages of c bytes: the budget stays above what count - 1 of them cost
    for count in (1, 2, 7):
        b = direct_batch_budget(count, subj, 0, 100)
        assert (count - 1) * direct_cost(subj, 0, b"x" * 100) < b


# ---------------------------------------------------------------------------------------------
# the accounting itself, property-based, against the server


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=12),
       cut=st.integers(min_value=0, max_value=12), delta=st.integers(min_value=-2, max_value=2))
def test_property_client_sees_the_end_the_server_makes(js, sizes, cut, delta):
    """Random message sizes and limits: the batch the client ends equals what the server
    delivered (no status was needed to see the end) and the costs match pull_cost."""
    import secrets
    tag = secrets.token_hex(3)
    name = f"PROP{tag}"
    js.create_stream(name=name, subjects=[f"prop{tag}.>"], storage="memory")
    try:
        data = [b"p" * s for s in sizes]
        for i, d in enumerate(data):
            js.publish(f"prop{tag}.{i % 3}", d, headers={"H": "x" * (i % 4)} if i % 2 else None)
        probe = js.create_consumer(name, durable="probe1", ack_policy="none")
        pm = list(probe.fetch(len(data), max_wait=5))
        costs = [pull_cost(m.subject.encode(), m.reply.encode(), m._hdr, m.data) for m in pm]
        assert costs == [msg_cost(m.subject, m.reply, m._hdr, m.data) for m in pm]
        parts = ([m.subject.encode() for m in pm], [m.reply.encode() for m in pm],
                 [m._hdr for m in pm], [m.data for m in pm])
        held = PackedSink(lambda s, r, h: None, lambda: None)  # what bulk reads count with
        for i, m in enumerate(zip(*parts, strict=True)):
            if i == cut % len(pm):
                assert held.cost() == sum(costs[:i])
            held.add(*m)
        assert held.cost() == sum(costs)
        k = min(cut, len(costs))
        limit = max(1, sum(costs[:k]) + delta)
        c = js.create_consumer(name, durable="test01", ack_policy="none")
        mb = c.fetch_bytes(limit, max_wait=5, heartbeat=1)
        got = [m.data for m in mb]
        assert got == data[:_expected(costs, limit)]
        assert mb.error is None
    finally:
        js.delete_stream(name)


def test_stored_header_len_undoes_the_direct_get_headers():
    stored = b"NATS/1.0\r\nA: b\r\n\r\n"
    added = (b"Nats-Stream: S\r\nNats-Subject: x\r\nNats-Sequence: 3\r\n"
             b"Nats-Time-Stamp: 2026-01-01T00:00:00Z\r\nNats-Num-Pending: 0\r\n"
             b"Nats-Last-Sequence: 2\r\n")
    assert stored_header_len(stored[:-2] + added + b"\r\n") == len(stored)
    assert stored_header_len(b"NATS/1.0\r\n" + added + b"\r\n") == 0


def test_reader_errors_are_typed():
    e = errors.ReadInterruptedError("x", stream="S", first_seq=3, last_seq=9)
    assert e.resume_seq == 10 and isinstance(e, errors.JetStreamError)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=10),
       cut=st.integers(min_value=1, max_value=10), delta=st.integers(min_value=-2, max_value=2),
       with_headers=st.booleans())
async def test_property_direct_get_ends_where_its_budget_says(ajs, sizes, cut, delta,
                                                             with_headers):
    """Random sizes and limits: a batched direct get returns the messages the server's
    rule gives for direct_cost (stored subject + stored header + payload, checked after
    sending), computed from what the client received."""
    import secrets
    tag = secrets.token_hex(3)
    name, subj = f"DPROP{tag}", f"dprop{tag}.x"
    await ajs.create_stream(name=name, subjects=[subj], allow_direct=True, storage="memory")
    try:
        data = [b"d" * n for n in sizes]
        for i, d in enumerate(data):
            await ajs.publish(subj, d, headers={"H": "v" * i} if with_headers else None)
        every = await _raw_direct(ajs, name, {"seq": 1, "batch": len(data)})
        costs = [direct_cost(subj.encode(), stored_header_len(h), d) for h, d in every]
        limit = max(1, sum(costs[:min(cut, len(costs))]) + delta)
        spent = k = 0
        for c in costs:  # sent first, then checked against the budget
            k += 1
            spent += c
            if spent >= limit:
                break
        got = [d for _, d in await _raw_direct(ajs, name, {"seq": 1, "batch": len(data),
                                                            "max_bytes": limit})]
        assert got == data[:k]
    finally:
        await ajs.delete_stream(name)
