"""The data-correctness tier (marker ``data``): large, varied, randomized data read back by
every read path and compared value by value.

Frames are the realistic 13-column frame of issue 10 (tests/frames.py) plus a ``blob``
column whose length spreads message sizes from a few bytes to near the server's
``max_payload`` (a server with a 64 KiB max_payload keeps that cheap). They are written with
``publish_dataframe("T.{cat}", df, msg_id="{id}", headers=...)`` in each codec and read back
with to_pandas, to_arrow, to_batches, read_stream, to_polars, fetch_arrow, iter_arrow and
plain consumer fetches, on both surfaces, with ``subjects=`` filters and ``start``/``end`` by
sequence and by time. One test round-trips 1M rows in each codec through the default server.

Randomness is seeded: the base seed is ``JSDATA_SEED`` when set, else drawn per run, and is
printed in every failure message ("seed=..."); rerun with ``JSDATA_SEED=<seed>``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import random
import zlib
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc  # noqa: F401 - pa.ipc
import pytest
from frames import CATEGORIES, WIDE_COLUMNS, assert_same_dtypes, assert_same_values, wide_frame

import jsdata
from jsdata.frames.codec import get_codec
from jsdata.server import EmbeddedServer

pytestmark = pytest.mark.data

BASE_SEED = int(os.environ.get("JSDATA_SEED") or random.SystemRandom().randrange(1 << 32))
MAX_PAYLOAD = 64 * 1024
CODECS = ("json", "msgpack", "arrow")


def seed_for(name: str) -> int:
    """A per-test seed derived from the run's base seed (stable across test selection)."""
    return (BASE_SEED ^ zlib.crc32(name.encode())) & 0xFFFFFFFF


def small_payload_server(store: Path) -> EmbeddedServer:
    """A server whose max_payload is 64 KiB, so near-limit messages stay cheap."""
    store.mkdir(parents=True, exist_ok=True)
    conf = store.parent / f"{store.name}.conf"
    conf.write_text(f"max_payload: {MAX_PAYLOAD}\n")
    return EmbeddedServer(store_dir=str(store), args=["-c", str(conf)])


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    srv = small_payload_server(tmp_path_factory.mktemp("tier") / "store")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def sjs(small_server: EmbeddedServer) -> Iterator[jsdata.JetStream]:
    conn = jsdata.connect(small_server.url)
    try:
        yield conn
    finally:
        conn.close()


def blob_sizes(rng: np.random.Generator, n: int, top: int) -> list[int]:
    """Mostly small rows, some kilobytes, a few near ``top``, and two exactly at it."""
    kind = rng.random(n)
    sizes = np.where(kind < 0.7, rng.integers(0, 64, n),
                     np.where(kind < 0.96, rng.integers(64, 4096, n), rng.integers(4096, top, n)))
    sizes[rng.choice(n, 2, replace=False)] = top
    return [int(x) for x in sizes]


# room left for the other columns (~300 B), headers (~1.4 KB with the recorded schema on a
# write's first message) and, for arrow, the IPC schema of a one-row message
_MARGIN = {"json": 3072, "msgpack": 3072, "arrow": 12288}


class Written:
    """A randomized frame as written into one stream, and what the write reported."""

    def __init__(self, codec: str, df: pd.DataFrame, stream: str, seed: int,
                 result: Any) -> None:
        self.codec, self.df, self.stream, self.seed, self.result = codec, df, stream, seed, result

    def ctx(self, path: str) -> str:
        return f"JSDATA_SEED={BASE_SEED} seed={self.seed} codec={self.codec} read={path}"


@pytest.fixture(scope="module", params=CODECS)
def written(request: pytest.FixtureRequest, sjs: jsdata.JetStream) -> Written:
    codec = request.param
    seed = seed_for(f"written-{codec}")
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1500, 2500))
    df = wide_frame(n, seed, blob_sizes=blob_sizes(rng, n, MAX_PAYLOAD - _MARGIN[codec]))
    name = f"TIER_{codec.upper()}"
    sjs.create_stream(name=name, subjects=[f"{name}.>"], allow_direct=True,
                      duplicate_window=600.0)
    res = sjs.publish_dataframe(f"{name}.{{cat}}", df, codec=codec, msg_id="{id}",
                                headers={"Row-Cat": "cat", "Row-Small": "small"}, progress=False)
    return Written(codec, df, name, seed, res)


# ---------------------------------------------------------------------------------------------
# helpers: expected rows for a filtered range, results sorted by id


def by_id(got: Any) -> Any:
    """Rows sorted by ``id`` (templated Arrow writes group rows by subject); an empty read
    (which has no data columns to sort by) as it is."""
    if len(got) == 0:
        return got
    if isinstance(got, pd.DataFrame):
        return got.sort_values("id", kind="stable").reset_index(drop=True)
    if not isinstance(got, pa.Table):
        got = pa.Table.from_batches(list(got))
    return got.sort_by("id")


def same_rows(exp: pd.DataFrame, got: Any, cols: list[str], context: str) -> None:
    """``got`` (any order) holds exactly the rows ``exp``; an empty read has no data columns
    (nothing to infer them from), so for no rows only the count is compared."""
    if len(exp) == 0:
        n = got.num_rows if hasattr(got, "num_rows") else len(got)
        assert n == 0, f"{n} rows came back, expected none [{context}]"
        return
    assert_same_values(exp, by_id(got), columns=cols, context=context)


async def maybe(x: Any) -> Any:
    """``await`` a coroutine (asyncio surface) or pass a result through (blocking)."""
    return await x if inspect.isawaitable(x) else x


async def collect(it: Any) -> list[Any]:
    """Items of a sync or async iterator."""
    if hasattr(it, "__aiter__"):
        return [x async for x in it]
    return list(it)


class Layout:
    """Where each row landed: its message's sequence, subject and time (from a full read
    that was itself checked against the frame)."""

    def __init__(self, w: Written, full: pd.DataFrame) -> None:
        f = by_id(full)
        self.w = w
        self.seq = f["_seq"].to_numpy(dtype=np.int64)
        self.time_ns = pd.DatetimeIndex(f["_time"]).as_unit("ns").asi8
        self.cat = w.df["cat"].astype(str).to_numpy()

    def rows(self, cats: list[str] | None = None, lo: int | None = None,
             hi: int | None = None, t0: int | None = None) -> pd.DataFrame:
        m = np.ones(len(self.seq), dtype=bool)
        if cats is not None:
            m &= np.isin(self.cat, cats)
        if lo is not None:
            m &= self.seq >= lo
        if hi is not None:
            m &= self.seq <= hi
        if t0 is not None:
            m &= self.time_ns >= t0
        self.last_mask = m
        return self.w.df[m].reset_index(drop=True)

    def messages(self) -> int:
        """Messages holding the rows of the last :meth:`rows` call (a pull for more than
        remain would wait out its max_wait)."""
        return len(np.unique(self.seq[self.last_mask]))


def check_full(w: Written, full: pd.DataFrame) -> None:
    """The full read: every row once, subjects from the template, headers, msg ids."""
    df = w.df
    ctx = w.ctx("to_pandas")
    assert full["id"].is_unique and len(full) == len(df), ctx
    f = by_id(full)
    assert (f["_subject"] == f"{w.stream}." + df["cat"].astype(str)).all(), ctx
    assert f["_seq"].is_monotonic_increasing or w.codec == "arrow", ctx
    assert (np.diff(full["_seq"].to_numpy(dtype=np.int64)) >= 0).all(), ctx
    hdrs = f["_headers"]
    assert [h.get("Row-Cat") for h in hdrs] == df["cat"].astype(str).tolist(), ctx
    if w.codec != "arrow":  # one row per message: its own id and name
        assert [h.get("Nats-Msg-Id") for h in hdrs] == [str(i) for i in df["id"]], ctx
        assert [h.get("Row-Small") for h in hdrs] == [str(v) for v in df["small"]], ctx
        assert list(full["_seq"]) == list(range(1, len(df) + 1)), ctx


# ---------------------------------------------------------------------------------------------
# the write


def test_write_result_and_dedup(written: Written, sjs: jsdata.JetStream) -> None:
    w = written
    ctx = w.ctx("write")
    n = len(w.df)
    assert w.result.rows == n, ctx
    assert w.result.duplicates == 0, ctx
    assert w.result.first_seq == 1 and w.result.last_seq == w.result.messages, ctx
    s = sjs.stream(w.stream)
    assert s.info().state.messages == w.result.messages, ctx
    if w.codec == "arrow":
        assert w.result.messages < n, ctx  # rows packed several per message
    else:
        assert w.result.messages == n, ctx
        # a rerun of some rows is deduplicated by their msg ids: nothing new is stored
        again = sjs.publish_dataframe(f"{w.stream}.{{cat}}", w.df.iloc[:25], codec=w.codec,
                                      msg_id="{id}", progress=False)
        assert again.duplicates == 25, ctx
        assert s.info().state.messages == n, ctx


# ---------------------------------------------------------------------------------------------
# every read path, on both surfaces


async def read_paths(w: Written, conn: Any, surface: str) -> None:
    """Read ``w`` back through every read path of ``conn`` (either surface) and compare."""
    rng = random.Random(w.seed + (1 if surface == "aio" else 0))
    cols = list(w.df.columns)
    s = await maybe(conn.stream(w.stream))
    problems: list[str] = []  # every path is checked; all failures are reported together

    def check(fn: Any, *args: Any, **kw: Any) -> None:
        try:
            fn(*args, **kw)
        except AssertionError as e:
            problems.append(str(e))

    full = await maybe(s.to_pandas(include_headers=True, progress=False))
    check(assert_same_values, w.df, by_id(full), columns=cols, context=w.ctx("to_pandas"))
    check(check_full, w, full)
    lay = Layout(w, full)
    last = int(lay.seq.max())

    def ctx(path: str) -> str:
        return w.ctx(path) + f" surface={surface}"

    # to_arrow with a subject filter and a sequence range
    cats = rng.sample(list(CATEGORIES), 2)
    lo = rng.randint(1, max(1, last // 3))
    hi = rng.randint(lo, last)
    t = await maybe(s.to_arrow(subjects=[f"{w.stream}.{c}" for c in cats], start=lo, end=hi,
                               progress=False))
    check(same_rows, lay.rows(cats, lo, hi), t, cols,
          ctx(f"to_arrow cats={cats} start={lo} end={hi}"))
    meta = t.schema.metadata or {}
    assert b"jetstream" in meta, ctx("to_arrow metadata")

    # to_batches, streaming, one subject, from a sequence to the end
    cat = rng.choice(CATEGORIES)
    lo2 = rng.randint(1, last)
    batches = await collect(await maybe(s.to_batches(subjects=f"{w.stream}.{cat}", start=lo2,
                                                     batch_size=rng.randint(50, 700),
                                                     progress=False)))
    got = pa.Table.from_batches(batches) if batches else pa.table({})
    check(same_rows, lay.rows([cat], lo2), got, cols, ctx(f"to_batches cat={cat} start={lo2}"))

    # read_stream, a start time and an end sequence
    k = rng.randint(0, len(w.df) - 1)
    t0 = int(lay.time_ns[k]) // 1000 * 1000  # datetime has microseconds
    when = datetime.fromtimestamp(t0 // 1000 / 1e6, tz=timezone.utc).replace(
        microsecond=(t0 // 1000) % 1_000_000)
    hi2 = rng.randint(1, last)
    got_df = await maybe(jsdata.read_stream(w.stream, js=conn, start=when, end=hi2,
                                            progress=False))
    check(same_rows, lay.rows(None, None, hi2, t0), got_df, cols,
          ctx(f"read_stream start={when.isoformat()} end={hi2}"))

    # to_polars, one subject
    pcat = rng.choice(CATEGORIES)
    got_pl = await maybe(s.to_polars(subjects=f"{w.stream}.{pcat}", progress=False))
    check(same_rows, lay.rows([pcat]), got_pl.to_arrow(), cols, ctx(f"to_polars cat={pcat}"))

    # a durable consumer, filtered: fetch_arrow until every row is in
    fcats = rng.sample(list(CATEGORIES), 2)
    c = await maybe(s.create_consumer(durable=f"fa_{surface}", ack_policy="explicit",
                                      filter_subjects=[f"{w.stream}.{x}" for x in fcats]))
    exp = lay.rows(fcats)
    left = lay.messages()
    parts: list[pa.RecordBatch] = []
    rows = 0
    while left:
        ab = await maybe(c.fetch_arrow(min(left, rng.randint(20, 300)), max_wait=5.0))
        assert ab.num_rows > 0, ctx(f"fetch_arrow stalled after {rows} of {len(exp)} rows")
        parts.append(ab.record_batch)
        rows += ab.num_rows
        left -= ab.messages
        await maybe(ab.ack())
    check(same_rows, exp, pa.Table.from_batches(parts) if parts else pa.table({}), cols,
          ctx(f"fetch_arrow cats={fcats}"))

    # iter_arrow from a start sequence
    lo3 = rng.randint(1, last)
    c2 = await maybe(s.create_consumer(durable=f"ia_{surface}", ack_policy="none",
                                       deliver_policy="by_start_sequence", opt_start_seq=lo3))
    exp = lay.rows(None, lo3)
    parts = []
    rows = 0
    it = await maybe(c2.iter_arrow(batch_size=rng.randint(50, 500), max_latency=0.2))
    try:
        while rows < len(exp):
            ab = await maybe(it.__anext__() if surface == "aio" else next(it))
            parts.append(ab.record_batch)
            rows += ab.num_rows
    finally:
        await maybe(it.stop())
    check(same_rows, exp, pa.Table.from_batches(parts) if parts else pa.table({}), cols,
          ctx(f"iter_arrow start={lo3}"))

    # plain consumer fetches: subjects, headers and payloads as any client sees them
    c3 = await maybe(s.create_consumer(durable=f"f_{surface}", ack_policy="none"))
    codec = get_codec(w.codec)
    subjects: list[str] = []
    payloads: list[bytes] = []
    while len(payloads) < w.result.messages:
        want = min(w.result.messages - len(payloads), rng.randint(10, 400))
        mb = await maybe(c3.fetch(want, max_wait=5.0))
        msgs = await collect(mb)
        assert msgs, ctx(f"fetch stalled after {len(payloads)} messages")
        for m in msgs:
            subjects.append(m.subject)
            payloads.append(bytes(m.data))
            ct = (m.headers.get("Content-Type") or "") if m.headers else ""
            assert ct.split(";")[0].strip() == codec.content_type, ctx(f"fetch Content-Type {ct}")
    plain = ["id", "small", "name", "cat", "blob"]
    check(same_rows, w.df, client_decode(w.codec, payloads, plain), plain,
          ctx("consumer fetch"))
    want_subj = sorted(f"{w.stream}.{c}" for c in w.df["cat"].astype(str))
    if w.codec != "arrow":
        assert sorted(subjects) == want_subj, ctx("fetch subjects")
    for name in (f"fa_{surface}", f"ia_{surface}", f"f_{surface}"):
        await maybe(s.delete_consumer(name))
    assert not problems, f"{len(problems)} read path(s) wrong:\n" + "\n".join(problems)


def client_decode(codec: str, payloads: list[bytes], columns: list[str]) -> pa.Table:
    """Decode payloads as another client would (json / msgpack / pyarrow.ipc, no jsdata)."""
    if codec == "arrow":
        tables = [pa.ipc.open_stream(p).read_all().select(columns) for p in payloads]
        return pa.concat_tables(tables)
    rows = [json.loads(p) if codec == "json" else msgpack.unpackb(p) for p in payloads]
    return pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])


def test_read_paths_blocking(written: Written, sjs: jsdata.JetStream) -> None:
    asyncio.run(read_paths(written, sjs, "blocking"))


async def test_read_paths_asyncio(written: Written, small_server: EmbeddedServer) -> None:
    ajs = await jsdata.aio.connect(small_server.url)
    try:
        await read_paths(written, ajs, "aio")
    finally:
        await ajs.close()


def test_dtypes_kept(written: Written, sjs: jsdata.JetStream) -> None:
    """to_pandas gives back the dtypes the frame was written with, in every codec."""
    back = sjs.stream(written.stream).to_pandas(progress=False)
    assert_same_dtypes(written.df, back, context=written.ctx("to_pandas dtypes"))


# ---------------------------------------------------------------------------------------------
# one million rows


_1M_CODECS = [c for c in ("arrow", "json", "msgpack")
              if os.environ.get("JSDATA_TIER_1M_CODEC", c) == c]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("codec", _1M_CODECS)
def test_one_million_wide_rows(tmp_path: Path, codec: str) -> None:
    """1M rows of the wide frame, templated subjects, in every codec, through every read
    path: to_pandas (whole frame), to_arrow with a subject filter, to_batches (every
    batch), read_stream over the middle third, to_polars of one subject, fetch_arrow in
    large fetches from a filtered durable consumer, iter_arrow from a late start sequence
    (``JSDATA_TIER_1M_CODEC=json`` runs one codec only)."""
    seed = seed_for(f"million-{codec}")
    ctx = f"JSDATA_SEED={BASE_SEED} seed={seed} codec={codec} rows=1M"
    df = wide_frame(1_000_000, seed)
    with EmbeddedServer(store_dir=str(tmp_path / "store")) as srv, \
            jsdata.connect(srv.url) as conn:
        s = conn.create_stream(name="WIDE", subjects=["WIDE.>"])
        res = conn.publish_dataframe("WIDE.{cat}", df, codec=codec, progress=False)
        assert res.rows == len(df), ctx
        back = s.to_pandas(progress=False)
        assert back.attrs["jetstream"]["end_seq"] == res.last_seq, ctx
        assert_same_values(df, by_id(back), columns=list(WIDE_COLUMNS), context=ctx + " to_pandas")
        dtypes = back.dtypes
        seq = by_id(back)["_seq"].to_numpy(dtype=np.int64)  # the message of each row
        del back
        cols = list(WIDE_COLUMNS)
        cat = df["cat"].astype(str).to_numpy()

        def expect(m: np.ndarray) -> pd.DataFrame:
            return df[m].reset_index(drop=True)

        last = res.last_seq
        lo, hi = last // 3, 2 * last // 3
        mid = jsdata.read_stream("WIDE", js=conn, start=lo, end=hi, progress=False)
        assert_same_values(expect((seq >= lo) & (seq <= hi)), by_id(mid), columns=cols,
                           context=ctx + f" read_stream start={lo} end={hi}")
        del mid
        us = s.to_polars(subjects="WIDE.us", progress=False)
        assert_same_values(expect(cat == "us"), by_id(us.to_arrow()), columns=cols,
                           context=ctx + " to_polars us")
        del us
        want = np.isin(cat, ["apac", "latam"])
        c = s.create_consumer(durable_name="wide", ack_policy="explicit",
                              filter_subjects=["WIDE.apac", "WIDE.latam"],
                              max_ack_pending=100_000)  # the default 1000 caps a fetch
        left = len(np.unique(seq[want]))
        parts = []
        while left:
            ab = c.fetch_arrow(min(left, 50_000), max_wait=10.0)
            assert ab.messages > 0, ctx + f" fetch_arrow stalled with {left} messages left"
            parts.append(ab.record_batch)
            left -= ab.messages
            ab.ack()
        assert_same_values(expect(want), by_id(pa.Table.from_batches(parts)), columns=cols,
                           context=ctx + " fetch_arrow apac+latam")
        del parts
        late = last - last // 10
        c2 = s.create_consumer(durable_name="late", ack_policy="none",
                               deliver_policy="by_start_sequence", opt_start_seq=late)
        left = last - late + 1
        parts = []
        with c2.iter_arrow(batch_size=20_000, max_latency=5.0) as it:
            for ab in it:
                parts.append(ab.record_batch)
                left -= ab.messages
                if left <= 0:
                    break
        assert left == 0, ctx + " iter_arrow: more messages than the stream holds"
        assert_same_values(expect(seq >= late), by_id(pa.Table.from_batches(parts)),
                           columns=cols, context=ctx + f" iter_arrow from {late}")
        del parts
        eu = s.to_arrow(subjects="WIDE.eu", progress=False)
        assert_same_values(df[df["cat"] == "eu"].reset_index(drop=True), by_id(eu),
                           columns=list(WIDE_COLUMNS), context=ctx + " to_arrow eu")
        del eu
        n = 0
        ids = np.zeros(len(df), dtype=bool)
        for b in s.to_batches(progress=False):
            n += b.num_rows
            i = b.column("id").to_numpy()
            assert not ids[i].any(), ctx + " to_batches: a row came twice"
            ids[i] = True
            assert_same_values(df.iloc[i].reset_index(drop=True), b,
                               columns=cols, context=ctx + " to_batches")
        assert n == len(df) and ids.all(), ctx + " to_batches"
        assert_same_dtypes(df, pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()}),
                           context=ctx + " dtypes")


# ---------------------------------------------------------------------------------------------
# the comparison itself must be able to fail


def test_the_comparison_catches_every_kind_of_difference() -> None:
    df = wide_frame(50, 12345, blob_sizes=[3] * 50)  # a fixed frame: this checks the checker
    assert_same_values(df, pa.Table.from_pandas(df))  # equal to itself, in Arrow too
    row = df.iloc[7]
    changes: dict[str, Any] = {  # a value that differs from row 7's, whatever it is
        "id": 99, "small": np.int8(row["small"] ^ 1), "big": np.uint64(row["big"] ^ 1),
        "price": 1.5 if pd.isna(row["price"]) else row["price"] + 1,
        "ratio": np.float32(row["ratio"] + 1), "name": "changed",
        "ts_utc": pd.Timestamp("2000-01-01", tz="UTC"),
        "ts_local": pd.Timestamp("2000-01-01", tz="Europe/Berlin"),
        "qty": 5 if pd.isna(row["qty"]) else pd.NA, "ok": True if pd.isna(row["ok"]) else pd.NA,
        "cat": "eu" if row["cat"] != "eu" else "us", "tags": ["not a word"],
        "attrs": {"k": 1, "score": 0.5} if row["attrs"] is None else None, "blob": "ZZZ",
    }
    for col, v in changes.items():
        bad = df.copy()
        bad.at[7, col] = v
        with pytest.raises(AssertionError, match=f"column '{col}' differs first at row 7"):
            assert_same_values(df, bad)
    with pytest.raises(AssertionError, match="49 rows came back"):
        assert_same_values(df, df.iloc[1:])
    with pytest.raises(AssertionError, match="missing"):
        assert_same_values(df, df.drop(columns=["tags"]))
    as_text = df.assign(ts_utc=df["ts_utc"].astype(str))
    with pytest.raises(AssertionError, match="timestamps came back as strings"):
        assert_same_values(df, as_text)
    with pytest.raises(AssertionError, match="dtypes changed"):
        assert_same_dtypes(df, df.astype({"small": "int64"}))
