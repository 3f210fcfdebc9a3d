"""What ``publish_dataframe`` fills in per row: subject and message-id templates
(``"ORDERS.{region}"``, filled from columns with vectorized Arrow kernels, values checked)
and the header blocks (``headers=`` columns or constants, the codec's content type).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import errors

if TYPE_CHECKING:
    import pyarrow as pa

    from .codec import Codec

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_BAD_VALUE = r"[\s.*>]"
_HDR_NAME = re.compile(r"^[!-9;-~]+$")


@dataclass
class _Template:
    text: str
    parts: list[str]  # literal, name, literal, name, ..., literal

    @property
    def fields(self) -> list[str]:
        return self.parts[1::2]


def _template(text: str) -> _Template:
    parts: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        parts.append(text[pos:m.start()])
        parts.append(m.group(1))
        pos = m.end()
    parts.append(text[pos:])
    return _Template(text, parts)


def _column(table: pa.Table, name: str, what: str) -> Any:
    i = table.schema.get_field_index(name)
    if i < 0:
        raise errors.ColumnNotFoundError(
            f"{what} refers to column {name!r}, which the data does not have "
            f"(columns: {', '.join(table.column_names)})")
    return table.column(i)


def _as_strings(col: Any, name: str, what: str) -> Any:
    import pyarrow as pa
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_string(t):
        return col
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return col.cast(pa.string())
    try:
        return col.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise errors.UnsupportedTypeError(
            f"column {name!r} ({t}) used in {what} cannot be turned into text: {e}") from None


def _first_true(mask: Any) -> int:
    import pyarrow.compute as pc
    return int(pc.index(mask, True).as_py())


def _fill(tpl: _Template, table: pa.Table, offset: int, what: str, *, subject: bool) -> Any:
    """The template filled for every row (a string array), each value validated."""
    import pyarrow as pa
    import pyarrow.compute as pc
    args: list[Any] = []
    for i, part in enumerate(tpl.parts):
        if i % 2 == 0:
            args.append(part)
            continue
        col = _as_strings(_column(table, part, what), part, what)
        if col.null_count:
            r = _first_true(pc.is_null(col))
            err = errors.InvalidSubjectError if subject else errors.InvalidArgumentError
            raise err(f"row {offset + r}: column {part!r} is null, so the {what} cannot be "
                      "filled")
        if subject:
            bad = pc.or_(pc.match_substring_regex(col, _BAD_VALUE),
                         pc.equal(pc.utf8_length(col), 0))
            if pc.any(bad).as_py():
                r = _first_true(bad)
                v = col[r].as_py()
                raise errors.InvalidSubjectError(
                    f"row {offset + r}: column {part!r} value {v!r} cannot be used in subject "
                    f"{tpl.text!r} (values must be non-empty, without spaces, '.', '*' or '>')")
        else:
            bad = pc.match_substring_regex(col, r"[\r\n]")
            if pc.any(bad).as_py():
                r = _first_true(bad)
                raise errors.InvalidArgumentError(
                    f"row {offset + r}: column {part!r} value for the {what} contains a "
                    "line break")
        args.append(col)
    if len(args) == 1:
        return pa.array([args[0]] * table.num_rows, pa.string())
    return pc.binary_join_element_wise(*args, "")


@dataclass
class _HeaderSpec:
    content_type: str | None
    msg_id: _Template | None
    columns: list[tuple[str, str]]  # (header name, column)
    schema_id: str | None = None  # the recorded schema (jsdata.frames.dtypes), on every message
    schema_text: str | None = None  # its definition, on the first message of the write


def _header_spec(codec: Codec, msg_id: str | None,
                 headers: Sequence[str] | Mapping[str, str] | None) -> _HeaderSpec:
    cols: list[tuple[str, str]] = []
    if headers is not None:
        if isinstance(headers, str):
            headers = [headers]
        if isinstance(headers, Mapping):
            cols = [(str(h), str(c)) for h, c in headers.items()]
        else:
            cols = [(str(c), str(c)) for c in headers]
        for h, _ in cols:
            if not _HDR_NAME.match(h):
                raise errors.InvalidArgumentError(
                    f"invalid header name {h!r} (printable ASCII without ':' or spaces)")
    tpl = None
    if msg_id is not None:
        if not isinstance(msg_id, str) or not msg_id:
            raise errors.InvalidArgumentError("msg_id must be a column name or a template")
        tpl = _template(msg_id if "{" in msg_id else "{" + msg_id + "}")
    return _HeaderSpec(codec.content_type, tpl, cols)


def _header_blocks(spec: _HeaderSpec, table: pa.Table, offset: int) -> list[bytes] | bytes:
    """One header block per row, or a single block when no header varies per row."""
    import pyarrow.compute as pc
    const = "NATS/1.0\r\n"
    if spec.content_type:
        const += f"Content-Type: {spec.content_type}\r\n"
    if spec.schema_id:
        from .dtypes import SCHEMA_HEADER
        const += f"{SCHEMA_HEADER}: {spec.schema_id}\r\n"
    if spec.msg_id is None and not spec.columns:
        return (const + "\r\n").encode() if const != "NATS/1.0\r\n" else b""
    args: list[Any] = [const]
    if spec.msg_id is not None:
        ids = _fill(spec.msg_id, table, offset, "msg_id", subject=False)
        args += ["Nats-Msg-Id: ", ids, "\r\n"]
    for h, c in spec.columns:
        col = _as_strings(_column(table, c, f"header {h!r}"), c, f"header {h!r}")
        bad = pc.match_substring_regex(col, r"[\r\n]")
        if pc.any(bad).as_py():
            r = _first_true(bad)
            raise errors.InvalidArgumentError(
                f"row {offset + r}: column {c!r} (header {h!r}) contains a line break")
        line = pc.binary_join_element_wise(f"{h}: ", col, "\r\n", "")
        if line.null_count:
            line = pc.fill_null(line, "")  # a null value: header left out for that row
        args.append(line)
    args.append("\r\n")
    from .codec import binary_to_list
    return binary_to_list(pc.binary_join_element_wise(*args, ""))
