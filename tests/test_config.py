"""Tests of the JSON models (jsdata.client._model, jsdata.client.config, jsdata.client.info).

Unit tests cover make_config, coercion and JSON round trips; the server tests send
``to_json()`` output to a real nats-server with plain nats-py requests and parse the replies
with ``from_json`` (no mocks).
"""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import nats
import pytest

from jsdata.client._model import make_config
from jsdata.client.config import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    ExternalStream,
    KeyValueConfig,
    ObjectLink,
    ObjectMeta,
    ObjectMetaOptions,
    ObjectStoreConfig,
    OrderedConsumerConfig,
    PersistMode,
    Placement,
    PriorityPolicy,
    ReplayPolicy,
    RePublish,
    RetentionPolicy,
    StorageType,
    StoreCompression,
    StreamConfig,
    StreamConsumerLimits,
    StreamSource,
    SubjectTransformConfig,
)
from jsdata.client.info import (
    AccountInfo,
    ConsumerInfo,
    ObjectInfo,
    PubAck,
    StreamInfo,
    StreamState,
)
from jsdata.client.times import Duration, Timestamp, format_time, parse_time, to_nanos
from jsdata.errors import InvalidConfigError

NATS_SERVER = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "nats-server"
UTC = timezone.utc


# ---------------------------------------------------------------------------------------------
# make_config


def test_unknown_field_suggests() -> None:
    with pytest.raises(InvalidConfigError) as ei:
        make_config(StreamConfig, name="S", max_mesgs=5)
    msg = str(ei.value)
    assert "max_mesgs" in msg and "StreamConfig" in msg and "did you mean 'max_msgs'" in msg

    with pytest.raises(InvalidConfigError, match="did you mean 'ack_policy'"):
        make_config(ConsumerConfig, ack_polcy="all")
    with pytest.raises(InvalidConfigError, match="valid fields"):
        make_config(Placement, zzzzzz=1)


def test_enum_strings_coerced_and_validated() -> None:
    cfg = make_config(StreamConfig, name="S", retention="workqueue", storage="MEMORY",
                      discard="new", compression="s2", persist_mode="async")
    assert cfg.retention is RetentionPolicy.WORKQUEUE
    assert cfg.storage is StorageType.MEMORY
    assert cfg.discard is DiscardPolicy.NEW
    assert cfg.compression is StoreCompression.S2
    assert cfg.persist_mode is PersistMode.ASYNC
    assert str(cfg.retention) == "workqueue" and f"{cfg.storage}" == "memory"
    assert RetentionPolicy("work_queue") is RetentionPolicy.WORKQUEUE

    with pytest.raises(InvalidConfigError) as ei:
        make_config(ConsumerConfig, ack_policy="sometimes")
    msg = str(ei.value)
    assert "ack_policy" in msg and "'explicit'" in msg and "'none'" in msg and "'all'" in msg

    # Direct construction coerces too.
    cc = ConsumerConfig(deliver_policy="last_per_subject",  # type: ignore[arg-type]
                        replay_policy="original",  # type: ignore[arg-type]
                        priority_policy="overflow")  # type: ignore[arg-type]
    assert cc.deliver_policy is DeliverPolicy.LAST_PER_SUBJECT
    assert cc.replay_policy is ReplayPolicy.ORIGINAL
    assert cc.priority_policy is PriorityPolicy.OVERFLOW


def test_durations_timedelta_and_numbers() -> None:
    cfg = make_config(StreamConfig, name="S", max_age=timedelta(hours=1), duplicate_window=90,
                      subject_delete_marker_ttl=1.5)
    assert cfg.max_age == 3600.0 and isinstance(cfg.max_age, float)
    assert cfg.duplicate_window == 90.0 and isinstance(cfg.duplicate_window, float)
    body = cfg.to_json()
    assert body["max_age"] == 3_600_000_000_000
    assert body["duplicate_window"] == 90_000_000_000
    assert body["subject_delete_marker_ttl"] == 1_500_000_000

    cc = make_config(ConsumerConfig, backoff=[1, timedelta(milliseconds=1500), 0.25],
                     ack_wait=timedelta(seconds=30), idle_heartbeat=5)
    assert cc.backoff == [1.0, 1.5, 0.25]
    assert cc.to_json()["backoff"] == [1_000_000_000, 1_500_000_000, 250_000_000]
    assert cc.to_json()["ack_wait"] == 30_000_000_000

    with pytest.raises(InvalidConfigError, match="max_age"):
        make_config(StreamConfig, max_age="soon")
    with pytest.raises(InvalidConfigError, match="max_msgs"):
        make_config(StreamConfig, max_msgs="many")
    with pytest.raises(InvalidConfigError, match="sealed"):
        make_config(StreamConfig, sealed=1)


def test_durable_alias_and_copies() -> None:
    cc = make_config(ConsumerConfig, durable="CONS", ack_policy="explicit")
    assert cc.durable_name == "CONS"
    assert cc.to_json()["durable_name"] == "CONS"
    with pytest.raises(InvalidConfigError, match="durable"):
        make_config(ConsumerConfig, durable="A", durable_name="B")
    assert make_config(ConsumerConfig, durable="A", durable_name="A").durable_name == "A"

    base = StreamConfig(name="S", subjects=["a.>"], metadata={"k": "v"})
    changed = make_config(StreamConfig, base, max_msgs=10, replicas=3)
    assert (changed.max_msgs, changed.num_replicas) == (10, 3)
    assert base.max_msgs is None and base.num_replicas is None
    changed.subjects.append("b.>")  # type: ignore[union-attr]
    assert base.subjects == ["a.>"]
    assert base.replace(description="d").description == "d"
    assert base.description is None

    # A mapping of fields works as the config too; keywords win.
    from_map = make_config(StreamConfig, {"name": "M", "max_msgs": 1}, max_msgs=2)
    assert (from_map.name, from_map.max_msgs) == ("M", 2)
    with pytest.raises(InvalidConfigError):
        make_config(StreamConfig, ConsumerConfig())  # type: ignore[arg-type]

    # Wire names are accepted as keywords where they differ from the Python name.
    assert make_config(ObjectStoreConfig, bucket="b", max_age=5).ttl == 5.0
    assert make_config(KeyValueConfig, bucket="b", num_replicas=3).replicas == 3


def test_nested_models_from_mappings_and_strings() -> None:
    cfg = make_config(
        StreamConfig,
        name="S",
        subjects="a.>",
        sources=["A", {"name": "B", "filter_subject": "b.>", "opt_start_seq": 5}],
        mirror=None,
        republish={"src": "a.>", "dest": "r.>", "headers_only": True},
        consumer_limits={"inactive_threshold": timedelta(minutes=5), "max_ack_pending": 9},
        placement={"cluster": "c1", "tags": ["ssd"]},
    )
    assert cfg.subjects == ["a.>"]
    assert cfg.sources == [StreamSource(name="A"),
                           StreamSource(name="B", filter_subject="b.>", opt_start_seq=5)]
    assert cfg.republish == RePublish(src="a.>", dest="r.>", headers_only=True)
    assert cfg.consumer_limits == StreamConsumerLimits(inactive_threshold=300,
                                                       max_ack_pending=9)
    body = cfg.to_json()
    assert body["sources"] == [{"name": "A"},
                               {"name": "B", "opt_start_seq": 5, "filter_subject": "b.>"}]
    assert body["consumer_limits"] == {"inactive_threshold": 300_000_000_000,
                                       "max_ack_pending": 9}
    assert body["placement"] == {"cluster": "c1", "tags": ["ssd"]}
    with pytest.raises(InvalidConfigError, match="sources"):
        make_config(StreamConfig, sources=[42])


def test_stream_source_domain_becomes_external() -> None:
    src = StreamSource(name="O", domain="hub")
    assert src.to_json() == {"name": "O", "external": {"api": "$JS.hub.API", "deliver": ""}}
    with pytest.raises(InvalidConfigError, match="domain and external"):
        StreamSource(name="O", domain="hub", external=ExternalStream(api="$JS.x.API"))


# ---------------------------------------------------------------------------------------------
# to_json: the same JSON nats.go sends


def test_stream_config_defaults_match_nats_go() -> None:
    # json.Marshal(jetstream.StreamConfig{Name: "S"}) in nats.go:
    assert StreamConfig(name="S").to_json() == {
        "name": "S", "retention": "limits", "max_consumers": 0, "max_msgs": 0,
        "max_bytes": 0, "discard": "old", "max_age": 0, "max_msgs_per_subject": 0,
        "storage": "file", "num_replicas": 0, "compression": "none", "allow_direct": False,
        "mirror_direct": False, "consumer_limits": {},
    }
    # Falsy omitempty fields are left out; explicit zero enums for omitempty enums too.
    cfg = StreamConfig(name="S", sealed=False, persist_mode=PersistMode.DEFAULT, max_msg_size=0,
                       metadata={}, subjects=[])
    body = cfg.to_json()
    for key in ("sealed", "persist_mode", "max_msg_size", "metadata", "subjects"):
        assert key not in body


def test_consumer_config_defaults_match_nats_go() -> None:
    assert ConsumerConfig().to_json() == {
        "deliver_policy": "all", "ack_policy": "explicit", "replay_policy": "instant",
        "num_replicas": 0,
    }
    assert "priority_policy" not in make_config(ConsumerConfig, priority_policy="none").to_json()
    assert make_config(ConsumerConfig,
                       priority_policy="pinned_client").to_json()["priority_policy"] == \
        "pinned_client"


def test_kv_and_object_configs() -> None:
    kv = KeyValueConfig(bucket="b")
    assert (kv.history, kv.replicas, kv.storage) == (1, 1, StorageType.FILE)
    assert kv.to_json() == {"bucket": "b", "history": 1, "num_replicas": 1}
    kv2 = make_config(KeyValueConfig, kv, ttl=timedelta(minutes=1), storage="memory",
                      compression=True, limit_marker_ttl=5, history=10)
    assert kv2.to_json() == {"bucket": "b", "history": 10, "ttl": 60_000_000_000,
                             "storage": "memory", "num_replicas": 1, "compression": True,
                             "limit_marker_ttl": 5_000_000_000}
    obs = ObjectStoreConfig(bucket="o", ttl=10, storage=StorageType.MEMORY)
    assert obs.replicas == 1
    assert obs.to_json() == {"bucket": "o", "max_age": 10_000_000_000, "storage": "memory",
                             "num_replicas": 1}
    assert ObjectStoreConfig.from_json(obs.to_json()) == obs

    ordered = make_config(OrderedConsumerConfig, filter_subjects="a.>", deliver_policy="new",
                          max_reset_attempts=3, name_prefix="p")
    assert ordered.filter_subjects == ["a.>"] and ordered.max_reset_attempts == 3
    body = ordered.to_json()
    assert "max_reset_attempts" not in body and "name_prefix" not in body
    assert body["deliver_policy"] == "new"


def test_object_meta_and_info() -> None:
    meta = make_config(ObjectMeta, name="file.bin", headers={"A": "1", "B": ["2", "3"]},
                      opts=ObjectMetaOptions(link=ObjectLink(bucket="other"),
                                             max_chunk_size=1024))
    assert meta.headers == {"A": ["1"], "B": ["2", "3"]}
    assert meta.to_json() == {"name": "file.bin", "headers": {"A": ["1"], "B": ["2", "3"]},
                              "options": {"link": {"bucket": "other"},
                                          "max_chunk_size": 1024}}
    wire = {"name": "file.bin", "options": {"max_chunk_size": 131072}, "bucket": "OBJ",
            "nuid": "abc", "size": 10, "mtime": "2024-05-06T07:08:09.000000001Z",
            "chunks": 1, "digest": "SHA-256=xyz", "future": 1}
    info = ObjectInfo.from_json(wire)
    assert info.opts is not None and info.opts.max_chunk_size == 131072
    assert isinstance(info.mtime, Timestamp) and info.mtime.nanosecond == 1
    assert info.meta == ObjectMeta(name="file.bin", opts=info.opts)
    assert info.to_json() == wire


# ---------------------------------------------------------------------------------------------
# from_json


def test_from_json_round_trip_keeps_unknown_keys() -> None:
    wire = {
        "name": "S", "subjects": ["a.>"], "retention": "interest", "max_consumers": -1,
        "max_msgs": -1, "max_bytes": -1, "max_age": 1_000_000_001, "max_msgs_per_subject": -1,
        "max_msg_size": -1, "discard": "new", "storage": "memory", "num_replicas": 1,
        "duplicate_window": 120_000_000_000, "compression": "s2", "allow_direct": True,
        "mirror_direct": False, "consumer_limits": {"max_ack_pending": 3},
        "sources": [{"name": "X", "opt_start_time": "2024-01-02T03:04:05.123456789Z",
                     "brand_new_source_field": [1, 2]}],
        "metadata": {"_nats.ver": "2.15.1"}, "brand_new_field": {"x": 1},
    }
    cfg = StreamConfig.from_json(wire)
    assert cfg.retention is RetentionPolicy.INTEREST and cfg.storage is StorageType.MEMORY
    assert cfg.max_age == pytest.approx(1.000000001)
    assert cfg.duplicate_window == 120.0
    assert cfg.extra == {"brand_new_field": {"x": 1}}
    assert cfg._extra is cfg.extra
    assert cfg.sources is not None
    assert cfg.sources[0].extra == {"brand_new_source_field": [1, 2]}
    assert cfg.sources[0].opt_start_time == datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert cfg.to_json() == wire  # lossless, down to the nanosecond
    assert StreamConfig.from_json(json.dumps(wire).encode()) == cfg
    # extra takes no part in equality or repr.
    assert cfg == StreamConfig.from_json({**wire, "brand_new_field": 2})
    assert "brand_new_field" not in repr(cfg)


def test_from_json_tolerates_unknown_enum_values() -> None:
    cfg = ConsumerConfig.from_json({"ack_policy": "telepathic", "deliver_policy": "all"})
    assert cfg.ack_policy == "telepathic"
    assert cfg.deliver_policy is DeliverPolicy.ALL
    assert cfg.to_json()["ack_policy"] == "telepathic"
    # replace() only checks the fields it changes.
    assert cfg.replace(description="d").to_json()["ack_policy"] == "telepathic"
    with pytest.raises(InvalidConfigError, match="ack_policy"):
        cfg.replace(ack_policy="telepathic")


def test_pub_ack() -> None:
    ack = PubAck.from_json({"stream": "S", "seq": 7, "duplicate": True, "domain": "hub"})
    assert (ack.stream, ack.sequence, ack.seq, ack.duplicate, ack.domain) == \
        ("S", 7, 7, True, "hub")
    assert PubAck.from_json({"stream": "S", "seq": 1}).duplicate is False
    counter = PubAck.from_json({"stream": "C", "seq": 2, "val": "15"})
    assert counter.value == "15"
    assert counter.to_json() == {"stream": "C", "seq": 2, "val": "15"}


def test_stream_state_zero_times_are_none() -> None:
    st = StreamState.from_json({"messages": 0, "bytes": 0, "first_seq": 0,
                                "first_ts": "0001-01-01T00:00:00Z", "last_seq": 0,
                                "last_ts": "0001-01-01T00:00:00Z", "consumer_count": 0})
    assert st.first_ts is None and st.last_ts is None and st.deleted is None


# ---------------------------------------------------------------------------------------------
# Times and durations


def test_parse_time_nanoseconds_and_offsets() -> None:
    t = parse_time("2024-01-02T03:04:05.123456789Z")
    assert t == datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert t is not None and t.nanosecond == 789 and t.tzinfo is UTC
    assert format_time(t) == "2024-01-02T03:04:05.123456789Z"
    assert t.unix_nanos() == 1704164645123456789

    t2 = parse_time("2024-01-02T05:04:05.5+02:00")
    assert t2 == datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
    assert format_time(t2) == "2024-01-02T03:04:05.5Z"  # type: ignore[arg-type]
    t3 = parse_time("2024-01-01T23:30:00-01:30")
    assert t3 == datetime(2024, 1, 2, 1, 0, tzinfo=UTC)
    assert format_time(t3) == "2024-01-02T01:00:00Z"  # type: ignore[arg-type]
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert parse_time(None) is None and parse_time("") is None
    with pytest.raises(ValueError):
        parse_time("yesterday")

    # Naive datetimes are taken as UTC; aware ones are converted.
    assert format_time(datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05Z"
    cet = timezone(timedelta(hours=1))
    assert format_time(datetime(2024, 1, 2, 4, 4, 5, 10, tzinfo=cet)) == \
        "2024-01-02T03:04:05.00001Z"


def test_time_fields_coerced() -> None:
    cc = make_config(ConsumerConfig, deliver_policy="by_start_time",
                     opt_start_time="2024-01-02T03:04:05.000000007Z",
                     pause_until=datetime(2030, 1, 1))
    assert isinstance(cc.opt_start_time, Timestamp) and cc.opt_start_time.nanosecond == 7
    assert cc.pause_until == datetime(2030, 1, 1, tzinfo=UTC)
    body = cc.to_json()
    assert body["opt_start_time"] == "2024-01-02T03:04:05.000000007Z"
    assert body["pause_until"] == "2030-01-01T00:00:00Z"
    with pytest.raises(InvalidConfigError, match="opt_start_time"):
        make_config(ConsumerConfig, opt_start_time="not a time")


def test_exact_values_survive_copies_and_pickles() -> None:
    d = Duration.from_nanos(31_536_000_000_000_001)  # a year and a nanosecond
    assert d.nanos == 31_536_000_000_000_001 and to_nanos(d) == d.nanos
    assert copy.deepcopy(d).nanos == d.nanos and pickle.loads(pickle.dumps(d)).nanos == d.nanos
    assert Duration(1.5).nanos == 1_500_000_000
    assert to_nanos(timedelta(days=1, microseconds=1)) == 86_400_000_001_000
    t = parse_time("2024-01-02T03:04:05.123456789Z")
    assert t is not None
    for t2 in (copy.deepcopy(t), pickle.loads(pickle.dumps(t))):
        assert t2 == t and t2.nanosecond == 789
    cfg = StreamConfig(name="S", max_age=d, sources=[StreamSource(name="A", opt_start_time=t)])
    cfg2 = cfg.replace(description="x")
    body = cfg2.to_json()
    assert body["max_age"] == 31_536_000_000_000_001
    assert body["sources"][0]["opt_start_time"] == "2024-01-02T03:04:05.123456789Z"
    assert pickle.loads(pickle.dumps(cfg)) == cfg


# ---------------------------------------------------------------------------------------------
# Real server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start a JetStream-enabled nats-server on a free port; stop it afterwards."""
    if not NATS_SERVER.exists():
        pytest.skip("nats-server binary not installed")
    port = _free_port()
    store = tmp_path_factory.mktemp("js")
    proc = subprocess.Popen(
        [str(NATS_SERVER), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("nats-server did not start") from None
                time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _api(nc: Any, subject: str, body: Any = None) -> dict[str, Any]:
    payload = b"" if body is None else json.dumps(body).encode()
    msg = await nc.request(f"$JS.API.{subject}", payload, timeout=5)
    resp: dict[str, Any] = json.loads(msg.data)
    assert "error" not in resp, resp["error"]
    return resp


async def _publish(nc: Any, subject: str, data: bytes = b"x",
                   headers: dict[str, str] | None = None) -> PubAck:
    msg = await nc.request(subject, data, timeout=5, headers=headers)
    resp = json.loads(msg.data)
    assert "error" not in resp, resp["error"]
    return PubAck.from_json(resp)


def test_stream_configs_against_server(server_url: str) -> None:
    start_time = parse_time("2020-01-02T03:04:05.123456789Z")

    async def main() -> None:
        nc = await nats.connect(server_url)
        try:
            orders = make_config(
                StreamConfig,
                name="ORDERS",
                description="order events",
                subjects=["orders.>", "raw.>"],
                retention="limits",
                max_consumers=10,
                max_msgs=10_000,
                max_bytes=10 * 1024 * 1024,
                discard="new",
                discard_new_per_subject=True,
                max_age=timedelta(hours=1),
                max_msgs_per_subject=100,
                max_msg_size=4096,
                storage="file",
                num_replicas=1,
                duplicate_window=timedelta(seconds=30),
                allow_rollup_hdrs=True,
                compression="s2",
                first_seq=10,
                subject_transform={"src": "raw.>", "dest": "orders.raw.>"},
                republish={"src": "orders.>", "dest": "repub.orders.>",
                           "headers_only": True},
                allow_direct=True,
                # (max_ack_pending here would break the server's own sourcing consumers)
                consumer_limits={"inactive_threshold": 300},
                metadata={"team": "data"},
                allow_msg_ttl=True,
                subject_delete_marker_ttl=timedelta(minutes=2),
                allow_atomic=True,
                allow_batched=True,
            )
            info = StreamInfo.from_json(
                await _api(nc, "STREAM.CREATE.ORDERS", orders.to_json()))
            c = info.config
            assert c.name == "ORDERS" and c.description == "order events"
            assert c.subjects == ["orders.>", "raw.>"]
            assert c.retention is RetentionPolicy.LIMITS
            assert (c.max_consumers, c.max_msgs, c.max_bytes) == (10, 10_000, 10 * 1024 * 1024)
            assert c.discard is DiscardPolicy.NEW and c.discard_new_per_subject is True
            assert c.max_age == 3600.0 and c.duplicate_window == 30.0
            assert (c.max_msgs_per_subject, c.max_msg_size) == (100, 4096)
            assert c.storage is StorageType.FILE and c.num_replicas == 1
            assert c.allow_rollup_hdrs is True and c.deny_delete is False
            assert c.compression is StoreCompression.S2 and c.first_seq == 10
            assert c.subject_transform == SubjectTransformConfig(src="raw.>",
                                                                 dest="orders.raw.>")
            assert c.republish == RePublish(src="orders.>", dest="repub.orders.>",
                                            headers_only=True)
            assert c.allow_direct is True and c.mirror_direct is False
            assert c.consumer_limits == StreamConsumerLimits(inactive_threshold=300.0)
            assert c.metadata is not None and c.metadata["team"] == "data"
            assert c.allow_msg_ttl is True and c.subject_delete_marker_ttl == 120.0
            assert c.allow_atomic is True and c.allow_batched is True
            assert info.created is not None and info.created.tzinfo is not None
            assert info.ts is not None
            assert info.state.messages == 0 and info.state.first_ts is None

            # Publishing: acks, duplicates, transformed subjects.
            a1 = await _publish(nc, "orders.eu.1", headers={"Nats-Msg-Id": "m1"})
            assert (a1.stream, a1.sequence, a1.seq, a1.duplicate) == ("ORDERS", 10, 10, False)
            dup = await _publish(nc, "orders.eu.1", headers={"Nats-Msg-Id": "m1"})
            assert dup.duplicate is True and dup.sequence == 10
            assert (await _publish(nc, "orders.us.1")).sequence == 11
            assert (await _publish(nc, "raw.a")).sequence == 12
            assert (await _publish(nc, "orders.eu.2")).sequence == 13
            await _api(nc, "STREAM.MSG.DELETE.ORDERS", {"seq": 11})

            info = StreamInfo.from_json(await _api(
                nc, "STREAM.INFO.ORDERS", {"subjects_filter": ">", "deleted_details": True}))
            st = info.state
            assert (st.messages, st.first_seq, st.last_seq) == (3, 10, 13)
            assert st.deleted == [11] and st.num_deleted == 1
            assert st.subjects == {"orders.eu.1": 1, "orders.raw.a": 1, "orders.eu.2": 1}
            assert st.num_subjects == 3 and st.bytes > 0 and st.consumer_count == 0
            assert st.first_ts is not None and st.last_ts is not None
            assert st.first_ts <= st.last_ts

            # The config read back updates the stream unchanged (lossless round trip).
            updated = StreamInfo.from_json(
                await _api(nc, "STREAM.UPDATE.ORDERS", info.config.to_json()))
            assert updated.config == info.config

            # Sources (filter + start time, transforms), async persistence; schedules.
            await _api(nc, "STREAM.CREATE.RAW",
                       StreamConfig(name="RAW", subjects=["rawsrc.>"]).to_json())
            assert (await _publish(nc, "rawsrc.a")).stream == "RAW"
            archive = StreamConfig(
                name="ARCHIVE",
                sources=[
                    StreamSource(name="ORDERS", filter_subject="orders.eu.>", opt_start_seq=10),
                    StreamSource(name="RAW", subject_transforms=[
                        SubjectTransformConfig(src="rawsrc.>", dest="archive.raw.>")]),
                ],
                persist_mode=PersistMode.ASYNC,
                max_age=86400,
            )
            ainfo = StreamInfo.from_json(
                await _api(nc, "STREAM.CREATE.ARCHIVE", archive.to_json()))
            ac = ainfo.config
            assert ac.persist_mode is PersistMode.ASYNC and ac.max_age == 86400.0
            assert ac.sources is not None and len(ac.sources) == 2
            assert ac.sources[0].filter_subject == "orders.eu.>"
            assert ac.sources[0].opt_start_seq == 10
            assert ac.sources[1].subject_transforms == [
                SubjectTransformConfig(src="rawsrc.>", dest="archive.raw.>")]

            # A source with a start time (alone: nats-server 2.15 delivers nothing for a
            # start-time source when a stream has several sources).
            since = StreamConfig(name="SINCE", sources=[
                StreamSource(name="ORDERS", filter_subject="orders.eu.>",
                             opt_start_time=start_time)])
            since_info = StreamInfo.from_json(
                await _api(nc, "STREAM.CREATE.SINCE", since.to_json()))
            assert since_info.config.sources is not None
            since_src = since_info.config.sources[0]
            assert since_src.opt_start_time == start_time
            assert since_src.opt_start_time.nanosecond == 789  # type: ignore[union-attr]

            sched = StreamConfig(name="SCHED", subjects=["sched.>"], allow_msg_schedules=True,
                                 allow_rollup_hdrs=True)
            sinfo = StreamInfo.from_json(
                await _api(nc, "STREAM.CREATE.SCHED", sched.to_json()))
            assert sinfo.config.allow_msg_schedules is True

            # Mirror in memory with mirror_direct.
            mirror = StreamConfig(name="MIRROR", mirror=StreamSource(name="ORDERS",
                                                                     opt_start_seq=12),
                                  storage=StorageType.MEMORY, mirror_direct=True)
            await _api(nc, "STREAM.CREATE.MIRROR", mirror.to_json())

            # Counter stream: the PubAck carries the counter value.
            counter = StreamConfig(name="COUNTER", subjects=["count.>"],
                                   allow_msg_counter=True, allow_direct=True)
            cinfo = StreamInfo.from_json(
                await _api(nc, "STREAM.CREATE.COUNTER", counter.to_json()))
            assert cinfo.config.allow_msg_counter is True
            ack = await _publish(nc, "count.a", b"", headers={"Nats-Incr": "5"})
            assert ack.stream == "COUNTER" and ack.value == "5"

            # Wait for the mirror and sources to catch up, then read their source infos.
            deadline = time.monotonic() + 10
            while True:
                ainfo = StreamInfo.from_json(await _api(nc, "STREAM.INFO.ARCHIVE",
                                                        {"subjects_filter": ">"}))
                minfo = StreamInfo.from_json(await _api(nc, "STREAM.INFO.MIRROR"))
                sinfo = StreamInfo.from_json(await _api(nc, "STREAM.INFO.SINCE"))
                if (ainfo.state.messages == 3 and minfo.state.messages == 2
                        and sinfo.state.messages == 2) or \
                        time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert ainfo.state.messages == 3, (ainfo.state.subjects, ainfo.sources)
            assert ainfo.sources is not None
            assert sorted(s.name for s in ainfo.sources) == ["ORDERS", "RAW"]
            assert {s.filter_subject for s in ainfo.sources} == {"orders.eu.>", None}
            assert any(s.subject_transforms == [SubjectTransformConfig(
                src="rawsrc.>", dest="archive.raw.>")] for s in ainfo.sources)
            assert all(isinstance(s.lag, int) and isinstance(s.active, float)
                       for s in ainfo.sources)
            assert sinfo.state.messages == 2
            assert minfo.state.messages == 2 and minfo.state.first_seq == 12
            assert minfo.config.mirror == StreamSource(name="ORDERS", opt_start_seq=12)
            assert minfo.config.mirror_direct is True
            assert minfo.config.storage is StorageType.MEMORY
            assert minfo.mirror is not None and minfo.mirror.name == "ORDERS"
            assert minfo.mirror.lag == 0

            acct = AccountInfo.from_json(await _api(nc, "INFO"))
            assert acct.streams == 7 and isinstance(acct.consumers, int)
            assert acct.memory > 0 and acct.storage > 0
            assert acct.reserved_storage == 10 * 1024 * 1024  # ORDERS' max_bytes
            assert acct.limits.max_memory == -1 and acct.limits.max_streams == -1
            assert acct.api.level >= 1 and acct.api.total > 0 and acct.api.errors == 0
            assert acct.extra.get("type") == "io.nats.jetstream.api.v1.account_info_response"
        finally:
            await nc.close()

    asyncio.run(main())


def test_consumer_configs_against_server(server_url: str) -> None:
    opt_start = parse_time("2021-06-07T08:09:10.987654321Z")
    pause = Timestamp.from_datetime(datetime.now(UTC) + timedelta(hours=1), 123)

    async def main() -> None:
        nc = await nats.connect(server_url)
        try:
            stream = StreamConfig(name="JOBS", subjects=["jobs.>"],
                                  consumer_limits=StreamConsumerLimits(max_ack_pending=1000))
            await _api(nc, "STREAM.CREATE.JOBS", stream.to_json())
            for i in range(3):
                await _publish(nc, f"jobs.eu.{i}")

            # A paused pull consumer with nearly every option set.
            cfg = make_config(
                ConsumerConfig,
                durable="CONS",
                description="many options",
                deliver_policy="by_start_time",
                opt_start_time=opt_start,
                ack_policy="explicit",
                ack_wait=timedelta(seconds=1),
                max_deliver=5,
                backoff=[1, 2, timedelta(seconds=5)],
                filter_subjects=["jobs.eu.>", "jobs.us.>"],
                replay_policy="instant",
                sample_freq="50%",
                max_waiting=64,
                max_ack_pending=100,
                headers_only=True,
                max_batch=50,
                max_expires=timedelta(seconds=30),
                max_bytes=1 << 20,
                inactive_threshold=600,
                num_replicas=1,
                mem_storage=True,
                metadata={"owner": "tests"},
                pause_until=pause,
                priority_policy="pinned_client",
                priority_groups=["jobs"],
                priority_timeout=timedelta(minutes=2),
            )
            req = {"stream_name": "JOBS", "config": cfg.to_json(), "action": "create"}
            info = ConsumerInfo.from_json(await _api(nc, "CONSUMER.CREATE.JOBS.CONS", req))
            c = info.config
            assert info.stream_name == "JOBS" and info.name == "CONS"
            assert c.durable_name == "CONS" and c.description == "many options"
            assert c.deliver_policy is DeliverPolicy.BY_START_TIME
            assert c.opt_start_time == opt_start
            assert isinstance(c.opt_start_time, Timestamp)
            assert c.opt_start_time.nanosecond == 321
            assert c.ack_policy is AckPolicy.EXPLICIT and c.ack_wait == 1.0
            assert c.max_deliver == 5 and c.backoff == [1.0, 2.0, 5.0]
            assert c.filter_subjects == ["jobs.eu.>", "jobs.us.>"]
            assert c.filter_subject is None
            assert c.replay_policy is ReplayPolicy.INSTANT and c.sample_freq == "50%"
            assert (c.max_waiting, c.max_ack_pending, c.max_batch, c.max_bytes) == \
                (64, 100, 50, 1 << 20)
            assert c.headers_only is True and c.max_expires == 30.0
            assert c.inactive_threshold == 600.0
            assert c.num_replicas == 1 and c.mem_storage is True
            assert c.metadata is not None and c.metadata["owner"] == "tests"
            assert c.pause_until == pause
            assert isinstance(c.pause_until, Timestamp) and c.pause_until.nanosecond == 123
            assert c.priority_policy is PriorityPolicy.PINNED_CLIENT
            assert c.priority_groups == ["jobs"] and c.priority_timeout == 120.0
            assert info.paused is True
            assert info.pause_remaining is not None and 3000 < info.pause_remaining <= 3600
            assert info.num_pending == 3 and info.num_ack_pending == 0
            assert info.delivered.consumer_seq == 0 and info.ack_floor.stream_seq == 0
            assert info.created is not None and info.ts is not None
            assert info.cluster is not None or "cluster" not in info.extra

            # Creating again with the config read back is accepted as identical.
            again = {"stream_name": "JOBS", "config": info.config.to_json(), "action": "create"}
            info2 = ConsumerInfo.from_json(await _api(nc, "CONSUMER.CREATE.JOBS.CONS", again))
            assert info2.config == info.config

            # A plain pull consumer: fetch one message, ack it, check the sequences.
            work = make_config(ConsumerConfig, name="WORK", ack_policy="explicit",
                               deliver_policy="all", filter_subject="jobs.eu.>",
                               inactive_threshold=timedelta(minutes=5))
            req = {"stream_name": "JOBS", "config": work.to_json()}
            await _api(nc, "CONSUMER.CREATE.JOBS.WORK.jobs.eu.>", req)
            inbox = nc.new_inbox()
            sub = await nc.subscribe(inbox, max_msgs=1)
            await nc.publish("$JS.API.CONSUMER.MSG.NEXT.JOBS.WORK",
                             json.dumps({"batch": 1, "expires": 2_000_000_000}).encode(),
                             reply=inbox)
            msg = await sub.next_msg(timeout=5)
            assert msg.subject == "jobs.eu.0"
            await nc.request(msg.reply, b"+ACK", timeout=5)
            winfo = ConsumerInfo.from_json(await _api(nc, "CONSUMER.INFO.JOBS.WORK"))
            assert winfo.config.name == "WORK" and winfo.config.durable_name is None
            assert winfo.config.filter_subject == "jobs.eu.>"
            assert winfo.config.inactive_threshold == 300.0
            assert winfo.config.max_ack_pending == 1000  # from the stream's consumer_limits
            assert winfo.delivered.consumer_seq == 1 and winfo.delivered.stream_seq == 1
            assert winfo.ack_floor.consumer_seq == 1 and winfo.ack_floor.stream_seq == 1
            assert winfo.delivered.last_active is not None
            assert winfo.num_pending == 2 and winfo.num_ack_pending == 0
            assert winfo.paused is False and winfo.pause_remaining is None

            # Push consumers: flow control + heartbeats, and a queue group.
            push = make_config(ConsumerConfig, durable_name="PUSH",
                               deliver_subject="push.deliver",
                               deliver_policy="last_per_subject", ack_policy="all",
                               filter_subject="jobs.>", replay_policy="original",
                               flow_control=True, idle_heartbeat=timedelta(seconds=5),
                               rate_limit_bps=1_000_000)
            req = {"stream_name": "JOBS", "config": push.to_json()}
            pinfo = ConsumerInfo.from_json(await _api(nc, "CONSUMER.CREATE.JOBS.PUSH", req))
            pc = pinfo.config
            assert pc.deliver_subject == "push.deliver"
            assert pc.deliver_policy is DeliverPolicy.LAST_PER_SUBJECT
            assert pc.filter_subject == "jobs.>" and pc.filter_subjects is None
            assert pc.ack_policy is AckPolicy.ALL and pc.replay_policy is ReplayPolicy.ORIGINAL
            assert pc.flow_control is True and pc.idle_heartbeat == 5.0
            assert pc.rate_limit_bps == 1_000_000
            assert pinfo.push_bound is False

            # (ack none is refused on a stream whose consumer_limits set max_ack_pending)
            await _api(nc, "STREAM.CREATE.EVENTS",
                       StreamConfig(name="EVENTS", subjects=["events.>"]).to_json())
            await _publish(nc, "events.a")
            queue = ConsumerConfig(durable_name="QUEUE", deliver_subject="push.q",
                                   deliver_group="workers", deliver_policy=DeliverPolicy.NEW,
                                   ack_policy=AckPolicy.NONE)
            req = {"stream_name": "EVENTS", "config": queue.to_json()}
            qinfo = ConsumerInfo.from_json(await _api(nc, "CONSUMER.CREATE.EVENTS.QUEUE", req))
            assert qinfo.stream_name == "EVENTS"
            assert qinfo.config.deliver_group == "workers"
            assert qinfo.config.deliver_policy is DeliverPolicy.NEW
            assert qinfo.config.ack_policy is AckPolicy.NONE
            assert qinfo.delivered.stream_seq == 1  # "new" starts after the last message

            acct = AccountInfo.from_json(await _api(nc, "INFO"))
            assert acct.consumers >= 4 and acct.streams >= 2
        finally:
            await nc.close()

    asyncio.run(main())
