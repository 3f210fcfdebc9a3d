"""Blocking-only extras of ``jsdata.Stream``: ``to_batches`` as a ``pyarrow.RecordBatchReader``
(attached to the twin by ``jsdata._twins``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from .reader import RecordBatchStream


class StreamReaderExtras:
    """Blocking ``Stream.to_batches``: a real ``pyarrow.RecordBatchReader``."""

    _core: Any
    _lt: Any

    def to_batches(self, **read: Any) -> pa.RecordBatchReader:
        """Stream the messages as a ``pyarrow.RecordBatchReader`` (bounded memory); read
        options as in :func:`jsdata.read_stream`. Each batch's schema metadata
        ``b"jetstream"`` records the range it covers."""
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
