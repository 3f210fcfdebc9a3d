"""Streaming object files: the chunked writer and the seekable, chunk-indexed reader.

Objects are stored as the official clients store them: chunk messages on
``$O.<bucket>.C.<nuid>`` and one meta message per name. The writer
(:class:`ObjectWriter`) hashes and publishes chunks as they fill, pipelined with a bounded
number of unacknowledged chunks, so memory stays at a few chunks whatever the object's size;
only :meth:`ObjectWriter.close` publishes the meta message, so an aborted write leaves
nothing visible.

The reader (:class:`ObjectResult`) fetches chunks with batch direct gets (nats-server 2.11+):
sequential reads stream whole batches, while a seek to an unread position first builds an
index of the object's chunk sequences from a headers-only scan, so a seek plus a small read
fetches only the chunks that hold those bytes. Every chunk is checked against the object's
meta (its position among the object's chunks comes with the reply), and a full sequential
read verifies the SHA-256 digest. :attr:`ObjectResult.fetched_chunks` counts the chunks
downloaded.

The blocking API wraps these in ``objects/_blocking.py``: real :class:`io.BufferedIOBase`
files (what pandas and pyarrow expect) that run the fetches and publishes of these async
objects on the connection's loop thread.
"""

from __future__ import annotations

import asyncio
import bisect
import io
from collections import OrderedDict
from functools import partial
from typing import TYPE_CHECKING, Any

from .. import errors
from ..client._budget import direct_batch_budget
from ..client.direct import BatchGetter
from ..client.headers import header_int, header_value
from ..client.resume import ConnWatch
from .layout import (
    MAX_BATCH_BYTES,
    ObjectInfo,
    Sha256,
    chunk_size_of,
    chunk_subject,
    decode_digest,
)

if TYPE_CHECKING:
    from ..client.context import Context
    from .layout import Bucket

__all__ = ["ObjectResult"]

_BIG_READ = 4 * 1024 * 1024


# ---------------------------------------------------------------------------------------------
# batch direct get


async def direct_batch(js: Context, stream: str, request: dict[str, Any],
                       timeout: float) -> tuple[list[tuple[int, int | None, bytes]], int | None]:
    """One batch direct get: ``([(seq, num_pending, data), ...], num_pending_at_end)``.

    ``num_pending_at_end`` comes from the closing 204 EOB status (the server always ends a
    batch with it, also when ``max_bytes`` ended the batch: see :mod:`jsdata.client._budget`); it
    is ``None`` when nothing matched (404). ``timeout`` bounds the wait for each reply. The
    core's batch direct get loop (:class:`~jsdata.client.direct.BatchGetter`) sends a request
    lost with the connection (or left unanswered) again, to a fresh inbox, for the messages
    after the last one received; :class:`~jsdata.errors.ReadInterruptedError` when the
    server does not come back.
    """
    first = int(request.get("seq") or 1)
    getter: BatchGetter | None = None

    def interrupted(reason: str) -> errors.ReadInterruptedError:
        got = getter.received if getter is not None else []
        last = header_int(got[-1], b"Nats-Sequence") if got else first - 1
        read = f"sequences {first}..{last} were read" if got else "nothing was read"
        return errors.ReadInterruptedError(
            f"direct get from {stream!r} was interrupted: {reason}; {read}; read on from "
            f"sequence {last + 1}", stream=stream, first_seq=first, last_seq=last)

    watch = ConnWatch(js, interrupted)
    try:
        getter = BatchGetter(js, stream, gone=errors.BucketNotFoundError, watch=watch)
        async with getter:
            hdrs, datas, code, _, end_hdr = await getter.get(request, timeout)
    finally:
        watch.stop()
    out = [(header_int(h, b"Nats-Sequence"), _pending(h), d)
           for h, d in zip(hdrs, datas, strict=True)]
    if code == 404:
        return out, (0 if out else None)  # nothing (more) matched
    return out, header_int(end_hdr, b"Nats-Num-Pending")


def _pending(hdr: bytes) -> int | None:
    v = header_value(hdr, b"Nats-Num-Pending")
    return int(v) if v.isdigit() else None


# ---------------------------------------------------------------------------------------------
# reader


class ObjectResult:
    """A seekable binary file over one object (``await r.read(n)``, ``r.seek(pos)``, ...).

    ``info`` is the object's :class:`~jsdata.ObjectInfo`; ``fetched_chunks`` counts the
    chunks downloaded so far and ``requests`` the fetch requests made. Iterating gives lines
    (as io files do); :meth:`iter_chunks` gives the stored chunks. A read that reaches the end
    after reading every chunk in order verifies the digest (DigestMismatchError).
    """

    def __init__(self, store: Bucket, info: ObjectInfo, *, cache_chunks: int = 8) -> None:
        self._store = store
        self._js = store._js
        self.info = info
        self.name = str(info.name)
        self.size = int(info.size or 0)
        self._n = int(info.chunks or 0)
        self._c = chunk_size_of(info.opts)
        self._subj = chunk_subject(info.bucket or store.bucket, info.nuid)
        self._stream = store._stream_name
        self._max_batch = max(1, MAX_BATCH_BYTES // self._c)
        self._cap = max(cache_chunks, self._max_batch + 2)
        self._pos = 0
        self._io: asyncio.Lock | None = None  # one read at a time (reads await fetches)
        self._closed = False
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._seq: dict[int, int] = {}          # chunk index -> stream sequence (known)
        self._off: dict[int, int] = {}          # chunk index -> byte offset (known)
        self._len: dict[int, int] = {}          # chunk index -> size (known)
        self._koffs: list[int] = []             # sorted offsets of known chunks
        self._kidx: list[int] = []              # their chunk indexes
        self._scan_seqs: list[int] | None = None
        self._scan_offs: list[int] | None = None
        self._hash = Sha256()
        self._hash_idx = 0
        self._error: errors.JetStreamError | None = None
        self._last_end = -1
        self._ra = 1
        self.fetched_chunks = 0
        self.requests = 0

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"pos={self._pos}"
        return (f"<ObjectResult {self.info.bucket}/{self.name} size={self.size} "
                f"chunks={self._n} {state}>")

    # -- io basics (no I/O) ----------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        """The current position."""
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position (``whence`` as io: SEEK_SET, SEEK_CUR, SEEK_END); no I/O."""
        self._check_open()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence!r}")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = int(pos)
        return self._pos

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("I/O operation on closed object file")

    async def close(self) -> None:
        """Release the cached chunks (the object file holds no server resources)."""
        self._close_now()

    def _close_now(self) -> None:
        self._closed = True
        self._cache.clear()

    async def __aenter__(self) -> ObjectResult:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._close_now()

    # -- chunk map ---------------------------------------------------------------------------
    def _chunk_len(self, idx: int) -> int | None:
        ln = self._len.get(idx)
        if ln is not None:
            return ln
        if self._scan_offs is not None:
            nxt = self._scan_offs[idx + 1] if idx + 1 < self._n else self.size
            return nxt - self._scan_offs[idx]
        return None

    def _locate(self, pos: int) -> int | None:
        """The index of the chunk holding byte ``pos``, if known without I/O."""
        if self._scan_offs is not None:
            return bisect.bisect_right(self._scan_offs, pos) - 1
        if pos == 0:
            return 0
        i = bisect.bisect_right(self._koffs, pos) - 1
        if i < 0:
            return None
        idx = self._kidx[i]
        ln = self._chunk_len(idx)
        if ln is None:
            return None
        end = self._koffs[i] + ln
        if pos < end:
            return idx
        if pos == end and idx + 1 < self._n:
            return idx + 1
        return None

    def _remember(self, idx: int, seq: int, off: int, ln: int) -> None:
        if idx in self._off:
            return
        self._seq[idx] = seq
        self._off[idx] = off
        self._len[idx] = ln
        i = bisect.bisect_left(self._koffs, off)
        self._koffs.insert(i, off)
        self._kidx.insert(i, idx)

    def _fail(self, msg: str) -> errors.DigestMismatchError:
        err = errors.DigestMismatchError(f"object {self.info.bucket}/{self.name}: {msg}")
        self._error = err
        return err

    def _store_chunk(self, idx: int, seq: int, off: int, data: bytes) -> None:
        self._remember(idx, seq, off, len(data))
        cache = self._cache
        cache[idx] = data
        cache.move_to_end(idx)
        while len(cache) > self._cap:
            cache.popitem(last=False)
        # digest: hash chunks in order while they are at hand
        while self._hash_idx < self._n:
            d = cache.get(self._hash_idx)
            if d is None:
                break
            self._hash.add(d)
            self._hash_idx += 1

    async def _verify_digest(self) -> None:
        """Once every chunk was hashed in order: compare with the meta's digest."""
        raw = await self._hash.digest()
        self._hash_idx += 1  # verified (or failed): never again
        if self._hash.nbytes != self.size:
            raise self._fail(f"chunks hold {self._hash.nbytes} bytes, the meta says {self.size}")
        digest = self.info.digest
        if digest and decode_digest(digest) != raw:
            raise self._fail("digest mismatch (the stored chunks are corrupt)")

    # -- fetching ----------------------------------------------------------------------------
    async def _scan(self) -> None:
        """Index every chunk (stream sequence and size) with a headers-only ordered scan."""
        from ..client.watch import OrderedFeed
        seqs: list[int] = []
        sizes: list[int] = []
        if self._n:
            feed = OrderedFeed(self._js, self._stream, filter_subjects=[self._subj],
                               headers_only=True, mark_initial=True)
            await feed.start()
            try:
                done = False
                while not done:
                    for m in await feed.next_many():
                        if m is None:
                            done = True
                            break
                        seqs.append(m.metadata.sequence.stream)
                        sz = m.headers.get("Nats-Msg-Size")
                        sizes.append(int(sz) if sz is not None else 0)
                    if not done and feed.stopped:
                        raise self._fail("the chunk scan ended early")
            finally:
                await feed.stop()
        if len(seqs) != self._n:
            raise self._fail(f"the stream holds {len(seqs)} chunks, the meta says {self._n}")
        offs = []
        total = 0
        for s in sizes:
            offs.append(total)
            total += s
        if total != self.size:
            raise self._fail(f"chunks hold {total} bytes, the meta says {self.size}")
        self._scan_seqs = seqs
        self._scan_offs = offs

    def _start_for(self, idx: int) -> int | None:
        """The stream sequence to start a fetch of chunk ``idx`` from, if known."""
        if self._scan_seqs is not None:
            return self._scan_seqs[idx]
        if idx == 0:
            return 1
        prev = self._seq.get(idx - 1)
        return prev + 1 if prev is not None else None

    def _offset_for(self, idx: int) -> int | None:
        if self._scan_offs is not None:
            return self._scan_offs[idx]
        off = self._off.get(idx)
        if off is not None:
            return off
        if idx == 0:
            return 0
        prev = self._off.get(idx - 1)
        ln = self._chunk_len(idx - 1)
        if prev is not None and ln is not None:
            return prev + ln
        return None

    async def _fetch(self, idx: int, count: int) -> None:
        """Download chunks ``idx .. idx+count-1`` into the cache (fewer when they end)."""
        if self._error is not None:
            raise self._error
        count = max(1, min(count, self._n - idx, self._max_batch))
        start = self._start_for(idx)
        if start is None or self._offset_for(idx) is None:
            await self._scan()
            start = self._start_for(idx)
        assert start is not None
        if not self._store._direct():
            if self._scan_seqs is None:
                await self._scan()
            await self._fetch_api(idx, count)
            return
        c = self._c
        # the batch count ends the request: chunks (up to c bytes, headers of other
        # clients' writers up to 64) never spend the byte budget before it
        req = {"seq": start, "next_by_subj": self._subj, "batch": count,
               "max_bytes": direct_batch_budget(count, self._subj.encode(), 64, c) + c}
        msgs, end_pending = await direct_batch(self._js, self._stream, req, self._js.timeout)
        self.requests += 1
        expect = idx
        for seq, pending, data in msgs:
            self.fetched_chunks += 1
            got = self._n - 1 - pending if pending is not None else expect
            if got != expect:
                raise self._fail(f"chunk order does not match the meta (chunk {expect} "
                                 f"expected at sequence {seq}, found chunk {got})")
            if self._scan_seqs is not None and self._scan_seqs[expect] != seq:
                raise self._fail(f"chunk {expect} moved (sequence {seq}, indexed "
                                 f"{self._scan_seqs[expect]})")
            off = self._offset_for(expect)
            assert off is not None
            exp_len = self._chunk_len(expect) if self._scan_offs is not None else None
            if (exp_len is not None and len(data) != exp_len) or off + len(data) > self.size \
                    or (expect == self._n - 1 and off + len(data) != self.size):
                raise self._fail(f"chunk {expect} has an unexpected size ({len(data)} bytes)")
            self._store_chunk(expect, seq, off, data)
            expect += 1
        if expect == idx or (expect < idx + count and not end_pending):
            raise self._fail(f"chunk {expect} of {self._n} is missing (truncated object)")
        await self._after_fetch()

    async def _after_fetch(self) -> None:
        if self._hash_idx == self._n:
            await self._verify_digest()
        else:
            await self._hash.wait()

    async def _fetch_api(self, idx: int, count: int) -> None:
        """Fetch chunks one by one with STREAM.MSG.GET (streams without direct get)."""
        assert self._scan_seqs is not None and self._scan_offs is not None
        stream = self._store._stream

        def interrupted(reason: str) -> errors.ReadInterruptedError:
            return errors.ReadInterruptedError(
                f"reading object {self.info.bucket}/{self.name} was interrupted: {reason}",
                stream=self._stream, first_seq=self._scan_seqs[0] if self._scan_seqs else 0,
                last_seq=self._scan_seqs[idx] - 1 if self._scan_seqs else 0)

        watch = ConnWatch(self._js, interrupted)  # a dropped connection: ask again
        try:
            for i in range(idx, idx + count):
                try:
                    m = await watch.retry(partial(stream.get_msg, self._scan_seqs[i]),
                                          f"getting chunk {i}")
                except errors.MsgNotFoundError:
                    raise self._fail(f"chunk {i} of {self._n} is missing") from None
                self.requests += 1
                self.fetched_chunks += 1
                if m.subject != self._subj or len(m.data) != self._chunk_len(i):
                    raise self._fail(f"chunk {i} does not match the index")
                self._store_chunk(i, m.sequence, self._scan_offs[i], m.data)
        finally:
            watch.stop()
        await self._after_fetch()

    async def _ensure(self, end: int) -> None:
        """Fetch what the read from the current position up to ``end`` needs next."""
        pos = self._pos
        idx = self._locate(pos)
        if idx is None:
            await self._scan()
            idx = self._locate(pos)
            assert idx is not None
        last = self._locate(end - 1) if self._scan_offs is not None else None
        if last is not None:
            need = last - idx + 1
        else:
            off = self._offset_for(idx)
            need = -(-(end - (pos if off is None else off)) // self._c)
        need = max(need, self._ra)
        count = 1
        while count < need and idx + count < self._n and idx + count not in self._cache:
            count += 1
        await self._fetch(idx, count)

    def _note_access(self, pos: int) -> None:
        """Readahead: grow the batch while reads continue where the last one ended."""
        if pos == self._last_end:
            self._ra = min(self._ra * 2, self._max_batch)
        elif pos != 0 or self._last_end != -1:
            self._ra = 1

    # -- reading -----------------------------------------------------------------------------
    def _take(self, end: int) -> bytes | None:
        """Bytes from the cache from the position up to ``end`` (one chunk at most);
        None when that chunk is not cached."""
        pos = self._pos
        idx = self._locate(pos)
        if idx is None:
            return None
        data = self._cache.get(idx)
        if data is None:
            return None
        off = self._off[idx]
        start = pos - off
        stop = min(len(data), end - off)
        piece = data if start == 0 and stop == len(data) else data[start:stop]
        self._pos = off + stop
        return piece

    def _eof_check(self) -> None:
        if self._error is not None:
            raise self._error

    def _read_cached(self, n: int = -1) -> bytes | None:
        """The read done from the cache alone, or None (nothing consumed) if it needs I/O."""
        self._check_open()
        if self._error is not None:
            raise self._error
        pos = self._pos
        end = self.size if n is None or n < 0 else min(self.size, pos + n)
        if pos >= end:
            self._last_end = pos
            return b""
        p = pos
        while p < end:  # all cached?
            idx = self._locate(p)
            if idx is None or idx not in self._cache:
                return None
            p = self._off[idx] + len(self._cache[idx])
        self._note_access(pos)
        parts = []
        while self._pos < end:
            piece = self._take(end)
            assert piece is not None
            parts.append(piece)
        self._last_end = self._pos
        if self._pos >= self.size:
            self._eof_check()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _io_lock(self) -> asyncio.Lock:
        if self._io is None:
            self._io = asyncio.Lock()
        return self._io

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes from the position (all the rest when ``n`` < 0); b"" at EOF.

        Reads from concurrent tasks run one after the other (each one whole); for reads
        at offsets of their own use :meth:`read_at`."""
        if self._io is None or not self._io.locked():  # else another read is moving _pos
            fast = self._read_cached(n)
            if fast is not None:
                return fast
        async with self._io_lock():
            return await self._read_io(n)

    async def read_at(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes at ``offset`` (a positioned read, like ``os.pread``): the
        position is neither used nor moved, so concurrent tasks may each read their own
        ranges of one file (an engine reading row groups in parallel)."""
        self._check_open()
        if offset < 0 or n < 0:
            raise ValueError(f"read_at needs offset >= 0 and n >= 0, got {offset}, {n}")
        async with self._io_lock():
            saved = self._pos
            self._pos = int(offset)
            try:
                data = self._read_cached(n)
                return data if data is not None else await self._read_io(n)
            finally:
                self._pos = saved

    async def _read_io(self, n: int) -> bytes:
        """:meth:`read` once the cache alone could not serve it (holding the I/O lock)."""
        fast = self._read_cached(n)
        if fast is not None:
            return fast
        pos = self._pos
        end = self.size if n is None or n < 0 else min(self.size, pos + n)
        self._note_access(pos)
        # Large reads are assembled in a BytesIO: its getvalue() hands over the buffer
        # without a copy, so a big read needs its size in memory once, not twice.
        big = end - pos > _BIG_READ
        parts: list[bytes] = []
        out = io.BytesIO() if big else None
        while self._pos < end:
            piece = self._take(end)
            if piece is None:
                await self._ensure(end)
                continue
            if out is not None:
                out.write(piece)
            else:
                parts.append(piece)
        self._last_end = self._pos
        if self._pos >= self.size:
            self._eof_check()
        if out is not None:
            return out.getvalue()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def read1(self, n: int = -1) -> bytes:
        """Same as :meth:`read`."""
        return await self.read(n)

    async def readinto(self, b: Any) -> int:
        """Read into a writable buffer; returns the number of bytes read."""
        mv = memoryview(b).cast("B")
        data = await self.read(len(mv))
        mv[:len(data)] = data
        return len(data)

    async def readall(self) -> bytes:
        """The rest of the object."""
        return await self.read(-1)

    def _readline_cached(self, limit: int = -1) -> tuple[bytes, bool]:
        """Consume the line from the cache as far as it goes: (bytes, whether the line is
        complete); incomplete when the next chunk is not cached."""
        self._check_open()
        if self._error is not None:
            raise self._error
        end = self.size if limit is None or limit < 0 else min(self.size, self._pos + limit)
        parts = []
        done = False
        while self._pos < end:
            idx = self._locate(self._pos)
            data = self._cache.get(idx) if idx is not None else None
            if data is None:
                break
            assert idx is not None
            start = self._pos - self._off[idx]
            stop = min(len(data), start + (end - self._pos))
            nl = data.find(b"\n", start, stop)
            if nl >= 0:
                stop = nl + 1
                done = True
            parts.append(data[start:stop])
            self._pos = self._off[idx] + stop
            if done:
                break
        if self._pos >= end:
            done = True
        self._last_end = self._pos
        if self._pos >= self.size:
            self._eof_check()
        return (parts[0] if len(parts) == 1 else b"".join(parts)), done

    async def readline(self, limit: int = -1) -> bytes:
        """The next line including its b"\\n" (b"" at EOF); at most ``limit`` bytes."""
        async with self._io_lock():
            return await self._readline_io(limit)

    async def _readline_io(self, limit: int) -> bytes:
        parts = []
        left = -1 if limit is None or limit < 0 else limit
        while True:
            piece, done = self._readline_cached(left)
            parts.append(piece)
            if left >= 0:
                left -= len(piece)
            if done:
                return parts[0] if len(parts) == 1 else b"".join(parts)
            self._note_access(self._pos)
            await self._ensure(min(self.size, self._pos + 1))

    async def readlines(self, hint: int = -1) -> list[bytes]:
        """Every remaining line."""
        lines: list[bytes] = []
        total = 0
        while True:
            line = await self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __aiter__(self) -> ObjectResult:
        return self

    async def __anext__(self) -> bytes:
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line

    def iter_chunks(self) -> ChunkIterator:
        """The object's bytes chunk by chunk from the current position (digest verified
        when the iteration covers the whole object)."""
        self._check_open()
        return ChunkIterator(self)


class ChunkIterator:
    """Async iterator over an object's chunks (as stored), from the reader's position."""

    def __init__(self, r: ObjectResult) -> None:
        self._r = r

    def __aiter__(self) -> ChunkIterator:
        return self

    def _take_chunk(self) -> bytes | None:
        r = self._r
        idx = r._locate(r._pos)
        data = r._cache.get(idx) if idx is not None else None
        if data is None:
            return None
        assert idx is not None
        start = r._pos - r._off[idx]
        piece = data if start == 0 else data[start:]
        r._pos = r._off[idx] + len(data)
        r._last_end = r._pos
        if r._pos >= r.size:
            r._eof_check()
        return piece

    async def __anext__(self) -> bytes:
        r = self._r
        r._check_open()
        if r._pos >= r.size:
            raise StopAsyncIteration
        piece = self._take_chunk()
        if piece is None:
            r._ra = r._max_batch
            await r._ensure(r.size)
            piece = self._take_chunk()
            assert piece is not None
        return piece

    async def _next_many(self) -> list[bytes]:
        """The chunks one fetch brings (at least one), [] at the end."""
        r = self._r
        try:
            out = [await self.__anext__()]
        except StopAsyncIteration:
            return []
        while r._pos < r.size:
            piece = self._take_chunk()
            if piece is None:
                break
            out.append(piece)
        return out
