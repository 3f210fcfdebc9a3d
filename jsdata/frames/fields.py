"""The Arrow fields a read adds beside the decoded columns: metadata (``_subject``,
``_seq``, ``_time``), ``_headers``, and the ``_error`` / ``_data`` pair of
``on_error="keep"``."""

from __future__ import annotations

import pyarrow as pa

from .codec import TS_UTC

__all__ = ["ERROR_FIELDS", "HEADERS_FIELD", "METADATA_FIELDS"]

METADATA_FIELDS: dict[str, pa.Field] = {
    "subject": pa.field("_subject", pa.string()),
    "seq": pa.field("_seq", pa.uint64()),
    "time": pa.field("_time", TS_UTC),
}
HEADERS_FIELD = pa.field("_headers", pa.map_(pa.string(), pa.string()))
ERROR_FIELDS: list[pa.Field] = [pa.field("_error", pa.string()), pa.field("_data", pa.binary())]
