"""Notebook widgets against a real server: state follows keys, streams and objects live;
renders are coalesced; stop() / close() leave no tasks, threads or server-side consumers."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

import jsdata
from jsdata import errors
from jsdata.widgets import KVWatcher, ObjectStoreBrowser, StreamMonitor, StreamTail

XSS = "<script>alert(1)</script>"


def _widget_tasks(js: jsdata.JetStream) -> list[str]:
    """Tasks on the connection's loop that run widget code."""
    async def tasks() -> list[str]:
        me = asyncio.current_task()
        return [repr(t) for t in asyncio.all_tasks() if t is not me and not t.done()
                and f"jsdata{os.sep}widgets{os.sep}" in getattr(
                    getattr(t.get_coro(), "cr_code", None), "co_filename", "")]
    return js._lt.run(tasks())  # type: ignore[attr-defined, no-any-return]


def _feed_consumers(s: jsdata.Stream) -> list[str]:
    return [n for n in s.consumer_names() if n.startswith("jsdata_feed_")]


# -- KVWatcher --------------------------------------------------------------------------------

def test_kvwatcher_follows_puts_updates_and_deletes(js: jsdata.JetStream) -> None:
    kv = js.create_key_value(bucket="profiles", history=5)
    kv.put("sue.color", b"blue")
    kv.put("sue.size", b'{"h": 170, "w": 60}')
    w = KVWatcher(kv)
    try:
        w.wait_for(lambda w: w.initial_done and len(w.rows) == 2)
        rows = {r["key"]: r for r in w.rows}
        assert rows["sue.color"]["value"] == "blue"
        assert rows["sue.size"]["value"] == '{"h":170,"w":60}'  # JSON shown compact
        assert rows["sue.color"]["operation"] == "PUT"
        assert rows["sue.color"]["revision"] == 1
        assert rows["sue.color"]["updated"] is not None

        rev = kv.put("sue.color", b"green")
        w.wait_for(lambda w: any(r["value"] == "green" and r["revision"] == rev
                                 for r in w.rows))
        kv.put("bob.color", b"red")
        w.wait_for(lambda w: [r["key"] for r in w.rows] == ["bob.color", "sue.color",
                                                             "sue.size"])
        kv.delete("sue.size")
        w.wait_for(lambda w: "sue.size" not in {r["key"] for r in w.rows})
        kv.purge("bob.color")
        w.wait_for(lambda w: [r["key"] for r in w.rows] == ["sue.color"])
        # what is shown follows the state (rendered, escaped HTML)
        w.wait_for(lambda w: "green" in w.html and "bob.color" not in w.html)
        assert w.error is None
    finally:
        w.close()


def test_kvwatcher_key_filter_and_bounded_escaped_values(js: jsdata.JetStream) -> None:
    kv = js.create_key_value(bucket="cfg")
    kv.put("app.title", XSS)
    kv.put("app.blob", b"x" * 10_000)
    kv.put("other.key", b"no")
    w = KVWatcher(kv, keys="app.*", value_chars=40)
    try:
        w.wait_for(lambda w: w.initial_done and len(w.rows) == 2 and w.renders > 0
                   and "app.title" in w.html)
        assert {r["key"] for r in w.rows} == {"app.title", "app.blob"}
        blob = next(r for r in w.rows if r["key"] == "app.blob")
        assert len(blob["value"]) <= 40
        assert XSS not in w.html and "&lt;script&gt;" in w.html
        assert len(w.html) < 10_000
    finally:
        w.stop()


def test_kvwatcher_burst_is_coalesced(js: jsdata.JetStream) -> None:
    kv = js.create_key_value(bucket="burst")
    w = KVWatcher(kv)
    try:
        w.wait_for(lambda w: w.initial_done)
        for i in range(1000):
            kv.put(f"k{i % 20}", str(i))
        w.wait_for(lambda w: len(w.rows) == 20
                   and {r["key"]: r["value"] for r in w.rows}["k19"] == "999")
        w.wait_for(lambda w: "999" in w.html)  # the last state was rendered too
        assert {r["key"]: r["value"] for r in w.rows} == {
            f"k{i}": str(980 + i) for i in range(20)}
        assert max(r["revision"] for r in w.rows) == 1000
        assert 0 < w.renders < 50, w.renders
    finally:
        w.stop()


def test_kvwatcher_many_keys_render_bounded(js: jsdata.JetStream) -> None:
    kv = js.create_key_value(bucket="big")
    kv.as_dict("str").update({f"key{i:04d}": "v" for i in range(500)})
    w = KVWatcher(kv, max_rows=25)
    try:
        w.wait_for(lambda w: len(w.rows) == 500 and "500 keys" in w.html)
        assert w.html.count("<tr>") == 26  # header + 25 rows
        assert "475 more rows" in w.html
    finally:
        w.stop()


def test_kvwatcher_error_is_shown(js: jsdata.JetStream) -> None:
    kv = js.create_key_value(bucket="gone")
    js.delete_key_value("gone")
    w = KVWatcher(kv)
    try:
        w.wait_for(lambda w: w.stopped)
        assert isinstance(w.error, errors.BucketNotFoundError)
        assert "BucketNotFoundError" in w._status.value
    finally:
        w.close()


def test_deleted_bucket_and_stream_show_errors(js: jsdata.JetStream) -> None:
    kv = js.create_key_value(bucket="doomed")
    kv.put("a", b"1")
    s = js.create_stream(name="DOOMED", subjects=["doomed"])
    w, t = KVWatcher(kv), StreamTail(s)
    try:
        w.wait_for(lambda w: w.initial_done)
        t.wait_for(lambda t: t.initial_done)
        js.delete_key_value("doomed")
        js.delete_stream("DOOMED")
        # the feeds notice within two missed heartbeats (10 s) and cannot recreate
        w.wait_for(lambda w: w.stopped, timeout=30)
        t.wait_for(lambda t: t.stopped, timeout=30)
        assert isinstance(w.error, errors.BucketNotFoundError)
        assert isinstance(t.error, errors.StreamNotFoundError)
        assert "BucketNotFoundError" in w._status.value
        assert "StreamNotFoundError" in t._status.value
        assert "failed" in w.html
    finally:
        w.close()
        t.close()


def test_front_end_closing_the_comm_stops_the_watcher(js: jsdata.JetStream) -> None:
    kv = js.create_key_value(bucket="fe")
    w = KVWatcher(kv)
    w.wait_for(lambda w: w.initial_done)
    w.comm.handle_close({"content": {"comm_id": w.comm.comm_id, "data": {}}})
    w.wait_for(lambda w: w.stopped)
    assert _widget_tasks(js) == []
    assert _feed_consumers(kv.stream) == []
    w.close()


def test_widget_arguments_are_checked(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="ARGS", subjects=["args.>"])
    kv = js.create_key_value(bucket="args")
    with pytest.raises(errors.InvalidArgumentError):
        KVWatcher(s)
    with pytest.raises(errors.InvalidKeyError):
        KVWatcher(kv, keys="bad key")
    with pytest.raises(errors.InvalidArgumentError):
        StreamTail(s, n=0)
    with pytest.raises(errors.InvalidNameError):
        StreamMonitor(js, "bad.name")
    with pytest.raises(errors.InvalidArgumentError):
        ObjectStoreBrowser(kv)
    with pytest.raises(errors.InvalidArgumentError):
        KVWatcher(kv._core)  # an asyncio object outside its loop
    assert _widget_tasks(js) == []


# -- StreamMonitor ----------------------------------------------------------------------------

def test_stream_monitor_counters_rate_and_lag(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="ORDERS", subjects=["ORDERS.*"])
    for i in range(10):
        js.publish("ORDERS.new", f'{{"i": {i}}}')
    c = s.create_consumer(durable="proc", ack_policy="explicit")
    m = StreamMonitor(js, "ORDERS", interval=0.1)
    try:
        m.wait_for(lambda m: m.stats.get("messages") == 10 and len(m.rows) == 1)
        st = m.stats
        assert (st["first_seq"], st["last_seq"], st["consumers"]) == (1, 10, 1)
        assert st["bytes"] > 0
        row = m.rows[0]
        assert row["consumer"] == "proc" and row["num_pending"] == 10
        assert row["num_ack_pending"] == 0

        polls = m.polls
        for _ in range(50):
            js.publish("ORDERS.new", b"x")
        # a poll that saw the new messages reports a positive rate
        m.wait_for(lambda m: m.stats["last_seq"] == 60 and m.polls > polls)
        m.wait_for(lambda m: m.stats["rate"] is not None)
        batch = c.fetch(5, max_wait=2.0)
        msgs = list(batch)
        assert len(msgs) == 5
        m.wait_for(lambda m: m.rows[0]["num_ack_pending"] == 5
                   and m.rows[0]["num_pending"] == 55)
        for msg in msgs:
            msg.ack()
        m.wait_for(lambda m: m.rows[0]["num_ack_pending"] == 0
                   and m.rows[0]["ack_floor"] == 5)
        m.wait_for(lambda m: "proc" in m.html and "60" in m.html)
    finally:
        m.close()


def test_stream_monitor_rate_is_positive_while_publishing(js: jsdata.JetStream) -> None:
    js.create_stream(name="RATE", subjects=["rate.>"])
    m = StreamMonitor(js, "RATE", interval=0.05)
    try:
        m.wait_for(lambda m: m.polls >= 1)
        seen: list[float] = []

        def positive(m: StreamMonitor) -> bool:
            r = m.stats.get("rate")
            if r:
                seen.append(r)
            return bool(seen)

        stop = threading.Event()

        def publish() -> None:
            while not stop.is_set():
                js.publish("rate.x", b"1")

        t = threading.Thread(target=publish)
        t.start()
        try:
            m.wait_for(positive, timeout=10)
        finally:
            stop.set()
            t.join()
        assert seen[0] > 0
    finally:
        m.stop()


def test_stream_monitor_shows_missing_stream_then_recovers(js: jsdata.JetStream) -> None:
    m = StreamMonitor(js, "LATER", interval=0.1)
    try:
        m.wait_for(lambda m: isinstance(m.error, errors.StreamNotFoundError))
        m.wait_for(lambda m: "StreamNotFoundError" in m._status.value)
        assert not m.stopped  # polling goes on
        js.create_stream(name="LATER", subjects=["later"])
        js.publish("later", b"1")
        m.wait_for(lambda m: m.error is None and m.stats.get("messages") == 1)
        assert m._status.value == ""
    finally:
        m.stop()


# -- StreamTail -------------------------------------------------------------------------------

def test_stream_tail_last_n_and_live(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="TAIL", subjects=["tail.>"])
    for i in range(30):
        js.publish("tail.a", f'{{"i": {i}, "name": "n{i}"}}')
    t = StreamTail(s, n=5)
    try:
        t.wait_for(lambda t: t.initial_done and len(t.rows) == 5)
        assert [r["seq"] for r in t.rows] == [26, 27, 28, 29, 30]
        assert t.rows[-1]["value"] == '{"i":29,"name":"n29"}'
        assert t.rows[-1]["subject"] == "tail.a" and t.rows[-1]["time"] is not None
        js.publish("tail.b", b"\x00\xffbinary")
        t.wait_for(lambda t: t.rows[-1]["seq"] == 31)
        assert [r["seq"] for r in t.rows] == [27, 28, 29, 30, 31]
        assert t.rows[-1]["value"].startswith("b'\\x00\\xff")
        js.publish(f"tail.{XSS}", XSS)
        t.wait_for(lambda t: t.rows[-1]["seq"] == 32 and "tail.&lt;script&gt;" in t.html)
        assert XSS not in t.html
    finally:
        t.close()
    assert _feed_consumers(s) == []


def test_stream_tail_filter_on_a_sparse_subject(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="SPARSE", subjects=["sp.>"])
    seqs = []
    for i in range(400):
        subj = "sp.rare" if i % 50 == 0 else "sp.common"
        ack = js.publish(subj, str(i))
        if subj == "sp.rare":
            seqs.append(ack.sequence)
    t = StreamTail(s, subjects="sp.rare", n=5)
    try:
        t.wait_for(lambda t: t.initial_done and len(t.rows) == 5)
        assert [r["seq"] for r in t.rows] == seqs[-5:]
        assert {r["subject"] for r in t.rows} == {"sp.rare"}
        js.publish("sp.common", b"skip")
        ack = js.publish("sp.rare", b"new")
        t.wait_for(lambda t: t.rows[-1]["seq"] == ack.sequence)
        assert t.rows[-1]["value"] == "new"
    finally:
        t.stop()


def test_stream_tail_empty_stream_then_messages(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="EMPTY", subjects=["empty"])
    t = StreamTail(s, n=3)
    try:
        t.wait_for(lambda t: t.initial_done and "(no messages)" in t.html)
        for i in range(5):
            js.publish("empty", str(i))
        t.wait_for(lambda t: [r["value"] for r in t.rows] == ["2", "3", "4"])
    finally:
        t.stop()


# -- ObjectStoreBrowser -----------------------------------------------------------------------

def test_object_store_browser_follows_puts_and_deletes(js: jsdata.JetStream) -> None:
    obs = js.create_object_store(bucket="files")
    obs.put_bytes("a.bin", b"a" * 1000)
    b = ObjectStoreBrowser(obs)
    try:
        b.wait_for(lambda b: b.initial_done and len(b.rows) == 1)
        row = b.rows[0]
        assert (row["name"], row["size"], row["chunks"]) == ("a.bin", 1000, 1)
        assert row["digest"].startswith("SHA-256=")
        assert row["modified"] is not None
        obs.put_bytes("b.txt", b"hello")
        b.wait_for(lambda b: [r["name"] for r in b.rows] == ["a.bin", "b.txt"])
        obs.put_bytes("a.bin", b"a" * 5)
        b.wait_for(lambda b: b.rows[0]["size"] == 5)
        obs.delete("b.txt")
        b.wait_for(lambda b: [r["name"] for r in b.rows] == ["a.bin"])
        b.wait_for(lambda b: "a.bin" in b.html and "b.txt" not in b.html)
    finally:
        b.close()


# -- lifecycle --------------------------------------------------------------------------------

def test_stop_and_close_leave_no_tasks_threads_or_consumers(js: jsdata.JetStream) -> None:
    threads = set(threading.enumerate())
    s = js.create_stream(name="LIFE", subjects=["life.>"])
    js.publish("life.x", b"1")
    kv = js.create_key_value(bucket="life")
    obs = js.create_object_store(bucket="lifeobj")
    ws = [KVWatcher(kv), StreamMonitor(js, "LIFE", interval=0.1), StreamTail(s, n=3),
          ObjectStoreBrowser(obs)]
    for w in ws:
        w.wait_for(lambda w: w.renders > 0 and w._state == "live")
    assert len(_widget_tasks(js)) == 4
    assert len(_feed_consumers(s)) == 1
    assert len(_feed_consumers(kv.stream)) == 1
    ws[0].stop()
    ws[1].close()
    ws[2].stop()
    ws[3].close()
    assert all(w.stopped for w in ws)
    assert _widget_tasks(js) == []
    assert _feed_consumers(s) == []
    assert _feed_consumers(kv.stream) == []
    assert [n for n in js.stream("OBJ_lifeobj").consumer_names()] == []
    assert set(threading.enumerate()) == threads
    for w in ws:
        w.stop()  # again: a no-op
        w.wait_for(lambda w: "stopped" in w.html)
    assert ws[1].comm is None and ws[1]._table.comm is None  # closed widgets


def test_closing_the_connection_ends_widgets(server) -> None:
    threads = set(threading.enumerate())
    js = jsdata.connect(server.url)
    kv = js.create_key_value(bucket="c")
    w = KVWatcher(kv)
    m = StreamMonitor(js, "KV_c", interval=0.1)
    w.wait_for(lambda w: w.initial_done)
    m.wait_for(lambda m: m.polls > 0)
    js.close()
    assert w.stopped and m.stopped
    w.stop()
    m.close()
    assert set(threading.enumerate()) == threads


async def test_widgets_on_the_asyncio_api(ajs) -> None:
    kv = await ajs.create_key_value(bucket="aio")
    await kv.put("a", b"1")
    w = KVWatcher(kv)
    s = await ajs.create_stream(name="AIO", subjects=["aio"])
    t = StreamTail(s, n=2)
    try:
        await w.wait_for_async(lambda w: w.initial_done and len(w.rows) == 1)
        await kv.put("b", b"2")
        await w.wait_for_async(lambda w: [r["key"] for r in w.rows] == ["a", "b"])
        for i in range(3):
            await ajs.publish("aio", str(i))
        await t.wait_for_async(lambda t: [r["value"] for r in t.rows] == ["1", "2"])
        with pytest.raises(RuntimeError):
            w.wait_for(lambda w: True)
    finally:
        w.stop()
        t.close()
        await w.wait_stopped()
        await t.wait_stopped()
    assert w.stopped and t.stopped
    assert [n async for n in s.consumer_names()] == []
