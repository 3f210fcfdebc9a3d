"""The threads that decode reads: each read decodes (and converts to pandas) on one thread.

Arrow's allocator (mimalloc) and glibc keep a heap per thread, and each heap keeps memory
it once needed. Handing a read's batches to whichever thread of the loop's default executor
is free warms up a heap per thread: measured, the first decode of a 1.6 MB batch on a fresh
thread grew RSS by 12-14 MB, on a warm one by 0-2 MB, so a 100k-row JSON read spread over
the executor's threads held ~50 MB beyond its 12 MB result. A read therefore keeps all its
decoding on one thread of a small process-wide set: the least busy one, the lowest first,
so reads one after another reuse one warm heap and concurrent reads still decode in
parallel.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_SIZE = max(1, min(4, os.cpu_count() or 1))
_lock = threading.Lock()
_pool: list[ThreadPoolExecutor] = []
_busy: list[int] = []  # reads decoding on each thread


def acquire() -> ThreadPoolExecutor:
    """The single-thread executor a new read decodes on; give it back with :func:`release`."""
    with _lock:
        if not _pool:
            for i in range(_SIZE):
                _pool.append(ThreadPoolExecutor(1, thread_name_prefix=f"jsdata-decode-{i}"))
                _busy.append(0)
        i = _busy.index(min(_busy))
        _busy[i] += 1
        return _pool[i]


def release(executor: ThreadPoolExecutor) -> None:
    """The read that decoded on ``executor`` is over."""
    with _lock:
        for i, e in enumerate(_pool):
            if e is executor and _busy[i] > 0:
                _busy[i] -= 1
                return


def decode_and_trim(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` (a batch decode, on a read's decode thread), then hand the memory its
    transients freed back to the OS: Arrow's pool keeps freed pages for a while on the
    thread that used them, and glibc keeps freed blocks of a size it has seen mmap'd in its
    heap. Measured on a 100k-row wide JSON read: RSS after the read +20 MB instead of
    +35-55 MB for a 12 MB result, at ~1 ms per batch of a few MB."""
    out = fn(*args)
    trim()
    return out


def trim() -> None:
    """Return freed memory to the OS: the Arrow pool's (this thread's heap) and glibc's
    (``malloc_trim``, which Arrow's system pool calls)."""
    import pyarrow as pa
    pool = pa.default_memory_pool()
    pool.release_unused()
    if pool.backend_name != "system":
        pa.system_memory_pool().release_unused()
