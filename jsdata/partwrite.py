"""Writing from distributed workers: one piece of a distributed frame, published by the task
that holds it, and the pieces' results summed into one :class:`jsdata.WriteResult`.

Shared by the Dask, Ray and Spark adapters. Each task opens its own connection, publishes
with ``publish_dataframe`` and closes it. With ``msg_id`` every message carries a
``Nats-Msg-Id``, so a task the engine retries (or a whole job run again) is deduplicated by
the stream within its ``duplicate_window`` and each row is stored once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from . import errors

# publish_dataframe's own options that the adapters pass through
WRITE_OPTIONS = frozenset({"codec", "headers", "rows_per_message", "max_pending", "batch"})


def check_write_options(write: Mapping[str, Any]) -> dict[str, Any]:
    """The write options, validated by name (values are checked by publish_dataframe)."""
    unknown = sorted(set(write) - WRITE_OPTIONS)
    if unknown:
        raise errors.InvalidArgumentError(
            f"unknown write option(s) {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(sorted(WRITE_OPTIONS))}")
    return dict(write)


def write_piece(data: Any, subject: str, servers: Any = None, msg_id: str | None = None,
                connect_options: Mapping[str, Any] | None = None,
                write: Mapping[str, Any] | None = None) -> Any:
    """Publish one piece (pandas frame, Arrow table, ...) with its own connection; returns
    its WriteResult. An empty piece writes nothing (and connects to nobody)."""
    from .frames.writer import WriteResult
    if getattr(data, "num_rows", None) == 0 or (hasattr(data, "empty") and data.empty):
        return WriteResult(0, 0, 0, None, None, 0, 0.0)
    import jsdata
    js = jsdata.connect(servers, **dict(connect_options or {}))
    try:
        return js.publish_dataframe(subject, data, msg_id=msg_id, progress=False,
                                    **dict(write or {}))
    finally:
        js.close()


def sum_results(results: Iterable[Any], elapsed: float) -> Any:
    """One WriteResult for all pieces: counts summed, the sequence span of all acks,
    ``elapsed`` the wall time of the whole distributed write."""
    from .frames.writer import WriteResult
    rs = list(results)
    firsts = [r.first_seq for r in rs if r.first_seq is not None]
    lasts = [r.last_seq for r in rs if r.last_seq is not None]
    streams = {r.stream for r in rs if r.stream}
    return WriteResult(
        rows=sum(r.rows for r in rs), messages=sum(r.messages for r in rs),
        bytes=sum(r.bytes for r in rs), first_seq=min(firsts) if firsts else None,
        last_seq=max(lasts) if lasts else None, duplicates=sum(r.duplicates for r in rs),
        elapsed=elapsed, stream=streams.pop() if len(streams) == 1 else None,
        batched=any(r.messages for r in rs) and all(r.batched for r in rs if r.messages))
