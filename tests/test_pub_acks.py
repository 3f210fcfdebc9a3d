"""Settling a bulk publisher's acks a run at a time (``publish_dataframe``'s ack inbox): the
C function (``jsdata._cparse.pub_acks``) and its pure-Python twin
(``jsdata.client.bulk.pub_acks_py``) agree on every run, random ones included (hypothesis):
the same counts, sequence range and stream, the same messages marked done, and the same
positions left for the full path (errors, other shapes, odd subjects)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jsdata.client import _native, bulk

PREFIX = b"_INBOX.abc."
needs_c = pytest.mark.skipif(_native.pub_acks is None,
                             reason="the C extension is not built, or JSDATA_PURE_PYTHON=1")


def run(f: Any, subjects: list[bytes], datas: list[bytes], done: bytes) -> tuple[Any, bytes]:
    d = bytearray(done)
    return f(subjects, datas, len(PREFIX), d), bytes(d)


def test_a_run_of_plain_acks_errors_and_strays() -> None:
    subjects = [PREFIX + t for t in (b"1", b"2", b"3", b"abc", b"0", b"99", b"4", b"", b"5")]
    datas = [b'{"stream":"S","seq":10}', b'{"stream":"S","domain":"","seq":7,"duplicate":true}',
             b'{"error":{"code":503}}', b"x", b'{"stream":"S","seq":5}',
             b'{"stream":"S","seq":5}', b'{"stream":"S","seq":1234567890123456789}',
             b'{"stream":"S","seq":1}', b'{"stream":"T","domain":"hub","seq":3}']
    done = b"\x01" + bytes(9)  # message 0 was resolved already
    out, marked = run(bulk.pub_acks_py, subjects, datas, done)
    # 1, 2 and 5 settle (seq 10, 7 (a duplicate) and 3); the error, the non-digit subject,
    # the 19-digit seq and the bare prefix need the full path; 0 (done) and 99 (not ours)
    # are skipped
    assert out == (3, 1, 3, 10, b"S", [2, 3, 6, 7])
    assert marked == b"\x01\x01\x01\x00\x00\x01" + bytes(4)
    if _native.pub_acks is not None:
        assert run(_native.pub_acks, subjects, datas, done) == (out, marked)


TAIL = st.one_of(st.integers(0, 40).map(lambda i: b"%d" % i), st.sampled_from(
    [b"", b"x", b"1x", b"+1", b" 1", b"0001", b"1234567890123456789", b"\xd9\xa1"]))
ACK = st.builds(
    lambda stream, domain, seq, dup: (b'{"stream":"%s",' % stream
                                      + (b'"domain":"%s",' % domain if domain is not None else b"")
                                      + b'"seq":%s' % seq + (b',"duplicate":true' if dup else b"")
                                      + b"}"),
    st.sampled_from([b"S", b"ORDERS", b"", b'a"b', b"a\\b"]),
    st.one_of(st.none(), st.sampled_from([b"", b"hub", b'x"'])),
    st.one_of(st.integers(0, 10**18).map(lambda i: b"%d" % i),
              st.sampled_from([b"", b"01", b"-1", b"1.5", b"12345678901234567890"])),
    st.booleans())
DATA = st.one_of(ACK, ACK.map(lambda a: a + b" "), ACK.map(lambda a: a[:-1]),
                 st.sampled_from([b"", b'{"error":{"code":400,"description":"x"}}', b"{}"]),
                 st.binary(max_size=12))


@needs_c
@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(TAIL, DATA), max_size=30), st.binary(min_size=0, max_size=45))
def test_c_and_python_settle_alike(msgs: list[tuple[bytes, bytes]], done: bytes) -> None:
    done = bytes(b & 1 for b in done)
    subjects = [PREFIX + t for t, _ in msgs]
    datas = [d for _, d in msgs]
    assert run(_native.pub_acks, subjects, datas, done) == run(
        bulk.pub_acks_py, subjects, datas, done)
