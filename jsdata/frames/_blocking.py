"""Blocking-only extras of ``jsdata.Stream``: ``to_batches`` as a ``pyarrow.RecordBatchReader``
(attached to the twin by ``jsdata._twins``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from .options import given, keyword_options

if TYPE_CHECKING:
    import pyarrow as pa

    from .codec import Codec
    from .reader import RecordBatchStream


class StreamReaderExtras:
    """Blocking ``Stream.to_batches``: a real ``pyarrow.RecordBatchReader``."""

    _core: Any
    _lt: Any

    @keyword_options("read")
    def to_batches(self, *,
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
            progress: bool | Literal["auto"] = "auto") -> pa.RecordBatchReader:
        """Stream the messages as a ``pyarrow.RecordBatchReader`` (bounded memory); read
        options as in :func:`jsdata.read_stream`. Each batch's schema metadata
        ``b"jetstream"`` records the range it covers."""
        read = given(locals())
        import pyarrow as pa
        lt = self._lt
        rs: RecordBatchStream = lt.run(self._core.to_batches(**read))
        try:
            schema, first = lt.run(rs.first_schema())
        except BaseException:
            lt.run(rs.aclose())
            raise

        def gen() -> Any:
            try:
                if first is not None:
                    yield first
                while True:
                    b = lt.run(rs._next_batch())
                    if b is None:
                        return
                    yield b
            finally:
                if not lt.closed:
                    lt.run(rs.aclose())

        return pa.RecordBatchReader.from_batches(schema, gen())
