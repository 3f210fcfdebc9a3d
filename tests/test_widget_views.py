"""The widgets' views against a real server: charts and lag of StreamMonitor, filters,
sorting and key history of KVWatcher, size bars of ObjectStoreBrowser, decoded columns,
pause and subject filter of StreamTail, and the account Dashboard."""

from __future__ import annotations

import asyncio
import os
import re
import threading
from pathlib import Path

import msgpack
import pytest

import jsdata
from jsdata import errors
from jsdata.widgets import (
    Dashboard,
    KVWatcher,
    ObjectStoreBrowser,
    StreamMonitor,
    StreamTail,
    _svg,
)

XSS = "<script>alert(1)</script>"


def _widget_tasks(js: jsdata.JetStream) -> list[str]:
    async def tasks() -> list[str]:
        me = asyncio.current_task()
        return [repr(t) for t in asyncio.all_tasks() if t is not me and not t.done()
                and f"jsdata{os.sep}widgets{os.sep}" in getattr(
                    getattr(t.get_coro(), "cr_code", None), "co_filename", "")]
    return js._lt.run(tasks())  # type: ignore[attr-defined, no-any-return]


# -- StreamMonitor ----------------------------------------------------------------------------

def test_monitor_hides_internal_consumers_and_sorts_by_lag(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="LAG", subjects=["lag.>"])
    for i in range(30):
        js.publish("lag.x", str(i))
    fast = s.create_consumer(durable="fast", ack_policy="explicit")
    s.create_consumer(durable="slow", ack_policy="explicit")
    for m in fast.fetch(25, max_wait=2.0):
        m.ack()
    tail = StreamTail(s, n=3)  # its ordered consumer is jsdata_feed_*: internal
    m = StreamMonitor(js, "LAG", interval=0.1)
    everything = StreamMonitor(js, "LAG", interval=0.1, show_internal=True)
    try:
        tail.wait_for(lambda t: t.initial_done)
        m.wait_for(lambda m: [r["consumer"] for r in m.rows] == ["slow", "fast"]
                   and m.rows[1]["num_pending"] == 5 and m.hidden == 1)  # a poll after the
        # tail's consumer exists (the monitor may have polled before it was created)
        assert [r["lag"] for r in m.rows] == [30, 5]
        assert m.hidden == 1 and m.stats["consumers"] == 2
        m.wait_for(lambda m: "1 internal hidden" in m.html and "jsdata_feed_" not in m.html)
        everything.wait_for(lambda e: len(e.rows) == 3)
        assert any(r["consumer"].startswith("jsdata_feed_") for r in everything.rows)
        # the lag table: the worst consumer first, with a bar and a sparkline each
        m.wait_for(lambda m: m.html.index("slow") < m.html.index("fast")
                   and m.html.count("jsdata-spark") == 2 and "jsdata-bar" in m.html)
        # lag over time: every poll kept for each consumer
        m.wait_for(lambda m: len(m.lag_history("slow")) >= 3)
        assert m.lag_history("slow")[-1][1:] == (30, 0)
        # the chart: pending solid, ack pending dashed, once two polls are drawn
        m.wait_for(lambda m: "stroke-dasharray" in m._lag_chart.value)
        lag_svg = m._lag_chart.value
        assert lag_svg.startswith("<svg") and "</tspan> slow <tspan" in lag_svg  # legend
    finally:
        for w in (m, everything, tail):
            w.close()
    assert _widget_tasks(js) == []


def test_monitor_rate_chart_follows_a_busy_publisher(js: jsdata.JetStream) -> None:
    """A publisher flat out while the monitor runs: the monitor's cost does not depend on
    the message rate (it creates no consumer and renders at most once a poll), and its
    chart shows the rate."""
    s = js.create_stream(name="BUSY", subjects=["busy.>"])
    m = StreamMonitor(js, "BUSY", interval=0.1, window=30)
    stop = threading.Event()
    sent = [0]

    def publish() -> None:
        payload = b'{"v": 1}'
        while not stop.is_set():
            for _ in range(500):
                js.publish_async("busy.x", payload)
            sent[0] += 500
            js.publish_async_complete()

    t = threading.Thread(target=publish)
    try:
        m.wait_for(lambda m: m.polls >= 1)
        t.start()
        m.wait_for(lambda m: len([r for _, r in m.rate_history if r > 0]) >= 3, timeout=30)
        assert list(s.consumer_names()) == []
        assert m.renders <= m.polls + 2
        m.wait_for(lambda m: "<polyline" in m._rate_chart.value)  # drawn at the next render
        chart = m._rate_chart.value
        assert "<polygon" in chart  # the area under the line
        assert "BUSY publish rate" in chart
        # time ticks at a round step up to now, the span growing up to the 30 s window
        ticks = re.findall(r">(-\d+s|now)<", chart)
        assert ticks[-1] == "now" and 10 <= -int(ticks[0][:-1]) <= 30, ticks
    finally:
        stop.set()
        if t.is_alive():
            t.join()
        m.close()
    assert sent[0] > 0


# -- KVWatcher --------------------------------------------------------------------------------

def test_kvwatcher_filter_and_sort(js: jsdata.JetStream) -> None:
    kv = js.create_key_value(bucket="people")
    for k, v in [("sue.color", "blue"), ("sue.city", "Lisbon"), ("bob.color", "red"),
                 ("ann.city", "Oslo")]:
        kv.put(k, v)
    w = KVWatcher(kv)
    try:
        w.wait_for(lambda w: w.initial_done and len(w.rows) == 4)
        w.set_filter("sue.*")
        assert w.filter == "sue.*" and w._filter_box.value == "sue.*"
        w.wait_for(lambda w: [r["key"] for r in w.rows] == ["sue.city", "sue.color"]
                   and "2 shown" in w.html and "bob.color" not in w.html)
        w._filter_box.value = "COLOR"  # typed in the page: a case-insensitive substring
        w.wait_for(lambda w: [r["key"] for r in w.rows] == ["bob.color", "sue.color"])
        w.set_filter("nothing-like-it")
        w.wait_for(lambda w: "(no key matches the filter)" in w.html)
        w.set_filter("")
        w.sort_by("revision", descending=True)
        assert w.sort == ("revision", True) and w._sort_menu.value == "revision"
        w.wait_for(lambda w: [r["revision"] for r in w.rows] == [4, 3, 2, 1]
                   and "revision \u25bc" in w.html)
        kv.put("ann.city", "Bergen")  # a new revision moves the key to the top
        w.wait_for(lambda w: w.rows[0]["key"] == "ann.city" and w.rows[0]["revision"] == 5)
        w._sort_menu.value = "value"  # chosen in the page: keeps the direction
        w.wait_for(lambda w: [r["value"] for r in w.rows] == ["red", "blue", "Lisbon",
                                                              "Bergen"])
        w._order.value = False
        w.wait_for(lambda w: [r["value"] for r in w.rows] == ["Bergen", "Lisbon", "blue",
                                                              "red"])
        with pytest.raises(errors.InvalidArgumentError):
            w.sort_by("colour")
        with pytest.raises(errors.InvalidArgumentError):
            KVWatcher(kv, sort="nope")
    finally:
        w.close()


def test_kvwatcher_key_history(js: jsdata.JetStream) -> None:
    kv = js.create_key_value(bucket="metrics", history=10)
    for v in (3, 5, 4, 8):
        kv.put("temp.kitchen", str(v))
    kv.put("note", XSS)
    w = KVWatcher(kv)
    try:
        w.wait_for(lambda w: w.initial_done and len(w.rows) == 2)
        w.show_history("temp.kitchen")
        w.wait_for(lambda w: [r["value"] for r in w.history] == ["3", "5", "4", "8"])
        assert [r["revision"] for r in w.history] == [1, 2, 3, 4]
        assert w.history_key == "temp.kitchen" and w._history_box.value == "temp.kitchen"
        w.wait_for(lambda w: "value over time" in w._history_view.value)
        view = w._history_view.value
        assert "<polyline" in view and "4 revisions kept" in view
        rev = kv.put("temp.kitchen", "11")  # followed live
        w.wait_for(lambda w: w.history and w.history[-1]["revision"] == rev)
        kv.delete("temp.kitchen")
        w.wait_for(lambda w: w.history[-1]["operation"] == "DEL")
        w.wait_for(lambda w: "6 revisions kept" in w._history_view.value)
        # text values: revisions over time, escaped
        w._history_box.value = "note"  # picked in the page
        w.wait_for(lambda w: w.history_key == "note" and len(w.history) == 1)
        w.wait_for(lambda w: "revision over time" in w._history_view.value)
        assert XSS not in w._history_view.value and "&lt;script&gt;" in w._history_view.value
        w.show_history(None)
        w.wait_for(lambda w: w._history_view.value == "")
        with pytest.raises(errors.InvalidKeyError):
            w.show_history("bad key")
    finally:
        w.close()


# -- ObjectStoreBrowser -----------------------------------------------------------------------

def test_object_browser_filter_sort_and_size_bars(js: jsdata.JetStream) -> None:
    obs = js.create_object_store(bucket="lake")
    obs.put_bytes("2024/q1.csv", b"x" * 1000)
    obs.put_bytes("2024/q2.csv", b"x" * 4000)
    obs.put_bytes("model.bin", b"x" * 2000)
    b = ObjectStoreBrowser(obs, sort="size", descending=True)
    try:
        b.wait_for(lambda b: b.initial_done and len(b.rows) == 3)
        assert [r["name"] for r in b.rows] == ["2024/q2.csv", "model.bin", "2024/q1.csv"]
        # bars relative to the largest object shown: 140, 70 and 35 pixels
        b.wait_for(lambda b: b.html.count("jsdata-bar") == 3)
        widths = [int(w) for w in re.findall(r"<span style='display:block;width:(\d+)px",
                                             b.html)]
        assert widths == [140, 70, 35]
        b.set_filter("*.csv")
        b.wait_for(lambda b: [r["name"] for r in b.rows] == ["2024/q2.csv", "2024/q1.csv"]
                   and "2 shown" in b.html)
        b._sort_menu.value = "name"
        b._order.value = False
        b.wait_for(lambda b: [r["name"] for r in b.rows] == ["2024/q1.csv", "2024/q2.csv"])
        obs.put_bytes("2024/q3.csv", b"x" * 8000)
        b.wait_for(lambda b: [r["name"] for r in b.rows][-1] == "2024/q3.csv")
        b.wait_for(lambda b: "3 shown" in b.html and "model.bin" not in b.html)
        with pytest.raises(errors.InvalidArgumentError):
            b.sort_by("digest")
    finally:
        b.close()


# -- StreamTail -------------------------------------------------------------------------------

def test_tail_decodes_columns_like_to_pandas(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="DEC", subjects=["dec.>"])
    for i in range(3):
        js.publish("dec.orders", f'{{"order": {i}, "region": "eu", "total": {i * 2.5},'
                                 f' "tags": ["a", "b"]}}')
    js.publish("dec.packed", msgpack.packb({"order": 9, "region": "us"}),
               headers={"Content-Type": "application/msgpack"})
    js.publish("dec.text", "plain text")
    t = StreamTail(s, n=5)
    try:
        t.wait_for(lambda t: t.initial_done and len(t.rows) == 5)
        rows = t.rows
        assert rows[0]["decoded"] == {"order": 0, "region": "eu", "total": 0.0,
                                      "tags": '["a","b"]'}
        assert rows[3]["decoded"] == {"order": 9, "region": "us"}  # by its Content-Type
        assert rows[4]["decoded"] == {} and rows[4]["value"] == "plain text"
        # what to_pandas makes of the same messages: the same columns
        df = s.to_pandas()
        assert {"order", "region", "total"} <= set(df.columns)
        t.wait_for(lambda t: all(f"<th style='{h}" not in t.html for h in ("x",))
                   and all(f">{c}</th>" in t.html for c in ("order", "region", "total",
                                                             "value", "bytes")))
    finally:
        t.close()
    only_json = StreamTail(s, n=2, codec="json", columns=["order"])
    try:
        only_json.wait_for(lambda t: len(t.rows) == 2 and ">order</th>" in t.html)
        assert ">region</th>" not in only_json.html
    finally:
        only_json.close()


def test_tail_pause_resume_and_subject_filter(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="PAUSE", subjects=["p.>"])
    for i in range(6):
        js.publish(f"p.{'eu' if i % 2 else 'us'}", f'{{"i": {i}}}')
    t = StreamTail(s, n=3)
    try:
        t.wait_for(lambda t: t.initial_done and [r["seq"] for r in t.rows] == [4, 5, 6]
                   and t.renders > 0 and ">6</td>" in t.html)
        t.pause()
        assert t.paused and t._pause_button.value
        frozen = t._table.value
        js.publish("p.eu", '{"i": 6}')
        t.wait_for(lambda t: t.rows[-1]["seq"] == 7 and "1 new since paused" in t.html)
        assert t._table.value == frozen  # the table stays as it was
        t._pause_button.value = False  # resumed in the page
        t.wait_for(lambda t: not t.paused and ">7</td>" in t.html)
        # a new subject filter restarts the tail on the last n matching messages
        t.set_subjects("p.us")
        assert t._subject_box.value == "p.us"
        t.wait_for(lambda t: t.initial_done and [r["seq"] for r in t.rows] == [1, 3, 5])
        js.publish("p.us", '{"i": 7}')
        js.publish("p.eu", '{"i": 8}')
        t.wait_for(lambda t: [r["seq"] for r in t.rows] == [3, 5, 8])
        t.wait_for(lambda t: "p.us" in t.html and "p.eu" not in t.html)
        t._subject_box.value = "p.eu, p.us"  # typed in the page: a list
        t.wait_for(lambda t: t.subjects == ["p.eu", "p.us"]
                   and [r["seq"] for r in t.rows] == [7, 8, 9])
        t._subject_box.value = "bad subject"
        t.wait_for(lambda t: "InvalidSubjectError" in t._status.value
                   or "InvalidNameError" in t._status.value)
        assert t.subjects == ["p.eu", "p.us"] and not t.stopped
        with pytest.raises(errors.JetStreamError):
            t.set_subjects("bad subject")
    finally:
        t.close()
    assert [n for n in s.consumer_names() if n.startswith("jsdata_feed_")] == []


# -- Dashboard --------------------------------------------------------------------------------

def test_dashboard_shows_the_account(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="SHOP", subjects=["shop.>"], description="orders")
    js.create_stream(name="AUDIT", subjects=["audit.>"])
    for i in range(20):
        js.publish("shop.order", f'{{"i": {i}}}')
    s.create_consumer(durable="billing", ack_policy="explicit")
    c = s.create_consumer(durable="mailer", ack_policy="explicit")
    for m in c.fetch(15, max_wait=2.0):
        m.ack()
    kv = js.create_key_value(bucket="settings", history=3)
    kv.put("theme", "dark")
    kv.put("lang", "pt")
    obs = js.create_object_store(bucket="exports")
    obs.put_bytes("a.csv", b"x" * 3000)
    obs.put_bytes("b.csv", b"x" * 10)
    watcher = KVWatcher(kv)  # an internal jsdata_feed_ consumer on KV_settings
    d = Dashboard(js, interval=0.1)
    try:
        watcher.wait_for(lambda w: w.initial_done)
        d.wait_for(lambda d: d.polls >= 2 and len(d.consumers) == 2 and d.object_stores
                   and d.object_stores[0]["objects"] == 2)
        assert [(r["consumer"], r["lag"]) for r in d.consumers] == [("billing", 20),
                                                                    ("mailer", 5)]
        assert d.hidden == 1
        kinds = {r["stream"]: r["kind"] for r in d.streams}
        assert kinds == {"AUDIT": "stream", "SHOP": "stream", "KV_settings": "kv",
                         "OBJ_exports": "obj"}
        assert d.kv_buckets == [{"bucket": "settings", "keys": 2, "history": 3,
                                 "bytes": d.kv_buckets[0]["bytes"],
                                 "rate": d.kv_buckets[0]["rate"], "stream": "KV_settings"}]
        d.wait_for(lambda d: all(x in d._consumer_table.value for x in ("billing", "mailer"))
                   and "settings" in d._kv_table.value and "exports" in d._obj_table.value
                   and "2 streams" in d.html and "1 internal consumers hidden" in d.html)
        # live: more messages raise the rate and the lag
        for _ in range(30):
            js.publish("shop.order", b"{}")
        d.wait_for(lambda d: d.consumers[0]["lag"] == 50
                   and any(r["stream"] == "SHOP" and (r["rate"] or 0) > 0
                           for r in d.streams))
        d.wait_for(lambda d: "SHOP" in d._rate_chart.value
                   and "billing" in d._lag_chart.value)
        # open one of them below
        opened = d.show("KV_settings")
        assert isinstance(opened, KVWatcher) and d._detail.children == (opened,)
        opened.wait_for(lambda w: len(w.rows) == 2)
        d._open_menu.value = "SHOP"  # chosen in the page
        d.wait_for(lambda d: isinstance(d.opened, StreamMonitor))
        assert opened.stopped
        d.opened.wait_for(lambda m: [r["consumer"] for r in m.rows] == ["billing", "mailer"])
        obj = d.show("OBJ_exports")
        assert isinstance(obj, ObjectStoreBrowser)
        obj.wait_for(lambda b: len(b.rows) == 2)
    finally:
        d.close()
        watcher.close()
    assert d.stopped and d.opened.stopped
    assert _widget_tasks(js) == []


def test_dashboard_arguments_are_checked(js: jsdata.JetStream) -> None:
    kv = js.create_key_value(bucket="dargs")
    with pytest.raises(errors.InvalidArgumentError):
        Dashboard(kv)
    with pytest.raises(errors.InvalidArgumentError):
        Dashboard(js, interval=0)
    with pytest.raises(errors.InvalidArgumentError):
        StreamMonitor(js, "X", interval=1, window=0.5)
    assert _widget_tasks(js) == []


# -- the charts themselves ----------------------------------------------------------------------

def test_charts_escape_labels_and_bound_their_size() -> None:
    pts = [(-300 + i * 0.1, float(i % 97)) for i in range(3000)]
    svg = _svg.line_chart([(XSS, pts)], window=300, title=XSS)
    assert XSS not in svg and "&lt;script&gt;" in svg
    assert len(svg) < 12_000  # downsampled: 3,000 points drawn as at most 150
    assert svg.count(",") < 400
    spark = _svg.sparkline([1, 5, 3])
    assert "<polyline" in spark and "<circle" in spark
    assert "waiting for data" in _svg.line_chart([], window=60)
    assert _svg.nice_max(0.0) == 1.0 and _svg.nice_max(87_000) == 100_000
    assert _svg.compact(125_000) == "125k" and _svg.compact(2_500_000) == "2.5M"


# -- kernel shutdown ----------------------------------------------------------------------------

def test_widgets_left_running_stop_when_the_process_exits(server, tmp_path) -> None:
    """A notebook leaves its widgets running; when the kernel (here: a plain process) exits,
    they stop and delete their server-side consumers instead of leaving them behind."""
    import subprocess
    import sys

    script = tmp_path / "kernel.py"
    script.write_text(
        "import jsdata\n"
        "from jsdata.widgets import KVWatcher, StreamTail\n"
        f"js = jsdata.connect({server.url!r})\n"
        "kv = js.create_key_value(bucket='left')\n"
        "s = js.create_stream(name='LEFT', subjects=['left'])\n"
        "w, t = KVWatcher(kv), StreamTail(s)\n"
        "w.wait_for(lambda w: w.initial_done)\n"
        "t.wait_for(lambda t: t.initial_done)\n"
        "names = list(kv.stream.consumer_names()) + list(s.consumer_names())\n"
        "assert len(names) == 2 and all(n.startswith('jsdata_feed_') for n in names), names\n"
        "print('running')\n")  # and exit with both widgets running
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       timeout=60, env={**os.environ, "PYTHONPATH": str(root)})
    assert r.returncode == 0 and "running" in r.stdout, r.stderr[-2000:]
    with jsdata.connect(server.url) as js:
        assert list(js.stream("KV_left").consumer_names()) == []
        assert list(js.stream("LEFT").consumer_names()) == []
