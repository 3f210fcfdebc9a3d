"""Spark: the ``"jetstream"`` data source (PySpark >= 4.0 Python Data Source API).

Register it once per session, then read, stream and write::

    spark.dataSource.register(jsdata.spark.JetStreamDataSource)
    df = spark.read.format("jetstream").option("servers", url).option("stream", "ORDERS").load()

Batch reads plan on the driver (:meth:`jsdata.Stream.partitions`: a snapshot of sequence
ranges) and read each range in a Spark task with its own connection, yielding Arrow record
batches. Streaming reads use stream sequences as offsets (``{"seq": n}``: everything up to
and including ``n`` has been read); a micro-batch is the range between two offsets, so a
query restarted from its checkpoint re-reads exactly the range it had not committed and
every message reaches the sink once (with an idempotent sink such as files, as Spark's own
exactly-once requires). Nothing is acknowledged: no durable consumer exists. Writes publish
each task's rows with ``Nats-Msg-Id`` dedup when ``msg_id`` is set.

Options (all strings, as Spark passes them): ``servers``, ``stream``; reading:
``subjects`` (comma-separated), ``start`` / ``end`` (sequence or ISO-8601 time; streaming
``start`` may be ``"latest"``), ``partitions``, ``target_rows``, ``codec``, ``metadata``
(comma-separated subset of subject,seq,time; empty for none), ``columns``,
``include_headers``, ``on_error``, ``batch_size``, ``schema`` (Spark DDL; else sampled from
the first ``sample_rows`` messages, default 100), ``max_messages_per_trigger``
(streaming: messages matching ``subjects`` per micro-batch, counted by the server);
writing: ``subject`` (template), ``msg_id``, ``codec``, ``headers`` (comma-separated
columns), ``rows_per_message``, ``max_pending``. ``user``, ``password``, ``token``,
``creds`` and ``nkeys_seed`` are passed to the connection (never into messages or logs).

Needs ``pip install jsdata[spark]`` (and Java 17+); ``import jsdata`` never imports PySpark.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pyspark.sql.datasource import (
    DataSource,
    DataSourceArrowWriter,
    DataSourceReader,
    DataSourceStreamReader,
    InputPartition,
    WriterCommitMessage,
)
from pyspark.sql.types import StructType

from . import errors
from .partitions import StreamPartition, capped_end, plan, read_partition, sample

__all__ = ["JetStreamDataSource"]

_CONNECT_KEYS = ("user", "password", "token", "creds", "nkeys_seed", "name")
_READ_KEYS = ("codec", "metadata", "columns", "include_headers", "on_error", "batch_size")


def _list(v: str) -> list[str]:
    return [p.strip() for p in v.split(",") if p.strip()]


def _position(what: str, v: str) -> int | datetime | str:
    v = v.strip()
    if v.isdigit():
        return int(v)
    if what == "start" and v.lower() in ("first", "latest"):
        return v.lower()
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise errors.InvalidArgumentError(
            f"option {what!r} must be a sequence number or an ISO-8601 time, got {v!r}"
        ) from None


def _int(opts: Mapping[str, str], key: str) -> int | None:
    v = opts.get(key)
    if v is None or v == "":
        return None
    try:
        return int(v)
    except ValueError:
        raise errors.InvalidArgumentError(f"option {key!r} must be an integer, got {v!r}") from None


@dataclass
class _Options:
    """Spark's string options as jsdata arguments."""

    stream: str
    planned: dict[str, Any]  # subjects / start / end
    read: dict[str, Any]  # the other read options
    n: int | None
    target_rows: int | None
    servers: str | None = field(default=None, repr=False)  # URLs may carry user:password
    connect: dict[str, Any] = field(default_factory=dict, repr=False)  # credentials

    @classmethod
    def parse(cls, options: Mapping[str, str], *, need_stream: bool = True) -> _Options:
        o = {k.lower(): v for k, v in dict(options).items()}
        stream = o.get("stream") or o.get("path") or ""
        if need_stream and not stream:
            raise errors.InvalidArgumentError('the jetstream source needs option("stream", ...)')
        planned: dict[str, Any] = {}
        if o.get("subjects"):
            planned["subjects"] = _list(o["subjects"])
        for k in ("start", "end"):
            if o.get(k):
                planned[k] = _position(k, o[k])
        read: dict[str, Any] = {}
        for k in _READ_KEYS:
            if k not in o:
                continue
            v = o[k]
            if k in ("metadata", "columns"):
                read[k] = tuple(_list(v)) if k == "metadata" else _list(v)
            elif k == "include_headers":
                read[k] = v.strip().lower() in ("1", "true", "yes")
            elif k == "batch_size":
                read[k] = _int(o, k)
            else:
                read[k] = v
        return cls(servers=o.get("servers") or None, stream=stream,
                   connect={k: o[k] for k in _CONNECT_KEYS if o.get(k)}, planned=planned,
                   read=read, n=_int(o, "partitions"), target_rows=_int(o, "target_rows"))


def _spark_schema(table: Any) -> StructType:
    """The Spark schema for an Arrow table read by jsdata (uint64 ``_seq`` becomes long)."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import from_arrow_schema
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_unsigned_integer(t):
            t = pa.int64()
        elif pa.types.is_timestamp(t):
            t = pa.timestamp("us", tz=t.tz)
        elif pa.types.is_large_string(t):
            t = pa.string()
        fields.append(pa.field(f.name, t, nullable=True))
    return from_arrow_schema(pa.schema(fields), prefer_timestamp_ntz=True)


def _conform(table: Any, schema: StructType) -> Iterator[Any]:
    """``table`` as record batches of exactly ``schema`` (missing columns as nulls)."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema
    target = to_arrow_schema(schema, timezone="UTC")
    cols = []
    for f in target:
        i = table.schema.get_field_index(f.name)
        if i < 0:
            cols.append(pa.nulls(table.num_rows, f.type))
        else:
            cols.append(table.column(i).cast(f.type, safe=False))
    out = pa.Table.from_arrays(cols, schema=target)
    yield from out.to_batches()


class _Partition(InputPartition):
    """A Spark input partition carrying one :class:`jsdata.StreamPartition`."""

    def __init__(self, part: StreamPartition) -> None:
        super().__init__(part)
        self.part = part


class _BatchReader(DataSourceReader):
    def __init__(self, opts: _Options, schema: StructType) -> None:
        self.opts = opts
        self.schema = schema

    def partitions(self) -> list[_Partition]:
        o = self.opts
        parts = plan(o.stream, o.servers, n=o.n, target_rows=o.target_rows,
                     connect_options=o.connect, **o.planned)
        return [_Partition(p) for p in parts]

    def read(self, partition: _Partition) -> Iterator[Any]:
        o = self.opts
        table = read_partition(partition.part, o.servers, connect_options=o.connect, **o.read)
        yield from _conform(table, self.schema)


class _StreamReader(DataSourceStreamReader):
    """Offsets are ``{"seq": n}``: the stream sequence read up to, inclusive."""

    def __init__(self, opts: _Options, schema: StructType, max_per_trigger: int | None) -> None:
        self.opts = opts
        self.schema = schema
        self.max_per_trigger = max_per_trigger

    def _state(self) -> Any:
        import jsdata
        with jsdata.connect(self.opts.servers, **self.opts.connect) as js:
            return js.stream(self.opts.stream).info().state

    def initialOffset(self) -> dict[str, int]:
        start = self.opts.planned.get("start")
        if isinstance(start, int):
            return {"seq": start - 1}
        st = self._state()
        if start == "latest":
            return {"seq": st.last_seq}
        if isinstance(start, datetime):
            parts = plan(self.opts.stream, self.opts.servers, n=1, start=start,
                         connect_options=self.opts.connect)
            return {"seq": parts[0].start_seq - 1 if parts else st.last_seq}
        return {"seq": max(st.first_seq, 1) - 1}

    def getDefaultReadLimit(self) -> Any:
        from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows
        if self.max_per_trigger:
            return ReadMaxRows(self.max_per_trigger)
        return ReadAllAvailable()

    def latestOffset(self, start: dict[str, int] | None = None, limit: Any = None
                     ) -> dict[str, int]:
        last = self._state().last_seq
        end = self.opts.planned.get("end")
        if isinstance(end, int):
            last = min(last, end)
        cap = getattr(limit, "max_rows", None)
        if cap is None and limit is None:
            cap = self.max_per_trigger
        if start is not None and cap:
            subjects = self.opts.planned.get("subjects")
            if subjects:  # cap the matching messages, not the sequences they are spread over
                last = capped_end(self.opts.stream, self.opts.servers, after=int(start["seq"]),
                                  count=int(cap), subjects=subjects, end=last,
                                  connect_options=self.opts.connect)
            else:
                last = min(last, int(start["seq"]) + int(cap))
        if start is not None:
            last = max(last, int(start["seq"]))
        return {"seq": last}

    def partitions(self, start: dict[str, int], end: dict[str, int]) -> list[_Partition]:
        a, b = int(start["seq"]) + 1, int(end["seq"])
        if b < a:
            return []
        o = self.opts
        parts = plan(o.stream, o.servers, n=o.n, target_rows=o.target_rows,
                     connect_options=o.connect, subjects=o.planned.get("subjects"),
                     start=a, end=b)
        return [_Partition(p) for p in parts]

    def read(self, partition: _Partition) -> Iterator[Any]:
        o = self.opts
        table = read_partition(partition.part, o.servers, connect_options=o.connect, **o.read)
        yield from _conform(table, self.schema)

    def commit(self, end: dict[str, int]) -> None:
        """Nothing to acknowledge: the checkpointed offset is the only progress state."""


@dataclass
class JetStreamCommitMessage(WriterCommitMessage):
    """What one write task published (the fields of :class:`jsdata.WriteResult`)."""

    rows: int
    messages: int
    bytes: int
    first_seq: int | None
    last_seq: int | None
    duplicates: int


class _Writer(DataSourceArrowWriter):
    def __init__(self, options: Mapping[str, str]) -> None:
        o = {k.lower(): v for k, v in dict(options).items()}
        self.subject = o.get("subject") or ""
        if not self.subject:
            raise errors.InvalidArgumentError(
                'writing to jetstream needs option("subject", ...) (a subject or template)')
        self.servers = o.get("servers") or None
        self.msg_id = o.get("msg_id") or None
        self.connect = {k: o[k] for k in _CONNECT_KEYS if o.get(k)}
        w: dict[str, Any] = {}
        if o.get("codec"):
            w["codec"] = o["codec"]
        if o.get("headers"):
            w["headers"] = _list(o["headers"])
        for k in ("rows_per_message", "max_pending"):
            if o.get(k):
                w[k] = _int(o, k)
        self.write_options = w

    def write(self, iterator: Iterator[Any]) -> JetStreamCommitMessage:
        import pyarrow as pa

        from .partwrite import write_piece
        batches = list(iterator)
        if not batches:
            return JetStreamCommitMessage(0, 0, 0, None, None, 0)
        r = write_piece(pa.Table.from_batches(batches), self.subject, self.servers,
                        self.msg_id, self.connect, self.write_options)
        return JetStreamCommitMessage(r.rows, r.messages, r.bytes, r.first_seq, r.last_seq,
                                      r.duplicates)

    def commit(self, messages: list[Any]) -> None:
        """Every message was acknowledged by the stream when its task finished."""

    def abort(self, messages: list[Any]) -> None:
        """Published messages stay; a retried job is deduplicated by ``msg_id``."""


class JetStreamDataSource(DataSource):
    """The ``"jetstream"`` format: batch reads, streaming reads and batch writes."""

    @classmethod
    def name(cls) -> str:
        return "jetstream"

    def schema(self) -> StructType | str:
        ddl = self.options.get("schema")
        if ddl:
            return ddl
        o = _Options.parse(self.options)
        parts = plan(o.stream, o.servers, n=1, connect_options=o.connect, at_least_one=True,
                     **{k: v for k, v in o.planned.items() if k != "start"
                        or not isinstance(v, str)})
        rows = _int(self.options, "sample_rows") or 100
        return _spark_schema(sample(parts, o.servers, rows, connect_options=o.connect,
                                    **o.read))

    def reader(self, schema: StructType) -> DataSourceReader:
        o = _Options.parse(self.options)
        if isinstance(o.planned.get("start"), str):
            o.planned.pop("start")  # "first": the default
        return _BatchReader(o, schema)

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        return _StreamReader(_Options.parse(self.options), schema,
                             _int(self.options, "max_messages_per_trigger"))

    def writer(self, schema: StructType, overwrite: bool) -> _Writer:
        if overwrite:
            raise errors.InvalidArgumentError(
                "a stream is append-only: use mode('append') to write to jetstream")
        return _Writer(self.options)
