"""DataFrame writers (placeholder: being written)."""

from __future__ import annotations


class DataFrameWriter:
    """``publish_dataframe`` for ``JetStream``."""
