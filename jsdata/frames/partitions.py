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

__all__ = ["DEFAULT_TARGET_ROWS", "StreamPartition", "end_for_count", "plan_partitions"]

DEFAULT_TARGET_ROWS = 500_000  # rows per partition when neither n nor target_rows is given


@dataclass(frozen=True)
class StreamPartition:
    """One contiguous range of a stream, ``start_seq`` … ``end_seq`` (both inclusive).

    A plain picklable value: send it to any worker and read it there with
    :func:`read_partition`. ``subjects`` is the server-side subject filter (None: all);
    ``rows_estimate`` the planner's estimate of the messages in the range (exact for an
    unfiltered stream without deleted messages; with a filter, counted by the server at
    planning time, and the cuts are placed so that the partitions hold about as many
    matching messages each). A range with ``end_seq < start_seq`` is
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
    """How many messages from ``start`` on (to the stream's end) match ``filters``: the
    ``num_pending`` of a short-lived ephemeral consumer (AckNone, memory storage), deleted at
    once. The server counts them from its subject index; nothing is delivered."""
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


PROBES = 16  # sequences probed over the whole range first when balancing a filtered plan
REFINE_ROUNDS = 6  # rounds of interpolation probes per cut after that (each cut ends early)
PROBE_CONCURRENCY = 32  # consumer creations in flight at once while probing


async def _counts(stream: Stream, filters: list[str], seqs: list[int],
                  known: dict[int, int]) -> None:
    """Fill ``known[seq]`` = matching messages at or after ``seq`` for every new ``seq``."""
    import asyncio
    todo = sorted(set(seqs) - known.keys())
    gate = asyncio.Semaphore(PROBE_CONCURRENCY)

    async def one(q: int) -> None:
        async with gate:
            known[q] = await _matching(stream, filters, q)
    await asyncio.gather(*(one(q) for q in todo))


def _grid(a: int, b: int, k: int) -> list[int]:
    """Up to ``k`` + 1 sequences spread evenly over ``a`` … ``b``, both included."""
    return sorted({a + (b - a) * i // k for i in range(k + 1)})


async def _refine(stream: Stream, filters: list[str], first: int, last: int,
                  targets: list[float], tolerance: int, known: dict[int, int]) -> None:
    """Probe until every target count of matching messages (counted from ``first``) falls
    in a bracket of probed sequences holding at most ``tolerance`` messages (or one
    sequence wide), or ``REFINE_ROUNDS`` have run: ``PROBES`` sequences over the range,
    then per target the sequence interpolated inside its bracket and one either side.
    ``known`` (sequence -> matching messages from it on) must hold ``first`` and
    ``last + 1``, and gains the probes."""
    def before(q: int) -> int:  # matching messages in first … q - 1
        return known[first] - known[q]

    await _counts(stream, filters, [*_grid(first, last, PROBES), min(first + 1, last)], known)
    for _ in range(REFINE_ROUNDS):
        pts = sorted(q for q in known if first <= q <= last + 1)
        more: list[int] = []
        for t in targets:
            lo = max((q for q in pts if before(q) <= t), default=first)
            hi = min((q for q in pts if before(q) >= t and q > lo), default=last + 1)
            inside = before(hi) - before(lo)
            if hi - lo <= 1 or inside <= tolerance:
                continue
            q = lo + round((hi - lo) * (t - before(lo)) / inside)
            w = max(1, (hi - lo) // 16)
            more += [x for x in (q - w, q, q + w) if lo < x < hi]
        if not more:
            break
        await _counts(stream, filters, more, known)


async def _balanced_cuts(stream: Stream, filters: list[str], first: int, last: int, n: int,
                         known: dict[int, int]) -> list[int]:
    """Start sequences of partitions 2 … n that split the matching messages of
    ``first`` … ``last`` evenly (a sparse or uneven filter would otherwise leave most of the
    rows in a few sequence-even partitions). ``known`` maps probed sequences to their counts
    (:func:`_counts`; it must hold ``first`` and ``last + 1``) and gains the new probes.

    Each cut is refined (:func:`_refine`) to within 1% of a partition's rows; all cuts
    probe concurrently, so planning costs a few round trips. The counts are approximate if
    messages arrive while probing (that only moves the cuts: coverage stays exact, the ranges
    are contiguous whatever the cuts).
    """
    def before(q: int) -> int:  # matching messages in first … q - 1
        return known[first] - known[q]

    total = before(last + 1)
    targets = [total * k / n for k in range(1, n)]
    await _refine(stream, filters, first, last, targets, max(1, total // (100 * n)), known)
    pts = sorted(q for q in known if first < q <= last)
    cuts: list[int] = []
    for k, t in enumerate(targets):
        lowest = (cuts[-1] + 1) if cuts else first + 1
        highest = last - (n - 2 - k)  # leave a sequence for each partition still to cut
        best = min(pts, key=lambda q: (abs(before(q) - t), q)) if pts else lowest
        cuts.append(min(max(best, lowest), highest))
    await _counts(stream, filters, cuts, known)  # a cut moved off the probes gets counted
    return cuts


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
    subj = tuple(plan.filters) if plan.filters else None
    known: dict[int, int] = {}  # sequence -> matching messages from it to the stream's end
    if plan.filters:
        await _counts(stream, plan.filters, [first, last + 1], known)
        total = max(known[first] - known[last + 1], 0)
    else:
        stored = max(st.last_seq - max(st.first_seq, 1) + 1, 1)
        total = round(span * min(st.messages / stored, 1.0))
    if n is None:
        n = math.ceil(total / (target_rows or DEFAULT_TARGET_ROWS)) or 1
    n = min(n, span)
    if plan.filters and n > 1 and total > 0:
        cuts = await _balanced_cuts(stream, plan.filters, first, last, n, known)
        starts, ends = [first, *cuts], [c - 1 for c in cuts] + [last]
        return [StreamPartition(stream.name, subj, a, b,
                                max(known[a] - known[b + 1], 0))
                for a, b in zip(starts, ends, strict=True)]
    parts = []
    for i in range(n):
        a = first + span * i // n
        b = first + span * (i + 1) // n - 1
        parts.append(StreamPartition(stream.name, subj, a, b,
                                     round(total * (b - a + 1) / span)))
    return parts


async def end_for_count(stream: Stream, count: int, subjects: str | list[str] | None,
                        after: int, end: int | None = None) -> int:
    """The highest sequence ``q`` such that at most ``count`` messages in ``after + 1`` …
    ``q`` match ``subjects`` (the stream's last sequence, or ``end``, when fewer match),
    found by the server's counts: a streaming micro-batch capped in *messages* even when a
    filter makes them sparse in sequences. Always at least ``after + 1`` when the range is
    not empty (one sequence holds at most one message), so a capped reader progresses."""
    from .options import ReadOptions
    from .reader import _make_plan
    count = _count_arg("count", count) or 1
    o = ReadOptions.parse({"subjects": subjects, "start": after + 1, "end": end})
    plan = await _make_plan(stream, o)
    first, last = plan.start_seq, plan.end_seq
    if last < first:
        return max(after, last)
    if not plan.filters:
        return min(last, after + count)
    known: dict[int, int] = {}
    await _counts(stream, plan.filters, [first, last + 1], known)
    if known[first] - known[last + 1] <= count:
        return last
    await _refine(stream, plan.filters, first, last, [float(count)], 0, known)
    fits = [q for q in known if first < q <= last + 1 and known[first] - known[q] <= count]
    return max(fits) - 1
