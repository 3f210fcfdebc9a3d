"""Stream readers into Arrow and pandas (placeholder: being written)."""

from __future__ import annotations


class StreamReader:
    """``to_batches`` / ``to_arrow`` / ``to_pandas`` for ``Stream``."""
