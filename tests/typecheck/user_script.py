"""A user's script on the blocking API: type-checked by tests/test_signatures.py, not run.

mypy runs on it with ``--strict --disallow-any-expr``: every expression must have a real
type, so an ``Any`` leaking from jsdata fails the test. pandas and pyarrow ship no types
here, so the few expressions typed by them are marked ``# any: pandas`` / ``# any: pyarrow``
(the test allows an Any only on those lines).
"""

from __future__ import annotations

import datetime

import jsdata
from jsdata import errors


def orders(js: jsdata.JetStream) -> int:
    stream: jsdata.Stream = js.create_stream(name="ORDERS", subjects=["orders.>"],
                                             max_age=datetime.timedelta(days=1),
                                             storage="memory")
    info: jsdata.StreamInfo = stream.info()
    ack: jsdata.PubAck = js.publish("orders.new", b'{"id": 1}', msg_id="o-1")
    fut: jsdata.PubAckFuture = js.publish_async("orders.new", b'{"id": 2}')
    later: jsdata.PubAck = fut.result(timeout=5.0)
    js.publish_async_complete(timeout=5.0)
    names: list[str] = list(js.stream_names())
    for si in js.list_streams():
        print(si.config.name, si.state.messages)
    return ack.seq + later.seq + info.state.messages + len(names)


def consume(js: jsdata.JetStream) -> list[bytes]:
    c: jsdata.Consumer = js.create_consumer("ORDERS", durable_name="worker",
                                            ack_policy="explicit", ack_wait=30.0)
    got: list[bytes] = []
    batch: jsdata.MessageBatch = c.fetch(10, max_wait=1.0)
    for msg in batch:
        meta: jsdata.MsgMetadata = msg.metadata
        got.append(msg.data)
        print(msg.subject, meta.sequence.stream)
        msg.ack()
    one: jsdata.Msg = c.next(max_wait=1.0)
    one.nak_with_delay(1.0)
    with c.fetch_arrow(100, max_wait=1.0, columns=["id"]) as ab:
        print(ab.num_rows)
    ctx: jsdata.ConsumeContext = c.consume(lambda m: m.ack(), max_messages=100)
    ctx.stop()
    ordered: jsdata.OrderedConsumer = js.ordered_consumer("ORDERS")
    print(ordered.next(max_wait=1.0).data)
    return got


def kv(js: jsdata.JetStream) -> str:
    bucket: jsdata.KeyValue = js.create_key_value(bucket="config", history=5)
    rev: int = bucket.put("a", b"1")
    entry: jsdata.KeyValueEntry = bucket.get("a")
    keys: list[str] = list(bucket.keys())
    bucket["b"] = b"2"
    raw: bytes = bucket["b"]
    try:
        bucket.get("missing")
    except errors.KeyNotFoundError:
        pass
    watcher: jsdata.KeyWatcher = bucket.watch("a")
    update: jsdata.KeyValueEntry | None = watcher.next(timeout=1.0)
    watcher.stop()
    print(rev, keys, raw, update)
    return entry.key


def objects(js: jsdata.JetStream) -> bytes:
    store: jsdata.ObjectStore = js.create_object_store(bucket="files")
    oi: jsdata.ObjectInfo = store.put_bytes("report.csv", b"a,b\n1,2\n")
    data: bytes = store.get_bytes("report.csv")
    with store.get("report.csv") as f:
        head: bytes = f.read(3)
    listed: list[jsdata.ObjectInfo] = store.list()
    print(oi.size, head, len(listed))
    return data


def frames(js: jsdata.JetStream) -> int:
    s: jsdata.Stream = js.stream("ORDERS")
    df = s.to_pandas(start=1, columns=["id"], progress=False)  # any: pandas
    rows: int = len(df)  # any: pandas
    table = s.to_arrow(subjects="orders.new", max_messages=10)  # any: pyarrow
    print(table.num_rows)  # any: pyarrow
    return rows


def main() -> None:
    with jsdata.connect("nats://127.0.0.1:4222", timeout=5.0) as js:
        print(orders(js), consume(js), kv(js), objects(js), frames(js))
        js.delete_stream("ORDERS")


if __name__ == "__main__":
    main()
