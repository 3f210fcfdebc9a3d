"""jsdata.ray on a local Ray instance (ray.init(num_cpus=2))."""

from __future__ import annotations

import gc
import os

import pandas as pd
import pytest

import jsdata
from jsdata import errors

pytest.importorskip("ray.data")
import ray  # noqa: E402
import ray.data  # noqa: E402

import jsdata.ray as jray  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def ray_local():
    """One local Ray instance for the module (2 CPUs), shut down at the end."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    keys = ("PYTHONPATH", "RAY_USAGE_STATS_ENABLED", "RAY_DATA_USAGE_DISABLED")
    saved = {k: os.environ.get(k) for k in keys}
    # Ray's processes inherit this environment: jsdata from this checkout, and the
    # rfc3987_syntax shadow (tests/ray_shims: a 2 s CPU import in every Ray process
    # otherwise, which makes Ray 2.60's raylet abort its fixed 15 s wait for the dashboard
    # agent's ports on a loaded machine; no Ray setting lengthens that wait).
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(root, "tests", "ray_shims"), root,
         *filter(None, (saved["PYTHONPATH"] or "").split(os.pathsep))])
    # Usage stats stay off for the module's whole life, not just ray.init: Ray Data checks
    # them at each execution, and with them on its first execution starts a daemon thread
    # that polls Prometheus every 10 s for the rest of the process and logs each failed
    # query with exc_info at DEBUG (Ray Data's file handler is at DEBUG). CPython 3.11
    # formats those tracebacks with ast.parse (the ^^^ anchors), and ast.parse is not
    # thread-safe there (gh-106905): a later test's ast.parse in the main thread failed
    # with "AST constructor recursion depth mismatch" (test_signatures, once in a suite).
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["RAY_DATA_USAGE_DISABLED"] = "1"

    def restore(*names: str) -> None:
        for k in names or keys:
            if saved[k] is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = saved[k]

    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    except BaseException:
        restore()
        raise
    restore("PYTHONPATH")
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()
        restore()
        # Run the finalizers of Ray's objects here rather than inside a later ast.parse.
        # (Once, the terminal summary's import of hypothesis failed with the same "AST
        # constructor recursion depth mismatch"; the usage poller above is the likelier
        # cause, a finalizer re-entering ast.parse the other known one.)
        gc.collect()


@pytest.fixture(scope="module")
def url(shared_server):
    return shared_server.url


def _orders(js, name: str, rows: int) -> pd.DataFrame:
    js.create_stream(name=name, subjects=[f"{name}.*"], allow_direct=True)
    df = pd.DataFrame({"id": range(rows), "region": [("eu", "us")[i % 2] for i in range(rows)]})
    js.publish_dataframe(f"{name}.{{region}}", df, progress=False)
    return df


def test_datasource_read_tasks_and_rows(url):
    with jsdata.connect(url) as js:
        _orders(js, "RREAD", 1200)
        src = jray.JetStreamDatasource("RREAD", servers=url, metadata=("seq",))
        _orders_more = pd.DataFrame({"id": [5000], "region": ["eu"]})
        js.publish_dataframe("RREAD.eu", _orders_more, progress=False)  # after the snapshot
    tasks = src.get_read_tasks(4)
    assert len(tasks) == 4
    assert [t.metadata.num_rows for t in tasks] == [300, 300, 300, 300]
    assert all(t.metadata.size_bytes > 0 for t in tasks)
    assert src.estimate_inmemory_data_size() >= sum(t.metadata.size_bytes for t in tasks) - 4
    ds = jray.read_stream("RREAD", servers=url, parallelism=3, metadata=("seq",), end=1200)
    df = ds.to_pandas()
    assert sorted(df["id"]) == list(range(1200))
    assert sorted(df["_seq"]) == list(range(1, 1201))
    assert ds.count() == 1200
    # the datasource's own snapshot: the message written after it was made is not in it
    assert ray.data.read_datasource(src).count() == 1200


def test_filters_and_time(url):
    with jsdata.connect(url) as js:
        _orders(js, "RSUB", 400)
    ds = jray.read_stream("RSUB", servers=url, parallelism=2, subjects="RSUB.us",
                          start=201, columns=["id"], metadata=("subject",))
    df = ds.to_pandas()
    assert set(df["_subject"]) == {"RSUB.us"}
    assert sorted(df["id"]) == list(range(201, 400, 2))
    assert list(df.columns) == ["id", "_subject"]


def test_datasink_dedupes_reruns(url):
    with jsdata.connect(url) as js:
        js.create_stream(name="ROUT", subjects=["ROUT.*"])
        frame = pd.DataFrame({"id": range(600), "region": [("eu", "us", "ap")[i % 3]
                                                           for i in range(600)]})
        ds = ray.data.from_pandas(frame).repartition(3)
        sink = jray.JetStreamDatasink("ROUT.{region}", servers=url, msg_id="{id}")
        ds.write_datasink(sink)
        assert (sink.result.rows, sink.result.duplicates) == (600, 0)
        assert sink.result.stream == "ROUT"
        again = jray.JetStreamDatasink("ROUT.{region}", servers=url, msg_id="{id}")
        ds.write_datasink(again)
        assert (again.result.rows, again.result.duplicates) == (600, 600)
        back = js.stream("ROUT").to_pandas(progress=False)
        assert len(back) == 600 and sorted(back["id"]) == list(range(600))
        assert (back["_subject"] == "ROUT." + back["region"]).all()


def test_bad_arguments(url):
    with pytest.raises(errors.InvalidArgumentError, match="unknown read option"):
        jray.JetStreamDatasource("RSUB", servers=url, colums=["id"])
    with pytest.raises(errors.StreamNotFoundError):
        jray.read_stream("RNOPE", servers=url)
    with pytest.raises(errors.InvalidArgumentError, match="unknown write option"):
        jray.JetStreamDatasink("ROUT.x", servers=url, codecs="json")
    with pytest.raises(errors.InvalidSubjectError):
        jray.JetStreamDatasink("", servers=url)
