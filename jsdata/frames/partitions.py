"""Planning a partitioned read: a stream's range cut into contiguous, disjoint sequence ranges
(:class:`StreamPartition`) that separate workers read, together covering it exactly once.

``end`` defaults to the stream's last sequence *at planning time*, so a plan is a snapshot
later writes do not change. Reading the partitions (each with its own connection) is the
engine-neutral half in :mod:`jsdata.partitions`; the Dask, Ray and Spark adapters sit on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import errors

if TYPE_CHECKING:
    from ..client.stream import Stream

__all__ = ["DEFAULT_TARGET_ROWS", "StreamPartition", "plan_partitions"]

DEFAULT_TARGET_ROWS = 500_000  # rows per partition when neither n nor target_rows is given


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
    from ..client._conn import new_token
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
    from .options import ReadOptions
    from .reader import _make_plan
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
