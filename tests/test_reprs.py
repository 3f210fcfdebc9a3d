"""Rich notebook reprs: informative, escaped, bounded, and rendered from cached info only."""

from __future__ import annotations

import jsdata
from jsdata import _repr

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_stream_and_consumer_reprs(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="ORDERS", subjects=["ORDERS.*"], description="order events",
                         max_age=3600)
    for i in range(3):
        js.publish("ORDERS.new", f"{i}")
    s.info()
    html = s._repr_html_()  # the blocking twin forwards to the core
    assert html == s._core._repr_html_()
    for text in ("Stream ORDERS", "ORDERS.*", "order events", "messages", "last seq",
                 "60 min", "cached info"):
        assert text in html, text
    info_html = s.cached_info()._repr_html_()
    assert "Stream ORDERS" in info_html and "3" in info_html

    c = s.create_consumer(durable="proc", filter_subject="ORDERS.new", ack_policy="explicit")
    html = c._repr_html_()
    for text in ("Consumer ORDERS / proc", "pull, durable", "ORDERS.new", "explicit",
                 "pending", "ack floor"):
        assert text in html, text
    assert "3" in c.info()._repr_html_()

    push = js.create_push_consumer("ORDERS", durable="pushed", deliver_subject="dl.orders")
    assert "push, durable" in push.cached_info()._repr_html_()
    # text fallbacks exist and are short
    assert repr(s).startswith("<Stream ORDERS") and repr(c).startswith("<Consumer ORDERS/proc")


def test_reprs_escape_user_data(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="X", subjects=["x.>"], description=XSS)
    js.publish(f"x.{XSS}", b"1")
    info = s.info(subjects_filter=">")
    c = s.create_consumer(durable="c", description=XSS, filter_subject=f"x.{XSS}")
    for html in (s._repr_html_(), info._repr_html_(), c._repr_html_(),
                 c.cached_info()._repr_html_()):
        assert XSS not in html and "<script" not in html
        assert ESCAPED in html
    assert f"x.{ESCAPED}" in info._repr_html_()  # the per-subject table


def test_reprs_are_bounded(js: jsdata.JetStream) -> None:
    s = js.create_stream(name="MANY", subjects=["many.>"])
    for i in range(10_000):
        js.publish_async(f"many.{i}", b"x")
    js.publish_async_complete(timeout=30)
    info = s.info(subjects_filter=">")
    assert len(info.state.subjects) == 10_000
    html = info._repr_html_()
    assert len(html) < 8_000, len(html)
    assert "10,000 subjects" in html and "9,990 more subjects" in html

    subjects = [f"cfg.{i}" for i in range(2_000)]
    wide = js.create_stream(name="WIDE", subjects=subjects, description="d" * 4_000)
    html = wide._repr_html_()
    assert len(html) < 5_000, len(html)
    assert "(+1,990 more)" in html

    c = wide.create_consumer(durable="f", filter_subjects=subjects[:500])
    html = c._repr_html_()
    assert len(html) < 5_000 and "(+490 more)" in html


def test_reprs_make_no_network_call(server) -> None:
    js = jsdata.connect(server.url)
    s = js.create_stream(name="OFF", subjects=["off"])
    js.publish("off", b"1")
    s.info()
    c = s.create_consumer(durable="c")
    kv = js.create_key_value(bucket="offkv")
    obs = js.create_object_store(bucket="offobs")
    oi = obs.put_bytes("a", b"abc")
    before = [x._repr_html_() for x in (s, c, kv, obs, oi)]
    js.close()
    after = [x._repr_html_() for x in (s, c, kv, obs, oi)]  # nothing to ask: it is closed
    assert after == before
    assert "1" in after[0] and "offkv" in after[2] and "offobs" in after[3]
    for x in (s, c, kv, obs, oi, s.cached_info(), c.cached_info()):
        assert repr(x)


def test_others_reprs_escape(js: jsdata.JetStream) -> None:
    """KeyValue, ObjectStore and ObjectInfo reprs (written by their owners) escape too."""
    kv = js.create_key_value(bucket="esc", description=XSS)
    obs = js.create_object_store(bucket="esco", description=XSS)
    oi = obs.put(jsdata.ObjectMeta(name=f"n{XSS}", description=XSS), b"abc")
    for html in (kv._repr_html_(), obs._repr_html_(), oi._repr_html_()):
        assert "<script" not in html


def test_helpers() -> None:
    assert _repr.shorten("abcdef", 4) == "abc\u2026"
    assert _repr.preview_bytes(b'{"a": [1, 2]}') == '{"a":[1,2]}'
    assert '\n  "a"' in _repr.preview_bytes(b'{"a": 1}', pretty=True)
    assert _repr.preview_bytes(b"\xff\x00") == "b'\\xff\\x00'"
    assert _repr.preview_bytes(b"x" * 500, 10) == "x" * 9 + "\u2026"
    import msgpack
    assert _repr.preview_bytes(msgpack.packb({"a": 1}), content_type="application/msgpack") \
        == '{"a":1}'
    g = _repr.grid(["a"], [{"a": XSS}] * 5, max_rows=2)
    assert ESCAPED in g and "3 more rows" in g and "<script" not in g
    assert _repr.human_bytes(1536) == "1.5 KiB"
    assert _repr.fmt_list(range(12), limit=3) == "0, 1, 2 (+9 more)"
