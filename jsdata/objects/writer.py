"""Writing one object: chunks hashed and published as they fill, then the meta message.

At most ``MAX_BATCH_BYTES`` of chunks are unacknowledged at a time; closing publishes the
meta (rolling up the previous one, as nats.go's ``Put``), aborting purges what was sent.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .. import errors
from ..client.config import ObjectMeta
from .layout import (
    MAX_BATCH_BYTES,
    ObjectInfo,
    Sha256,
    chunk_size_of,
    chunk_subject,
    digest_string,
    map_publish_error,
    new_nuid,
)

if TYPE_CHECKING:
    from ..client.publish import PubAckFuture
    from .layout import Bucket

__all__ = ["ObjectWriter"]


class ObjectWriter:
    """Writes one object: chunks are hashed and published as they fill (bounded in flight);
    :meth:`close` publishes the meta message, :meth:`abort` purges what was sent.

    Obtain it with ``obs.open(name, "wb")``; ``async with`` closes it, or aborts it when the
    block raises.
    """

    def __init__(self, store: Bucket, meta: ObjectMeta, existing: ObjectInfo | None
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
