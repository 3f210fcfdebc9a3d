"""Property-based tests (hypothesis) of the protocol parser (jsdata._parser.FastParser).

tests/test_parser.py checks one hand-built stream split at fixed sizes; here hypothesis
draws random MSG/HMSG frames (random subjects, sids, replies, header blocks, payloads that
contain CR, LF and CRLF, upper- and lower-case ops) interleaved with PING/PONG/+OK, splits
the stream at random byte boundaries and checks it parses to exactly the messages that were
framed, through each of the parser's three routes: nats-py's handlers, a fast callback and a
bulk sink. Part of the data tier (marker ``data``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jsdata.client._conn import BulkSink, Connection

pytestmark = pytest.mark.data

SETTINGS = settings(max_examples=80, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Recording(Connection):
    """A Connection whose slow-path callbacks record what the parser hands them."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[Any, ...]] = []

    async def _process_ping(self) -> None:  # type: ignore[override]
        self.events.append(("PING",))

    async def _process_pong(self) -> None:  # type: ignore[override]
        self.events.append(("PONG",))

    async def _process_msg(self, sid: int, subject: bytes, reply: bytes,  # type: ignore[override]
                           data: bytes, headers: bytes | None) -> None:
        if sid in self._fast:
            await super()._process_msg(sid, subject, reply, data, headers)  # type: ignore[arg-type]
            return
        self.events.append(("MSG", sid, subject, reply, data, headers or b""))


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-$",
                 min_size=1, max_size=12).map(str.encode)
subjects = st.lists(_token, min_size=1, max_size=5).map(b".".join)
_hvalue = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
header_blocks = st.one_of(
    st.just(b"NATS/1.0\r\n\r\n"),
    st.just(b"NATS/1.0 404 No Messages\r\n\r\n"),
    st.lists(st.tuples(_token, _hvalue), min_size=1, max_size=4).map(
        lambda kv: b"NATS/1.0\r\n" + b"".join(k + b": " + v.encode() + b"\r\n" for k, v in kv)
        + b"\r\n"),
)
payloads = st.one_of(
    st.binary(max_size=64),
    st.binary(min_size=1000, max_size=70_000),
    st.lists(st.sampled_from([b"\r\n", b"\r", b"\n", b"MSG x 1 2\r\n", b"PING\r\n", b"a"]),
             max_size=20).map(b"".join),
)


@st.composite
def frame(draw: Any) -> dict[str, Any]:
    """One MSG or HMSG, as a dict of its parts."""
    return {
        "subject": draw(subjects),
        "reply": draw(st.one_of(st.just(b""), subjects)),
        "hdr": draw(st.one_of(st.just(b""), header_blocks)),
        "data": draw(payloads),
        "lower": draw(st.booleans()),
    }


def wire(f: dict[str, Any], sid: int) -> bytes:
    hdr, data, reply = f["hdr"], f["data"], f["reply"]
    op = b"HMSG" if hdr else b"MSG"
    if f["lower"]:
        op = op.lower()
    sizes = b"%d %d" % (len(hdr), len(hdr) + len(data)) if hdr else b"%d" % len(data)
    parts = [op, f["subject"], b"%d" % sid] + ([reply] if reply else []) + [sizes]
    return b" ".join(parts) + b"\r\n" + hdr + data + b"\r\n"


@st.composite
def streams(draw: Any) -> tuple[list[Any], bytes, list[int]]:
    """(items, bytes, cut points): frames and control lines, and where to split them."""
    items = draw(st.lists(st.one_of(frame(), st.sampled_from(["PING", "PONG", "+OK"])),
                          min_size=1, max_size=25))
    data = b"".join(wire(i, 7) if isinstance(i, dict) else i.encode() + b"\r\n" for i in items)
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=40))))
    return items, data, cuts


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


async def feed(conn: Connection, chunks: list[bytes]) -> None:
    for c in chunks:
        await conn._ps.parse(c)


@SETTINGS
@given(streams())
def test_random_frames_split_anywhere_parse_to_the_same_messages(
        s: tuple[list[Any], bytes, list[int]]) -> None:
    items, data, cuts = s
    conn = Recording()
    asyncio.run(feed(conn, pieces(data, cuts)))
    want = [("MSG", 7, i["subject"], i["reply"], i["data"], i["hdr"]) if isinstance(i, dict)
            else (i,) for i in items if i != "+OK"]
    assert conn.events == want
    assert not conn._ps.buf and conn._ps._need == 0


@SETTINGS
@given(streams())
def test_random_frames_through_a_fast_callback(s: tuple[list[Any], bytes, list[int]]) -> None:
    items, data, cuts = s
    conn = Recording()
    got: list[tuple[bytes, bytes, bytes, bytes]] = []
    conn._fast[7] = lambda subj, reply, d, h: got.append((subj, reply, d, h))
    asyncio.run(feed(conn, pieces(data, cuts)))
    frames = [i for i in items if isinstance(i, dict)]
    assert got == [(f["subject"], f["reply"], f["data"], f["hdr"]) for f in frames]
    assert conn.events == [(i,) for i in items if i in ("PING", "PONG")]
    assert conn.stats["in_msgs"] == len(frames)
    # lower-case ops take nats-py's path, which counts payload and headers
    assert conn.stats["in_bytes"] >= sum(len(f["data"]) for f in frames)


@SETTINGS
@given(streams())
def test_random_frames_into_a_bulk_sink(s: tuple[list[Any], bytes, list[int]]) -> None:
    items, data, cuts = s
    conn = Recording()
    controls: list[tuple[bytes, bytes, bytes]] = []
    sink = BulkSink(lambda subj, reply, h: controls.append((subj, reply, h)), lambda: None)
    conn._fast[7] = sink.append
    conn._bulk[b"7"] = sink
    asyncio.run(feed(conn, pieces(data, cuts)))
    frames = [i for i in items if isinstance(i, dict)]
    # header-only messages (statuses, heartbeats) are control messages; the rest are data
    ctl = [f for f in frames if f["hdr"] and not f["data"]]
    msgs = [f for f in frames if not (f["hdr"] and not f["data"])]
    assert controls == [(f["subject"], f["reply"], f["hdr"]) for f in ctl]
    assert sink.datas == [f["data"] for f in msgs]
    assert sink.subjects == [f["subject"] for f in msgs]
    assert sink.replies == [f["reply"] for f in msgs]
    assert sink.hdrs == [f["hdr"] for f in msgs]
