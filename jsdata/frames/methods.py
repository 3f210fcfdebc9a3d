"""``Stream.to_batches`` / ``to_arrow`` / ``to_pandas`` / ``to_polars``: the thin mixin the
assembled ``jsdata.aio.Stream`` carries. The reader (and pyarrow with it) loads at the first
read, not when the class is defined.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from .._util import in_thread
from .options import ReadOptions, given, keyword_options

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from ..client.context import Context
    from .codec import Codec
    from .partitions import StreamPartition
    from .reader import RecordBatchStream

class StreamReader:
    """``to_batches`` / ``to_arrow`` / ``to_pandas`` for ``Stream``."""

    _js: Context
    name: str

    async def _open_reader(self, read: dict[str, Any], *, strict: bool, pandas: bool = False
                           ) -> tuple[RecordBatchStream, ReadOptions]:
        from . import dtypes as _dtypes
        from .reader import RecordBatchStream, _make_plan
        o = ReadOptions.parse(read, pandas=pandas)
        bulk = not strict and "batch_size" not in read
        plan = await _make_plan(self, o, bulk)  # type: ignore[arg-type]
        if o.schema is None:  # schemas recorded by writers (see jsdata.frames.dtypes)
            info = getattr(self, "_info", None)
            if info is not None:
                _dtypes.learn_stream_metadata(info.config.metadata)
        rs = RecordBatchStream(self, o, plan, strict)  # type: ignore[arg-type]
        await rs._start()
        return rs, o

    @keyword_options("read")
    async def to_batches(self, *,
            subjects: str | Sequence[str] | None = None,
            start: int | datetime | Literal["first"] | None = None,
            end: int | datetime | None = None,
            codec: str | Codec = "auto",
            schema: pa.Schema | None = None,
            columns: str | Sequence[str] | None = None,
            metadata: str | Sequence[str] | None = ("subject", "seq", "time"),
            include_headers: bool = False,
            include_markers: bool = False,
            batch_size: int | None = None,
            max_messages: int | None = None,
            on_error: Literal["raise", "skip", "keep"] = "raise",
            progress: bool | Literal["auto"] = "auto") -> RecordBatchStream:
        """Stream the messages as record batches with bounded memory (``read`` options as in
        :func:`jsdata.read_stream`); the blocking API returns a ``pyarrow.RecordBatchReader``."""
        read = given(locals())
        rs, _ = await self._open_reader(read, strict=True)
        return rs

    @keyword_options("read")
    async def to_arrow(self, *,
            subjects: str | Sequence[str] | None = None,
            start: int | datetime | Literal["first"] | None = None,
            end: int | datetime | None = None,
            codec: str | Codec = "auto",
            schema: pa.Schema | None = None,
            columns: str | Sequence[str] | None = None,
            metadata: str | Sequence[str] | None = ("subject", "seq", "time"),
            include_headers: bool = False,
            include_markers: bool = False,
            batch_size: int | None = None,
            max_messages: int | None = None,
            on_error: Literal["raise", "skip", "keep"] = "raise",
            progress: bool | Literal["auto"] = "auto") -> pa.Table:
        """Read the stream (or a range of it) into one ``pyarrow.Table`` (options as in
        :func:`jsdata.read_stream`)."""
        read = given(locals())
        rs, _ = await self._open_reader(read, strict=False)
        async with rs:
            return await rs.read_all()

    @keyword_options("read")
    async def to_pandas(self, *,
            subjects: str | Sequence[str] | None = None,
            start: int | datetime | Literal["first"] | None = None,
            end: int | datetime | None = None,
            codec: str | Codec = "auto",
            schema: pa.Schema | None = None,
            columns: str | Sequence[str] | None = None,
            metadata: str | Sequence[str] | None = ("subject", "seq", "time"),
            include_headers: bool = False,
            include_markers: bool = False,
            batch_size: int | None = None,
            max_messages: int | None = None,
            on_error: Literal["raise", "skip", "keep"] = "raise",
            progress: bool | Literal["auto"] = "auto",
            dtype_backend: Literal["numpy_nullable", "pyarrow"] | None = None,
            ) -> pd.DataFrame:
        """Read the stream (or a range of it) into a ``pandas.DataFrame``; the covered range
        is in ``df.attrs["jetstream"]``. Also takes ``dtype_backend``."""
        read = given(locals())
        backend = read.pop("dtype_backend", None)
        rs, _ = await self._open_reader(read, strict=False)
        async with rs:
            box = [await rs.read_all()]
        from .decode import owned_table_to_pandas
        # the box holds the only reference: the conversion frees each Arrow column as it
        # goes, so the table and the frame are not both held whole
        return await in_thread(owned_table_to_pandas, box, backend)

    @keyword_options("read")
    async def to_polars(self, *,
            subjects: str | Sequence[str] | None = None,
            start: int | datetime | Literal["first"] | None = None,
            end: int | datetime | None = None,
            codec: str | Codec = "auto",
            schema: pa.Schema | None = None,
            columns: str | Sequence[str] | None = None,
            metadata: str | Sequence[str] | None = ("subject", "seq", "time"),
            include_headers: bool = False,
            include_markers: bool = False,
            batch_size: int | None = None,
            max_messages: int | None = None,
            on_error: Literal["raise", "skip", "keep"] = "raise",
            progress: bool | Literal["auto"] = "auto") -> Any:
        """Read the stream (or a range of it) into a ``polars.DataFrame``; the same read
        options as :meth:`to_arrow` (polars is imported on first use)."""
        read = given(locals())
        from .polars_ext import stream_to_polars
        return await stream_to_polars(self, read)

    async def partitions(self, n: int | None = None, target_rows: int | None = None,
                         subjects: str | list[str] | None = None, start: Any = None,
                         end: Any = None) -> list[StreamPartition]:
        """Plan a partitioned read: contiguous sequence ranges covering ``start`` … ``end``
        (sequences or datetimes; ``end`` defaults to the last sequence now, so the plan is a
        snapshot) of the messages matching ``subjects``, each range exactly once.

        ``n`` partitions, or as many as give ``target_rows`` rows each (default 500,000);
        an empty range gives ``[]``. Read each with :func:`jsdata.read_partition`.
        """
        from .partitions import plan_partitions
        return await plan_partitions(self, n, target_rows, subjects, start, end)
