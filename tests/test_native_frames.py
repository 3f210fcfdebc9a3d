"""The C batch formatter (jsdata._cparse.pubs) writes exactly the PUB/HPUB commands the
Python formatter (bulk.format_pubs_py) writes, for every mix of one/many subjects and header
blocks; and a bulk publish stores every message, byte for byte, on a real server, both in
this process (the formatter chosen at import) and in one started with JSDATA_PURE_PYTHON=1
(the pure-Python parser and formatter)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap

import pytest

import jsdata
from jsdata.client import bulk as publish
from jsdata.frames import json_columns

native = pytest.mark.skipif(publish.format_pubs_c is None, reason="jsdata._cparse not built")


def _python(subjects, prefix, start, payloads, hdrs) -> bytes:  # type: ignore[no-untyped-def]
    """The commands one by one, as the protocol spells them."""
    out = []
    for i, p in enumerate(payloads):
        s = (subjects if isinstance(subjects, str) else subjects[i]).encode()
        h = hdrs if isinstance(hdrs, bytes) else hdrs[i]
        out.append(publish._HPUB % (s, prefix, start + i, len(h), len(h) + len(p), h, p) if h
                   else publish._PUB % (s, prefix, start + i, len(p), p))
    return b"".join(out)


@pytest.mark.parametrize("impl", ["c", "py"])
@pytest.mark.parametrize("seed", range(20))
def test_same_bytes_as_python(seed: int, impl: str) -> None:
    fmt = publish.format_pubs_py if impl == "py" else publish.format_pubs_c
    if fmt is None:
        pytest.skip("jsdata._cparse not built")
    rnd = random.Random(seed)
    n = rnd.randrange(0, 300)
    payloads = [os.urandom(rnd.choice([0, 1, 9, 10, 99, 100, 1000, 4096])) for _ in range(n)]
    many = rnd.random() < 0.5
    subjects = ([f"orders.{rnd.choice(['eu', 'üs', 'x' * 50])}.{i}" for i in range(n)]
                if many else "orders.one")
    hdr_kind = rnd.randrange(3)
    hdrs: bytes | list[bytes]
    if hdr_kind == 0:
        hdrs = b""
    elif hdr_kind == 1:
        hdrs = b"NATS/1.0\r\nNats-Msg-Id: x\r\n\r\n"
    else:
        hdrs = [rnd.choice([b"", b"NATS/1.0\r\nK: %d\r\n\r\n" % i]) for i in range(n)]
    start = rnd.choice([0, 1, 9, 10, 999_999, 10**12])
    prefix = b"_INBOX.abc."
    assert fmt(subjects, prefix, start, payloads, hdrs) == _python(
        subjects, prefix, start, payloads, hdrs)


@native
def test_bad_input_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="payload 1"):
        publish.format_pubs_c("a", b"p.", 0, [b"x", "not bytes"], b"")
    with pytest.raises(ValueError, match="fewer subjects"):
        publish.format_pubs_c(["a"], b"p.", 0, [b"x", b"y"], b"")


def test_bulk_publish_round_trip(js: jsdata.JetStream) -> None:
    _round_trip(js, "NF")
    _round_trip(js, "NFM", codec="msgpack")
    pure = os.environ.get("JSDATA_PURE_PYTHON") == "1" or publish.format_pubs_c is None
    assert (publish.format_pubs is publish.format_pubs_py) is pure


def test_bulk_publish_round_trip_pure_python(server) -> None:  # type: ignore[no-untyped-def]
    """A process started with JSDATA_PURE_PYTHON=1 parses and formats in Python only, and
    publishes and reads back the same frame."""
    code = textwrap.dedent(f"""
        import jsdata
        from jsdata.client import _parser, bulk
        from jsdata.frames import json_columns, msgpack_columns
        from tests.test_native_frames import _round_trip
        assert not _parser.NATIVE and bulk.format_pubs is bulk.format_pubs_py
        assert msgpack_columns.columns_c is None  # msgpack rows decoded one by one
        assert json_columns.columns_c is None  # JSON rows read by pyarrow only
        with jsdata.connect({server.url!r}) as js:
            assert type(js.nc._ps) is _parser.PurePythonParser
            _round_trip(js, "NFPY")
            _round_trip(js, "NFPYM", codec="msgpack")
        print("ok")
    """)
    env = {**os.environ, "JSDATA_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def _round_trip(js: jsdata.JetStream, name: str, codec: str = "json") -> None:
    import pandas as pd
    s = js.create_stream(name=name, subjects=[f"{name}.>"])
    n = 5000
    df = pd.DataFrame({"id": range(n), "region": [["eu", "us", "ap"][i % 3] for i in range(n)],
                       "blob": ["é" * (i % 50) for i in range(n)]})
    r = js.publish_dataframe(name + ".{region}", df, msg_id="{id}", codec=codec,
                             progress=False)
    assert r.rows == n
    back = s.to_pandas(metadata=("subject",), progress=False)
    assert back["id"].tolist() == list(range(n))
    assert back["_subject"].tolist() == [f"{name}.{x}" for x in df["region"]]
    assert back["blob"].tolist() == df["blob"].tolist()
    assert s.get_msg(123).headers.get("Nats-Msg-Id") == "122"


def _messy_events(n: int, seed: int) -> list[bytes]:
    """JSON events as other clients send them: keys in any order and some missing, numbers
    of every spelling (ints past int64 too), escapes, nested lists and objects (some more
    deeply), ISO date strings, blank space, and now and then a row of another shape."""
    import json
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        ev: dict = {"id": i}
        if rnd.random() < 0.9:
            ev["price"] = rnd.choice([rnd.random() * 1000, rnd.randint(-5, 5), 1e-7, 2.5e300])
        if rnd.random() < 0.8:
            ev["name"] = rnd.choice(["plain", "é☃😀", 'q"uote\\', "tab\there", "", "x" * 300])
        if rnd.random() < 0.5:
            ev["tags"] = [rnd.choice(["a", "b", None]) for _ in range(rnd.randint(0, 3))]
            if ev["tags"] and ev["tags"][0] is None:
                ev["tags"][0] = "first"  # pyarrow mis-reads leading nulls (see test_json_columns)
        if rnd.random() < 0.5:
            ev["attrs"] = {"k": rnd.randint(0, 9), "score": rnd.random()}
        if rnd.random() < 0.1:
            ev["deep"] = {"xs": [1, 2], "more": {"z": True}}
        if rnd.random() < 0.2:
            ev["big"] = rnd.choice([2**63 + rnd.randint(0, 1000), 7])
        if rnd.random() < 0.0004:  # a batch with one: pyarrow reads it (timestamps)
            ev["when"] = f"2024-05-0{rnd.randint(1, 9)}T10:00:00Z"
        text = json.dumps(ev, ensure_ascii=rnd.random() < 0.5)
        if rnd.random() < 0.1:
            text = " " + text.replace(",", ", ").replace(":", " : ") + "\n"
        out.append(text.encode())
    return out


def test_messy_json_reads_the_same_in_c_and_in_pure_python(js: jsdata.JetStream,
                                                           server) -> None:  # type: ignore[no-untyped-def]
    """A stream of messy JSON events (as other clients send them) reads into the same
    Arrow table with the C JSON reader as in a process with JSDATA_PURE_PYTHON=1, where
    pyarrow reads every batch."""
    import pyarrow as pa
    s = js.create_stream(name="MESSY", subjects=["messy.>"])
    events = _messy_events(6000, seed=7)
    for i, ev in enumerate(events):
        js.publish_async(f"messy.{i % 3}", ev)
    js.publish_async_complete(timeout=60)
    from jsdata.frames import codec
    seen: list[bool] = []
    c_reader = codec.objects_to_table

    def counted(payloads, hints=None):  # type: ignore[no-untyped-def]
        t = c_reader(payloads, hints)
        seen.append(t is not None)
        return t

    codec.objects_to_table = counted
    try:
        here = s.to_arrow(batch_size=1000, progress=False)
    finally:
        codec.objects_to_table = c_reader
    if json_columns.columns_c is not None:  # batches of both kinds in one read
        assert any(seen) and not all(seen), seen
    code = textwrap.dedent(f"""
        import sys
        import pyarrow as pa
        import jsdata
        from jsdata.frames import json_columns
        assert json_columns.columns_c is None
        with jsdata.connect({server.url!r}) as js:
            t = js.stream("MESSY").to_arrow(batch_size=1000, progress=False)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, t.schema) as w:
            w.write_table(t)
        sys.stdout.buffer.write(sink.getvalue().to_pybytes())
    """)
    env = {**os.environ, "JSDATA_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr.decode()
    there = pa.ipc.open_stream(out.stdout).read_all()
    assert here.num_rows == there.num_rows == 6000
    assert here.schema == there.schema
    assert here.equals(there)
