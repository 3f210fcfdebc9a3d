"""The JSON codec's vectorised writer (jsdata/frames/json_text.py) on slices of columns.

The writer encodes a frame in slices; a slice of a list or map column shares its parent's
``values`` / ``keys`` / ``items``. These properties hold that every slice, at any offset and
length, encodes to exactly its own values (what ``json.loads`` gives back equals the
slice's Python values), with nulls, empty lists and maps, and strings that need escaping.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

import jsdata
from jsdata.frames.json_text import json_fragments, json_rows
from jsdata.frames.writer import PIECE_ROWS
from jsdata.server import EmbeddedServer

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=6)
lists = st.lists(st.one_of(st.none(), st.lists(st.one_of(st.none(), texts), max_size=4)),
                 min_size=1, max_size=40)
maps = st.lists(st.one_of(st.none(), st.lists(st.tuples(texts, st.one_of(
    st.none(), st.integers(-2**63, 2**63 - 1))), max_size=3)), min_size=1, max_size=40)
nested = st.lists(st.one_of(st.none(), st.lists(st.one_of(st.none(), st.lists(
    st.integers(-5, 5), max_size=3)), max_size=3)), min_size=1, max_size=40)


def _decoded(arr: pa.Array) -> list[Any]:
    return [None if v is None else json.loads(v) for v in json_fragments(arr, "c").to_pylist()]


def _cut(values: list[Any], data: st.DataObject) -> tuple[int, int]:
    off = data.draw(st.integers(0, len(values)))
    return off, data.draw(st.integers(0, len(values) - off))


@settings(max_examples=150, deadline=None)
@given(lists, st.data())
def test_a_slice_of_a_list_column_encodes_its_own_values(values: list[Any],
                                                         data: st.DataObject) -> None:
    arr = pa.array(values, pa.list_(pa.string()))
    off, n = _cut(values, data)
    assert _decoded(arr.slice(off, n)) == values[off:off + n]
    large = pa.array(values, pa.large_list(pa.string())).slice(off, n)
    assert _decoded(large) == values[off:off + n]


@settings(max_examples=150, deadline=None)
@given(nested, st.data())
def test_a_slice_of_a_list_of_lists_encodes_its_own_values(values: list[Any],
                                                           data: st.DataObject) -> None:
    arr = pa.array(values, pa.list_(pa.list_(pa.int64())))
    off, n = _cut(values, data)
    assert _decoded(arr.slice(off, n)) == values[off:off + n]


@settings(max_examples=150, deadline=None)
@given(maps, st.data())
def test_a_slice_of_a_map_column_encodes_its_own_entries(values: list[Any],
                                                         data: st.DataObject) -> None:
    arr = pa.array(values, pa.map_(pa.string(), pa.int64()))
    off, n = _cut(values, data)
    want = [None if v is None else dict(v) for v in values[off:off + n]]
    assert _decoded(arr.slice(off, n)) == want


def test_rows_of_a_sliced_table_hold_only_the_slice() -> None:
    t = pa.table({"id": list(range(6)),
                  "tags": [["a"], None, [], ["b", "c"], ["d"], ["e\n\"f"]],
                  "m": pa.array([[("k", 1)], [], None, [("x", 2), ("y", None)], [], [("z", 3)]],
                                pa.map_(pa.string(), pa.int64()))})
    rows = [json.loads(r) for r in json_rows(t.slice(2, 3)).to_pylist()]
    assert rows == [{"id": 2, "tags": [], "m": None},
                    {"id": 3, "tags": ["b", "c"], "m": {"x": 2, "y": None}},
                    {"id": 4, "tags": ["d"], "m": {}}]


def test_a_frame_with_missing_lists_past_the_first_slice_round_trips(
        shared_server: EmbeddedServer) -> None:
    """publish_dataframe encodes in slices of PIECE_ROWS rows; a list column with missing
    values in a later slice once raised Arrow's 'Null bitmap with offsets slice'."""
    n = PIECE_ROWS * 2 + 17
    tags = [None if i % 7 == 3 else [f"t{i % 5}"] * (i % 3) for i in range(n)]
    df = pd.DataFrame({"id": np.arange(n), "tags": tags})
    with jsdata.connect(shared_server.url) as js:
        js.create_stream(name="JTXT", subjects=["JTXT.>"])
        res = js.publish_dataframe("JTXT.x", df, codec="json", progress=False)
        assert res.rows == n
        back = js.stream("JTXT").to_pandas(progress=False, metadata=None)
    assert back["id"].tolist() == list(range(n))
    assert back["tags"].tolist() == tags
