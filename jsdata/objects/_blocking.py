"""Blocking-only extras of object stores: real ``io`` file objects over objects.

``jsdata.ObjectStore.get`` / ``open`` return :class:`BlockingObjectResult` (a seekable
``io.BufferedIOBase``) and :class:`BlockingObjectWriter`; pandas and pyarrow call them from
user threads. ``jsdata._twins`` makes ``BlockingObjectResult`` the twin of ``ObjectResult``.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Awaitable, Mapping
from typing import Any

from ..blocking.loop import LoopThread
from ..blocking.twin import SyncIterator
from ..client.config import ObjectMeta
from .files import ObjectResult
from .layout import ObjectInfo, object_name
from .store import ObjectStore, _mode, _open_options
from .writer import ObjectWriter


class _BlockingObjectFile(io.BufferedIOBase):
    """What the blocking API's object files share: the async core, its loop thread, a lock."""

    _MODE = "rb"  # "rb": readable and seekable; "wb": writable

    def __init__(self, core: Any, lt: LoopThread) -> None:
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

    def __init__(self, core: ObjectResult, lt: LoopThread) -> None:
        super().__init__(core, lt)
        self._cursors = threading.local()  # .pos: this thread's position
        self._owner: int | None = None  # the thread that used the file last

    @classmethod
    def _wrap(cls, core: ObjectResult, lt: LoopThread) -> BlockingObjectResult:
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
        return SyncIterator(self._core.iter_chunks(), self._lt)

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

    def __init__(self, core: ObjectWriter, lt: LoopThread) -> None:
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
                self._lt.start(self._core.abort())
            if not self.closed:
                io.BufferedIOBase.close(self)
        except Exception:  # noqa: BLE001 - nothing can be reported from __del__
            pass


class ObjectStoreExtras:
    """Blocking-only parts of ``jsdata.ObjectStore``: real io file objects for open()/get()."""

    _core: ObjectStore
    _lt: Any

    def get(self, name: str, show_deleted: bool = False) -> BlockingObjectResult:
        """The object as a seekable binary file (an io.BufferedIOBase); follows links."""
        core = self._lt.run(self._core.get(name, show_deleted=show_deleted))
        return BlockingObjectResult(core, self._lt)

    def open(self, name: str | ObjectMeta, mode: str = "rb", *, show_deleted: bool = False,
             chunk_size: int | None = None, description: str | None = None,
             headers: Mapping[str, Any] | None = None, metadata: Mapping[str, str] | None = None
             ) -> BlockingObjectResult | BlockingObjectWriter:
        """``"rb"``: a seekable binary file over the object; ``"wb"``: a streaming writer
        (the object appears when it is closed; an exception in ``with`` aborts it).

        Keywords for "wb": ``chunk_size``, ``description``, ``headers``, ``metadata``; for
        "rb": ``show_deleted``.
        """
        kw = _open_options(mode, show_deleted, chunk_size, description, headers, metadata)
        if _mode(mode) == "r":
            if not isinstance(name, str):
                name = object_name(name.name)
            return self.get(name, **kw)
        core = self._lt.run(self._core._writer(name, **kw))
        return BlockingObjectWriter(core, self._lt)
