"""polars output for the stream and batch readers: ``s.to_polars()``,
``read_stream(..., engine="polars")`` and ``ArrowBatch.to_polars()``.

polars stays optional: it is imported on first use, and a missing install raises
:class:`jsdata.errors.MissingDependencyError` saying what to install. The read itself is the
Arrow one (same options, same decoding, same ``subjects``/``start``/``end`` range); polars
takes the Arrow table without copying the columns it can share. polars frames carry no
attrs, so the range a read covered is its ``_seq`` column (``max + 1`` resumes) or the
``b"jetstream"`` schema metadata of ``s.to_arrow()``.

Writing needs nothing here: ``publish_dataframe`` accepts a polars DataFrame (through its
Arrow form). Parquet objects: polars' own reader does not go through fsspec for unknown URL
schemes, so ``pl.read_parquet("jetstream://b/x.parquet", use_pyarrow=True)`` (with
``storage_options`` as for pandas) or ``pl.scan_parquet(fs.open("b/x.parquet"))`` read them;
docs/polars.md shows both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import errors

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa


ENGINES = ("pandas", "polars")


def _polars() -> Any:
    try:
        import polars
    except ImportError:
        raise errors.MissingDependencyError(
            "polars is not installed: pip install polars (needed for to_polars and "
            "engine='polars')") from None
    return polars


def table_to_polars(table: pa.Table) -> pl.DataFrame:
    """An Arrow table (as the readers return it) as a polars DataFrame."""
    pl = _polars()
    out = pl.from_arrow(table, rechunk=False)
    if not isinstance(out, pl.DataFrame):  # a table always gives a frame; be explicit
        out = out.to_frame()
    return out


async def stream_to_polars(stream: Any, read: dict[str, Any]) -> pl.DataFrame:
    """``Stream.to_polars``: the Arrow read, then polars (checked before anything is read)."""
    _polars()
    if "dtype_backend" in read:
        raise errors.InvalidArgumentError(
            "dtype_backend is a pandas option; polars frames are always Arrow-backed")
    from .._util import in_thread
    table = await stream.to_arrow(**read)
    return await in_thread(table_to_polars, table)  # type: ignore[no-any-return]


def check_engine(engine: Any) -> str:
    """Validate ``read_stream``'s ``engine`` ("pandas" or "polars")."""
    if engine not in ENGINES:
        raise errors.InvalidArgumentError(
            f"engine must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}")
    if engine == "polars":
        _polars()
    return str(engine)
