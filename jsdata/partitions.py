"""Partitioned reads: split a stream into sequence ranges that separate workers read.

The engine-neutral half of scale-out (the Dask, Ray and Spark adapters in
:mod:`jsdata.dask`, :mod:`jsdata.ray` and :mod:`jsdata.spark` are thin layers over it):

* ``s.partitions(n=..., target_rows=..., subjects=..., start=..., end=...)`` plans: it fixes
  the range once (``end`` defaults to the stream's last sequence *at planning time*, so a plan
  is a snapshot that later writes do not change) and cuts it into contiguous, disjoint
  sequence ranges that together cover it exactly once.
* :func:`read_partition` reads one :class:`StreamPartition` with its own connection and no
  durable state on the server: the reader's batched direct get, or a short-lived ephemeral
  consumer bounded by the partition's sequences. Subject filters travel with the partition
  and are applied by the server. Nothing is acknowledged, so reading a partition twice gives
  the same table (as long as the messages are still stored).

Exactly-once for engines follows from this: a reader's progress is a stream sequence (a
checkpoint), never an ack; writers dedupe retried tasks with ``Nats-Msg-Id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import errors
from .frames.partitions import DEFAULT_TARGET_ROWS, StreamPartition, plan_partitions

if TYPE_CHECKING:
    import pyarrow as pa

    from ._api import JetStream

__all__ = ["StreamPartition", "aread_partition", "read_partition", "plan", "sample",
           "split_read", "plan_partitions", "capped_end", "DEFAULT_TARGET_ROWS"]

PLANNED = ("subjects", "start", "end")  # read options fixed by the plan, not by the reader
META_STRIP = (b"jetstream",)  # per-partition schema metadata engines drop to share one schema


async def aread_partition(part: StreamPartition, servers: Any = None, *,
                          js: JetStream | None = None,
                          connect_options: Mapping[str, Any] | None = None,
                          **read: Any) -> pa.Table:
    """The asyncio :func:`read_partition` (``jsdata.aio.read_partition``)."""
    if not isinstance(part, StreamPartition):
        raise errors.InvalidArgumentError(
            f"read_partition needs a StreamPartition, not {type(part).__name__}")
    fixed = sorted(k for k in PLANNED if k in read)
    if fixed:
        raise errors.InvalidArgumentError(
            f"read option(s) {', '.join(fixed)} are fixed by the partition: pass them to "
            "partitions() when planning")
    read.setdefault("progress", False)
    bounds = {"start": part.start_seq, "end": part.end_seq,
              "subjects": list(part.subjects) if part.subjects else None}
    own = js is None
    if own:
        from ._api import connect
        js = await connect(servers, **dict(connect_options or {}))
    assert js is not None
    try:
        s = await js.stream(part.stream)
        return await s.to_arrow(**bounds, **read)
    finally:
        if own:
            await js.close()


def read_partition(part: StreamPartition, servers: Any = None, *,
                   connect_options: Mapping[str, Any] | None = None,
                   **read: Any) -> pa.Table:
    """Read one partition into a ``pyarrow.Table`` with its own connection.

    ``servers`` is the NATS URL (None: ``JSDATA_URL`` / ``NATS_URL``, else the embedded
    server); ``connect_options`` more keywords for :func:`jsdata.connect` (credentials,
    TLS). ``read`` takes the read options of :func:`jsdata.read_stream` except ``subjects``,
    ``start`` and ``end``, which the partition fixes. No durable state is created and nothing
    is acknowledged, so the same partition read twice gives the same table; its schema
    metadata ``b"jetstream"`` records the range.
    """
    from .blocking.loop import LoopThread
    if not isinstance(part, StreamPartition):
        raise errors.InvalidArgumentError(
            f"read_partition needs a StreamPartition, not {type(part).__name__}")
    lt = LoopThread("jsdata-partition")
    try:
        return lt.run(aread_partition(part, servers, connect_options=connect_options, **read))
    finally:
        lt.stop()


# ---------------------------------------------------------------------------------------------
# helpers for the engine adapters (they plan on the driver, read on the workers)

def split_read(read: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``read`` options as (planning: subjects/start/end, reading: the rest)."""
    planned = {k: v for k, v in read.items() if k in PLANNED}
    return planned, {k: v for k, v in read.items() if k not in PLANNED}


def plan(stream: Any, servers: Any = None, *, n: int | None = None,
         target_rows: int | None = None, connect_options: Mapping[str, Any] | None = None,
         at_least_one: bool = False, **planned: Any) -> list[StreamPartition]:
    """Plan ``stream`` (a name, or a blocking ``Stream``) from the driver, with a connection
    of its own when given a name. ``at_least_one``: an empty range gives one empty partition
    (``end_seq < start_seq``) instead of none, for engines that need a partition."""
    from .client import names
    if isinstance(stream, str):
        names.stream_name(stream)
        import jsdata
        js = jsdata.connect(servers, **dict(connect_options or {}))
        try:
            parts = js.stream(stream).partitions(n=n, target_rows=target_rows, **planned)
        finally:
            js.close()
        name = stream
    elif hasattr(stream, "partitions") and hasattr(stream, "name"):
        parts = stream.partitions(n=n, target_rows=target_rows, **planned)
        name = stream.name
    else:
        raise errors.InvalidArgumentError(
            f"stream must be a stream name or a Stream, not {type(stream).__name__}")
    if not parts and at_least_one:
        subj = planned.get("subjects")
        subj = (subj,) if isinstance(subj, str) else (tuple(subj) if subj else None)
        parts = [StreamPartition(name, subj, 1, 0, 0)]
    return parts


def sample(parts: list[StreamPartition], servers: Any = None, rows: int = 100, *,
           connect_options: Mapping[str, Any] | None = None, **read: Any) -> pa.Table:
    """The first ``rows`` messages of the plan, read as the workers will read them: the
    schema (and dtypes) for engines that need one before any task runs."""
    for p in parts:
        if p.end_seq >= p.start_seq:
            mm = read.get("max_messages")
            t = read_partition(p, servers, connect_options=connect_options,
                               **{**read, "max_messages": rows if mm is None else min(mm, rows)})
            if t.num_rows or p is parts[-1]:
                return t
    return read_partition(parts[0], servers, connect_options=connect_options, **read)


def capped_end(stream: str, servers: Any = None, *, after: int, count: int,
               subjects: str | list[str] | None = None, end: int | None = None,
               connect_options: Mapping[str, Any] | None = None) -> int:
    """The last sequence of a micro-batch that starts after sequence ``after`` and holds at
    most ``count`` messages matching ``subjects`` (up to ``end``, else the stream's last
    sequence), counted by the server: a streaming engine's per-trigger cap in messages even
    when a filter makes them sparse in sequences. See
    :func:`jsdata.frames.partitions.end_for_count`."""
    from .blocking.loop import LoopThread
    from .client import names
    from .frames.partitions import end_for_count
    names.stream_name(stream)

    async def run() -> int:
        from ._api import connect
        js = await connect(servers, **dict(connect_options or {}))
        try:
            return await end_for_count(await js.stream(stream), count, subjects, after, end)
        finally:
            await js.close()

    lt = LoopThread("jsdata-plan")
    try:
        return lt.run(run())
    finally:
        lt.stop()
