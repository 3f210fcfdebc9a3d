"""Packed message batches (:class:`jsdata.client._packed.Packed`) as numpy and Arrow, zero-copy.

A bulk read's pulls arrive packed: each part (subject, reply, header block, payload) in one
buffer with int64 offsets, and the ack fields parsed into int64s. Here those buffers become
``large_binary`` / string Arrow arrays and numpy views without copying, and
:class:`PackedPayloads` presents a batch's payloads as the ``Sequence[bytes]`` a codec takes,
so the JSON codec can join them in one copy (:meth:`PackedPayloads.joined`) and other code
can still take them one at a time. pyarrow and numpy load with the reader, as for decode.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
import pyarrow as pa

from ..client._packed import Packed


def offsets(p: Packed, part: str) -> np.ndarray:
    """The ``n + 1`` int64 offsets of one part (``"subj"``, ``"rep"``, ``"hdr"``, ``"data"``)."""
    return np.frombuffer(getattr(p, part[0] + "off"), dtype=np.int64, count=p.n + 1)


def acks(p: Packed) -> np.ndarray:
    """(n, 4) int64: stream seq, consumer seq, timestamp ns, pending (-1: not an ack reply)."""
    return np.frombuffer(p.acks, dtype=np.int64, count=4 * p.n).reshape(p.n, 4)


def binary(p: Packed, part: str, start: int = 0, stop: int | None = None) -> pa.Array:
    """Messages ``start..stop-1`` of one part as a ``large_binary`` array over the buffer."""
    stop = p.n if stop is None else stop
    arr = pa.Array.from_buffers(pa.large_binary(), p.n, [
        None, pa.py_buffer(getattr(p, part[0] + "off")), pa.py_buffer(getattr(p, part))])
    return arr if (start, stop) == (0, p.n) else arr.slice(start, stop - start)


def text(p: Packed, part: str) -> pa.Array:
    """One part as a string array (UTF-8 checked, as ``cast`` does)."""
    return binary(p, part).cast(pa.string())


def first_bytes(p: Packed, part: str) -> np.ndarray:
    """The first byte of each message's part (-1 where the part is empty)."""
    off = offsets(p, part)
    buf = np.frombuffer(getattr(p, part), dtype=np.uint8)
    out = np.full(p.n, -1, dtype=np.int16)
    nonempty = off[1:] > off[:-1]
    out[nonempty] = buf[off[:-1][nonempty]]
    return out


def uniform(p: Packed, part: str) -> bytes | None:
    """The part, when every message has exactly the same one (e.g. the header block
    ``publish_dataframe`` writes on every row); None otherwise."""
    n = p.n
    if n == 0:
        return None
    off = offsets(p, part)
    k = int(off[1])
    if k * n != int(off[n]):
        return None
    lens = np.diff(off)
    if not bool(np.all(lens == k)):
        return None
    buf = np.frombuffer(getattr(p, part), dtype=np.uint8, count=k * n)
    if n > 1 and k and not np.array_equal(buf[k:], buf[:-k]):  # periodic in k: all equal
        return None
    return bytes(buf[:k])


class PackedPayloads(Sequence[bytes]):
    """The payloads ``start..stop-1`` of a packed batch as a ``Sequence[bytes]`` (a view:
    nothing is copied until a payload is asked for)."""

    __slots__ = ("p", "start", "stop")

    def __init__(self, p: Packed, start: int = 0, stop: int | None = None) -> None:
        self.p = p
        self.start = start
        self.stop = p.n if stop is None else stop

    def __len__(self) -> int:
        return self.stop - self.start

    @overload
    def __getitem__(self, i: int) -> bytes: ...

    @overload
    def __getitem__(self, i: slice) -> PackedPayloads: ...

    def __getitem__(self, i: int | slice) -> bytes | PackedPayloads:
        n = self.stop - self.start
        if isinstance(i, slice):
            a, b, step = i.indices(n)
            if step != 1:
                raise ValueError("PackedPayloads slices have step 1")
            return PackedPayloads(self.p, self.start + a, self.start + max(a, b))
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("payload index out of range")
        j = self.start + i
        return self.p.parts("data", j, j + 1)[0]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.p.parts("data", self.start, self.stop))

    def tolist(self) -> list[bytes]:
        """The payloads as a list of bytes objects."""
        return self.p.parts("data", self.start, self.stop)

    def joined(self, sep: bytes) -> bytes:
        """The payloads joined with ``sep``, in one copy."""
        return self.p.joined("data", sep, self.start, self.stop)

    def arrow(self) -> pa.Array:
        """The payloads as a ``large_binary`` array over the batch's buffer (zero-copy)."""
        return binary(self.p, "data", self.start, self.stop)


def buffers(payloads: Sequence[bytes]) -> tuple[Any, Any, int, int]:
    """(data, int64 offsets, start, stop) of the payloads, as the C row readers take them:
    the received buffer of a packed batch as it is, else the payloads joined."""
    if isinstance(payloads, PackedPayloads):
        p = payloads.p
        return p.data, p.doff, payloads.start, payloads.stop
    lens = np.fromiter(map(len, payloads), dtype=np.int64, count=len(payloads))
    off = np.zeros(len(payloads) + 1, dtype=np.int64)
    np.cumsum(lens, out=off[1:])
    return b"".join(payloads), off, 0, len(payloads)
