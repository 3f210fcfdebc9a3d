"""polars: to_polars, read_stream(engine="polars"), publishing polars frames, ArrowBatch
.to_polars and Parquet objects read by polars through the jetstream:// filesystem; both
surfaces, against a real server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime, timezone

import fsspec
import pytest

import jsdata
from jsdata import errors
from jsdata.server import EmbeddedServer
from tests.helpers import wait_for

pl = pytest.importorskip("polars")

from frames import assert_same_values  # noqa: E402


def polars_frame(n: int = 600) -> pl.DataFrame:
    """A polars frame with the types users have: ints, floats with nulls, strings with
    nulls, tz-aware datetimes, booleans, a categorical, lists and structs."""
    cats = ["eu", "us", "apac"]
    return pl.DataFrame({
        "id": pl.Series(range(n), dtype=pl.Int64),
        "small": pl.Series([i % 100 - 50 for i in range(n)], dtype=pl.Int8),
        "price": [None if i % 7 == 0 else i * 0.25 for i in range(n)],
        "name": [None if i % 5 == 0 else f"n{i}" for i in range(n)],
        "at": pl.Series([datetime(2024, 1, 1, tzinfo=timezone.utc)] * n).dt.offset_by(
            pl.Series([f"{i}s" for i in range(n)])),
        "ok": [None if i % 3 == 0 else i % 2 == 0 for i in range(n)],
        "cat": pl.Series([cats[i % 3] for i in range(n)], dtype=pl.Categorical),
        "tags": [[f"t{j}" for j in range(i % 3)] for i in range(n)],
        "pt": [{"x": i, "y": -i} for i in range(n)],
    })


@pytest.fixture(scope="module")
def mjs(shared_server: EmbeddedServer) -> Iterator[jsdata.JetStream]:
    conn = jsdata.connect(shared_server.url)
    try:
        yield conn
    finally:
        conn.close()


_n = iter(range(1_000_000))


def written(js: jsdata.JetStream, codec: str = "arrow", n: int = 600) -> tuple[str, pl.DataFrame]:
    name = f"PL{next(_n)}"
    js.create_stream(name=name, subjects=[f"{name}.>"])
    df = polars_frame(n)
    res = js.publish_dataframe(f"{name}.{{cat}}", df, codec=codec, msg_id="{id}",
                               headers=["cat"], progress=False)
    assert res.rows == n and res.duplicates == 0
    return name, df


@pytest.mark.parametrize("codec", ["arrow", "json", "msgpack"])
def test_publish_polars_and_read_it_back_with_to_polars(mjs: jsdata.JetStream,
                                                        codec: str) -> None:
    name, df = written(mjs, codec)
    back = mjs.stream(name).to_polars(progress=False)
    assert isinstance(back, pl.DataFrame)
    back = back.sort("id")
    assert_same_values(df.to_arrow(), back.to_arrow(), columns=df.columns, context=codec)
    assert back["_seq"].dtype == pl.UInt64
    assert back["_time"].dtype == pl.Datetime("ns", "UTC")
    assert (back["_subject"] == (f"{name}." + back["cat"].cast(pl.Utf8))).all()
    if codec == "arrow":  # Arrow keeps the types polars gave it
        assert {c: back[c].dtype for c in ("small", "at", "ok", "tags", "pt")} == {
            c: df[c].dtype for c in ("small", "at", "ok", "tags", "pt")}


def test_to_polars_takes_the_read_options(mjs: jsdata.JetStream) -> None:
    name, df = written(mjs, "json", n=300)
    s = mjs.stream(name)
    part = s.to_polars(subjects=f"{name}.eu", start=10, end=200, columns=["id", "name"],
                       metadata=("seq",), include_headers=True, progress=False)
    assert part.columns == ["id", "name", "_seq", "_headers"]
    want = df.with_row_index("seq", offset=1).filter(
        (pl.col("cat").cast(pl.Utf8) == "eu") & pl.col("seq").is_between(10, 200))
    assert part["id"].to_list() == want["id"].to_list()
    assert part["name"].to_list() == want["name"].to_list()
    assert part["_seq"].to_list() == want["seq"].to_list()
    # msg ids and header columns ride in _headers (a Map; key/value structs before polars 2)
    first = part["_headers"][0]
    if not isinstance(first, dict):
        first = {kv["key"]: kv["value"] for kv in first}
    assert first["Nats-Msg-Id"] == str(want["id"][0]) and first["cat"] == "eu"
    # a rerun with the same msg ids is deduplicated
    again = mjs.publish_dataframe(f"{name}.{{cat}}", df.head(20), codec="json", msg_id="{id}",
                                  progress=False)
    assert again.duplicates == 20 and s.info().state.messages == 300
    with pytest.raises(errors.InvalidArgumentError, match="dtype_backend"):
        s.to_polars(dtype_backend="pyarrow")
    with pytest.raises(errors.InvalidArgumentError):
        s.to_polars(on_error="sometimes")


def test_read_stream_engine_polars(mjs: jsdata.JetStream) -> None:
    name, df = written(mjs, "arrow", n=100)
    got = jsdata.read_stream(name, js=mjs, engine="polars", metadata=(), progress=False)
    assert isinstance(got, pl.DataFrame)
    assert_same_values(df.to_arrow(), got.sort("id").to_arrow(), context="read_stream")
    assert set(got.columns) == set(df.columns)
    pdf = jsdata.read_stream(name, js=mjs, engine="pandas", progress=False)
    assert len(pdf) == 100 and not isinstance(pdf, pl.DataFrame)
    with pytest.raises(errors.InvalidArgumentError, match="engine"):
        jsdata.read_stream(name, js=mjs, engine="spark")


def test_arrow_batch_to_polars(mjs: jsdata.JetStream) -> None:
    name, df = written(mjs, "json", n=50)
    c = mjs.stream(name).create_consumer(durable="plc", ack_policy="explicit")
    with c.fetch_arrow(50, max_wait=5.0) as ab:
        got = ab.to_polars()
    assert isinstance(got, pl.DataFrame) and got.height == 50
    assert got["id"].to_list() == list(range(50))
    # the block acks on exit, fire-and-forget: wait for the server to count them
    wait_for(lambda: c.info().num_ack_pending == 0, what="the batch's acks")


async def test_asyncio_surface(server: EmbeddedServer) -> None:
    ajs = await jsdata.aio.connect(server.url)
    try:
        await ajs.create_stream(name="APL", subjects=["APL.>"])
        df = polars_frame(200)
        res = await ajs.publish_dataframe("APL.{cat}", df, codec="arrow", progress=False)
        assert res.rows == 200
        s = await ajs.stream("APL")
        back = await s.to_polars(progress=False)
        assert_same_values(df.to_arrow(), back.sort("id").to_arrow(), context="aio to_polars")
        got = await jsdata.read_stream("APL", js=ajs, engine="polars", subjects="APL.us",
                                       progress=False)
        assert got.sort("id")["id"].to_list() == df.filter(
            pl.col("cat").cast(pl.Utf8) == "us")["id"].to_list()
        c = await s.create_consumer(durable="apc", ack_policy="explicit")
        ab = await c.fetch_arrow(10, max_wait=5.0)
        assert ab.to_polars().height == ab.num_rows > 0
        await ab.ack()
        with pytest.raises(errors.InvalidArgumentError, match="engine"):
            await jsdata.read_stream("APL", js=ajs, engine="dask")
    finally:
        await ajs.close()


def test_missing_polars_is_a_typed_error(mjs: jsdata.JetStream,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    name, _ = written(mjs, "json", n=5)
    monkeypatch.setitem(sys.modules, "polars", None)  # as if it were not installed
    with pytest.raises(errors.MissingDependencyError, match="pip install polars"):
        mjs.stream(name).to_polars()
    with pytest.raises(ImportError):  # also an ImportError
        jsdata.read_stream(name, js=mjs, engine="polars")


def test_parquet_objects_through_the_filesystem(shared_server: EmbeddedServer) -> None:
    url = shared_server.url
    df = polars_frame(400).drop("pt")
    fs = fsspec.filesystem("jetstream", servers=url)
    with fs.open("plbucket/d/x.parquet", "wb") as f:
        df.write_parquet(f)
    opts = {"servers": url}
    got = pl.read_parquet("jetstream://plbucket/d/x.parquet", use_pyarrow=True,
                          storage_options=opts)
    assert got.equals(df)
    lazy = pl.scan_parquet(fs.open("plbucket/d/x.parquet")).filter(pl.col("id") >= 390)
    assert lazy.select("id").collect()["id"].to_list() == list(range(390, 400))
    with fsspec.open("jetstream://plbucket/d/x.parquet", "rb", **opts) as f:
        assert pl.read_parquet(f, columns=["name"]).height == 400
