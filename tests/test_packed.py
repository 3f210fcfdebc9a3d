"""Packed bulk messages (jsdata/client/_packed.py, jsdata/frames/packed.py, the C scan's
packed mode): one buffer + int64 offsets per part and the ack fields parsed in bulk, the same
bytes from the C scan and from the pure-Python parser, and reads through them exact on both.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import jsdata
from jsdata.client import _packed, _parser
from jsdata.client._conn import Connection
from jsdata.client._packed import Packed, PackedSink, ack_fields
from jsdata.frames import packed as fpacked
from jsdata.frames.packed import PackedPayloads

IMPLS = ["native", "python"]


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The C hot path or the pure-Python fallback, for the unit tests below: the parser is
    built explicitly by :func:`packed_of`; for "python" the packed parts are also split and
    joined by the Python code (the module's reference to the C functions is cleared for the
    test). Whole reads through the process's choice run in the suite as usual, and the
    suite runs once with JSDATA_PURE_PYTHON=1."""
    if request.param == "native":
        if _parser.NativeParser.scan is None:
            pytest.skip("the C extension is not built, or JSDATA_PURE_PYTHON=1 rules it out")
    else:
        monkeypatch.setattr(_packed, "_cjoin", None)
        monkeypatch.setattr(_packed, "_csplit", None)
    return str(request.param)


def q4(*v: int) -> bytes:
    return struct.pack("=4q", *v)


@pytest.mark.parametrize(("reply", "want"), [
    (b"$JS.ACK.S.c.1.17.3.1796286537405789410.42", (17, 3, 1796286537405789410, 42)),
    (b"$JS.ACK.dom.hash.S.c.2.9.8.1700000000000000000.0.tok", (9, 8, 1700000000000000000, 0)),
    (b"$JS.ACK.dom.hash.S.c.2.9.8.1700000000000000000.0", (9, 8, 1700000000000000000, 0)),
    (b"$JS.ACK.S.c.1.17.3.9223372036854775807.0", (17, 3, 9223372036854775807, 0)),
    (b"$JS.ACK.S.c.1.17.3.9223372036854775808.0", (17, 3, -1, 0)),  # over int64
    (b"$JS.ACK.S.c.1.x.3.5.0", (-1, 3, 5, 0)),
    (b"$JS.ACK.S.c.1.2.3.4", (-1, -1, -1, -1)),  # 8 tokens
    (b"_INBOX.abc.1", (-1, -1, -1, -1)),
    (b"", (-1, -1, -1, -1)),
])
async def test_ack_fields_in_c_and_python(reply: bytes, want: tuple[int, ...]) -> None:
    assert ack_fields(reply) == q4(*want)
    if _parser.NativeParser.scan is None:
        pytest.skip("the C extension is not built, or JSDATA_PURE_PYTHON=1 rules it out")
    sink = PackedSink(lambda s, r, h: None, lambda: None)
    conn = Connection()
    conn._ps = _parser.NativeParser(conn)
    conn._bulk[b"5"] = sink
    frame = (b"MSG a.b 5 %s 2\r\nhi\r\n" % reply) if reply else b"MSG a.b 5 2\r\nhi\r\n"
    await conn._ps.parse(frame)
    p = sink.take()
    assert p.n == 1 and bytes(p.acks) == q4(*want)
    assert p.parts("rep") == [reply] and p.parts("data") == [b"hi"]


async def packed_of(data: bytes, native: bool, cut: int = 0) -> Packed:
    sink = PackedSink(lambda s, r, h: sink.add(s, r, h, b""), lambda: None)
    conn = Connection()
    if native and _parser.NativeParser.scan is None:
        pytest.skip("the C extension is not built, or JSDATA_PURE_PYTHON=1 rules it out")
    conn._ps = (_parser.NativeParser if native else _parser.PurePythonParser)(conn)
    conn._bulk[b"3"] = sink
    if cut:
        for i in range(0, len(data), cut):
            await conn._ps.parse(data[i:i + cut])
    else:
        await conn._ps.parse(data)
    return sink.take()


def frames(n: int) -> bytes:
    hdr = b"NATS/1.0\r\nJsdata-Schema: x\r\n\r\n"
    out = []
    for i in range(n):
        payload = b'{"i":%d,"s":"%s"}' % (i, b"x" * (i % 7)) if i % 5 else b""
        reply = b"$JS.ACK.S.c.1.%d.%d.%d.%d" % (100 + i, i + 1, 1700000000000000000 + i, n - i)
        h = hdr if i % 3 else b""
        if h or not payload:
            h = h or hdr
            out.append(b"HMSG s.%d 3 %s %d %d\r\n%s%s\r\n"
                       % (i, reply, len(h), len(h) + len(payload), h, payload))
        else:
            out.append(b"MSG s.%d 3 %s %d\r\n%s\r\n" % (i, reply, len(payload), payload))
    return b"".join(out)


@pytest.mark.parametrize("cut", [0, 1, 17, 4096])
async def test_c_scan_and_python_parser_pack_the_same_bytes(cut: int) -> None:
    data = frames(300)
    a = await packed_of(data, True, cut)
    b = await packed_of(data, False, cut)
    assert a.n == b.n == 300
    for name in Packed.__slots__[1:]:
        assert bytes(getattr(a, name)) == bytes(getattr(b, name)), name
    off = fpacked.offsets(a, "data")
    assert off[0] == 0 and off[-1] == len(a.data)
    ack = fpacked.acks(a)
    assert ack[:, 0].tolist() == [100 + i for i in range(300)]
    assert ack[:, 3].tolist() == [300 - i for i in range(300)]


async def test_packed_views_and_payloads(impl: str) -> None:
    p = await packed_of(frames(50), impl == "native")
    datas = p.parts("data")
    assert datas[0] == b"" and datas[1] == b'{"i":1,"s":"x"}'
    pl = PackedPayloads(p)
    assert len(pl) == 50 and list(pl) == datas and pl.tolist() == datas
    assert pl[1] == datas[1] and pl[-1] == datas[-1]
    assert pl[10:20].tolist() == datas[10:20] and len(pl[45:99]) == 5
    assert pl[10:20][2:4].tolist() == datas[12:14]
    with pytest.raises(IndexError):
        pl[50]  # noqa: B018
    assert pl.joined(b"\n") == b"\n".join(datas)
    assert pl[3:9].joined(b", ") == b", ".join(datas[3:9])
    arr = pl.arrow()
    assert arr.type == pa.large_binary() and arr.to_pylist() == datas
    assert pl[5:8].arrow().to_pylist() == datas[5:8]
    assert fpacked.text(p, "subj").to_pylist() == [f"s.{i}" for i in range(50)]
    assert fpacked.first_bytes(p, "data").tolist() == [
        -1 if not d else d[0] for d in datas]
    assert fpacked.uniform(p, "hdr") is None  # some messages have no header
    h = p.head(7)
    assert h.n == 7 and h.parts("data") == datas[:7] and PackedPayloads(h).arrow().to_pylist() \
        == datas[:7]
    assert fpacked.acks(h)[:, 1].tolist() == list(range(1, 8))


async def test_uniform_headers_are_seen_as_one() -> None:
    hdr = b"NATS/1.0\r\nK: v\r\n\r\n"
    data = b"".join(b"HMSG s 3 $JS.ACK.S.c.1.%d.%d.1.0 %d %d\r\n%s%d\r\n"
                    % (i, i, len(hdr), len(hdr) + len(b"%d" % i), hdr, i) for i in range(1, 40))
    p = await packed_of(data, _parser.NATIVE)
    assert fpacked.uniform(p, "hdr") == hdr
    odd = await packed_of(data.replace(b"K: v", b"K: w", 1), _parser.NATIVE)
    assert fpacked.uniform(odd, "hdr") is None


def test_reads_are_exact_on_packed_pulls(js: jsdata.JetStream, server: Any) -> None:
    """The consumer reader on packed pulls gives the same frame back (with this process's
    parser: the C scan, or pure Python in the suite's JSDATA_PURE_PYTHON=1 run)."""
    impl = "c" if _parser.NATIVE else "py"
    s = js.create_stream(name=f"PK_{impl}", subjects=[f"pk{impl}.>"], allow_direct=False)
    rng = np.random.default_rng(7)
    n = 3000
    df = pd.DataFrame({
        "i": np.arange(n, dtype=np.int64),
        "f": rng.random(n),
        "s": [f"v{i}\n\"é" if i % 4 else None for i in range(n)],
        "t": pd.date_range("2024-01-01", periods=n, freq="s", tz="UTC"),
    })
    js.publish_dataframe(f"pk{impl}.{{i}}", df.iloc[:n // 2], progress=False)
    for i in range(n // 2, n):  # plain JSON rows without headers, as other clients write
        sv = df["s"][i]  # pandas 3 stores the missing strings as NaN: other clients write null
        row = {"i": i, "f": float(df["f"][i]), "s": None if pd.isna(sv) else sv,
               "t": df["t"][i].isoformat()}
        js.publish(f"pk{impl}.{i}", json.dumps(row).encode())
    out = s.to_pandas(progress=False)
    assert len(out) == n
    assert out["i"].tolist() == list(range(n))
    assert out["_seq"].tolist() == list(range(1, n + 1))
    assert out["_subject"].tolist() == [f"pk{impl}.{i}" for i in range(n)]
    assert np.array_equal(out["f"].to_numpy(), df["f"].to_numpy())
    want_s = [x if isinstance(x, str) else None for x in df["s"]]  # NaN/None/NA: missing
    assert [x if isinstance(x, str) else None for x in out["s"]] == want_s
    assert out["s"].isna().tolist() == [x is None for x in want_s]
    assert (out["t"].dt.tz_convert("UTC") == df["t"]).all()
    assert out["_time"].is_monotonic_increasing
    first = s.get_msg(1)
    assert out["_time"][0].value == first.time.unix_nanos()
    # a range read cut inside a pull, and the same on the asyncio surface
    part = s.to_pandas(start=100, end=2100, batch_size=700, progress=False)
    assert part["i"].tolist() == list(range(99, 2100))

    async def aread() -> Any:
        async with await jsdata.aio.connect(server.url) as ajs:
            st = await ajs.stream(s.name)
            return await st.to_pandas(start=2500, progress=False)
    got = asyncio.run(aread())
    assert got["i"].tolist() == list(range(2499, n))
