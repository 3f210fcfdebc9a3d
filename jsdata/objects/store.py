"""Object stores: large blobs in a stream, chunked and digested as the official clients do.

A bucket is the stream ``OBJ_<bucket>`` with subjects ``$O.<bucket>.C.>`` (chunks, on
``$O.<bucket>.C.<nuid>``) and ``$O.<bucket>.M.>`` (one rolled-up meta message per object on
``$O.<bucket>.M.<base64url(name)>``), so objects are interchangeable with nats.go, nats-py
and the ``nats`` CLI. :class:`ObjectStore` is one bucket; the bucket management methods
of ``JetStream`` are in :mod:`jsdata.objects.manager`. Reading and writing files happens in
:mod:`jsdata.objects.files`.
"""

from __future__ import annotations

import inspect
import io
import os
from collections.abc import Generator, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .. import errors
from .._repr import human_bytes
from .._util import run_sync
from ..client import names
from ..client._model import make_config
from ..client.config import (
    ObjectLink,
    ObjectMeta,
    ObjectMetaOptions,
)
from ..client.headers import encode_headers
from ..client.info import ObjectInfo as _ObjectInfoBase
from .files import ObjectResult
from .layout import (
    DEFAULT_CHUNK_SIZE,
    ObjectInfo,
    ObjectStoreStatus,
    chunk_subject,
    map_publish_error,
    meta_subject,
    new_nuid,
    object_name,
)
from .writer import ObjectWriter

if TYPE_CHECKING:
    from ..client.jetstream import JetStream
    from ..client.stream import Stream

__all__ = ["ObjectStore", "ObjectWatcher"]

_ROLLUP_HDR = encode_headers({"Nats-Rollup": "sub"})
_MAX_LINK_HOPS = 8


# ---------------------------------------------------------------------------------------------
# watcher


class ObjectWatcher:
    """Live object infos of a bucket: an async iterator of :class:`ObjectInfo`, with one
    ``None`` after the initial values (none with ``updates_only``).

    ``await w.next(timeout)`` raises JetStreamTimeoutError when nothing arrives in time;
    iteration ends once :meth:`stop` was called.
    """

    def __init__(self, store: ObjectStore, feed: Any, ignore_deletes: bool) -> None:
        self._store = store
        self._feed = feed
        self._ignore_deletes = ignore_deletes

    def __repr__(self) -> str:
        state = "stopped" if self._feed.stopped else "running"
        return f"<ObjectWatcher {self._store.bucket} {state}>"

    def _convert(self, m: Any) -> ObjectInfo | None:
        """The info of a meta message (None: skip it)."""
        try:
            info = ObjectInfo.from_json(m.data)
        except (ValueError, TypeError):
            return None
        if self._ignore_deletes and info.deleted:
            return None
        try:
            info.mtime = m.metadata.timestamp
        except errors.JetStreamError:
            pass
        return info

    async def next(self, timeout: float | None = None) -> ObjectInfo | None:
        """The next info (or the end-of-initial-values ``None``)."""
        while True:
            m = await self._feed.next(timeout)
            if m is None:
                return None
            info = self._convert(m)
            if info is not None:
                return info

    def __aiter__(self) -> ObjectWatcher:
        return self

    async def __anext__(self) -> ObjectInfo | None:
        return await self.next()

    async def _next_many(self) -> list[ObjectInfo | None]:
        """Every buffered info, waiting for at least one ([] once stopped)."""
        while True:
            msgs = await self._feed.next_many()
            if not msgs:
                return []
            out: list[ObjectInfo | None] = []
            for m in msgs:
                if m is None:
                    out.append(None)
                else:
                    info = self._convert(m)
                    if info is not None:
                        out.append(info)
            if out:
                return out

    async def stop(self) -> None:
        """Stop watching (deletes the server-side consumer)."""
        await self._feed.stop()

    async def __aenter__(self) -> ObjectWatcher:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


# ---------------------------------------------------------------------------------------------
# the store


class _Opener:
    """What ``ObjectStore.open`` returns in the asyncio API: ``await`` it for the file, or use
    it directly in ``async with``."""

    def __init__(self, factory: Any) -> None:
        self._factory = factory
        self._obj: Any = None

    def __await__(self) -> Generator[Any, None, Any]:
        return self._factory().__await__()

    async def __aenter__(self) -> Any:
        self._obj = await self._factory()
        return await self._obj.__aenter__()

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._obj.__aexit__(*exc)


def _meta_from(meta: ObjectMeta | Mapping[str, Any] | str) -> ObjectMeta:
    if isinstance(meta, str):
        return ObjectMeta(name=object_name(meta))
    if isinstance(meta, ObjectMeta):
        m = make_config(ObjectMeta, meta.meta if isinstance(meta, _ObjectInfoBase) else meta)
    elif isinstance(meta, Mapping):
        m = make_config(ObjectMeta, meta)
    else:
        raise errors.InvalidObjectNameError(
            f"invalid object {meta!r}: expected a name, an ObjectMeta or a mapping")
    object_name(m.name)
    return m


def _open_options(mode: str, show_deleted: bool, chunk_size: int | None,
                  description: str | None, headers: Mapping[str, Any] | None,
                  metadata: Mapping[str, str] | None) -> dict[str, Any]:
    """The keywords of ``open`` that apply to ``mode``; one for the other mode is an error."""
    write = {"chunk_size": chunk_size, "description": description, "headers": headers,
             "metadata": metadata}
    if _mode(mode) == "r":
        wrong = [k for k, v in write.items() if v is not None]
        if wrong:
            raise errors.InvalidArgumentError(
                f"{', '.join(wrong)} only apply when writing (mode 'wb'), not mode {mode!r}")
        return {"show_deleted": show_deleted} if show_deleted else {}
    if show_deleted:
        raise errors.InvalidArgumentError(
            f"show_deleted only applies when reading (mode 'rb'), not mode {mode!r}")
    return {k: v for k, v in write.items() if v is not None}


def _mode(mode: str) -> str:
    """"r" or "w" for the binary modes objects support ("r"/"w" alone mean binary too)."""
    if mode in ("rb", "br", "r"):
        return "r"
    if mode in ("wb", "bw", "w"):
        return "w"
    raise errors.InvalidArgumentError(
        f"unsupported mode {mode!r}: objects are opened 'rb' or 'wb' (binary; no append, "
        f"update or exclusive create)")


class ObjectStore:
    """One object store bucket. Obtain it from ``js.object_store(bucket)`` or
    ``js.create_object_store(...)``."""

    def __init__(self, js: JetStream, bucket: str, stream: Stream) -> None:
        self._js = js
        self.bucket = bucket
        self._stream = stream
        self._stream_name = stream.name

    # -- descriptions (cached info only) -------------------------------------------------------
    @property
    def name(self) -> str:
        """The bucket name."""
        return self.bucket

    @property
    def stream_name(self) -> str:
        return self._stream_name

    def cached_status(self) -> ObjectStoreStatus:
        """The status from the last server call, without a network round trip."""
        return ObjectStoreStatus.from_stream_info(self.bucket, self._stream.cached_info())

    def __repr__(self) -> str:
        st = self.cached_status()
        sealed = " sealed" if st.sealed else ""
        return f"<ObjectStore {self.bucket!r} size={human_bytes(st.size)}{sealed} (cached)>"

    def _repr_html_(self) -> str:
        """The cached bucket info as bounded, escaped HTML (no network call)."""
        return self.cached_status()._repr_html_(subtitle="cached info; obs.status() refreshes")

    def _direct(self) -> bool:
        return bool(self._stream.cached_info().config.allow_direct)

    def _check_not_sealed(self) -> None:
        if self._stream.cached_info().config.sealed:
            raise errors.BucketSealedError(f"object store {self.bucket!r} is sealed")

    # -- low-level helpers -------------------------------------------------------------------
    async def _publish_meta(self, info: ObjectInfo) -> None:
        """Publish an object's meta (rolling up the previous one), as nats.go's publishMeta."""
        info.mtime = None  # the wire carries Go's zero time; readers use the message time
        subj = meta_subject(self.bucket, str(info.name))
        js = self._js
        try:
            fut = await js._publish_async_raw(subj, info.to_json_bytes(), _ROLLUP_HDR)
            await fut
        except errors.JetStreamError as e:
            raise map_publish_error(e, self.bucket) from None
        info.mtime = datetime.now(timezone.utc)

    async def _purge_subject(self, subject: str) -> None:
        try:
            await self._stream.purge(subject=subject)
        except errors.JetStreamError as e:
            raise map_publish_error(e, self.bucket) from None

    # -- infos -------------------------------------------------------------------------------
    async def get_info(self, name: str, show_deleted: bool = False) -> ObjectInfo:
        """The object's info (ObjectNotFoundError if missing, or deleted unless
        ``show_deleted``)."""
        object_name(name)
        subj = meta_subject(self.bucket, name)
        try:
            m = await self._stream.get_last_msg_for_subject(subj)
        except errors.MsgNotFoundError:
            raise errors.ObjectNotFoundError(
                f"object {name!r} not found in bucket {self.bucket!r}") from None
        except errors.StreamNotFoundError:
            raise errors.BucketNotFoundError(f"object store {self.bucket!r} not found") from None
        except errors.APIError as e:
            if e.code == 503:
                raise errors.BucketNotFoundError(
                    f"object store {self.bucket!r} not found") from None
            raise
        try:
            info = ObjectInfo.from_json(m.data)
        except (ValueError, TypeError):
            raise errors.ObjectStoreError(
                f"object {name!r} in bucket {self.bucket!r} has invalid meta") from None
        if info.deleted and not show_deleted:
            raise errors.ObjectNotFoundError(
                f"object {name!r} not found in bucket {self.bucket!r} (deleted)")
        info.mtime = m.time
        return info

    async def list(self, show_deleted: bool = False) -> list[ObjectInfo]:
        """The info of every object in the bucket (deleted ones only with ``show_deleted``)."""
        w = await self.watch(ignore_deletes=not show_deleted)
        out: list[ObjectInfo] = []
        try:
            while True:
                items = await w._next_many()
                if not items:
                    return out
                for it in items:
                    if it is None:
                        return out
                    out.append(it)
        finally:
            await w.stop()

    async def watch(self, include_history: bool = False, ignore_deletes: bool = False,
                    updates_only: bool = False) -> ObjectWatcher:
        """Watch the bucket's object infos (see :class:`ObjectWatcher`)."""
        from ..client.watch import OrderedFeed
        if updates_only:
            policy = "new"
        elif include_history:
            policy = "all"
        else:
            policy = "last_per_subject"
        feed = OrderedFeed(self._js, self._stream_name,
                           filter_subjects=[f"$O.{self.bucket}.M.>"], deliver_policy=policy,
                           mark_initial=not updates_only)
        try:
            await feed.start()
        except errors.StreamNotFoundError:
            raise errors.BucketNotFoundError(f"object store {self.bucket!r} not found") from None
        return ObjectWatcher(self, feed, ignore_deletes)

    async def status(self) -> ObjectStoreStatus:
        """Fresh status of the bucket."""
        try:
            si = await self._stream.info()
        except errors.StreamNotFoundError:
            raise errors.BucketNotFoundError(f"object store {self.bucket!r} not found") from None
        return ObjectStoreStatus.from_stream_info(self.bucket, si)

    # -- writing -----------------------------------------------------------------------------
    async def _writer(self, meta: ObjectMeta | Mapping[str, Any] | str, *,
                      chunk_size: int | None = None, description: str | None = None,
                      headers: Mapping[str, Any] | None = None,
                      metadata: Mapping[str, str] | None = None) -> ObjectWriter:
        m = _meta_from(meta)
        extra: dict[str, Any] = {}
        if description is not None:
            extra["description"] = description
        if headers is not None:
            extra["headers"] = dict(headers)
        if metadata is not None:
            extra["metadata"] = dict(metadata)
        if extra:
            m = m.replace(**extra)
        opts = m.opts or ObjectMetaOptions()
        if opts.link is not None:
            raise errors.ObjectLinkError("put cannot store a link; use add_link")
        size = chunk_size or opts.max_chunk_size or DEFAULT_CHUNK_SIZE
        if int(size) <= 0:
            raise errors.InvalidArgumentError(f"chunk size must be > 0, got {size!r}")
        m.opts = ObjectMetaOptions(max_chunk_size=int(size))
        self._check_not_sealed()
        try:
            existing: ObjectInfo | None = await self.get_info(str(m.name), show_deleted=True)
        except errors.ObjectNotFoundError:
            existing = None
        return ObjectWriter(self, m, existing)

    def open(self, name: str | ObjectMeta, mode: str = "rb", *, show_deleted: bool = False,
             chunk_size: int | None = None, description: str | None = None,
             headers: Mapping[str, Any] | None = None, metadata: Mapping[str, str] | None = None
             ) -> _Opener:
        """Open an object as a file: ``"rb"`` gives the seekable :class:`ObjectResult`,
        ``"wb"`` an :class:`~jsdata.objects.files.ObjectWriter` (``await f.write(b)``; the object
        appears on close, an exception inside ``async with`` aborts it).

        ``await obs.open(...)`` or ``async with obs.open(...) as f``. Keywords for "wb":
        ``chunk_size``, ``description``, ``headers``, ``metadata``; for "rb":
        ``show_deleted``.
        """
        kw = _open_options(mode, show_deleted, chunk_size, description, headers, metadata)
        if _mode(mode) == "r":
            nm = name if isinstance(name, str) else object_name(name.name)
            return _Opener(lambda: self.get(nm, **kw))
        return _Opener(lambda: self._writer(name, **kw))

    async def put(self, meta: ObjectMeta | Mapping[str, Any] | str, data: Any = None, *,
                  chunk_size: int | None = None) -> ObjectInfo:
        """Store an object from bytes, str, a binary file (sync or async ``read``), or an
        iterable of bytes; replaces an object of the same name. Returns its ObjectInfo.

        Chunks are published pipelined; the previous version's chunks are purged once the
        new meta landed. On failure nothing becomes visible.
        """
        w = await self._writer(meta, chunk_size=chunk_size)
        try:
            await _feed(w, data)
        except BaseException:
            await w.abort()
            raise
        return await w.close()

    async def put_bytes(self, name: str, data: bytes | bytearray | memoryview) -> ObjectInfo:
        """Store ``data`` under ``name``."""
        return await self.put(name, data)

    async def put_string(self, name: str, data: str) -> ObjectInfo:
        """Store the UTF-8 encoding of ``data`` under ``name``."""
        return await self.put(name, data.encode())

    async def put_file(self, path: str | os.PathLike[str], name: str | None = None
                       ) -> ObjectInfo:
        """Store a local file; the object name defaults to the path as given."""
        p = os.fspath(path)
        f = await run_sync(open, p, "rb")
        try:
            return await self.put(name if name is not None else p, f)
        finally:
            f.close()

    # -- reading -----------------------------------------------------------------------------
    async def get(self, name: str, show_deleted: bool = False) -> ObjectResult:
        """The object as a seekable binary file (:class:`ObjectResult`); links are followed,
        a link to a whole bucket raises ObjectLinkError."""
        store: ObjectStore = self
        target = name
        for _ in range(_MAX_LINK_HOPS):
            info = await store.get_info(target, show_deleted=show_deleted)
            if not info.nuid:
                raise errors.ObjectStoreError(f"object {target!r} has invalid meta (no nuid)")
            link = info.link
            if link is None:
                return ObjectResult(store, info)
            if not link.name:
                raise errors.ObjectLinkError(
                    f"object {target!r} is a link to bucket {link.bucket!r}, not to an object")
            if link.bucket != store.bucket:
                store = await self._js.object_store(str(link.bucket))
            target = link.name
            show_deleted = False
        raise errors.ObjectLinkError(f"too many links followed from {name!r}")

    async def get_bytes(self, name: str, show_deleted: bool = False) -> bytes:
        """The whole object (digest verified)."""
        r = await self.get(name, show_deleted=show_deleted)
        try:
            return await r.read()
        finally:
            await r.close()

    async def get_string(self, name: str, show_deleted: bool = False) -> str:
        """The whole object decoded as UTF-8."""
        return (await self.get_bytes(name, show_deleted=show_deleted)).decode()

    async def get_file(self, name: str, path: str | os.PathLike[str],
                       show_deleted: bool = False) -> ObjectInfo:
        """Write the object to a local file (overwritten; removed again if the read fails);
        returns the object's info."""
        r = await self.get(name, show_deleted=show_deleted)
        p = os.fspath(path)
        f = await run_sync(open, p, "wb")
        ok = False
        try:
            pending = None
            it = r.iter_chunks()
            while True:
                parts = await it._next_many()
                if pending is not None:
                    await pending
                if not parts:
                    break
                block = parts[0] if len(parts) == 1 else b"".join(parts)
                pending = run_sync(f.write, block)
            ok = True
        finally:
            await run_sync(f.close)
            await r.close()
            if not ok:
                try:
                    os.unlink(p)
                except OSError:
                    pass
        return r.info

    # -- changing ----------------------------------------------------------------------------
    async def update_meta(self, name: str, meta: ObjectMeta | Mapping[str, Any]) -> None:
        """Change an object's name, description, headers and metadata (not its options);
        a meta without a name keeps the name.

        Renaming onto an existing object raises ObjectExistsError.
        """
        self._check_not_sealed()
        if isinstance(meta, Mapping):
            m = make_config(ObjectMeta, meta)
        elif isinstance(meta, ObjectMeta):
            m = meta.meta if isinstance(meta, _ObjectInfoBase) else meta
        else:
            raise errors.InvalidArgumentError(
                f"update_meta needs an ObjectMeta or a mapping, got {type(meta).__name__}")
        info = await self.get_info(name)
        new_name = m.name or name
        if new_name != name:
            try:
                other = await self.get_info(new_name, show_deleted=True)
            except errors.ObjectNotFoundError:
                other = None
            if other is not None and not other.deleted:
                raise errors.ObjectExistsError(
                    f"cannot rename {name!r}: object {new_name!r} exists in bucket "
                    f"{self.bucket!r}")
        info.name = new_name
        info.description = m.description
        info.headers = m.headers
        info.metadata = m.metadata
        await self._publish_meta(info)
        if new_name != name:
            await self._purge_subject(meta_subject(self.bucket, name))

    async def delete(self, name: str) -> None:
        """Delete an object: its chunks are purged, its meta kept with ``deleted`` set."""
        self._check_not_sealed()
        info = await self.get_info(name, show_deleted=True)
        if not info.nuid:
            raise errors.ObjectStoreError(f"object {name!r} has invalid meta (no nuid)")
        info.deleted = True
        info.size = 0
        info.chunks = 0
        info.digest = None
        await self._publish_meta(info)
        await self._purge_subject(chunk_subject(self.bucket, info.nuid))

    async def _add_link_info(self, name: str, link: ObjectLink) -> ObjectInfo:
        object_name(name)
        self._check_not_sealed()
        try:
            existing = await self.get_info(name, show_deleted=True)
        except errors.ObjectNotFoundError:
            existing = None
        if existing is not None and not existing.is_link():
            raise errors.ObjectExistsError(
                f"object {name!r} exists in bucket {self.bucket!r} and is not a link")
        info = ObjectInfo(name=name, opts=ObjectMetaOptions(link=link), bucket=self.bucket,
                          nuid=new_nuid())
        await self._publish_meta(info)
        return info

    async def add_link(self, name: str, info: ObjectInfo) -> ObjectInfo:
        """Add a link object ``name`` pointing to the object ``info`` describes (in any
        bucket); links to links and to deleted objects are refused (ObjectLinkError)."""
        if info is None or not getattr(info, "name", None):
            raise errors.ObjectLinkError("add_link needs the info of the object to link to")
        if info.deleted:
            raise errors.ObjectLinkError(f"cannot link to the deleted object {info.name!r}")
        if info.opts is not None and info.opts.link is not None:
            raise errors.ObjectLinkError(f"cannot link to the link {info.name!r}")
        return await self._add_link_info(name, ObjectLink(bucket=info.bucket or self.bucket,
                                                          name=info.name))

    async def add_bucket_link(self, name: str, bucket: ObjectStore | str) -> ObjectInfo:
        """Add a link object ``name`` pointing to a whole bucket."""
        if isinstance(bucket, ObjectStore):
            target = bucket.bucket
        elif isinstance(bucket, str):
            target = names.bucket_name(bucket)
        else:
            raise errors.ObjectLinkError("add_bucket_link needs an ObjectStore or bucket name")
        return await self._add_link_info(name, ObjectLink(bucket=target))

    async def seal(self) -> None:
        """Seal the bucket: no further changes are accepted."""
        si = await self._stream.info()
        cfg = si.config.replace(sealed=True)
        s = await self._js.update_stream(cfg)
        self._stream = s


async def _feed(w: ObjectWriter, data: Any) -> None:
    """Copy ``data`` (bytes, str, sync/async reader, sync/async iterable) into a writer."""
    if data is None:
        return
    if isinstance(data, str):
        data = data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        await w.write(data)
        return
    block = max(w.chunk_size, 1024 * 1024)
    read = getattr(data, "read", None)
    if callable(read):
        if inspect.iscoroutinefunction(read):
            while True:
                b = await read(block)
                if not b:
                    return
                await w.write(_as_bytes(b))
        in_memory = isinstance(data, io.BytesIO)
        while True:
            b = read(block) if in_memory else await run_sync(read, block)
            if inspect.isawaitable(b):
                b = await b
            if not b:
                return
            await w.write(_as_bytes(b))
    if hasattr(data, "__aiter__"):
        async for piece in data:
            await w.write(_as_bytes(piece))
        return
    if hasattr(data, "__iter__"):
        it = iter(data)
        end = object()
        while True:
            piece = await run_sync(next, it, end)
            if piece is end:
                return
            await w.write(_as_bytes(piece))
    raise errors.InvalidArgumentError(
        f"cannot store a {type(data).__name__}: give bytes, str, a binary file or an iterable "
        f"of bytes")


def _as_bytes(b: Any) -> bytes | bytearray | memoryview:
    if isinstance(b, (bytes, bytearray, memoryview)):
        return b
    if isinstance(b, str):
        raise errors.InvalidArgumentError("the reader returned str: open files in binary mode")
    raise errors.InvalidArgumentError(f"expected bytes from the reader, got {type(b).__name__}")
