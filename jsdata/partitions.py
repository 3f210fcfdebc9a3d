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

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import errors

if TYPE_CHECKING:
    import pyarrow as pa

    from .jetstream import JetStream
    from .stream import Stream

DEFAULT_TARGET_ROWS = 500_000  # rows per partition when neither n nor target_rows is given
PLANNED = ("subjects", "start", "end")  # read options fixed by the plan, not by the reader
META_STRIP = (b"jetstream",)  # per-partition schema metadata engines drop to share one schema


@dataclass(frozen=True)
class StreamPartition:
    """One contiguous range of a stream, ``start_seq`` … ``end_seq`` (both inclusive).

    A plain picklable value: send it to any worker and read it there with
    :func:`read_partition`. ``subjects`` is the server-side subject filter (None: all);
    ``rows_estimate`` the planner's estimate of the messages in the range (exact for an
    unfiltered stream without deleted messages). A range with ``end_seq < start_seq`` is
    empty.
    """

    stream: str
    subjects: tuple[str, ...] | None
    start_seq: int
    end_seq: int
    rows_estimate: int

    def __repr__(self) -> str:
        subj = f" subjects={list(self.subjects)}" if self.subjects else ""
        return (f"<StreamPartition {self.stream} seq {self.start_seq}..{self.end_seq}{subj}"
                f" ~{self.rows_estimate} rows>")


def _count_arg(what: str, v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not hasattr(v, "__index__") or v.__index__() < 1:
        raise errors.InvalidArgumentError(f"{what} must be an int >= 1, got {v!r}")
    return int(v.__index__())


async def _matching(stream: Stream, filters: list[str], start: int) -> int:
    """How many messages from ``start`` on match ``filters``: the ``num_pending`` of a
    short-lived ephemeral consumer (AckNone, memory storage), deleted at once."""
    from ._conn import new_token
    cfg: dict[str, Any] = {
        "name": f"jsdata_plan_{new_token(8)}", "ack_policy": "none",
        "deliver_policy": "by_start_sequence", "opt_start_seq": start, "mem_storage": True,
        "num_replicas": 1, "inactive_threshold": 30.0,
    }
    if len(filters) == 1:
        cfg["filter_subject"] = filters[0]
    else:
        cfg["filter_subjects"] = list(filters)
    c = await stream._js.create_consumer(stream.name, **cfg)
    try:
        return int(c.cached_info().num_pending)
    finally:
        try:
            await stream._js.delete_consumer(stream.name, c.name)
        except errors.JetStreamError:
            pass  # it goes away by itself after inactive_threshold


async def plan_partitions(stream: Stream, n: int | None = None, target_rows: int | None = None,
                          subjects: str | list[str] | None = None, start: Any = None,
                          end: Any = None) -> list[StreamPartition]:
    """Cut ``stream`` (or the range ``start`` … ``end``, by sequence or time, of the messages
    matching ``subjects``) into partitions; see :meth:`jsdata.aio.Stream.partitions`."""
    from .reader import ReadOptions, _make_plan
    n = _count_arg("n", n)
    target_rows = _count_arg("target_rows", target_rows)
    if n is not None and target_rows is not None:
        raise errors.InvalidArgumentError("partitions: give n or target_rows, not both")
    o = ReadOptions.parse({"subjects": subjects, "start": start, "end": end})
    plan = await _make_plan(stream, o)  # fetches fresh info: the snapshot's end
    first, last = plan.start_seq, plan.end_seq
    span = last - first + 1
    if span <= 0:
        return []
    st = stream._info.state
    if plan.filters:
        ahead = await _matching(stream, plan.filters, first)
        seen_last = max(stream._info.state.last_seq, last)
        total = round(ahead * span / max(seen_last - first + 1, 1))
    else:
        stored = max(st.last_seq - max(st.first_seq, 1) + 1, 1)
        total = round(span * min(st.messages / stored, 1.0))
    if n is None:
        n = math.ceil(total / (target_rows or DEFAULT_TARGET_ROWS)) or 1
    n = min(n, span)
    subj = tuple(plan.filters) if plan.filters else None
    parts = []
    for i in range(n):
        a = first + span * i // n
        b = first + span * (i + 1) // n - 1
        parts.append(StreamPartition(stream.name, subj, a, b,
                                     round(total * (b - a + 1) / span)))
    return parts


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
        from .jetstream import connect
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
    from .blocking import LoopThread
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
    from . import names
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
