"""jsdata.spark (format "jetstream") on a local[2] SparkSession: batch, streaming, writes."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

import pandas as pd
import pytest

import jsdata
from jsdata import errors

pytest.importorskip("pyspark.sql.datasource")
from pyspark.sql import SparkSession  # noqa: E402

import jsdata.spark as jspark  # noqa: E402


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers: this interpreter, this checkout
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])
    s = (SparkSession.builder.master("local[2]").appName("jsdata-tests")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "2")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.driver.extraJavaOptions", "-Dlog4j2.level=ERROR")
         .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("warehouse")))
         .getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    s.dataSource.register(jspark.JetStreamDataSource)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def url(shared_server):
    return shared_server.url


def _orders(js, name: str, rows: int, offset: int = 0) -> None:
    if offset == 0:
        js.create_stream(name=name, subjects=[f"{name}.*"], allow_direct=True)
    df = pd.DataFrame({"id": range(offset, offset + rows),
                       "region": [("eu", "us")[i % 2] for i in range(offset, offset + rows)],
                       "amount": [i * 1.5 for i in range(offset, offset + rows)]})
    js.publish_dataframe(f"{name}.{{region}}", df, progress=False, msg_id="{id}")


def _reader(spark, url, stream):
    return spark.read.format("jetstream").option("servers", url).option("stream", stream)


def test_batch_read_partitions_and_sampled_schema(spark, url):
    with jsdata.connect(url) as js:
        _orders(js, "SPREAD", 1000)
    df = _reader(spark, url, "SPREAD").option("partitions", 4).load()
    assert df.rdd.getNumPartitions() == 4
    assert [(f.name, f.dataType.simpleString()) for f in df.schema.fields] == [
        ("id", "bigint"), ("region", "string"), ("amount", "double"),
        ("_subject", "string"), ("_seq", "bigint"), ("_time", "timestamp")]
    rows = df.orderBy("_seq").collect()
    assert [r.id for r in rows] == list(range(1000))
    assert [r._seq for r in rows] == list(range(1, 1001))
    assert rows[3].amount == 4.5 and rows[3]._subject == "SPREAD.us"
    # server-side subject filter, sequence range, explicit DDL schema, no metadata
    eu = (_reader(spark, url, "SPREAD").option("subjects", "SPREAD.eu").option("start", 101)
          .option("end", 300).option("metadata", "").option("schema", "id long, amount double")
          .load())
    assert eu.columns == ["id", "amount"]
    assert sorted(r.id for r in eu.collect()) == list(range(100, 300, 2))  # id = seq - 1


def test_batch_write_dedupes_by_msg_id(spark, url):
    with jsdata.connect(url) as js:
        js.create_stream(name="SPOUT", subjects=["SPOUT.*"])
        src = spark.createDataFrame(pd.DataFrame({
            "id": range(500), "region": [("eu", "us", "ap")[i % 3] for i in range(500)]}))
        src = src.repartition(3)

        def save():
            (src.write.format("jetstream").option("servers", url)
             .option("subject", "SPOUT.{region}").option("msg_id", "{id}")
             .mode("append").save())
        save()
        save()  # the same job again: every message is a duplicate
        s = js.stream("SPOUT")
        assert s.info().state.messages == 500
        back = s.to_pandas(progress=False)
        assert sorted(back["id"]) == list(range(500))
        assert (back["_subject"] == "SPOUT." + back["region"]).all()
    with pytest.raises(Exception, match="append"):
        (src.write.format("jetstream").option("servers", url).option("subject", "SPOUT.x")
         .mode("overwrite").save())


def test_streaming_restart_from_checkpoint_exactly_once(spark, url, tmp_path):
    n, m = 300, 200
    with jsdata.connect(url) as js:
        _orders(js, "SPSTREAM", n)
        out, ck = str(tmp_path / "out"), str(tmp_path / "checkpoint")

        def run() -> None:
            q = (spark.readStream.format("jetstream").option("servers", url)
                 .option("stream", "SPSTREAM").option("partitions", 2)
                 .option("schema", "id long, region string, amount double, _seq long")
                 .option("metadata", "seq").load()
                 .writeStream.format("parquet").option("checkpointLocation", ck)
                 .trigger(availableNow=True).start(out))
            q.awaitTermination()
            assert q.exception() is None

        run()
        first = spark.read.parquet(out)
        assert first.count() == n
        _orders(js, "SPSTREAM", m, offset=n)  # written while the query is stopped
        run()  # restarted from the same checkpoint
        got = spark.read.parquet(out).toPandas()
    assert len(got) == n + m
    assert got["id"].is_unique and sorted(got["id"]) == list(range(n + m))
    assert sorted(got["_seq"]) == list(range(1, n + m + 1))


def test_stream_reader_offsets_are_sequences(url):
    with jsdata.connect(url) as js:
        _orders(js, "SPOFF", 50)
    opts = {"servers": url, "stream": "SPOFF", "partitions": "3",
            "max_messages_per_trigger": "20"}
    from pyspark.sql.types import LongType, StructField, StructType
    schema = StructType([StructField("id", LongType())])
    src = jspark.JetStreamDataSource(opts)
    r = src.streamReader(schema)
    start = r.initialOffset()
    assert start == {"seq": 0}
    end = r.latestOffset(start, r.getDefaultReadLimit())
    assert end == {"seq": 20}
    parts = r.partitions(start, end)
    assert [(p.part.start_seq, p.part.end_seq) for p in parts] == [(1, 6), (7, 13), (14, 20)]
    ids = [i for p in parts for b in r.read(p) for i in b.column("id").to_pylist()]
    assert ids == list(range(20))
    assert r.partitions(end, end) == []
    later = jspark.JetStreamDataSource({**opts, "start": "latest"}).streamReader(schema)
    assert later.initialOffset() == {"seq": 50}
    from_seq = jspark.JetStreamDataSource({**opts, "start": "41"}).streamReader(schema)
    assert from_seq.initialOffset() == {"seq": 40}


def test_stream_cap_counts_filtered_messages_and_time_start(url):
    """max_messages_per_trigger caps the messages matching the filter (not the sequences
    they are spread over); start may be a time."""
    with jsdata.connect(url) as js:
        js.create_stream(name="SPCAP", subjects=["SPCAP.*"], allow_direct=True)
        df = pd.DataFrame({"id": range(500),
                           "kind": ["rare" if i % 10 == 0 else "common" for i in range(500)]})
        js.publish_dataframe("SPCAP.{kind}", df.iloc[:250], progress=False)
        before = js.stream("SPCAP").get_msg(250).time
        mark = datetime.now(timezone.utc)
        while mark <= before:  # strictly after sequence 250 was stored
            mark = datetime.now(timezone.utc)
        js.publish_dataframe("SPCAP.{kind}", df.iloc[250:], progress=False)
    from pyspark.sql.types import LongType, StructField, StructType
    schema = StructType([StructField("id", LongType())])
    opts = {"servers": url, "stream": "SPCAP", "subjects": "SPCAP.rare", "partitions": "2",
            "max_messages_per_trigger": "7"}
    r = jspark.JetStreamDataSource(opts).streamReader(schema)
    offset, batches = r.initialOffset(), []
    while True:
        end = r.latestOffset(offset, r.getDefaultReadLimit())
        if end == offset:
            break
        ids = [i for p in r.partitions(offset, end) for b in r.read(p)
               for i in b.column("id").to_pylist()]
        batches.append(ids)
        offset = end
    assert all(0 < len(b) <= 7 for b in batches), batches
    assert [len(b) for b in batches[:-1]] == [7] * (len(batches) - 1)  # full batches
    assert [i for b in batches for i in b] == list(range(0, 500, 10))  # each once, in order
    assert offset == {"seq": 500}
    timed = jspark.JetStreamDataSource({**opts, "start": mark.isoformat()}).streamReader(schema)
    assert timed.initialOffset() == {"seq": 250}  # the first message at or after the time


def test_bad_options(url):
    secret = jspark._Options.parse({"stream": "X", "servers": "nats://u:hunter2@h:4222",
                                    "password": "hunter2", "token": "t0ken"})
    assert "hunter2" not in repr(secret) and "t0ken" not in repr(secret)
    assert secret.connect == {"password": "hunter2", "token": "t0ken"}
    with pytest.raises(errors.InvalidArgumentError, match="stream"):
        jspark.JetStreamDataSource({"servers": url}).reader(None)
    with pytest.raises(errors.InvalidArgumentError, match="ISO-8601"):
        jspark.JetStreamDataSource({"servers": url, "stream": "X", "start": "soon"}).reader(None)
    with pytest.raises(errors.InvalidArgumentError, match="integer"):
        jspark.JetStreamDataSource({"servers": url, "stream": "X", "partitions": "many"}
                                   ).reader(None)
    with pytest.raises(errors.InvalidArgumentError, match="subject"):
        jspark.JetStreamDataSource({"servers": url}).writer(None, False)
