"""Packed bulk messages: each message part in one growing buffer with int64 end offsets.

A bulk read receives tens of thousands of messages per pull. Keeping each subject, reply,
header block and payload as its own ``bytes`` object costs a Python object (and ~40 bytes)
per part and per message, and the decoder then joins them again. A :class:`PackedSink`
instead keeps, per part, one ``bytearray`` of the parts back to back plus one ``bytearray``
of native int64 offsets (``n + 1`` of them, starting at 0: part ``i`` is
``buf[off[i]:off[i + 1]]``), and the ``$JS.ACK`` reply subject of every message parsed into
four int64 (stream sequence, consumer sequence, timestamp in ns, pending; -1 when the reply
is not an ack subject). The C scan (``jsdata/_cparse.c``) appends to these buffers directly
from the socket read, with no Python object per message; :meth:`PackedSink.add` is the
pure-Python equivalent (the fallback parser and header-only messages use it) and produces
the same bytes. :meth:`PackedSink.take` hands the buffers over as a :class:`Packed` batch,
which the Arrow side (:mod:`jsdata.frames.packed`) wraps zero-copy.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from ._native import join as _cjoin  # C split/join of packed parts, chosen once (or None)
from ._native import split as _csplit

_Q = struct.Struct("=q")
_ACK4 = struct.Struct("=4q")
_NO_ACK = _ACK4.pack(-1, -1, -1, -1)
_ZERO = _Q.pack(0)

PARTS = ("subj", "rep", "hdr", "data")  # the four parts; each has an offsets buffer


_INT64_MAX = (1 << 63) - 1


def _dec(b: bytes) -> int:
    """A non-negative decimal that fits an int64, or -1 (as the C parser reads them)."""
    if 0 < len(b) <= 19 and b.isdigit():
        v = int(b)
        return v if v <= _INT64_MAX else -1
    return -1


def ack_fields(reply: bytes) -> bytes:
    """The packed (stream seq, consumer seq, timestamp ns, pending) of an ack reply subject:
    9 tokens, or 11 and more with domain and account hash; -1s for anything else."""
    if not reply.startswith(b"$JS.ACK."):
        return _NO_ACK
    t = reply.split(b".")
    k = len(t)
    if k > 16:
        return _NO_ACK
    b = 5 if k == 9 else 7 if k >= 11 else -1
    if b < 0:
        return _NO_ACK
    return _ACK4.pack(_dec(t[b]), _dec(t[b + 1]), _dec(t[b + 2]), _dec(t[b + 3]))


def _last(off: bytearray) -> int:
    return _Q.unpack_from(off, len(off) - 8)[0]  # type: ignore[no-any-return]


class Packed:
    """One batch of packed messages (what :meth:`PackedSink.take` returns): ``n`` messages;
    ``subj``/``soff``, ``rep``/``roff``, ``hdr``/``hoff``, ``data``/``doff`` the parts and
    their int64 offsets (``n + 1``, from 0; buffers may be longer than the last offset after
    :meth:`head`); ``acks`` 4 int64 per message."""

    __slots__ = ("n", "subj", "soff", "rep", "roff", "hdr", "hoff", "data", "doff", "acks")

    def __init__(self, n: int, subj: bytearray, soff: bytearray, rep: bytearray,
                 roff: bytearray, hdr: bytearray, hoff: bytearray, data: bytearray,
                 doff: bytearray, acks: bytearray) -> None:
        self.n = n
        self.subj, self.soff, self.rep, self.roff = subj, soff, rep, roff
        self.hdr, self.hoff, self.data, self.doff = hdr, hoff, data, doff
        self.acks = acks

    def __len__(self) -> int:
        return self.n

    def head(self, k: int) -> Packed:
        """The first ``k`` messages (the buffers are shared; only the offsets are cut)."""
        k = max(0, min(k, self.n))
        e = 8 * (k + 1)
        return Packed(k, self.subj, self.soff[:e], self.rep, self.roff[:e], self.hdr,
                      self.hoff[:e], self.data, self.doff[:e], self.acks[:32 * k])

    def nbytes(self) -> int:
        """Payload bytes of the batch."""
        return _last(self.doff)

    def parts(self, name: str, start: int = 0, stop: int | None = None) -> list[bytes]:
        """Messages ``start..stop-1`` of one part (``"subj"``, ``"rep"``, ``"hdr"``,
        ``"data"``) as a list of bytes objects (for code that takes one at a time)."""
        buf, off = getattr(self, name), getattr(self, name[0] + "off")
        stop = self.n if stop is None else stop
        if _csplit is not None:
            return _csplit(buf, off, start, stop)  # type: ignore[no-any-return]
        o = memoryview(off).cast("q")
        return [bytes(buf[o[i]:o[i + 1]]) for i in range(start, stop)]

    def joined(self, name: str, sep: bytes, start: int = 0, stop: int | None = None) -> bytes:
        """Messages ``start..stop-1`` of one part joined with ``sep`` in one copy."""
        buf, off = getattr(self, name), getattr(self, name[0] + "off")
        stop = self.n if stop is None else stop
        if _cjoin is not None:
            return _cjoin(buf, off, start, stop, sep)  # type: ignore[no-any-return]
        o = memoryview(off).cast("q")
        mv = memoryview(buf)
        return sep.join([mv[o[i]:o[i + 1]] for i in range(start, stop)])


class PackedSink:
    """The messages of one bulk subscription, packed (see the module docstring).

    The protocol parser appends each message with no per-message Python call (C) or through
    :meth:`add` (pure Python); header-only messages (statuses, heartbeats, or a stored
    message with an empty payload) go to ``on_control(subject, reply, hdr)`` instead, which
    may :meth:`add` them. ``on_batch()`` runs once after each parser pass that appended
    messages. :meth:`take` hands the buffers over and starts new ones: the parser only
    appends while the owner's coroutine is suspended, so ``take`` never races it.
    """

    packed = True  # tells the C scan to append to the buffers
    __slots__ = ("subj", "soff", "rep", "roff", "hdr", "hoff", "data", "doff", "acks",
                 "on_control", "on_batch")

    def __init__(self, on_control: Callable[[bytes, bytes, bytes], None],
                 on_batch: Callable[[], None]) -> None:
        self.on_control = on_control
        self.on_batch = on_batch
        self._reset()

    def _reset(self) -> None:
        self.subj, self.soff = bytearray(), bytearray(_ZERO)
        self.rep, self.roff = bytearray(), bytearray(_ZERO)
        self.hdr, self.hoff = bytearray(), bytearray(_ZERO)
        self.data, self.doff = bytearray(), bytearray(_ZERO)
        self.acks = bytearray()

    def __len__(self) -> int:
        return len(self.doff) // 8 - 1

    def cost(self) -> int:
        """Subject + reply + header + payload bytes of the messages held: what nats-server
        counts against a pull's ``max_bytes`` (:func:`jsdata.client._budget.pull_cost`)."""
        return len(self.subj) + len(self.rep) + len(self.hdr) + len(self.data)

    def add(self, subject: bytes, reply: bytes, hdr: bytes, data: bytes) -> None:
        """Append one message (what the C scan does, in Python)."""
        self.subj += subject
        self.soff += _Q.pack(len(self.subj))
        self.rep += reply
        self.roff += _Q.pack(len(self.rep))
        self.hdr += hdr
        self.hoff += _Q.pack(len(self.hdr))
        self.data += data
        self.doff += _Q.pack(len(self.data))
        self.acks += ack_fields(reply)

    def append(self, subject: bytes, reply: bytes, data: bytes, hdr: bytes) -> None:
        """A fast-path handler (``nc._fast``): one message, header-only ones to on_control."""
        if not data and hdr:
            self.on_control(subject, reply, hdr)
            return
        self.add(subject, reply, hdr, data)
        self.on_batch()

    def take(self) -> Packed:
        """The messages received so far, as one :class:`Packed` batch; starts new buffers."""
        out = Packed(len(self), self.subj, self.soff, self.rep, self.roff, self.hdr,
                     self.hoff, self.data, self.doff, self.acks)
        self._reset()
        return out
