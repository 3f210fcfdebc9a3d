"""The protocol parser (jsdata.client._parser) and the connection's read loop.

Unit tests feed byte streams, split and merged at every boundary, to the parser of a real
(unconnected) ``Connection`` whose protocol callbacks are recorded; the server tests check
the same paths end to end: large frames, bulk subscriptions, PING/PONG and a reconnect.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import time
from typing import Any

import pytest
from nats.errors import ProtocolError

import jsdata
from jsdata.client import _parser
from jsdata.client._conn import READ_SIZE, BulkSink, Connection
from jsdata.server import EmbeddedServer
from tests.helpers import await_for, wait_for

Impl = type[_parser.PurePythonParser]


@pytest.fixture(params=["native", "python"])
def parser_impl(request: pytest.FixtureRequest) -> Impl:
    """The unit tests run on both parsers, each made explicitly: the one with the C scan
    (jsdata/_cparse.c) and the pure-Python one."""
    if request.param == "python":
        return _parser.PurePythonParser
    if _parser.NativeParser.scan is None:
        pytest.skip("the C extension is not built, or JSDATA_PURE_PYTHON=1 rules it out")
    return _parser.NativeParser


def test_native_extension_is_built() -> None:
    """pip install builds the C hot path with gcc; a failed build must not go unnoticed
    (set JSDATA_PURE_PYTHON_OK=1 where no compiler is expected, e.g. PyPy)."""
    if os.environ.get("JSDATA_PURE_PYTHON_OK") == "1":
        pytest.skip("pure Python accepted here")
    try:
        importlib.import_module("jsdata._cparse")
    except ImportError:
        pytest.fail("jsdata._cparse did not build: pip install -e . needs gcc")


def test_the_connection_parser_is_chosen_once_by_the_environment() -> None:
    """Connections use the C-scan parser unless JSDATA_PURE_PYTHON=1 was set at import."""
    pure = os.environ.get("JSDATA_PURE_PYTHON") == "1"
    assert _parser.NATIVE is (not pure and _parser.NativeParser.scan is not None)
    want = _parser.NativeParser if _parser.NATIVE else _parser.PurePythonParser
    assert type(Connection()._ps) is want


class Recording(Connection):
    """A Connection whose protocol callbacks record what the parser hands them."""

    def __init__(self, parser: type[_parser.PurePythonParser] | None = None) -> None:
        super().__init__()
        if parser is not None:
            self._ps = parser(self)
        self.events: list[tuple[Any, ...]] = []

    async def _process_ping(self) -> None:  # type: ignore[override]
        self.events.append(("PING",))

    async def _process_pong(self) -> None:  # type: ignore[override]
        self.events.append(("PONG",))

    async def _process_info(self, info: dict[str, Any],  # type: ignore[override]
                            initial_connection: bool = False) -> None:
        self.events.append(("INFO", info))

    async def _process_err(self, err_msg: str) -> None:  # type: ignore[override]
        self.events.append(("ERR", err_msg))

    async def _process_msg(self, sid: int, subject: bytes, reply: bytes,  # type: ignore[override]
                           data: bytes, headers: bytes | None) -> None:
        if sid in self._fast:
            await super()._process_msg(sid, subject, reply, data, headers)  # type: ignore[arg-type]
            return
        self.events.append(("MSG", sid, subject, reply, data, headers))


def frames() -> tuple[bytes, list[tuple[Any, ...]]]:
    """A protocol stream with every kind of line, and the events it should produce."""
    big = os.urandom(3 * 65536 + 17)
    hdr = b"NATS/1.0\r\nA: 1\r\n\r\n"
    status = b"NATS/1.0 404 No Messages\r\n\r\n"
    parts = [
        b'INFO {"server_id":"x","max_payload":1048576}\r\n',
        b"MSG a.b 1 5\r\nhello\r\n",
        b"MSG a.c 1 _INBOX.r 0\r\n\r\n",
        b"PING\r\n",
        b"HMSG h.s 1 reply.x %d %d\r\n%sdata\r\n" % (len(hdr), len(hdr) + 4, hdr),
        b"HMSG h.t 1 %d %d\r\n%s\r\n" % (len(status), len(status), status),
        b"+OK\r\n",
        b"MSG big 1 %d\r\n%s\r\n" % (len(big), big),
        b"MSG crlf 1 6\r\na\r\nb\r\n\r\n",  # CRLF inside a payload
        b"PONG\r\n",
        b"-ERR 'Permissions Violation'\r\n",
        b"msg low 1 2\r\nhi\r\n",  # lower-case op: still accepted
    ]
    want = [
        ("INFO", {"server_id": "x", "max_payload": 1048576}),
        ("MSG", 1, b"a.b", b"", b"hello", None),
        ("MSG", 1, b"a.c", b"_INBOX.r", b"", None),
        ("PING",),
        ("MSG", 1, b"h.s", b"reply.x", b"data", hdr),
        ("MSG", 1, b"h.t", b"", b"", status),
        ("MSG", 1, b"big", b"", big, None),
        ("MSG", 1, b"crlf", b"", b"a\r\nb\r\n", None),
        ("PONG",),
        ("ERR", "Permissions Violation"),  # case kept: the subject in it is case-sensitive
        ("MSG", 1, b"low", b"", b"hi", None),
    ]
    return b"".join(parts), want


async def feed(conn: Connection, data: bytes, sizes: list[int]) -> None:
    i = k = 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        await conn._ps.parse(data[i:i + n])
        i += n
        k += 1


@pytest.mark.parametrize("sizes", [[1 << 30], [1], [2], [7, 1, 13], [4096], [65536, 3]],
                         ids=["whole", "bytewise", "pairs", "ragged", "4k", "64k"])
async def test_split_and_merged_frames(sizes: list[int], parser_impl: Impl) -> None:
    data, want = frames()
    conn = Recording(parser_impl)
    await feed(conn, data, sizes)
    assert conn.events == want
    assert not conn._ps.buf  # nothing left over


async def test_two_streams_in_one_read_and_stats(parser_impl: Impl) -> None:
    data, want = frames()
    conn = Recording(parser_impl)
    await conn._ps.parse(data + data)
    assert conn.events == want + want


async def test_fast_handler_routing_and_stats(parser_impl: Impl) -> None:
    conn = Recording(parser_impl)
    got: list[tuple[bytes, bytes, bytes, bytes]] = []
    conn._fast[7] = lambda s, r, d, h: got.append((s, r, d, h))
    hdr = b"NATS/1.0\r\nX: y\r\n\r\n"
    data = (b"MSG f.a 7 r 3\r\nabc\r\nMSG other 8 2\r\nzz\r\n"
            b"HMSG f.b 7 %d %d\r\n%sxy\r\n" % (len(hdr), len(hdr) + 2, hdr))
    await feed(conn, data, [5])
    assert got == [(b"f.a", b"r", b"abc", b""), (b"f.b", b"", b"xy", hdr)]
    assert conn.events == [("MSG", 8, b"other", b"", b"zz", None)]
    assert conn.stats["in_msgs"] == 2 and conn.stats["in_bytes"] == 5
    conn._fast.pop(7)
    await conn._ps.parse(b"MSG f.c 7 1\r\nq\r\n")
    assert conn.events[-1] == ("MSG", 7, b"f.c", b"", b"q", None)  # no longer fast


async def test_bulk_sink_lists_control_and_batches(parser_impl: Impl) -> None:
    conn = Recording(parser_impl)
    controls: list[tuple[bytes, bytes, bytes]] = []
    batches: list[int] = []
    sink = BulkSink(lambda s, r, h: controls.append((s, r, h)),
                    lambda: batches.append(len(sink.datas)))
    conn._fast[3] = sink.append
    conn._bulk[b"3"] = sink
    hdr = b"NATS/1.0\r\nContent-Type: application/json\r\n\r\n"
    st = b"NATS/1.0 408 Request Timeout\r\n\r\n"
    msgs = b"".join(b"HMSG s.%d 3 $JS.ACK.x.%d %d %d\r\n%s{\"i\":%d}\r\n"
                    % (i, i, len(hdr), len(hdr) + len(b'{"i":%d}' % i), hdr, i)
                    for i in range(50))
    data = (msgs + b"MSG plain 3 r 2\r\nok\r\n" + b"PING\r\n"
            + b"HMSG s.end 3 %d %d\r\n%s\r\n" % (len(st), len(st), st))
    await feed(conn, data, [100, 33])
    assert sink.datas == [b'{"i":%d}' % i for i in range(50)] + [b"ok"]
    assert sink.subjects == [b"s.%d" % i for i in range(50)] + [b"plain"]
    assert sink.replies == [b"$JS.ACK.x.%d" % i for i in range(50)] + [b"r"]
    assert sink.hdrs == [hdr] * 50 + [b""]
    assert controls == [(b"s.end", b"", st)]
    assert conn.events == [("PING",)]
    assert batches and batches[-1] == 51 and batches == sorted(batches)
    # the lists can be swapped between reads; the parser appends to the new ones
    sink.datas, sink.subjects, sink.replies, sink.hdrs = [], [], [], []
    await conn._ps.parse(b"MSG n 3 r 1\r\nz\r\n")
    assert sink.datas == [b"z"] and sink.hdrs == [b""]
    # a message for a bulk sid that takes the careful path reaches the sink too
    await conn._ps.parse(b"msg m 3 r 1\r\ny\r\n")
    assert sink.datas == [b"z", b"y"]


def bulk_frames(seed: int) -> tuple[bytes, list[tuple[bytes, bytes, bytes, bytes]],
                                  list[tuple[Any, ...]], list[bytes]]:
    """Random runs of bulk frames (MSG/HMSG, with and without reply, empty payloads, CRLF in
    payloads, tabs and repeated spaces between tokens) mixed with other lines: the stream,
    the sink's messages, the other events and the controls it should produce."""
    import random
    rnd = random.Random(seed)
    parts: list[bytes] = []
    msgs: list[tuple[bytes, bytes, bytes, bytes]] = []
    events: list[tuple[Any, ...]] = []
    controls: list[bytes] = []
    for i in range(400):
        r = rnd.random()
        subj = b"s.%d" % i
        reply = rnd.choice([b"", b"$JS.ACK.S.c.1.%d.%d.1700000000000000000.0" % (i, i)])
        sp = rnd.choice([b" ", b"  ", b"\t"])
        payload = rnd.choice([b"", b"x", b"a\r\nb", os.urandom(rnd.randrange(0, 3000))])
        if r < 0.45:
            mid = sp + reply if reply else b""
            parts.append(b"MSG " + subj + sp + b"9" + mid + sp + b"%d\r\n" % len(payload)
                         + payload + b"\r\n")
            msgs.append((subj, reply, b"", payload))
        elif r < 0.85:
            hdr = b"NATS/1.0\r\nK: %d\r\n\r\n" % i
            mid = b" " + reply if reply else b""
            parts.append(b"HMSG %s 9%s %d %d\r\n%s%s\r\n"
                         % (subj, mid, len(hdr), len(hdr) + len(payload), hdr, payload))
            if payload:
                msgs.append((subj, reply, hdr, payload))
            else:  # headers and no payload: the sink's on_control decides (status or not)
                controls.append(hdr)
        elif r < 0.9:
            st = b"NATS/1.0 100 Idle Heartbeat\r\n\r\n"
            parts.append(b"HMSG %s 9 %d %d\r\n%s\r\n" % (subj, len(st), len(st), st))
            controls.append(st)
        elif r < 0.95:
            parts.append(b"MSG other 4 %d\r\n%s\r\n" % (len(payload), payload))
            events.append(("MSG", 4, b"other", b"", payload, None))
        else:
            parts.append(b"PING\r\n")
            events.append(("PING",))
    return b"".join(parts), msgs, events, controls


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("sizes", [[1 << 30], [1], [7, 1, 13], [4096], [1500, 65536]],
                         ids=["whole", "bytewise", "ragged", "4k", "mtu"])
async def test_bulk_runs_split_at_every_boundary(seed: int, sizes: list[int],
                                                 parser_impl: Impl) -> None:
    data, msgs, events, controls = bulk_frames(seed)
    conn = Recording(parser_impl)
    got_controls: list[bytes] = []
    sink = BulkSink(lambda s, r, h: got_controls.append(h), lambda: None)
    conn._fast[9] = sink.append
    conn._bulk[b"9"] = sink
    await feed(conn, data, sizes)
    assert list(zip(sink.subjects, sink.replies, sink.hdrs, sink.datas, strict=True)) == msgs
    assert conn.events == events
    assert got_controls == controls
    assert conn.stats["in_msgs"] == len(msgs) + len(controls)
    assert not conn._ps.buf


@pytest.mark.parametrize("bad", [b"MSG a 9 x\r\nabc\r\n", b"MSG a 9 1 2 3 4\r\nab\r\n",
                                 b"HMSG a 9 5 3\r\nabc\r\n", b"HMSG a 9 -1 3\r\nabc\r\n"])
async def test_malformed_bulk_frames_raise(bad: bytes, parser_impl: Impl) -> None:
    conn = Recording(parser_impl)
    sink = BulkSink(lambda s, r, h: None, lambda: None)
    conn._bulk[b"9"] = sink
    with pytest.raises(ProtocolError):
        await conn._ps.parse(bad)
    assert sink.datas == []


async def test_large_frame_in_small_pieces_is_not_rescanned(parser_impl: Impl) -> None:
    conn = Recording(parser_impl)
    payload = os.urandom(5 << 20)
    data = b"MSG big 1 %d\r\n%s\r\nPING\r\n" % (len(payload), payload)
    await conn._ps.parse(data[:100])
    assert conn._ps._need == len(data) - len(b"PING\r\n")
    for i in range(100, len(data), 8192):
        await conn._ps.parse(data[i:i + 8192])
    assert conn.events == [("MSG", 1, b"big", b"", payload, None), ("PING",)]
    assert conn._ps._need == 0 and not conn._ps.buf


async def test_partial_control_lines_and_bare_lf(parser_impl: Impl) -> None:
    conn = Recording(parser_impl)
    for piece in (b"PI", b"NG\r", b"\n", b"MSG a 1 1", b"\r\nx", b"\r", b"\nPO", b"NG\r\n"):
        await conn._ps.parse(piece)
    assert conn.events == [("PING",), ("MSG", 1, b"a", b"", b"x", None), ("PONG",)]
    with pytest.raises(ProtocolError):
        await Recording(parser_impl)._ps.parse(b"PI\nNG\r\n")  # a bare LF is not a line end


@pytest.mark.parametrize("data", [b"FOO bar\r\n", b"MSG a 1\r\n", b"MSG a x 2\r\nhi\r\n",
                                  b"HMSG a 1 r x 3\r\nabc\r\n", b"MSG " + b"a" * 5000])
async def test_protocol_errors(data: bytes, parser_impl: Impl) -> None:
    with pytest.raises(ProtocolError):
        await Recording(parser_impl)._ps.parse(data)


async def test_reset_mid_frame_drops_the_partial_frame(parser_impl: Impl) -> None:
    conn = Recording(parser_impl)
    await conn._ps.parse(b"MSG a 1 10\r\nhello")
    assert conn._ps.buf and conn._ps._need
    conn._ps.reset()  # what nats-py does on reconnect
    assert not conn._ps.buf and conn._ps._need == 0
    await conn._ps.parse(b"MSG b 1 2\r\nok\r\n")
    assert conn.events == [("MSG", 1, b"b", b"", b"ok", None)]


async def test_reset_during_a_callback_stops_the_pass(parser_impl: Impl) -> None:
    conn = Recording(parser_impl)

    async def ping() -> None:
        conn.events.append(("PING",))
        conn._ps.reset()

    conn._process_ping = ping  # type: ignore[method-assign]
    await conn._ps.parse(b"PING\r\nMSG a 1 2\r\nzz\r\nMSG b 1 4\r\nzz")
    assert conn.events == [("PING",)]
    assert not conn._ps.buf  # the rest belonged to the old connection


# ---------------------------------------------------------------------------------------------
# real servers

async def test_read_loop_large_and_bulk_messages(ajs: Any) -> None:
    nc = ajs.nc
    reader = nc._transport._io_reader
    assert reader._limit >= READ_SIZE
    got: list[bytes] = []
    done = asyncio.get_running_loop().create_future()

    def on(s: bytes, r: bytes, d: bytes, h: bytes) -> None:
        got.append(d)
        if len(got) == 4 and not done.done():
            done.set_result(None)

    sub = await nc.fast_subscribe("big.>", on)
    seen: list[int] = []
    sink = BulkSink(lambda s, r, h: None, lambda: seen.append(len(sink.datas)))
    bsub = await nc.fast_subscribe_bulk("bulk.x", sink)
    payloads = [os.urandom(n) for n in (1, 900_000, 1 << 20, 0)]
    for p in payloads:
        await nc.publish_raw("big.m", "", p)
    for i in range(5000):
        await nc.publish_raw("bulk.x", f"r.{i}", b"%d" % i, b"NATS/1.0\r\nK: v\r\n\r\n")
    await nc.flush()
    await asyncio.wait_for(done, 10)
    await await_for(lambda: len(sink.datas) >= 5000, timeout=30, what="every bulk message")
    assert got == payloads
    assert sink.datas == [b"%d" % i for i in range(5000)]
    assert sink.replies[-1] == b"r.4999" and sink.subjects[0] == b"bulk.x"
    assert seen[-1] == 5000
    await nc.fast_unsubscribe(bsub)
    await nc.fast_unsubscribe(sub)
    assert not nc._bulk and sub._id not in nc._fast


def test_read_after_reconnect(server: EmbeddedServer, js: jsdata.JetStream) -> None:
    s = js.create_stream(name="P", subjects=["P.>"])
    for i in range(3000):
        js.publish_async("P.x", b'{"i": %d}' % i)
    js.publish_async_complete()
    assert list(s.to_pandas(progress=False)["i"]) == list(range(3000))
    server.restart()
    wait_for(lambda: js.nc.is_connected, timeout=30, what="the reconnect")
    df = None
    deadline = time.monotonic() + 30
    while df is None:  # the stream may still be recovering right after the reconnect
        try:
            df = s.to_pandas(progress=False)
        except jsdata.errors.JetStreamError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert list(df["i"]) == list(range(3000))
