"""Realistic test data shared by the data-correctness tier and the benchmarks.

:func:`wide_frame` builds the "realistic 13-column frame" of issue 10: ints of several
widths, floats with NaN, strings with None, tz-aware timestamps in two zones,
``Int64``/``boolean`` with NA, a category, list and dict columns, seeded so a failure is
reproducible. :func:`assert_same_values` compares what a reader gave back (a pandas
DataFrame or an Arrow table/batches) with the frame that was written, value by value, in
vectorized Arrow so 1M rows compare in a second; it names the first differing row and
column. ``bench/bench_wide.py`` imports this module so the benchmark measures the same shape
the tests check.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: the category values; subject-safe, so ``"X.{cat}"`` templates fill them in
CATEGORIES = ("eu", "us", "apac", "latam")
WIDE_COLUMNS = ("id", "small", "big", "price", "ratio", "name", "ts_utc", "ts_local", "qty",
                "ok", "cat", "tags", "attrs")
_WORDS = np.array(["alpha", "beta", "gamma", "delta", "épsilon", "zeta 雪", "eta\"q", "th\\eta",
                   "", "iota\nkappa"], dtype=object)


def wide_frame(n: int, seed: int = 0, *, blob_sizes: Sequence[int] | None = None
               ) -> pd.DataFrame:
    """``n`` rows of the 13-column frame, deterministic for ``seed``.

    ``id`` is the row number (unique: use it for ``msg_id`` and to line rows up again);
    ``cat`` is a category over :data:`CATEGORIES`. With ``blob_sizes`` (one size per row) a
    14th column ``blob`` holds an ASCII string of exactly that many characters, to spread
    message sizes from a few bytes to near a server's max_payload.
    """
    rng = np.random.default_rng(seed)
    idx = np.arange(n, dtype=np.int64)
    price = rng.normal(100.0, 25.0, n)
    price[rng.random(n) < 0.1] = np.nan
    names = _WORDS[rng.integers(0, len(_WORDS), n)].copy()
    names[rng.random(n) < 0.1] = None
    base = np.datetime64("2024-03-30T22:00:00", "ns")  # spans the EU DST switch
    ts = base + (rng.integers(0, 3 * 86_400, n) * 1_000_000_000
                 + rng.integers(0, 1_000_000, n) * 1_000)  # microsecond precision
    ts_local = base + rng.integers(0, 3 * 86_400, n) * 1_000_000_000
    qty = pd.array(rng.integers(-1000, 1000, n), dtype="Int64")
    qty[rng.random(n) < 0.15] = pd.NA
    ok = pd.array(rng.random(n) < 0.5, dtype="boolean")
    ok[rng.random(n) < 0.15] = pd.NA
    ntags = rng.integers(0, 4, n)
    flat = _WORDS[rng.integers(0, 8, int(ntags.sum()))]
    offs = np.concatenate([[0], np.cumsum(ntags)])
    tags = [list(flat[offs[i]:offs[i + 1]]) for i in range(n)]
    keys = rng.integers(0, 1 << 20, n)
    scores = rng.random(n)
    attrs: list[Any] = [{"k": int(keys[i]), "score": float(scores[i])} for i in range(n)]
    for i in np.nonzero(rng.random(n) < 0.05)[0]:
        attrs[int(i)] = None
    df = pd.DataFrame({
        "id": idx,
        "small": rng.integers(-128, 128, n).astype(np.int8),
        "big": rng.integers(0, 1 << 63, n, dtype=np.uint64) + np.uint64(1 << 63) * (
            rng.random(n) < 0.5).astype(np.uint64),
        "price": price,
        "ratio": rng.random(n).astype(np.float32),
        "name": pd.Series(list(names)),  # inferred, as a user's would be (pandas 3: str)
        "ts_utc": pd.DatetimeIndex(ts).tz_localize("UTC"),
        "ts_local": pd.DatetimeIndex(ts_local).tz_localize("UTC").tz_convert("Europe/Berlin"),
        "qty": qty,
        "ok": ok,
        "cat": pd.Categorical(np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), n)],
                              categories=list(CATEGORIES)),
        "tags": pd.Series(tags, dtype=object),
        "attrs": pd.Series(attrs, dtype=object),
    })
    if blob_sizes is not None:
        if len(blob_sizes) != n:
            raise ValueError("blob_sizes needs one size per row")
        letters = rng.integers(97, 123, int(max(blob_sizes, default=0)) or 1).astype(np.uint8)
        pool = letters.tobytes().decode("ascii")
        df["blob"] = pd.Series([pool[:k] for k in blob_sizes])
    return df


# ---------------------------------------------------------------------------------------------
# comparing what came back


def _as_table(got: Any) -> pa.Table:
    if isinstance(got, pd.DataFrame):
        return pa.Table.from_pandas(got, preserve_index=False)
    if isinstance(got, pa.Table):
        return got
    if isinstance(got, pa.RecordBatch):
        return pa.Table.from_batches([got])
    if isinstance(got, Iterable):
        batches = list(got)
        if not batches:
            raise AssertionError("no batches came back")
        return pa.Table.from_batches(batches)
    raise TypeError(f"cannot compare a {type(got).__name__}")


def _canon_type(t: pa.DataType) -> pa.DataType:
    """The type both sides are cast to before comparing: the value, not its encoding."""
    if pa.types.is_dictionary(t):
        return _canon_type(t.value_type)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.large_string()
    if pa.types.is_timestamp(t):
        return pa.timestamp("ns", "UTC" if t.tz else None)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.large_list(_canon_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _canon_type(f.type)) for f in t])
    return t


def _canon(col: pa.ChunkedArray, want: pa.DataType, name: str) -> pa.ChunkedArray:
    if pa.types.is_floating(want) and pa.types.is_floating(col.type):
        col = pc.if_else(pc.is_nan(col), pa.scalar(None, col.type), col)  # NaN is missing
    if pa.types.is_timestamp(want) and (pa.types.is_string(col.type)
                                        or pa.types.is_large_string(col.type)):
        raise AssertionError(f"column {name!r}: timestamps came back as strings")
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    try:
        return col.cast(want)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
        raise AssertionError(f"column {name!r}: got type {col.type}, expected values of "
                             f"{want}: {e}") from None


def assert_same_values(expected: pd.DataFrame | pa.Table, got: Any, *,
                       columns: Sequence[str] | None = None, context: str = "") -> None:
    """Assert ``got`` holds exactly ``expected``'s rows, in order, value by value.

    ``got`` is a DataFrame, an Arrow table, a record batch or an iterable of batches, with
    at least ``columns`` (default: all of ``expected``'s). Equal means the same value, not
    the same encoding: a category equals its strings, a float NaN equals a missing value,
    timestamps compare as UTC instants (aware vs naive still differs), integers must fit
    the expected width. Dtypes are checked separately (:func:`assert_same_dtypes`).
    ``context`` (the seed, the read path) is put in the failure message.
    """
    exp = _as_table(expected)
    table = _as_table(got)
    cols = list(columns) if columns is not None else exp.column_names
    where = f" [{context}]" if context else ""
    missing = [c for c in cols if c not in table.column_names]
    if missing:
        raise AssertionError(f"columns {missing} missing from the result{where}; "
                             f"got {table.column_names}")
    if table.num_rows != exp.num_rows:
        raise AssertionError(f"{table.num_rows} rows came back, expected {exp.num_rows}{where}")
    wrong: list[str] = []  # every differing column, not just the first
    for c in cols:
        want = _canon_type(exp.schema.field(c).type)
        try:
            a = _canon(exp.column(c), want, c)
            b = _canon(table.column(c), want, c)
        except AssertionError as e:
            wrong.append(str(e))
            continue
        if a.equals(b):
            continue
        row = _first_difference(a, b)
        wrong.append(f"column {c!r} differs first at row {row}: expected "
                     f"{a[row].as_py()!r}, got {b[row].as_py()!r}")
    if wrong:
        raise AssertionError(f"values differ{where}: " + "; ".join(wrong))


def _first_difference(a: pa.ChunkedArray, b: pa.ChunkedArray) -> int:
    a, b = a.combine_chunks(), b.combine_chunks()
    lo, step = 0, 4096
    while lo < len(a):
        if not a.slice(lo, step).equals(b.slice(lo, step)):
            for i in range(lo, min(lo + step, len(a))):
                if a[i].as_py() != b[i].as_py() or a[i].is_valid != b[i].is_valid:
                    return i
            return lo
        lo += step
    return 0


def assert_same_dtypes(expected: pd.DataFrame, got: pd.DataFrame, *, context: str = "") -> None:
    """Assert each of ``expected``'s columns came back with its pandas dtype (the category's
    categories, timestamps' unit and zone included)."""
    where = f" [{context}]" if context else ""
    wrong = {c: (str(expected[c].dtype), str(got[c].dtype)) for c in expected.columns
             if c in got.columns and got[c].dtype != expected[c].dtype}
    if wrong:
        raise AssertionError(f"dtypes changed (column: (written, read)){where}: {wrong}")
