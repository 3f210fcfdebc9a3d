"""Ray Data: a stream as a ``ray.data.Dataset``, and a Dataset written to a stream.

:class:`JetStreamDatasource` fixes the range when it is created (``end`` defaults to the
stream's last sequence then, so the dataset is a snapshot), and makes one ``ReadTask`` per
:class:`jsdata.StreamPartition` with the planner's row estimate in its ``BlockMetadata``.
Every task reads its range with its own connection and no durable state, so a retried task
reads the same rows. :class:`JetStreamDatasink` publishes each write task's blocks from
that task, with ``Nats-Msg-Id`` dedup when ``msg_id`` is given; the summed
:class:`jsdata.WriteResult` is ``sink.result`` once ``write_datasink`` returns.

Needs ``pip install jsdata[ray]``; ``import jsdata`` never imports Ray.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import ray.data
from ray.data.block import BlockAccessor, BlockMetadata
from ray.data.datasource import Datasink, Datasource, ReadTask

from . import errors
from .partitions import META_STRIP, StreamPartition, plan, read_partition, split_read
from .partwrite import check_write_options, sum_results, write_piece

__all__ = ["JetStreamDatasource", "JetStreamDatasink", "read_stream"]


def _read_block(part: StreamPartition, servers: Any, connect_options: dict[str, Any],
                read: dict[str, Any]) -> list[Any]:
    table = read_partition(part, servers, connect_options=connect_options, **read)
    meta = {k: v for k, v in (table.schema.metadata or {}).items() if k not in META_STRIP}
    return [table.replace_schema_metadata(meta or None)]  # blocks share one schema


class JetStreamDatasource(Datasource):
    """A Ray Data source over one stream (a name) or a range of it.

    ``read``: the read options of :func:`jsdata.read_stream`; ``subjects``, ``start`` and
    ``end`` are resolved to sequences now (the snapshot), the others apply in every task.
    ``servers`` / ``connect_options`` are used here and in every read task.
    """

    def __init__(self, stream: str, servers: Any = None, *,
                 connect_options: Mapping[str, Any] | None = None, **read: Any) -> None:
        super().__init__()
        planned, rest = split_read(read)
        from .frames.options import ReadOptions
        ReadOptions.parse(rest)  # bad options fail here, not in a task
        self._servers = servers
        self._connect_options = dict(connect_options or {})
        self._read = rest
        whole = plan(stream, servers, n=1, connect_options=connect_options,
                     at_least_one=True, **planned)[0]
        self._whole = whole
        self._stream = whole.stream
        self._row_bytes = self._mean_row_bytes()

    def _mean_row_bytes(self) -> int:
        import jsdata
        with jsdata.connect(self._servers, **self._connect_options) as js:
            st = js.stream(self._stream).cached_info().state
        return max(1, st.bytes // st.messages) if st.messages else 1

    def get_name(self) -> str:
        return f"JetStream({self._stream})"

    def estimate_inmemory_data_size(self) -> int | None:
        return self._whole.rows_estimate * self._row_bytes

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                       data_context: Any = None) -> list[ReadTask]:
        w = self._whole
        if w.end_seq < w.start_seq:
            parts = [w]
        else:
            parts = plan(self._stream, self._servers,
                         n=parallelism if parallelism and parallelism > 0 else None,
                         connect_options=self._connect_options, at_least_one=True,
                         subjects=list(w.subjects) if w.subjects else None,
                         start=w.start_seq, end=w.end_seq)
        read = dict(self._read)
        if per_task_row_limit is not None:
            mm = read.get("max_messages")
            read["max_messages"] = per_task_row_limit if mm is None else min(mm, per_task_row_limit)
        tasks = []
        for p in parts:
            meta = BlockMetadata(num_rows=p.rows_estimate,
                                 size_bytes=int(p.rows_estimate * self._row_bytes),
                                 input_files=None, exec_stats=None)
            tasks.append(ReadTask(
                lambda p=p: _read_block(p, self._servers, self._connect_options, read),
                meta, per_task_row_limit=per_task_row_limit))
        return tasks


def read_stream(stream: str, servers: Any = None, parallelism: int = 8, *,
                connect_options: Mapping[str, Any] | None = None,
                **read: Any) -> ray.data.Dataset:
    """A ``ray.data.Dataset`` over ``stream`` in ``parallelism`` read tasks (one per
    partition); ``read`` as for :class:`JetStreamDatasource`."""
    src = JetStreamDatasource(stream, servers, connect_options=connect_options, **read)
    return ray.data.read_datasource(src, override_num_blocks=parallelism)


class JetStreamDatasink(Datasink):
    """A Ray Data sink publishing rows to a stream: ``ds.write_datasink(sink)``.

    ``subject`` a subject or a per-row template (``"ORDERS.{region}"``); ``msg_id`` a column
    or template sent as ``Nats-Msg-Id``, so a retried write task (or a rerun) stores each
    row once within the stream's ``duplicate_window``; ``write``: ``codec``, ``headers``,
    ``rows_per_message``, ``max_pending``, ``batch`` as in ``publish_dataframe``. After the
    write, ``sink.result`` is the summed :class:`jsdata.WriteResult`.
    """

    def __init__(self, subject: str, servers: Any = None, msg_id: str | None = None, *,
                 connect_options: Mapping[str, Any] | None = None, **write: Any) -> None:
        if not isinstance(subject, str) or not subject:
            raise errors.InvalidSubjectError(f"invalid subject {subject!r}")
        self.subject = subject
        self.servers = servers
        self.msg_id = msg_id
        self.connect_options = dict(connect_options or {})
        self.write_options = check_write_options(write)
        self.result: Any = None
        self._t0 = 0.0

    def get_name(self) -> str:
        return "JetStream"

    def on_write_start(self, schema: Any = None) -> None:
        self._t0 = time.perf_counter()

    def write(self, blocks: Iterable[Any], ctx: Any) -> Any:
        """Publish this task's blocks with one connection; returns their WriteResult."""
        import pyarrow as pa
        tables = [BlockAccessor.for_block(b).to_arrow() for b in blocks]
        tables = [t for t in tables if t.num_rows]
        data = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
        return write_piece(data, self.subject, self.servers, self.msg_id,
                           self.connect_options, self.write_options)

    def on_write_complete(self, write_result: Any) -> None:
        self.result = sum_results(write_result.write_returns, time.perf_counter() - self._t0)
