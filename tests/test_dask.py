"""jsdata.dask on a real distributed.LocalCluster with two worker processes."""

from __future__ import annotations

import os

import pandas as pd
import pytest

import jsdata
from jsdata import errors

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
import jsdata.dask as jdask  # noqa: E402


@pytest.fixture(scope="module")
def client():
    # workers import jsdata from this checkout, as the test process does
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=":0", silence_logs=40)
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture(scope="module")
def url(shared_server):
    return shared_server.url


def _orders(js, name: str, rows: int) -> pd.DataFrame:
    js.create_stream(name=name, subjects=[f"{name}.*"], allow_direct=True)
    df = pd.DataFrame({"id": range(rows), "region": [("eu", "us")[i % 2] for i in range(rows)],
                       "amount": [i * 0.5 for i in range(rows)]})
    js.publish_dataframe(f"{name}.{{region}}", df, progress=False)
    return df


def _pids(client, ddf) -> set[int]:
    """The processes that computed ``ddf``'s partitions (the cluster's workers)."""
    def pid(_df):
        return pd.DataFrame({"pid": [os.getpid()]})
    return set(ddf.map_partitions(pid, meta={"pid": "int64"}).compute()["pid"])


def test_read_stream_on_workers(client, url):
    with jsdata.connect(url) as js:
        src = _orders(js, "DREAD", 2000)
        ddf = jdask.read_stream("DREAD", servers=url, npartitions=4)
        assert ddf.npartitions == 4
        assert list(ddf.columns) == ["id", "region", "amount", "_subject", "_seq", "_time"]
        got = ddf.compute().sort_values("_seq")
        assert got["id"].tolist() == src["id"].tolist()
        assert got["amount"].tolist() == src["amount"].tolist()
        assert got["_seq"].tolist() == list(range(1, 2001))
        workers = set(client.run(os.getpid).values())
        assert _pids(client, ddf) <= workers and os.getpid() not in workers
        # a Stream handle works as well, and subject filters come from the server
        eu = jdask.read_stream(js.stream("DREAD"), servers=url, npartitions=3,
                               subjects="DREAD.eu", start=101, end=1100).compute()
        assert set(eu["_subject"]) == {"DREAD.eu"}
        assert sorted(eu["id"]) == list(range(100, 1100, 2))  # id = seq - 1


def test_seq_index_known_divisions(client, url):
    with jsdata.connect(url) as js:
        _orders(js, "DIDX", 1000)
        parts = js.stream("DIDX").partitions(n=5)
    ddf = jdask.read_stream("DIDX", servers=url, npartitions=5, index="_seq", metadata=())
    assert ddf.known_divisions
    assert ddf.divisions == (*(p.start_seq for p in parts), 1000)
    assert ddf.index.name == "_seq"
    assert list(ddf.columns) == ["id", "region", "amount"]
    part = ddf.loc[450:470].compute()
    assert part.index.tolist() == list(range(450, 471))
    assert part["id"].tolist() == list(range(449, 470))
    whole = ddf.compute()
    assert whole.index.is_monotonic_increasing and len(whole) == 1000


def test_column_projection_is_pushed_down(client, url):
    with jsdata.connect(url) as js:
        _orders(js, "DPROJ", 300)
    ddf = jdask.read_stream("DPROJ", servers=url, npartitions=2)
    sel = ddf[["amount", "_seq"]]
    reads = [e for e in sel.optimize(fuse=False).expr.walk()
             if type(e).__name__ == "FromMapProjectable"]
    assert reads and reads[0].columns_operand == ["amount", "_seq"]
    out = sel.compute()
    assert list(out.columns) == ["amount", "_seq"]
    assert sorted(out["amount"]) == [i * 0.5 for i in range(300)]
    # a projected read on a worker returns only what it was asked for
    fn = reads[0].func
    assert list(fn(reads[0].iterables[0][0], columns=["id"]).columns) == ["id"]


def test_to_jetstream_sums_and_dedupes_reruns(client, url):
    with jsdata.connect(url) as js:
        js.create_stream(name="DOUT", subjects=["DOUT.*"], duplicate_window=120)
        src = pd.DataFrame({"id": range(900), "region": [("eu", "us", "ap")[i % 3]
                                                         for i in range(900)]})
        ddf = dd.from_pandas(src, npartitions=3)
        res = jdask.to_jetstream(ddf, "DOUT.{region}", servers=url, msg_id="{id}")
        assert isinstance(res, jsdata.WriteResult)
        assert (res.rows, res.messages, res.duplicates) == (900, 900, 0)
        assert (res.first_seq, res.last_seq, res.stream) == (1, 900, "DOUT")
        again = jdask.to_jetstream(ddf, "DOUT.{region}", servers=url, msg_id="{id}")
        assert (again.rows, again.duplicates) == (900, 900)
        s = js.stream("DOUT")
        assert s.info().state.messages == 900
        back = s.to_pandas(progress=False)
        assert sorted(back["id"]) == list(range(900))
        assert back.groupby("_subject").size().to_dict() == {
            "DOUT.ap": 300, "DOUT.eu": 300, "DOUT.us": 300}


def test_round_trip_stream_to_stream(client, url):
    with jsdata.connect(url) as js:
        _orders(js, "DSRC", 400)
        js.create_stream(name="DDST", subjects=["DDST.*"])
        ddf = jdask.read_stream("DSRC", servers=url, npartitions=4, metadata=())
        big = ddf[ddf["amount"] >= 100]
        res = jdask.to_jetstream(big, "DDST.{region}", servers=url, msg_id="{id}",
                                 codec="msgpack")
        assert res.rows == 200
        back = js.stream("DDST").to_pandas(progress=False)
        assert sorted(back["id"]) == list(range(200, 400))


def test_empty_range_and_bad_arguments(client, url):
    with jsdata.connect(url) as js:
        _orders(js, "DEMPTY", 10)
    ddf = jdask.read_stream("DEMPTY", servers=url, start=11)
    assert ddf.npartitions == 1 and len(ddf.compute()) == 0
    with pytest.raises(errors.InvalidArgumentError, match="index"):
        jdask.read_stream("DEMPTY", servers=url, index="id")
    with pytest.raises(errors.InvalidArgumentError, match="unknown read option"):
        jdask.read_stream("DEMPTY", servers=url, colums=["x"])
    with pytest.raises(errors.StreamNotFoundError):
        jdask.read_stream("DNOPE", servers=url)
    with pytest.raises(errors.InvalidArgumentError, match="dask DataFrame"):
        jdask.to_jetstream(pd.DataFrame({"a": [1]}), "DEMPTY.x", servers=url)
    with pytest.raises(errors.InvalidArgumentError, match="unknown write option"):
        jdask.to_jetstream(dd.from_pandas(pd.DataFrame({"a": [1]}), npartitions=1),
                           "DEMPTY.x", servers=url, codecs="json")
