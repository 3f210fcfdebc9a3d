"""The main job: a tour of jsdata on the embedded server (``python -m jsdata.demo``).

Creates a stream, publishes events (one by one and pipelined), fetches them back with a pull
consumer and prints what happened; the later sections show DataFrames, key-value buckets and
object stores when those parts are installed.
"""

from __future__ import annotations

import json
import os
import sys
import time

import jsdata


def _section(title: str) -> None:
    print(f"\n== {title}")


def foundation(js: jsdata.JetStream) -> None:
    _section("streams, publishing, pull consumers")
    try:
        js.delete_stream("DEMO_ORDERS")
    except jsdata.errors.StreamNotFoundError:
        pass
    s = js.create_stream(name="DEMO_ORDERS", subjects=["demo.orders.*"], storage="file")
    print(f"created stream {s.name} capturing {s.cached_info().config.subjects}")
    ack = js.publish("demo.orders.eu", json.dumps({"id": 0, "amount": 9.5}).encode(),
                     msg_id="order-0")
    print(f"published one order: stream={ack.stream} seq={ack.sequence}")
    again = js.publish("demo.orders.eu", b"{}", msg_id="order-0")
    print(f"published it again with the same msg_id: duplicate={again.duplicate}")
    n = 10_000
    t = time.perf_counter()
    for i in range(1, n + 1):
        region = ("eu", "us", "ap")[i % 3]
        js.publish_async(f"demo.orders.{region}",
                         json.dumps({"id": i, "region": region, "amount": i % 97}).encode())
    js.publish_async_complete(timeout=30)
    dt = time.perf_counter() - t
    print(f"publish_async: {n} orders in {dt:.2f}s ({n / dt:,.0f} msgs/s)")
    info = s.info()
    print(f"stream now holds {info.state.messages} messages, last seq {info.state.last_seq}")

    c = s.create_consumer(durable="demo-worker", ack_policy="explicit")
    got = 0
    total = 0.0
    t = time.perf_counter()
    while got < info.state.messages:  # everything is stored already: no need to wait
        for m in c.fetch_no_wait(500):
            total += json.loads(m.data).get("amount", 0)
            m.ack()
            got += 1
    dt = time.perf_counter() - t
    print(f"fetched and acked {got} messages in {dt:.2f}s; sum(amount) = {total:,.1f}")
    last = s.get_last_msg_for_subject("demo.orders.ap")
    print(f"last order in ap: seq {last.sequence}: {last.data.decode()}")
    ci = c.info()
    print(f"consumer {ci.name}: delivered {ci.delivered.stream_seq}, "
          f"ack pending {ci.num_ack_pending}, pending {ci.num_pending}")


def dataframes(js: jsdata.JetStream) -> None:
    import pandas as pd

    if not hasattr(js, "publish_dataframe") or not hasattr(jsdata.Stream, "to_pandas"):
        return
    _section("DataFrames")
    try:
        js.delete_stream("DEMO_TRADES")
    except jsdata.errors.StreamNotFoundError:
        pass
    s = js.create_stream(name="DEMO_TRADES", subjects=["demo.trades.>"])
    df = pd.DataFrame({
        "symbol": ["AAPL", "MSFT", "NVDA", "AAPL"],
        "price": [190.1, 410.5, 120.3, 191.0],
        "qty": [10, 5, 100, 7],
        "ts": pd.date_range("2026-11-27 09:30", periods=4, freq="s", tz="UTC"),
    })
    res = js.publish_dataframe("demo.trades.{symbol}", df)
    print(f"published a DataFrame: {res}")
    back = s.to_pandas()
    print(back.to_string())


def key_value(js: jsdata.JetStream) -> None:
    if not hasattr(js, "create_key_value"):
        return
    _section("key-value")
    kv = js.create_key_value(bucket="demo_profiles", history=5)
    kv["sue.color"] = "blue"
    kv.put("sue.color", b"green")
    e = kv.get("sue.color")
    print(f"sue.color = {e.value!r} (revision {e.revision}); history: "
          f"{[h.value for h in kv.history('sue.color')]}")
    js.delete_key_value("demo_profiles")


def objects(js: jsdata.JetStream) -> None:
    if not hasattr(js, "create_object_store"):
        return
    _section("object store")
    obs = js.create_object_store(bucket="demo_files")
    info = obs.put_bytes("hello.txt", b"hello object store\n" * 1000)
    print(f"stored {info.name}: {info.size} bytes in {info.chunks} chunk(s), {info.digest}")
    print(f"read back {len(obs.get_bytes('hello.txt'))} bytes, digest verified")
    js.delete_object_store("demo_files")


def main() -> int:
    url = os.environ.get("JSDATA_URL") or os.environ.get("NATS_URL")
    print("jsdata demo:", f"server {url}" if url else "embedded nats-server (default)")
    with jsdata.connect() as js:
        print(f"connected: {js!r}")
        foundation(js)
        for part in (dataframes, key_value, objects):
            try:
                part(js)
            except Exception as e:  # noqa: BLE001 - show the tour's remaining parts anyway
                print(f"  ({part.__name__} skipped: {e!r})")
    if not url:
        print("\nThe embedded server keeps running for the next session "
              "(stop it with: python -m jsdata server stop)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
