"""Bulk publishing (BulkPublisher, the fast-ingest batch protocol) against real servers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import jsdata
from jsdata import errors
from jsdata.client.bulk import BulkPublisher
from jsdata.client.fast import FastBatchPublisher
from jsdata.server import EmbeddedServer

_counter = iter(range(1_000_000))


def _name() -> str:
    return f"B{next(_counter)}"


async def _stream(ajs: jsdata.aio.JetStream, **kw: object) -> str:
    name = _name()
    await ajs.create_stream(name=name, subjects=[f"{name}.>"], **kw)
    return name


def _payloads(n: int, start: int = 0) -> list[bytes]:
    return [b'{"i":%d}' % i for i in range(start, start + n)]


def _frame(n: int) -> pd.DataFrame:
    i = np.arange(n)
    return pd.DataFrame({"id": i, "sym": np.array(["A", "B", "C"])[i % 3], "px": i * 0.5})


# ---------------------------------------------------------------------------------------------
# the pipelined bulk primitive

async def test_all_acked_with_aggregates(ajs: jsdata.aio.JetStream) -> None:
    name = await _stream(ajs)
    bp = await ajs._publish_batch(f"{name}.x", _payloads(5000), window=300)
    assert (bp.sent, bp.acked, bp.resolved, bp.outstanding) == (5000, 5000, 5000, 0)
    assert (bp.first_seq, bp.last_seq, bp.duplicates, bp.stream) == (1, 5000, 0, name)
    assert not bp.failed and bp.first_error() is None
    s = await ajs.stream(name)
    assert (await s.info()).state.messages == 5000
    assert (await s.get_msg(1234)).data == b'{"i":1233}'  # in order


async def test_per_message_subjects_and_headers(ajs: jsdata.aio.JetStream) -> None:
    name = await _stream(ajs)
    n = 300
    subjects = [f"{name}.s{i % 3}" for i in range(n)]
    hdrs = [b"NATS/1.0\r\nK: v%d\r\n\r\n" % i if i % 2 else b"" for i in range(n)]
    bp = await ajs._publish_batch(subjects, _payloads(n), hdrs)
    assert bp.acked == n and not bp.errors
    s = await ajs.stream(name)
    m = await s.get_msg(8)  # message 7: odd, with a header
    assert m.subject == f"{name}.s1" and m.headers["K"] == "v7"
    m = await s.get_msg(9)
    assert m.subject == f"{name}.s2" and not m.headers
    one = await ajs._publish_batch(f"{name}.h", _payloads(10), b"NATS/1.0\r\nX: 1\r\n\r\n")
    assert one.acked == 10
    assert (await s.get_msg(one.last_seq)).headers["X"] == "1"


async def test_large_messages(ajs: jsdata.aio.JetStream) -> None:
    name = await _stream(ajs)
    big = [bytes([65 + i % 26]) * (10_000 + i) for i in range(40)]
    hdrs = [b"NATS/1.0\r\nN: %d\r\n\r\n" % i if i % 3 == 0 else b"" for i in range(40)]
    bp = await ajs._publish_batch(f"{name}.big", big, hdrs)
    assert (bp.acked, bp.last_seq, bp.errors) == (40, 40, {})
    s = await ajs.stream(name)
    m = await s.get_msg(4)  # message 3
    assert m.data == big[3] and m.headers["N"] == "3"
    assert (await s.get_msg(40)).data == big[39]


async def test_no_responders_are_retried(ajs: jsdata.aio.JetStream) -> None:
    name = _name()

    async def create_soon() -> None:
        await asyncio.sleep(0.15)
        await ajs.create_stream(name=name, subjects=[f"{name}.>"])

    task = asyncio.ensure_future(create_soon())
    payloads = [b"x" * 5000] * 20 + _payloads(20)  # both ways of writing messages
    bp = await ajs._publish_batch(f"{name}.x", payloads, retry_attempts=200, retry_wait=0.1)
    await task
    assert (bp.acked, bp.errors) == (40, {})
    assert (await (await ajs.stream(name)).info()).state.messages == 40


async def test_duplicates_with_msg_ids(ajs: jsdata.aio.JetStream) -> None:
    name = await _stream(ajs)
    hdrs = [b"NATS/1.0\r\nNats-Msg-Id: m%d\r\n\r\n" % i for i in range(200)]
    first = await ajs._publish_batch(f"{name}.x", _payloads(200), hdrs)
    assert (first.acked, first.duplicates, first.last_seq) == (200, 0, 200)
    again = await ajs._publish_batch(f"{name}.x", _payloads(200), hdrs)
    assert (again.acked, again.duplicates, again.first_seq, again.last_seq) == (200, 200, 1, 200)
    assert (await (await ajs.stream(name)).info()).state.messages == 200


async def test_no_stream_every_message_fails_typed(ajs: jsdata.aio.JetStream) -> None:
    bp = await ajs._publish_batch("NOWHERE.x", _payloads(50), retry_attempts=1,
                                  retry_wait=0.05)
    assert bp.acked == 0 and len(bp.errors) == 50 and bp.resolved == 50
    i, e = bp.first_error()  # type: ignore[misc]
    assert i == 0 and isinstance(e, errors.NoStreamResponseError)
    assert "message 0" in str(e) and "NOWHERE.x" in str(e)
    assert all(isinstance(x, errors.NoStreamResponseError) for x in bp.errors.values())


async def test_stream_stops_capturing_midway(ajs: jsdata.aio.JetStream) -> None:
    name = await _stream(ajs)
    bp = await ajs._bulk_publisher(window=100, retry_attempts=1, retry_wait=0.05,
                                   stop_on_error=False)
    await bp.send(f"{name}.x", _payloads(500))
    await bp._wait_until(0)
    await ajs.update_stream(name=name, subjects=[f"{name}.other"])
    await bp.send(f"{name}.x", _payloads(300))
    await bp.finish()
    assert bp.acked == 500 and len(bp.errors) == 300 and bp.outstanding == 0
    assert min(bp.errors) == 500
    assert isinstance(bp.errors[500], errors.NoStreamResponseError)
    assert "message 500" in str(bp.errors[500])


async def test_stop_on_error_stops_sending(ajs: jsdata.aio.JetStream) -> None:
    name = await _stream(ajs, max_msgs=100, discard="new")
    bp = await ajs._bulk_publisher(window=50)
    await bp.send(f"{name}.x", _payloads(1000))
    await bp.finish()
    assert bp.acked == 100 and bp.sent < 1000  # nothing more went out after the failure
    i, e = bp.first_error()  # type: ignore[misc]
    assert i == 100 and isinstance(e, errors.JetStreamError) and "message 100" in str(e)
    assert bp.resolved == bp.sent


async def test_in_flight_is_bounded(ajs: jsdata.aio.JetStream) -> None:
    name = await _stream(ajs)
    bp = await ajs._bulk_publisher(window=64)
    seen: list[int] = []
    write = bp._write

    def counting(*a: object) -> None:
        write(*a)  # type: ignore[arg-type]
        seen.append(bp.outstanding)

    bp._write = counting  # type: ignore[method-assign]
    await bp.send(f"{name}.x", _payloads(3000))
    await bp.finish()
    assert bp.acked == 3000
    assert len(seen) > 10 and max(seen) <= 64


async def test_max_payload_names_the_message(ajs: jsdata.aio.JetStream) -> None:
    name = await _stream(ajs)
    big = b"x" * (ajs.nc.max_payload + 1)
    bp = await ajs._bulk_publisher()
    with pytest.raises(errors.MaxPayloadExceededError, match="message 2 "):
        await bp.send(f"{name}.x", [b"a", b"b", big])
    assert bp.sent == 0  # nothing of that call went out
    await bp.finish()


async def test_timeout_resolves_every_message(ajs: jsdata.aio.JetStream) -> None:
    # a subscriber that never answers: every message times out, none hangs
    sub = await ajs.nc.fast_subscribe("SILENT.>", lambda *a: None)
    try:
        bp = await ajs._publish_batch("SILENT.x", _payloads(20), timeout=0.5)
    finally:
        await ajs.nc.fast_unsubscribe(sub)
    assert len(bp.errors) == 20 and bp.acked == 0
    assert all(isinstance(e, errors.JetStreamTimeoutError) for e in bp.errors.values())


async def test_server_restart_midway_every_message_resolves(
        server: EmbeddedServer, ajs: jsdata.aio.JetStream) -> None:
    name = await _stream(ajs)
    bp = await ajs._bulk_publisher(window=200, timeout=3, stop_on_error=False)
    await bp.send(f"{name}.x", _payloads(2000))
    await asyncio.to_thread(server.restart)
    try:
        await bp.send(f"{name}.x", _payloads(2000, 2000))
    except errors.NotConnectedError:
        pass
    await bp.finish()
    assert bp.outstanding == 0 and bp.acked + len(bp.errors) == bp.sent >= 2000
    assert all(isinstance(e, errors.JetStreamError) for e in bp.errors.values())


async def test_connection_close_fails_outstanding(server: EmbeddedServer) -> None:
    conn = await jsdata.aio.connect(server.url)
    name = await _stream(conn)
    bp = await conn._bulk_publisher()
    server_proc = server
    await asyncio.to_thread(server_proc.stop)
    try:
        await bp.send(f"{name}.x", _payloads(10))
    except errors.JetStreamError:
        pass
    await conn.close()
    assert bp.outstanding == 0
    assert all(isinstance(e, errors.JetStreamError) for e in bp.errors.values())


# ---------------------------------------------------------------------------------------------
# the fast-ingest batch protocol (ADR-50)

async def test_fast_batch_primitive(ajs: jsdata.aio.JetStream) -> None:
    name = await _stream(ajs, allow_batched=True)
    await ajs.publish(f"{name}.x", b"before")
    bp = await ajs._fast_batch_publisher()
    assert isinstance(bp, FastBatchPublisher) and isinstance(bp, BulkPublisher)
    await bp.send(f"{name}.x", _payloads(2500))
    await bp.send(f"{name}.y", _payloads(500, 2500), b"NATS/1.0\r\nK: v\r\n\r\n")
    await bp.finish()
    assert (bp.sent, bp.acked, bp.outstanding, bp.errors) == (3000, 3000, 0, {})
    assert (bp.first_seq, bp.last_seq, bp.stream, bp.count) == (2, 3001, name, 2999)
    s = await ajs.stream(name)
    assert (await s.info()).state.messages == 3001
    m = await s.get_msg(3001)
    assert m.data == b'{"i":2999}' and m.headers["K"] == "v"
    assert (await s.get_msg(1501)).data == b'{"i":1499}'


async def test_fast_batch_not_allowed_is_typed(ajs: jsdata.aio.JetStream) -> None:
    name = await _stream(ajs)  # no allow_batched
    bp = await ajs._fast_batch_publisher()
    await bp.send(f"{name}.x", _payloads(10))
    await bp.finish()
    assert bp.acked == 1 and bp.outstanding == 0
    i, e = bp.first_error()  # type: ignore[misc]
    assert i == 1 and isinstance(e, errors.APIError) and e.err_code == 10205


async def test_fast_batch_error_midway_stops(ajs: jsdata.aio.JetStream) -> None:
    name = await _stream(ajs, allow_batched=True, max_msgs=1500, discard="new")
    bp = await ajs._fast_batch_publisher()
    await bp.send(f"{name}.x", _payloads(5000))
    await bp.finish()
    assert bp.acked == 1500 and bp.outstanding == 0 and bp.acked + len(bp.errors) == bp.sent
    i, e = bp.first_error()  # type: ignore[misc]
    assert i == 1500 and isinstance(e, errors.JetStreamError) and "message 1500" in str(e)
    assert (await (await ajs.stream(name)).info()).state.messages == 1500


async def test_fast_batch_server_restart_resolves(server: EmbeddedServer,
                                                  ajs: jsdata.aio.JetStream) -> None:
    name = await _stream(ajs, allow_batched=True)
    bp = await ajs._fast_batch_publisher(timeout=3)
    await bp.send(f"{name}.x", _payloads(3000))
    await asyncio.to_thread(server.restart)
    try:
        await bp.send(f"{name}.x", _payloads(3000, 3000))
    except errors.NotConnectedError:
        pass
    await bp.finish()
    assert bp.outstanding == 0 and bp.acked + len(bp.errors) == bp.sent
    assert bp.acked >= 1
    # the restarted server answers the JetStream API once it has recovered its streams
    # (seconds under load): wait for that observable state, then check the contents
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        try:
            stored = (await (await ajs.stream(name)).info()).state.messages
            break
        except (errors.APITimeoutError, errors.NotConnectedError,
                errors.JetStreamNotEnabledError):
            assert asyncio.get_running_loop().time() < deadline, "server never recovered"
    assert stored >= bp.acked  # what was confirmed is there


# ---------------------------------------------------------------------------------------------
# publish_dataframe on top

@pytest.fixture
def bjs(server: EmbeddedServer) -> Iterator[jsdata.JetStream]:
    conn = jsdata.connect(server.url)
    try:
        yield conn
    finally:
        conn.close()


def test_dataframe_batch_modes(bjs: jsdata.JetStream) -> None:
    df = _frame(20_000)
    bjs.create_stream(name="FB", subjects=["FB.>"], allow_batched=True)
    bjs.create_stream(name="PL", subjects=["PL.>"])
    auto = bjs.publish_dataframe("FB.x", df, progress=False)
    assert auto.batched and (auto.rows, auto.messages) == (20_000, 20_000)
    assert (auto.first_seq, auto.last_seq, auto.stream) == (1, 20_000, "FB")
    forced = bjs.publish_dataframe("FB.x", df, progress=False, batch=True)
    assert forced.batched and (forced.first_seq, forced.last_seq) == (20_001, 40_000)
    plain = bjs.publish_dataframe("FB.x", df, progress=False, batch=False)
    assert not plain.batched and plain.last_seq == 60_000
    back = bjs.stream("FB").to_pandas(progress=False)
    assert len(back) == 60_000 and back["id"].tolist() == list(range(20_000)) * 3
    pl = bjs.publish_dataframe("PL.x", df, progress=False)  # stream without allow_batched
    assert not pl.batched and pl.last_seq == 20_000
    arrow = bjs.publish_dataframe("FB.a", pa.Table.from_pandas(df), codec="arrow",
                                  rows_per_message=1000, progress=False)
    assert arrow.batched and arrow.messages == 20 and arrow.rows == 20_000
    assert "fast-ingest batch" in auto._repr_html_()


def test_dataframe_batch_true_needs_support(bjs: jsdata.JetStream) -> None:
    df = _frame(10)
    bjs.create_stream(name="FB", subjects=["FB.>"], allow_batched=True)
    bjs.create_stream(name="PL", subjects=["PL.>"])
    with pytest.raises(errors.InvalidArgumentError, match="allow_batched"):
        bjs.publish_dataframe("PL.x", df, progress=False, batch=True)
    with pytest.raises(errors.InvalidArgumentError, match="template"):
        bjs.publish_dataframe("FB.{sym}", df, progress=False, batch=True)
    with pytest.raises(errors.InvalidArgumentError, match="msg_id"):
        bjs.publish_dataframe("FB.x", df, progress=False, batch=True, msg_id="id")
    with pytest.raises(errors.NoStreamResponseError, match="nothing was written"):
        bjs.publish_dataframe("NONE.x", df, progress=False, batch=True)
    with pytest.raises(errors.InvalidArgumentError, match="batch"):
        bjs.publish_dataframe("FB.x", df, progress=False, batch="yes")  # type: ignore[arg-type]
    # auto falls back to acknowledged publishing where batching cannot be used
    res = bjs.publish_dataframe("FB.{sym}", df, progress=False, msg_id="id")
    assert not res.batched and res.messages == 10


@pytest.mark.parametrize("batch", [False, True])
def test_dataframe_failure_names_the_row(bjs: jsdata.JetStream, batch: bool) -> None:
    bjs.create_stream(name="LIM", subjects=["LIM.>"], allow_batched=True, max_msgs=2500,
                      discard="new")
    with pytest.raises(errors.JetStreamError, match="row 2500 ") as ei:
        bjs.publish_dataframe("LIM.x", _frame(30_000), progress=False, batch=batch)
    assert "publish_dataframe" in str(ei.value)
    assert bjs.stream("LIM").info().state.messages == 2500


def test_dataframe_stream_removed_midway(server: EmbeddedServer, bjs: jsdata.JetStream) -> None:
    bjs.create_stream(name="GONE", subjects=["GONE.>"])
    other = jsdata.connect(server.url)
    df = _frame(30_000)
    table = pa.Table.from_pandas(df, preserve_index=False)

    def batches() -> Iterator[pa.RecordBatch]:
        yield from table.slice(0, 10_000).to_batches()
        yield from table.slice(10_000, 10_000).to_batches()
        # fetched while the first slice is being sent: in the writer's worker thread
        other.delete_stream("GONE")
        yield from table.slice(20_000).to_batches()

    reader = pa.RecordBatchReader.from_batches(table.schema, batches())
    try:
        with pytest.raises(errors.JetStreamError, match=r"publish_dataframe: row \d+ ") as ei:
            bjs.publish_dataframe("GONE.x", reader, progress=False)
    finally:
        other.close()
    assert isinstance(ei.value, (errors.NoStreamResponseError, errors.JetStreamTimeoutError))
    row = int(str(ei.value).split("row ")[1].split()[0])
    assert 1 <= row < 30_000
