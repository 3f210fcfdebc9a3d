"""The fsspec filesystem (``jetstream://``) with pandas, pyarrow and polars, on a real server."""

from __future__ import annotations

import importlib.metadata
import io
import os
import subprocess
import sys

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

import jsdata
from jsdata.fs import JetStreamFileSystem


@pytest.fixture
def fs(server):
    """A filesystem on the test's server; closed (and uncached) afterwards."""
    JetStreamFileSystem.clear_instance_cache()
    f = fsspec.filesystem("jetstream", servers=server.url)
    try:
        yield f
    finally:
        f.close()
        JetStreamFileSystem.clear_instance_cache()


def _frame(rows: int = 1000, cols: int = 3, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({f"c{i}": rng.random(rows) for i in range(cols)})


# -- registration and connection --------------------------------------------------------------

def test_protocol_registration(server) -> None:
    assert fsspec.get_filesystem_class("jetstream") is JetStreamFileSystem
    eps = [e for e in importlib.metadata.entry_points(group="fsspec.specs")
           if e.name == "jetstream"]
    if not eps:
        pytest.skip("jsdata is not installed (no fsspec entry point)")
    assert eps[0].value == "jsdata.fs:JetStreamFileSystem"
    code = ("import fsspec, sys; fs = fsspec.filesystem('jetstream', servers=sys.argv[1]); "
            "fs.mkdir('viaentry'); print(fs.ls('')); fs.close()")
    out = subprocess.run([sys.executable, "-c", code, server.url], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "viaentry" in out.stdout


def test_connection_options_and_instance_cache(server, monkeypatch) -> None:
    JetStreamFileSystem.clear_instance_cache()
    a = fsspec.filesystem("jetstream", servers=server.url)
    b = fsspec.filesystem("jetstream", servers=server.url)
    c = fsspec.filesystem("jetstream", url=server.url)
    try:
        assert a is b and a is not c
        a.mkdir("conn")
        assert c.ls("") == [{"name": "conn", "size": 0, "type": "directory"}]
        monkeypatch.setenv("JSDATA_URL", server.url)
        d = JetStreamFileSystem(skip_instance_cache=True)
        assert d.ls("", detail=False) == ["conn"]
        d.close()
        with jsdata.connect(server.url) as js:
            e = JetStreamFileSystem(js=js, skip_instance_cache=True)
            assert e.exists("conn") and e.js is js
            e.close()
            assert js.object_store("conn").bucket == "conn"  # a given js stays open
    finally:
        a.close()
        c.close()
        JetStreamFileSystem.clear_instance_cache()


def test_repr_hides_credentials() -> None:
    f = JetStreamFileSystem("nats://alice:s3cret@127.0.0.1:4222", skip_instance_cache=True)
    assert "s3cret" not in repr(f) and "alice" not in repr(f)
    g = JetStreamFileSystem(servers="nats://h:1", token="tok3n", skip_instance_cache=True)
    assert "tok3n" not in repr(g)


# -- filesystem operations --------------------------------------------------------------------

def test_listing_and_info(fs) -> None:
    fs.mkdir("b")
    with pytest.raises(FileExistsError):
        fs.mkdir("b")
    fs.makedirs("b", exist_ok=True)
    fs.pipe("b/top.txt", b"top")
    fs.pipe("b/dir/a.bin", b"aaaa")
    fs.pipe("b/dir/sub/c.bin", b"c")
    fs.pipe("jetstream://b/dir/sub/d.bin", b"dd")
    assert fs.ls("", detail=False) == ["b"]
    assert fs.ls("b", detail=False) == ["b/dir", "b/top.txt"]
    assert fs.ls("jetstream://b/dir/", detail=False) == ["b/dir/a.bin", "b/dir/sub"]
    ent = {e["name"]: e for e in fs.ls("b/dir")}
    assert ent["b/dir/sub"]["type"] == "directory"
    assert ent["b/dir/a.bin"]["type"] == "file" and ent["b/dir/a.bin"]["size"] == 4
    assert fs.ls("b/dir/a.bin", detail=False) == ["b/dir/a.bin"]
    i = fs.info("b/dir/a.bin")
    assert i["type"] == "file" and i["size"] == 4 and i["digest"].startswith("SHA-256=")
    assert fs.info("b/dir")["type"] == "directory" and fs.info("b")["type"] == "directory"
    assert fs.isdir("b/dir/sub") and fs.isfile("b/top.txt") and not fs.isfile("b/dir")
    assert fs.exists("b/dir/sub/c.bin") and not fs.exists("b/nope") and not fs.exists("zz/x")
    assert fs.size("b/dir/sub/d.bin") == 2
    assert fs.modified("b/top.txt").tzinfo is not None
    assert fs.ukey("b/top.txt") == fs.info("b/top.txt")["digest"]
    for missing in ("b/nope", "nob/x", "nob"):
        with pytest.raises(FileNotFoundError):
            fs.info(missing)
        with pytest.raises(FileNotFoundError):
            fs.ls(missing)
    assert fs.find("b") == ["b/dir/a.bin", "b/dir/sub/c.bin", "b/dir/sub/d.bin", "b/top.txt"]
    assert fs.find("b/dir/sub") == ["b/dir/sub/c.bin", "b/dir/sub/d.bin"]
    assert fs.find("b", maxdepth=1) == ["b/top.txt"]
    assert fs.find("b", maxdepth=2, withdirs=True) == \
        ["b", "b/dir", "b/dir/a.bin", "b/dir/sub", "b/top.txt"]
    assert fs.find("") == fs.find("b")
    assert fs.glob("b/dir/*.bin") == ["b/dir/a.bin"]
    assert fs.glob("b/**/*.bin") == ["b/dir/a.bin", "b/dir/sub/c.bin", "b/dir/sub/d.bin"]
    assert fs.glob("jetstream://b/dir/sub/?.bin") == ["b/dir/sub/c.bin", "b/dir/sub/d.bin"]
    assert fs.du("b") == 3 + 4 + 1 + 2
    walked = {root: sorted(files) for root, _, files in fs.walk("b")}
    assert walked["b/dir/sub"] == ["c.bin", "d.bin"]


def test_files_and_transfers(fs, tmp_path) -> None:
    data = os.urandom(700_000)
    with fs.open("t/x.bin", "wb") as f:  # the bucket is made on first write
        f.write(data[:300_000])
        f.write(data[300_000:])
    with fs.open("t/x.bin", "rb") as f:
        assert isinstance(f, io.BufferedIOBase)
        f.seek(500_000)
        assert f.read(10) == data[500_000:500_010]
    assert fs.cat("t/x.bin") == data
    assert fs.cat_file("t/x.bin", 10, 20) == data[10:20]
    assert fs.cat_file("t/x.bin", -5) == data[-5:]
    assert fs.cat_file("t/x.bin", 0, -699_990) == data[:10]
    assert fs.read_block("t/x.bin", 100, 50) == data[100:150]
    with fs.open("t/text.txt", "w") as f:
        f.write("héllo\nwörld\n")
    with fs.open("t/text.txt", "r") as f:
        assert f.readlines() == ["héllo\n", "wörld\n"]
    assert fs.read_text("t/text.txt") == "héllo\nwörld\n"
    with pytest.raises(FileExistsError):
        fs.open("t/text.txt", "xb")
    with pytest.raises(NotImplementedError):
        fs.open("t/text.txt", "ab")
    with pytest.raises(FileNotFoundError):
        fs.open("t/missing", "rb")
    with pytest.raises(FileNotFoundError):
        fs.cat("t/missing")
    with pytest.raises(IsADirectoryError):
        fs.open("t", "wb")
    # exceptions while writing leave nothing behind
    with pytest.raises(RuntimeError):
        with fs.open("t/partial.bin", "wb") as f:
            f.write(os.urandom(400_000))
            raise RuntimeError("stop")
    assert not fs.exists("t/partial.bin")
    # local transfers
    src = tmp_path / "up"
    (src / "inner").mkdir(parents=True)
    (src / "one.bin").write_bytes(b"1" * 1000)
    (src / "inner" / "two.bin").write_bytes(b"2" * 2000)
    fs.put(str(src), "t/up", recursive=True)
    assert fs.find("t/up") == ["t/up/inner/two.bin", "t/up/one.bin"]
    fs.get("t/up", str(tmp_path / "down"), recursive=True)
    assert (tmp_path / "down" / "inner" / "two.bin").read_bytes() == b"2" * 2000
    fs.get_file("t/x.bin", str(tmp_path / "x.bin"))
    assert (tmp_path / "x.bin").read_bytes() == data
    buf = io.BytesIO()
    fs.get_file("t/up/one.bin", None, outfile=buf)
    assert buf.getvalue() == b"1" * 1000
    fs.cp("t/x.bin", "t2/copy.bin")
    assert fs.cat("t2/copy.bin") == data
    fs.mv("t2/copy.bin", "t2/moved.bin")
    assert fs.ls("t2", detail=False) == ["t2/moved.bin"]
    fs.touch("t2/empty")
    assert fs.cat("t2/empty") == b""
    # removal
    fs.rm("t/up", recursive=True)
    assert not fs.exists("t/up") and fs.exists("t/x.bin")
    fs.rm_file("t/x.bin")
    with pytest.raises(FileNotFoundError):
        fs.rm_file("t/x.bin")
    with pytest.raises(OSError):
        fs.rmdir("t2")  # not empty
    fs.rm("t2", recursive=True)
    fs.rmdir("t2")
    assert "t2" not in fs.ls("", detail=False)
    with pytest.raises(FileNotFoundError):
        fs.rmdir("t2")


def test_no_auto_mkdir(server) -> None:
    f = JetStreamFileSystem(servers=server.url, auto_mkdir=False, skip_instance_cache=True)
    try:
        with pytest.raises(FileNotFoundError):
            f.pipe("newb/x", b"1")
        f.mkdir("newb")
        f.pipe("newb/x", b"1")
        assert f.cat("newb/x") == b"1"
        with pytest.raises(OSError):
            f.mkdir("bad.name")
    finally:
        f.close()


# -- dataframes -------------------------------------------------------------------------------

def test_pandas_round_trip(fs, server) -> None:
    so = {"servers": server.url}
    df = _frame(5000)
    df["s"] = [f"row{i}" for i in range(len(df))]
    df.to_parquet("jetstream://frames/df.parquet", storage_options=so)
    back = pd.read_parquet("jetstream://frames/df.parquet", storage_options=so)
    pd.testing.assert_frame_equal(back, df)
    cols = pd.read_parquet("jetstream://frames/df.parquet", storage_options=so,
                           columns=["c1"])
    assert list(cols.columns) == ["c1"] and np.allclose(cols["c1"], df["c1"])
    df.to_csv("jetstream://frames/df.csv", storage_options=so, index=False)
    assert len(pd.read_csv("jetstream://frames/df.csv", storage_options=so)) == 5000
    assert fs.ls("frames", detail=False) == ["frames/df.csv", "frames/df.parquet"]


def test_column_projection_fetches_a_fraction_of_the_chunks(fs) -> None:
    rows = 160_000
    df = _frame(rows, cols=16, seed=1)  # 20 MiB of float64
    with fs.open("proj/wide.parquet", "wb") as f:
        df.to_parquet(f, row_group_size=rows // 4, compression=None)
    chunks = fs.info("proj/wide.parquet")["chunks"]
    assert chunks > 100
    with fs.open("proj/wide.parquet", "rb") as f:
        col = pd.read_parquet(f, columns=["c7"])
        fetched = f.fetched_chunks
    assert np.array_equal(col["c7"].to_numpy(), df["c7"].to_numpy())
    assert fetched / chunks < 0.25, f"fetched {fetched} of {chunks} chunks"
    with fs.open("proj/wide.parquet", "rb") as f:  # metadata only: the footer
        assert pq.ParquetFile(f).metadata.num_rows == rows
        assert f.fetched_chunks <= 2


def test_pyarrow_dataset(fs) -> None:
    table = pa.table({"k": np.arange(3000) % 3, "v": np.arange(3000)})
    pq.write_to_dataset(table, "ds/parts", filesystem=fs, partition_cols=["k"])
    assert len(fs.find("ds/parts")) == 3
    ds = pads.dataset("ds/parts", filesystem=fs, format="parquet", partitioning="hive")
    got = ds.to_table().sort_by("v")
    assert got.num_rows == 3000 and got["v"].to_pylist() == list(range(3000))
    for i in range(2):
        _frame(100, seed=i).to_parquet(f"jetstream://ds/flat/p{i}.parquet",
                                       storage_options={"js": fs.js})
    flat = pads.dataset("ds/flat", filesystem=fs, format="parquet")
    assert flat.count_rows() == 200
    assert pq.read_table("ds/flat/p1.parquet", filesystem=fs).num_rows == 100


def test_polars(fs, server) -> None:
    pl = pytest.importorskip("polars")
    df = pl.DataFrame({"a": list(range(1000)), "b": [str(i) for i in range(1000)]})
    with fs.open("pl/df.parquet", "wb") as f:
        df.write_parquet(f)
    with fs.open("pl/df.parquet", "rb") as f:
        assert pl.read_parquet(f).equals(df)
    back = pl.read_parquet("jetstream://pl/df.parquet", use_pyarrow=True,
                           storage_options={"servers": server.url})
    assert back.equals(df)
    with fs.open("pl/df.parquet", "rb") as f:
        assert pl.read_parquet(f, columns=["a"])["a"].sum() == sum(range(1000))
