"""A faster NATS protocol parser for the core connection.

nats-py's parser matches regexes and deletes each message from the front of its buffer
(a memmove per message), which caps a connection at a few hundred thousand small messages
per second. This parser walks each read by offset, splits control lines once, keeps only an
incomplete tail between reads, and hands messages of jsdata's fast subscriptions straight to
their callbacks (or, for bulk subscriptions, appends them to a :class:`BulkSink`'s lists
with no per-message call, or packs them into one buffer per part: :mod:`._packed`);
everything else goes to nats-py's own handlers unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from nats.errors import ProtocolError
from nats.protocol.parser import Parser

from ._native import NATIVE
from ._native import scan as _cscan

_CRLF = b"\r\n"
MAX_CONTROL_LINE = 4096

__all__ = ["NATIVE", "BulkSink", "FastParser", "NativeParser", "PurePythonParser", "SidMap"]


class SidMap(dict):  # type: ignore[type-arg]
    """``sid -> handler`` that mirrors itself in ``by_bytes``, keyed by the sid as the server
    echoes it (ASCII digits), so the parser needs no ``int()`` to route a message."""

    def __init__(self) -> None:
        super().__init__()
        self.by_bytes: dict[bytes, Any] = {}

    def __setitem__(self, sid: int, handler: Any) -> None:
        super().__setitem__(sid, handler)
        self.by_bytes[b"%d" % sid] = handler

    def __delitem__(self, sid: int) -> None:
        super().__delitem__(sid)
        self.by_bytes.pop(b"%d" % sid, None)

    def pop(self, sid: int, *default: Any) -> Any:  # type: ignore[override]
        self.by_bytes.pop(b"%d" % sid, None)
        return super().pop(sid, *default)

    def setdefault(self, sid: int, handler: Any = None) -> Any:  # type: ignore[override]
        if sid not in self:
            self[sid] = handler
        return self[sid]

    def update(self, *args: Any, **kw: Any) -> None:  # type: ignore[override]
        for k, v in dict(*args, **kw).items():
            self[k] = v

    def popitem(self) -> tuple[int, Any]:
        k, v = super().popitem()
        self.by_bytes.pop(b"%d" % k, None)
        return k, v

    def clear(self) -> None:
        super().clear()
        self.by_bytes.clear()


class BulkSink:
    """The messages of one bulk subscription, appended by the parser to four parallel lists.

    ``subjects``, ``replies``, ``hdrs`` (raw header blocks, ``b""`` if none) and ``datas``
    grow with no per-message Python call; the owner swaps in new lists to take them.
    Header-only messages (status, heartbeats, flow control, or a real message with an empty
    payload) go to ``on_control(subject, reply, hdr)`` instead. ``on_batch()`` runs once
    after each parser pass that appended messages (e.g. to wake a waiter once enough arrived).
    """

    packed = False  # a PackedSink (jsdata/client/_packed.py) is appended to as buffers
    __slots__ = ("subjects", "replies", "hdrs", "datas", "on_control", "on_batch")

    def __init__(self, on_control: Callable[[bytes, bytes, bytes], None],
                 on_batch: Callable[[], None]) -> None:
        self.subjects: list[bytes] = []
        self.replies: list[bytes] = []
        self.hdrs: list[bytes] = []
        self.datas: list[bytes] = []
        self.on_control = on_control
        self.on_batch = on_batch

    def append(self, subject: bytes, reply: bytes, data: bytes, hdr: bytes) -> None:
        """Add one message (as the parser does inline); a plain fast-path handler."""
        if not data and hdr:
            self.on_control(subject, reply, hdr)
            return
        self.subjects.append(subject)
        self.replies.append(reply)
        self.hdrs.append(hdr)
        self.datas.append(data)
        self.on_batch()


class PurePythonParser(Parser):
    """Drop-in replacement for ``nats.protocol.parser.Parser`` (same ``nc`` callbacks), all
    in Python. :class:`NativeParser` is the same parser with the C scan for runs of
    bulk-subscription frames; :data:`FastParser` is the one connections use.

    ``self.buf`` only ever holds the incomplete tail of the previous reads.
    """

    _need = 0  # bytes the frame at the front of ``buf`` needs in total before it is parsed
    # The C scan of runs of bulk-subscription frames (None: parse them in Python below).
    scan: Callable[..., tuple[int, int, int, int]] | None = None

    def reset(self) -> None:
        super().reset()
        self._need = 0

    async def parse(self, data: bytes = b"") -> None:  # type: ignore[override]
        buf = self.buf
        if buf:
            if data:
                buf.extend(data)
                if len(buf) < self._need:
                    return  # a large frame is still arriving: don't re-scan (and copy) it
            b = bytes(buf)
            del buf[:]
        elif data:
            b = data if type(data) is bytes else bytes(data)
        else:
            return
        self._need = 0
        n = len(b)
        pos = 0
        nc = self.nc
        fast = nc._fast.by_bytes
        bulk = nc._bulk
        find = b.find
        nmsgs = nbytes = 0
        hit = False
        # The list appends of the last bulk sink used. The sink's owner swaps its lists only
        # while this coroutine is suspended, so the cache is dropped after every await.
        cur: BulkSink | None = None
        add_s = add_r = add_h = add_d = None
        hlen_b0 = b""
        hlen0 = 0
        cscan = self.scan if bulk else None
        try:
            while pos < n:
                if cscan is not None and (b[pos] == 77 or b[pos] == 72):
                    # a run of bulk-subscription frames, in C; the rest falls through
                    p2, k, nb, need = cscan(b, pos, bulk)
                    if k:
                        nmsgs += k
                        nbytes += nb
                        hit = True
                    if need:
                        pos = p2
                        self._need = need
                        break
                    if p2 != pos:
                        pos = p2
                        continue
                end = find(10, pos) - 1  # memchr for LF is twice as fast as finding CRLF
                if end < pos or b[end] != 13:  # no LF yet, or a bare LF: look for CRLF
                    end = find(_CRLF, pos)
                    if end < 0:
                        if n - pos > MAX_CONTROL_LINE:
                            raise ProtocolError("nats: control line too long")
                        break
                c = b[pos]
                if c == 72 or c == 77:  # H / M: HMSG / MSG as servers send them
                    parts = b[pos:end].split()
                    k = len(parts)
                    op = parts[0]
                    try:
                        if op == b"HMSG":
                            if k == 6:
                                _, subject, sid_b, reply, hlen_b, size_b = parts
                            elif k == 5:
                                _, subject, sid_b, hlen_b, size_b = parts
                                reply = b""
                            else:
                                raise ProtocolError("nats: malformed HMSG")
                            if hlen_b == hlen_b0:  # the same header length again
                                hlen = hlen0
                            else:
                                hlen = hlen0 = int(hlen_b)
                                hlen_b0 = hlen_b
                            total = int(size_b)
                        elif op == b"MSG":
                            if k == 5:
                                _, subject, sid_b, reply, size_b = parts
                            elif k == 4:
                                _, subject, sid_b, size_b = parts
                                reply = b""
                            else:
                                raise ProtocolError("nats: malformed MSG")
                            hlen = 0
                            total = int(size_b)
                        else:
                            raise ProtocolError(f"nats: unknown protocol op {op[:16]!r}")
                    except ValueError:
                        raise ProtocolError("nats: malformed MSG") from None
                    if hlen < 0 or total < hlen:
                        raise ProtocolError("nats: malformed MSG (sizes)")
                    start = end + 2
                    stop = start + total
                    if stop + 2 > n:
                        self._need = stop + 2 - pos  # counted from the front of the tail
                        break  # wait for the rest of the payload
                    pos = stop + 2
                    sink = bulk.get(sid_b)
                    if sink is not None:
                        nmsgs += 1
                        if hlen == total and hlen:  # header only: a status or an empty payload
                            sink.on_control(subject, reply, b[start:stop])
                            cur = None  # it may have taken (swapped) the sink's lists
                            continue
                        if sink.packed:  # buffers + offsets (the C scan's job, in Python)
                            sink.add(subject, reply, b[start:start + hlen] if hlen else b"",
                                     b[start + hlen:stop])
                            nbytes += total - hlen
                            hit = True
                            continue
                        if sink is not cur:
                            cur = sink
                            add_s, add_r = sink.subjects.append, sink.replies.append
                            add_h, add_d = sink.hdrs.append, sink.datas.append
                        add_s(subject)  # type: ignore[misc]
                        add_r(reply)  # type: ignore[misc]
                        add_h(b[start:start + hlen] if hlen else b"")  # type: ignore[misc]
                        add_d(b[start + hlen:stop])  # type: ignore[misc]
                        nbytes += total - hlen
                        hit = True
                        continue
                    handler = fast.get(sid_b)
                    if handler is not None:
                        nmsgs += 1
                        nbytes += total - hlen
                        handler(subject, reply, b[start + hlen:stop],
                                b[start:start + hlen] if hlen else b"")
                    else:
                        try:
                            sid = int(sid_b)
                        except ValueError:
                            raise ProtocolError("nats: malformed MSG") from None
                        await nc._process_msg(sid, subject, reply, b[start + hlen:stop],
                                              b[start:start + hlen] if hlen else None)
                        cur = None
                        if self.buf is not buf:  # reset by a reconnect meanwhile
                            return
                    continue
                line = b[pos:end]
                pos = end + 2
                up = line[:4].upper()
                if up == b"PING":
                    await nc._process_ping()
                elif up == b"PONG":
                    await nc._process_pong()
                elif up == b"+OK":
                    pass
                elif up == b"INFO":
                    info: dict[str, Any] = json.loads(line[5:])
                    await nc._process_info(info)
                elif up == b"-ERR":
                    msg = line[4:].strip()
                    if msg.startswith(b"'") and msg.endswith(b"'"):
                        msg = msg[1:-1]
                    # original case: a permissions violation names a case-sensitive subject
                    await nc._process_err(msg.decode("utf-8", "replace"))
                elif up[:3] == b"MSG" or up == b"HMSG":  # lower-case ops: the careful path
                    nxt = await self._slow_msg(b, end - len(line), end)
                    if nxt < 0:
                        pos = end - len(line)  # keep the frame for the next read
                        break
                    pos = nxt
                else:
                    raise ProtocolError("nats: unknown protocol")
                cur = None
                if self.buf is not buf:
                    return
        finally:
            if nmsgs:
                stats = nc.stats
                stats["in_msgs"] += nmsgs
                stats["in_bytes"] += nbytes
            if hit:
                for sink in tuple(bulk.values()):
                    sink.on_batch()
            if self.buf is buf and pos < n:
                buf += b[pos:] if pos else b

    async def _slow_msg(self, b: bytes, pos: int, end: int) -> int:
        """Parse one MSG/HMSG whose op is not upper case; the next position, or -1 (with
        ``_need`` set) when its payload is incomplete."""
        parts = b[pos:end].split()
        op = parts[0].upper()
        try:
            if op == b"HMSG" and len(parts) in (5, 6):
                reply = parts[3] if len(parts) == 6 else b""
                subject, sid, hlen, total = parts[1], int(parts[2]), int(parts[-2]), int(parts[-1])
            elif op == b"MSG" and len(parts) in (4, 5):
                reply = parts[3] if len(parts) == 5 else b""
                subject, sid, hlen, total = parts[1], int(parts[2]), 0, int(parts[-1])
            else:
                raise ProtocolError("nats: malformed MSG")
        except ValueError:
            raise ProtocolError("nats: malformed MSG") from None
        if hlen < 0 or total < hlen:
            raise ProtocolError("nats: malformed MSG (sizes)")
        start = end + 2
        stop = start + total
        if stop + 2 > len(b):
            self._need = stop + 2 - pos
            return -1
        await self.nc._process_msg(sid, subject, reply, b[start + hlen:stop],
                                   b[start:start + hlen] if hlen else None)
        return stop + 2


class NativeParser(PurePythonParser):
    """:class:`PurePythonParser` with the C scan (``jsdata._cparse.scan``) for runs of
    bulk-subscription frames; only usable when the extension is built."""

    scan = staticmethod(_cscan) if _cscan is not None else None


# The parser every connection uses, chosen once (see :mod:`jsdata.client._native`).
FastParser: type[PurePythonParser] = NativeParser if NATIVE else PurePythonParser
