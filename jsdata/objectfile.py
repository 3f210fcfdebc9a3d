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

The blocking API uses :class:`BlockingObjectResult` / :class:`BlockingObjectWriter`, real
:class:`io.BufferedIOBase` files (what pandas and pyarrow expect) that run the fetches and
publishes of these async objects on the connection's loop thread.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import hashlib
import io
import json
import secrets
import threading
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any

from . import blocking, errors
from ._budget import direct_batch_budget
from ._conn import new_token, status_of
from .config import ObjectMeta, ObjectMetaOptions

if TYPE_CHECKING:
    from .jetstream import JetStream
    from .object import ObjectInfo, ObjectStore
    from .publish import PubAckFuture

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "BlockingObjectResult",
    "BlockingObjectWriter",
    "ObjectResult",
    "ObjectWriter",
]

DEFAULT_CHUNK_SIZE = 128 * 1024
"""Chunk size of new objects (as nats.go): 128 KiB."""

MAX_BATCH_BYTES = 8 * 1024 * 1024
"""At most this many chunk bytes are requested per batch direct get (and kept in flight by a
writer)."""

_BIG_READ = 4 * 1024 * 1024
_DIGEST_PREFIX = "SHA-256="
_NUID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ERR_SEALED = 10109  # JSStreamSealedErr


# ---------------------------------------------------------------------------------------------
# names, subjects, digests


def new_nuid() -> str:
    """A 22-character base62 unique id, like the NUIDs other clients use for objects."""
    n = secrets.randbits(136)
    out = []
    for _ in range(22):
        n, r = divmod(n, 62)
        out.append(_NUID_ALPHABET[r])
    return "".join(out)


def encode_name(name: str) -> str:
    """An object name as it appears in its meta subject: URL-safe base64 with padding (Go)."""
    return base64.urlsafe_b64encode(name.encode()).decode()


def chunk_subject(bucket: str, nuid: str) -> str:
    return f"$O.{bucket}.C.{nuid}"


def meta_subject(bucket: str, name: str) -> str:
    return f"$O.{bucket}.M.{encode_name(name)}"


def digest_string(raw: bytes) -> str:
    """``SHA-256=`` + URL-safe base64 of a SHA-256 hash, as every client writes it."""
    return _DIGEST_PREFIX + base64.urlsafe_b64encode(raw).decode()


def decode_digest(digest: str) -> bytes:
    """The raw hash bytes of a ``SHA-256=...`` digest string."""
    algo, sep, value = digest.partition("=")
    if not sep or algo.upper() != "SHA-256":
        raise errors.ObjectStoreError(f"unsupported object digest {digest!r}")
    value = value.strip()
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, TypeError):
        raise errors.ObjectStoreError(f"invalid object digest {digest!r}") from None


def map_publish_error(e: BaseException, bucket: str | None = None) -> BaseException:
    """Sealed-stream rejections become BucketSealedError (naming ``bucket``); everything
    else is kept."""
    if isinstance(e, errors.JetStreamError) and e.err_code == _ERR_SEALED:
        which = f" {bucket!r}" if bucket else ""
        return errors.BucketSealedError(f"the object store bucket{which} is sealed",
                                        code=e.code, err_code=e.err_code)
    return e


def chunk_size_of(opts: ObjectMetaOptions | None) -> int:
    if opts is not None and opts.max_chunk_size:
        return int(opts.max_chunk_size)
    return DEFAULT_CHUNK_SIZE


class Sha256:
    """SHA-256 of a sequence of chunks, computed on an executor thread in the background.

    ``add`` only queues a chunk (no hashing on the caller's thread); hashing runs in
    batches on the loop's default executor, overlapping the caller's network I/O (hashlib
    releases the GIL). ``await wait(limit)`` bounds how much may be queued;
    ``await digest()`` finishes and returns the hash bytes.
    """

    _BATCH = 1024 * 1024

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self._queued: list[bytes] = []
        self._queued_bytes = 0
        self._job: asyncio.Future[None] | None = None
        self.nbytes = 0

    def add(self, chunk: bytes) -> None:
        """Queue ``chunk`` (called on the event loop)."""
        self._queued.append(chunk)
        self._queued_bytes += len(chunk)
        self.nbytes += len(chunk)
        if self._job is None and self._queued_bytes >= self._BATCH:
            self._start()

    def _start(self) -> None:
        batch, self._queued, self._queued_bytes = self._queued, [], 0
        h = self._h

        def run() -> None:
            for c in batch:
                h.update(c)

        self._job = asyncio.get_running_loop().run_in_executor(None, run)
        self._job.add_done_callback(self._done)

    def _done(self, fut: asyncio.Future[None]) -> None:
        if self._job is fut:
            self._job = None
            if fut.cancelled() or fut.exception() is not None:
                return
            if self._queued_bytes >= self._BATCH:
                self._start()

    async def _finish_job(self) -> None:
        job = self._job
        assert job is not None
        if not job.done():
            await asyncio.shield(job)
        self._done(job)  # now, not when the loop gets to the callback (idempotent)
        job.result()

    async def wait(self, limit: int = 4 * 1024 * 1024) -> None:
        """Wait while more than ``limit`` bytes wait to be hashed."""
        while self._queued_bytes > limit and self._job is not None:
            await self._finish_job()

    async def digest(self) -> bytes:
        """Hash everything queued and return the SHA-256 bytes."""
        while self._job is not None:
            await self._finish_job()
        for c in self._queued:
            self._h.update(c)
        self._queued, self._queued_bytes = [], 0
        return self._h.digest()


# ---------------------------------------------------------------------------------------------
# batch direct get


def _hdr_int(hdr: bytes, name: bytes) -> int | None:
    i = hdr.find(name)
    if i < 0:
        return None
    i += len(name)
    j = hdr.find(b"\r\n", i)
    try:
        return int(hdr[i:j].strip(b": "))
    except ValueError:
        return None


async def direct_batch(js: JetStream, stream: str, request: dict[str, Any],
                       timeout: float) -> tuple[list[tuple[int, int | None, bytes]], int | None]:
    """One batch direct get: ``([(seq, num_pending, data), ...], num_pending_at_end)``.

    ``num_pending_at_end`` comes from the closing 204 EOB status (the server always ends a
    batch with it, also when ``max_bytes`` ended the batch: see :mod:`jsdata._budget`); it
    is ``None`` when nothing matched (404). ``timeout`` bounds the wait for each reply. A
    request lost with the connection (or left unanswered) is sent again, to a fresh inbox,
    for the messages after the last one received;
    :class:`~jsdata.errors.ReadInterruptedError` when the server does not come back.
    """
    from .fetch import STALLS, ConnWatch
    loop = asyncio.get_running_loop()
    out: list[tuple[int, int | None, bytes]] = []
    first = int(request.get("seq") or 1)
    want = int(request.get("batch") or 1)

    def interrupted(reason: str) -> errors.ReadInterruptedError:
        last = out[-1][0] if out else first - 1
        read = f"sequences {first}..{last} were read" if out else "nothing was read"
        return errors.ReadInterruptedError(
            f"direct get from {stream!r} was interrupted: {reason}; {read}; read on from "
            f"sequence {last + 1}", stream=stream, first_seq=first, last_seq=last)

    nc = js.nc
    nc.check_open()
    watch = ConnWatch(js, interrupted)
    stalls = 0
    try:
        while True:
            done: asyncio.Future[int | None] = loop.create_future()

            def on_msg(subject: bytes, reply: bytes, data: bytes, hdr: bytes,
                       done: asyncio.Future[int | None] = done) -> None:
                if done.done():
                    return
                if hdr and not data:
                    st = status_of(hdr)
                    if st is not None:
                        code, desc = st
                        if code == 204:
                            done.set_result(_hdr_int(hdr, b"Nats-Num-Pending:") or 0)
                        elif code == 404:
                            done.set_result(None)
                        elif code == 503:
                            done.set_exception(errors.BucketNotFoundError(
                                f"no stream {stream!r} answered the direct get (bucket "
                                "deleted?)", code=503))
                        else:
                            done.set_exception(errors.APIError(
                                f"direct get from {stream!r} failed: {code} {desc}",
                                code=code))
                        return
                seq = _hdr_int(hdr, b"Nats-Sequence:") or 0
                out.append((seq, _hdr_int(hdr, b"Nats-Num-Pending:"), data))

            req = dict(request)
            if out:  # the rest of a request that was interrupted
                req["seq"] = out[-1][0] + 1
                req["batch"] = want - len(out)
            inbox = f"_INBOX.{new_token()}"
            sub = await watch.retry(partial(nc.fast_subscribe, inbox, on_msg), "subscribing")
            try:
                body = json.dumps(req, separators=(",", ":")).encode()
                epoch = watch.epoch
                await watch.retry(partial(nc.publish_raw, js.api_subject(
                    f"DIRECT.GET.{stream}"), inbox, body), "sending a direct get")
                how = await watch.wait(done, epoch, out.__len__)
            finally:
                if not done.done():
                    done.cancel()
                await nc.fast_unsubscribe(sub)
            if how == "done":
                end = done.result()
                if end is None and out:  # the rest of an interrupted request found nothing
                    end = 0
                return out, end
            if how == "stalled":
                stalls += 1
                if stalls >= STALLS:
                    raise interrupted(f"no reply to {STALLS} requests in a row within "
                                      f"{timeout:g}s each")
            if len(out) >= want:
                return out, out[-1][1]
    finally:
        watch.stop()


# ---------------------------------------------------------------------------------------------
# writer


class ObjectWriter:
    """Writes one object: chunks are hashed and published as they fill (bounded in flight);
    :meth:`close` publishes the meta message, :meth:`abort` purges what was sent.

    Obtain it with ``obs.open(name, "wb")``; ``async with`` closes it, or aborts it when the
    block raises.
    """

    def __init__(self, store: ObjectStore, meta: ObjectMeta, existing: ObjectInfo | None
                 ) -> None:
        self._store = store
        self._js = store._js
        self._meta = meta
        self._existing = existing
        self.chunk_size = chunk_size_of(meta.opts)
        self.nuid = new_nuid()
        self._subj = chunk_subject(store.bucket, self.nuid)
        self._buf = bytearray()
        self._hash = Sha256()
        self._size = 0
        self._chunks = 0
        self._inflight: deque[PubAckFuture] = deque()
        self._max_inflight = max(2, MAX_BATCH_BYTES // self.chunk_size)
        self._state = "open"
        self.info: ObjectInfo | None = None
        self._loop = asyncio.get_running_loop()

    def __del__(self) -> None:
        # Dropped without close() or abort(): purge what was sent, never publish the meta.
        try:
            if self._state == "open" and self._chunks and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._js._spawn, self.abort())
        except Exception:  # noqa: BLE001 - nothing can be reported from __del__
            pass

    def __repr__(self) -> str:
        return (f"<ObjectWriter {self._store.bucket}/{self._meta.name} {self._state} "
                f"written={self.tell()}>")

    @property
    def name(self) -> str:
        return str(self._meta.name)

    @property
    def closed(self) -> bool:
        return self._state != "open"

    def tell(self) -> int:
        """Bytes written so far."""
        return self._size + len(self._buf)

    def _check_open(self) -> None:
        if self._state != "open":
            raise errors.InvalidArgumentError(f"the object writer is {self._state}")

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """Add bytes to the object; full chunks are published right away."""
        self._check_open()
        mv = memoryview(data)
        if mv.format != "B" or mv.ndim != 1:
            mv = mv.cast("B")
        n = len(mv)
        c = self.chunk_size
        off = 0
        try:
            if self._buf:
                take = min(c - len(self._buf), n)
                self._buf += mv[:take]
                off = take
                if len(self._buf) == c:
                    chunk = bytes(self._buf)
                    self._buf.clear()
                    await self._send(chunk)
            while n - off >= c:
                await self._send(bytes(mv[off:off + c]))
                off += c
            if off < n:
                self._buf += mv[off:]
        except BaseException:
            await self.abort()
            raise
        return n

    async def _send(self, chunk: bytes) -> None:
        self._hash.add(chunk)
        fut = await self._js._publish_async_raw(self._subj, chunk, b"")
        self._inflight.append(fut)
        self._size += len(chunk)
        self._chunks += 1
        if len(self._inflight) > self._max_inflight:
            await self._settle(self._max_inflight)
            await self._hash.wait(MAX_BATCH_BYTES)

    async def _settle(self, keep: int) -> None:
        """Wait for acks until at most ``keep`` are outstanding (raises the first failure)."""
        while len(self._inflight) > keep:
            fut = self._inflight[0]
            try:
                await fut
            except BaseException as e:
                raise map_publish_error(e, self._store.bucket) from None
            self._inflight.popleft()

    async def close(self) -> ObjectInfo:
        """Publish the last chunk and the meta message; returns the new ObjectInfo.

        Once the meta landed, the chunks of the version it replaced are purged.
        """
        if self._state == "closed" and self.info is not None:
            return self.info
        self._check_open()
        from .object import ObjectInfo

        try:
            if self._buf:
                chunk = bytes(self._buf)
                self._buf.clear()
                await self._send(chunk)
            await self._settle(0)
            m = self._meta
            info = ObjectInfo(name=m.name, description=m.description, headers=m.headers,
                              metadata=m.metadata, opts=m.opts, bucket=self._store.bucket,
                              nuid=self.nuid, size=self._size, mtime=None,
                              chunks=self._chunks, digest=digest_string(await self._hash.digest()))
            await self._store._publish_meta(info)
        except BaseException:
            await self.abort()
            raise
        self._state = "closed"
        info.mtime = datetime.now(timezone.utc)
        ex = self._existing
        if ex is not None and not ex.deleted and ex.nuid and ex.nuid != self.nuid:
            try:
                await self._store._purge_subject(chunk_subject(self._store.bucket, ex.nuid))
            except errors.JetStreamError:
                pass  # the new version is in place; stale chunks only cost space
        self.info = info
        return info

    async def abort(self) -> None:
        """Drop the object being written: nothing becomes visible, sent chunks are purged."""
        if self._state != "open":
            return
        self._state = "aborted"
        self._buf = bytearray()
        pending, self._inflight = list(self._inflight), deque()
        for fut in pending:
            try:
                await fut
            except BaseException:  # noqa: BLE001 - the write is being abandoned anyway
                pass
        if self._chunks:
            try:
                await self._store._purge_subject(self._subj)
            except errors.JetStreamError:
                pass

    async def __aenter__(self) -> ObjectWriter:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            await self.abort()
        elif self._state == "open":
            await self.close()


# ---------------------------------------------------------------------------------------------
# reader


class ObjectResult:
    """A seekable binary file over one object (``await r.read(n)``, ``r.seek(pos)``, ...).

    ``info`` is the object's :class:`~jsdata.ObjectInfo`; ``fetched_chunks`` counts the
    chunks downloaded so far and ``requests`` the fetch requests made. Iterating gives lines
    (as io files do); :meth:`iter_chunks` gives the stored chunks. A read that reaches the end
    after reading every chunk in order verifies the digest (DigestMismatchError).
    """

    def __init__(self, store: ObjectStore, info: ObjectInfo, *, cache_chunks: int = 8) -> None:
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
        from .watch import OrderedFeed
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
        from .fetch import ConnWatch
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


# ---------------------------------------------------------------------------------------------
# blocking file objects (used by the blocking API; pandas/pyarrow call them from user threads)


class _BlockingObjectFile(io.BufferedIOBase):
    """What the blocking API's object files share: the async core, its loop thread, a lock."""

    _MODE = "rb"  # "rb": readable and seekable; "wb": writable

    def __init__(self, core: Any, lt: blocking.LoopThread) -> None:
        super().__init__()
        self._core = core
        self._lt = lt
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return repr(self._core)

    @property
    def name(self) -> str:
        return self._core.name  # type: ignore[no-any-return]

    @property
    def mode(self) -> str:
        return self._MODE

    def readable(self) -> bool:
        return self._MODE == "rb"

    def seekable(self) -> bool:
        return self._MODE == "rb"

    def writable(self) -> bool:
        return self._MODE == "wb"

    def detach(self) -> Any:
        raise io.UnsupportedOperation("detach")


class BlockingObjectResult(_BlockingObjectFile):
    """A seekable binary file over an object for the blocking API (an io.BufferedIOBase).

    Reads served from cached chunks stay on the calling thread; fetches run on the
    connection's loop thread. ``info``, ``fetched_chunks`` and ``iter_chunks()`` are those
    of the async :class:`ObjectResult` it wraps.

    Each thread has its own position: engines such as DuckDB share one handle between
    worker threads and do ``seek(pos)`` then ``read(n)`` from each, so a shared cursor
    would let one thread's seek move another's read. A thread's first operation starts at
    the position the previous operation (of any thread) left; the chunk cache is shared.
    """

    _core_cls = ObjectResult
    _core: ObjectResult

    def __init__(self, core: ObjectResult, lt: blocking.LoopThread) -> None:
        super().__init__(core, lt)
        self._cursors = threading.local()  # .pos: this thread's position
        self._owner: int | None = None  # the thread that used the file last

    @classmethod
    def _wrap(cls, core: ObjectResult, lt: blocking.LoopThread) -> BlockingObjectResult:
        return cls(core, lt)

    @property
    def info(self) -> ObjectInfo:
        """The object's info."""
        return self._core.info

    @property
    def size(self) -> int:
        return self._core.size

    @property
    def fetched_chunks(self) -> int:
        """Chunks downloaded so far."""
        return self._core.fetched_chunks

    @property
    def requests(self) -> int:
        return self._core.requests

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed object file")

    def _enter(self) -> threading.local:
        """Under the lock: make the core's position this thread's (see the class doc).

        Only when another thread used the file since this one did: a thread alone keeps
        the core's position as it is (``iter_chunks`` moves it too)."""
        self._check_open()
        cur = self._cursors
        me = threading.get_ident()
        if self._owner != me:
            pos = getattr(cur, "pos", None)
            if pos is not None:
                self._core._pos = pos
            self._owner = me
        return cur

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        with self._lock:
            cur = self._enter()
            cur.pos = self._core.seek(offset, whence)
            return cur.pos  # type: ignore[no-any-return]

    def tell(self) -> int:
        with self._lock:
            self._enter()
            return self._core.tell()

    def read(self, size: int | None = -1) -> bytes:
        n = -1 if size is None else size
        with self._lock:
            cur = self._enter()
            try:
                data = self._core._read_cached(n)
                if data is None:
                    data = self._lt.run(self._core.read(n))
            finally:
                cur.pos = self._core._pos
            return data

    def read1(self, size: int | None = -1) -> bytes:
        return self.read(size)

    def read_at(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset``, not using or moving the position (as
        ``os.pread``); safe from any number of threads."""
        with self._lock:
            self._check_open()
            core = self._core
            if offset < 0 or size < 0:
                raise ValueError(f"read_at needs offset >= 0 and size >= 0, got {offset}, "
                                 f"{size}")
            saved = core._pos
            core._pos = int(offset)
            try:
                data = core._read_cached(size)
            finally:
                core._pos = saved
            if data is None:
                data = self._lt.run(core.read_at(offset, size))
            return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, b: Any) -> int:
        mv = memoryview(b).cast("B")
        data = self.read(len(mv))
        mv[:len(data)] = data
        return len(data)

    def readinto1(self, b: Any) -> int:
        return self.readinto(b)

    def readline(self, size: int | None = -1) -> bytes:
        n = -1 if size is None else size
        with self._lock:
            cur = self._enter()
            try:
                line, done = self._core._readline_cached(n)
                if done:
                    return line
                rest = self._lt.run(self._core.readline(n - len(line) if n >= 0 else -1))
            finally:
                cur.pos = self._core._pos
            return line + rest

    def iter_chunks(self) -> Any:
        """The object's bytes chunk by chunk (an iterator of bytes)."""
        return blocking.SyncIterator(self._core.iter_chunks(), self._lt)

    def close(self) -> None:
        if not self.closed:
            self._core._close_now()
        super().close()


class BlockingObjectWriter(_BlockingObjectFile):
    """A write-only binary file streaming into a new object, for the blocking API.

    Bytes are handed to the loop thread in blocks; chunks are published as they fill.
    ``close()`` (or leaving a ``with`` block normally) publishes the object and sets
    ``info``; an exception inside the ``with`` block, :meth:`abort`, or dropping the file
    without closing it leaves no object behind.
    """

    _BLOCK = 1024 * 1024
    _MODE = "wb"
    _core: ObjectWriter

    def __init__(self, core: ObjectWriter, lt: blocking.LoopThread) -> None:
        super().__init__(core, lt)
        self._pending = bytearray()
        self._done = False
        self._block = max(self._BLOCK, core.chunk_size)
        self.info: ObjectInfo | None = None

    def tell(self) -> int:
        return self._core.tell() + len(self._pending)

    def write(self, b: Any) -> int:
        with self._lock:
            if self.closed or self._done:
                raise ValueError("write to closed object file")
            mv = memoryview(b)
            n = mv.nbytes
            if len(self._pending) + n < self._block:
                self._pending += mv.cast("B") if mv.format != "B" else mv
                return n
            if self._pending:
                self._pending += mv.cast("B") if mv.format != "B" else mv
                data: Any = bytes(self._pending)
                self._pending = bytearray()
            else:
                data = mv
            self._run(self._core.write(data))
            return n

    def _run(self, coro: Awaitable[Any]) -> Any:
        try:
            return self._lt.run(coro)
        except BaseException:
            self._done = True
            self._pending = bytearray()
            raise

    def flush(self) -> None:
        """Chunks are published as they fill; nothing is visible before close()."""
        if self.closed:
            raise ValueError("flush of closed object file")

    def close(self) -> None:
        """Publish the object (its meta) and set ``info``."""
        with self._lock:
            if self.closed:
                return
            try:
                if not self._done:
                    if self._pending:
                        data = bytes(self._pending)
                        self._pending = bytearray()
                        self._run(self._core.write(data))
                    self.info = self._run(self._core.close())
                    self._done = True
            finally:
                super().close()

    def abort(self) -> None:
        """Discard the object being written (sent chunks are purged)."""
        with self._lock:
            if self.closed:
                return
            self._done = True
            self._pending = bytearray()
            try:
                if not self._lt.closed:
                    self._lt.run(self._core.abort())
            finally:
                super().close()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self) -> None:
        # Never publish a half-written object from the garbage collector: abort instead.
        try:
            if not self.closed and not self._done and not self._lt.closed:
                self._done = True
                self._pending = bytearray()
                blocking.submit_nowait(self._lt, self._core.abort)
            if not self.closed:
                io.BufferedIOBase.close(self)
        except Exception:  # noqa: BLE001 - nothing can be reported from __del__
            pass


def _register_twin() -> None:
    """Make :class:`BlockingObjectResult` the blocking twin of :class:`ObjectResult`, so
    ``jsdata.ObjectResult`` is the io class and every core result is wrapped into it."""
    blocking.TWINS[ObjectResult] = BlockingObjectResult  # type: ignore[assignment]
    # named like the other twins: jsdata.ObjectResult
    BlockingObjectResult.__name__ = BlockingObjectResult.__qualname__ = "ObjectResult"
    BlockingObjectResult.__module__ = "jsdata"


_register_twin()


def run_sync(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """Run a blocking function (disk I/O, a user's reader) in the loop's default executor."""
    return asyncio.get_running_loop().run_in_executor(None, fn, *args)
