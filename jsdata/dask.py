"""Dask: a stream as a ``dask.dataframe.DataFrame``, and a Dask frame written to a stream.

``read_stream`` plans on the client (:meth:`jsdata.Stream.partitions`: a snapshot of sequence
ranges) and builds the frame with ``dask.dataframe.from_map``: every Dask partition is one
:class:`jsdata.StreamPartition`, read on a worker with its own connection. Selecting columns
(``ddf[["a", "b"]]``) is pushed down into the reads; ``index="_seq"`` indexes by stream
sequence with divisions known from the plan (``ddf.loc[seq_a:seq_b]`` reads only the
partitions it needs). ``to_jetstream`` publishes each partition from the worker holding it.

Needs ``pip install jsdata[dask]``; ``import jsdata`` never imports Dask.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import dask
import dask.dataframe as dd

from . import errors
from .partitions import StreamPartition, plan, read_partition, sample, split_read
from .partwrite import check_write_options, sum_results, write_piece

__all__ = ["read_stream", "to_jetstream"]

_META_COLUMNS = {"_subject": "subject", "_seq": "seq", "_time": "time"}


class _ReadPartition:
    """The picklable ``from_map`` function: one StreamPartition -> one pandas partition.

    Its ``columns`` keyword lets Dask's optimizer push a column selection into the read.
    """

    def __init__(self, servers: Any, connect_options: Mapping[str, Any] | None,
                 read: dict[str, Any], index: str | None, meta: Any) -> None:
        self.servers = servers
        self.connect_options = dict(connect_options or {})
        self.read = read
        self.index = index
        self.meta = meta  # the empty frame every partition conforms to

    def __call__(self, part: StreamPartition, columns: list[str] | None = None) -> Any:
        from .frames.decode import table_to_pandas
        read = dict(self.read)
        backend = read.pop("dtype_backend", None)
        want = list(self.meta.columns) if columns is None else list(columns)
        if columns is not None:  # projection: read only the data columns asked for
            read["columns"] = [c for c in want if c not in _META_COLUMNS
                               and c not in ("_headers", "_error", "_data")]
            keep = {_META_COLUMNS[c] for c in want if c in _META_COLUMNS}
            if self.index:
                keep.add("seq")
            read["metadata"] = tuple(m for m in ("subject", "seq", "time") if m in keep)
            if "_headers" not in want:
                read.pop("include_headers", None)
        table = read_partition(part, self.servers, connect_options=self.connect_options,
                               **read)
        df = table_to_pandas(table, backend)
        if self.index:
            df = df.set_index(self.index)
        for c in want:  # a partition without some column (schema-less JSON) still conforms
            if c not in df.columns:
                df[c] = self.meta[c].iloc[:0].reindex(df.index)
        out = df[want]
        return out.astype(self.meta[want].dtypes.to_dict(), copy=False) if len(out) == 0 else out


def read_stream(stream: Any, servers: Any = None, npartitions: int | None = 8,
                index: str | None = None, *, target_rows: int | None = None,
                connect_options: Mapping[str, Any] | None = None, **read: Any) -> dd.DataFrame:
    """A lazy Dask DataFrame over ``stream`` (a name or a ``Stream``).

    ``npartitions`` partitions (or ``target_rows`` rows each: pass ``npartitions=None``);
    ``index`` None (a default index per partition) or ``"_seq"`` (the stream sequence, with
    known divisions); ``read``: the read options of :func:`jsdata.read_stream` (``subjects``,
    ``start`` and ``end`` fix the plan, a snapshot taken now; the others apply on every
    worker). ``servers`` / ``connect_options`` are used on the client and on every worker
    (None: ``JSDATA_URL`` / ``NATS_URL`` in each process, else the embedded server).
    The frame's ``meta`` (columns and dtypes) comes from the first 100 messages, or from
    ``schema=`` when given.
    """
    if index not in (None, "_seq"):
        raise errors.InvalidArgumentError(f"index must be None or '_seq', got {index!r}")
    if npartitions is not None and target_rows is not None:
        raise errors.InvalidArgumentError("give npartitions or target_rows, not both")
    planned, rest = split_read(read)
    if index:
        md = rest.get("metadata", ("subject", "seq", "time"))
        md = (md,) if isinstance(md, str) else tuple(md or ())
        if "seq" not in md:
            rest["metadata"] = (*md, "seq")
    parts = plan(stream, servers, n=npartitions, target_rows=target_rows,
                 connect_options=connect_options, at_least_one=True, **planned)
    from .frames.decode import table_to_pandas
    probe = dict(rest)
    backend = probe.pop("dtype_backend", None)
    head = sample(parts, servers, connect_options=connect_options, **probe)
    meta = table_to_pandas(head.slice(0, 0), backend)
    if index:
        meta = meta.set_index(index)
    fn = _ReadPartition(servers, connect_options, rest, index, meta)
    divisions = None
    if index and parts[-1].end_seq >= parts[0].start_seq:
        divisions = (*(p.start_seq for p in parts), parts[-1].end_seq)
    return dd.from_map(fn, parts, meta=meta, divisions=divisions, label="jetstream",
                       enforce_metadata=False)


def to_jetstream(ddf: dd.DataFrame, subject: str, servers: Any = None,
                 msg_id: str | None = None, *,
                 connect_options: Mapping[str, Any] | None = None, **write: Any) -> Any:
    """Publish every row of ``ddf`` and return one summed :class:`jsdata.WriteResult`.

    Each partition is published by the worker that holds it, with its own connection.
    ``subject`` is a subject or a template filled per row (``"ORDERS.{region}"``);
    ``msg_id`` a column or template (``"{id}"``) sent as ``Nats-Msg-Id``: a retried task or
    a rerun writes each row once, within the stream's ``duplicate_window``. ``write``:
    ``codec``, ``headers``, ``rows_per_message``, ``max_pending``, ``batch`` as in
    ``publish_dataframe``. ``elapsed`` is the wall time of the whole write.
    """
    if not isinstance(ddf, dd.DataFrame):
        raise errors.InvalidArgumentError(
            f"to_jetstream takes a dask DataFrame, not {type(ddf).__name__}")
    if not isinstance(subject, str) or not subject:
        raise errors.InvalidSubjectError(f"invalid subject {subject!r}")
    opts = check_write_options(write)
    t0 = time.perf_counter()
    tasks = [dask.delayed(write_piece, pure=False)(
        piece, subject, servers, msg_id, connect_options, opts) for piece in ddf.to_delayed()]
    results = dask.compute(*tasks)
    return sum_results(results, time.perf_counter() - t0)
