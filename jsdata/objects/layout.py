"""How an object store is laid out: names, subjects, digests, and the info models.

A bucket is the stream ``OBJ_<bucket>`` with chunks on ``$O.<bucket>.C.<nuid>`` and one
rolled-up meta message per object on ``$O.<bucket>.M.<base64url(name)>`` (nats.go
``object.go``). :class:`ObjectInfo` is the meta message body, :class:`ObjectStoreStatus` a
bucket's status. :class:`Bucket` is what the object files need from their store.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .. import errors
from .._repr import field_table, fmt_duration, fmt_mapping, fmt_time, human_bytes
from ..client.config import ObjectLink, ObjectMetaOptions, StorageType, StoreCompression
from ..client.info import ObjectInfo as _ObjectInfoBase
from ..client.info import StreamInfo

if TYPE_CHECKING:
    from ..client.context import Context
    from ..client.stream import Stream

__all__ = ["DEFAULT_CHUNK_SIZE", "Bucket", "ObjectInfo", "ObjectStoreStatus"]

DEFAULT_CHUNK_SIZE = 128 * 1024
"""Chunk size of new objects (as nats.go): 128 KiB."""

MAX_BATCH_BYTES = 8 * 1024 * 1024
"""At most this many chunk bytes are requested per batch direct get (and kept in flight by a
writer)."""

_DIGEST_PREFIX = "SHA-256="
_NUID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ERR_SEALED = 10109  # JSStreamSealedErr


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


def stream_name_of(bucket: str) -> str:
    return f"OBJ_{bucket}"


def object_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise errors.InvalidObjectNameError(
            f"invalid object name {name!r}: must be a non-empty string")
    return name


class ObjectInfo(_ObjectInfoBase):
    """An object's meta plus what the store records (bucket, nuid, size, mtime, chunks,
    digest, deleted); ``link`` is the :class:`~jsdata.ObjectLink` of a link object, else None.

    Wire-compatible with nats.go's ``ObjectInfo`` JSON (the meta message body).
    """

    @property
    def link(self) -> ObjectLink | None:
        """Where this link object points (``name`` None: a whole bucket), else None."""
        return self.opts.link if self.opts is not None else None

    def is_link(self) -> bool:
        """Whether this object is a link to another object or bucket."""
        return self.link is not None

    @property
    def chunk_size(self) -> int:
        """The maximum chunk size the object was stored with."""
        o = self.opts
        return int(o.max_chunk_size) if o is not None and o.max_chunk_size else \
            DEFAULT_CHUNK_SIZE

    def __repr__(self) -> str:
        parts = [f"name={self.name!r}", f"bucket={self.bucket!r}"]
        link = self.link
        if link is not None:
            parts.append(f"link={link.bucket}/{link.name or ''}")
        else:
            parts += [f"size={self.size}", f"chunks={self.chunks}"]
        if self.mtime is not None:
            parts.append(f"mtime={self.mtime.isoformat()}")
        if self.deleted:
            parts.append("deleted=True")
        if self.description:
            parts.append(f"description={self.description!r}")
        return f"ObjectInfo({', '.join(parts)})"

    def _repr_html_(self) -> str:
        """The info as bounded, escaped HTML."""
        link = self.link
        rows: list[tuple[str, Any]] = [("bucket", self.bucket)]
        if link is not None:
            rows.append(("link to", f"{link.bucket}/{link.name or '*'}"))
        else:
            rows += [("size", f"{human_bytes(self.size)} ({self.size:,} bytes)"),
                     ("chunks", f"{self.chunks:,}"), ("digest", self.digest or "-")]
        rows += [("modified", fmt_time(self.mtime)), ("deleted", self.deleted or None),
                 ("description", self.description or None),
                 ("metadata", fmt_mapping(self.metadata) if self.metadata else None),
                 ("headers", fmt_mapping(self.headers) if self.headers else None)]
        return field_table(f"Object {self.name}", rows)


@dataclass
class ObjectStoreStatus:
    """Status of an object store bucket (from its stream's info); ``metadata`` is the
    bucket's own metadata (the server's ``_nats.*`` keys are in ``stream_info``)."""

    bucket: str
    description: str | None
    ttl: float
    storage: StorageType
    replicas: int
    sealed: bool
    size: int
    backing_store: str = "JetStream"
    is_compressed: bool = False
    metadata: dict[str, str] | None = None
    stream_info: StreamInfo | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_stream_info(cls, bucket: str, si: StreamInfo) -> ObjectStoreStatus:
        cfg = si.config
        return cls(bucket=bucket, description=cfg.description, ttl=float(cfg.max_age or 0.0),
                   storage=cfg.storage, replicas=int(cfg.num_replicas or 1),
                   sealed=bool(cfg.sealed), size=int(si.state.bytes),
                   is_compressed=cfg.compression not in (None, StoreCompression.NONE),
                   metadata={k: v for k, v in (cfg.metadata or {}).items()
                             if not k.startswith("_nats.")} or None,
                   stream_info=si)

    def _repr_html_(self, subtitle: str | None = None) -> str:
        """The status as bounded, escaped HTML."""
        si = self.stream_info
        rows: list[tuple[str, Any]] = [
            ("description", self.description), ("size", human_bytes(self.size)),
            ("messages", f"{si.state.messages:,}" if si is not None else None),
            ("ttl", fmt_duration(self.ttl) if self.ttl else "none"),
            ("storage", str(self.storage)), ("replicas", self.replicas),
            ("sealed", self.sealed), ("compressed", self.is_compressed),
            ("metadata", fmt_mapping(self.metadata) if self.metadata else None)]
        return field_table(f"Object store {self.bucket}", rows, subtitle=subtitle)


class Bucket(Protocol):
    """What an object's reader and writer use of their store (``ObjectStore`` has it)."""

    _js: Context
    bucket: str
    _stream: Stream
    _stream_name: str

    def _direct(self) -> bool: ...

    async def _publish_meta(self, info: ObjectInfo) -> None: ...

    async def _purge_subject(self, subject: str) -> None: ...
