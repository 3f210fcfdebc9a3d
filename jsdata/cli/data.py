"""``jsdata read``, ``jsdata write`` and ``jsdata tail``: streams to and from files.

Reads go through :func:`jsdata.read_stream` and writes through
``JetStream.publish_dataframe``, so the options mean what they mean in the library.
"""

from __future__ import annotations

import argparse
import datetime
import io
import re
import sys
from pathlib import Path
from typing import Any

from ._common import (
    CLIError,
    UsageError,
    bytes_text,
    connection,
    dumps,
    note,
    print_json,
    progress_wanted,
)

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl",
           ".ndjson": "jsonl", ".json": "jsonl"}
_REL = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``read``, ``write`` and ``tail`` commands."""
    p = sub.add_parser(
        "read", help="read a stream into a Parquet, CSV or JSON-lines file",
        description="Read a stream (or a range of it) with jsdata.read_stream and write it "
        "to a file (format from the extension: .parquet, .csv, .jsonl) or to stdout ('-o -', "
        "JSON lines). Without -o the rows are printed as a table (JSON lines with --json).")
    p.add_argument("stream", help="stream name")
    _range_options(p)
    p.add_argument("-o", "--output", metavar="FILE",
                   help="output file (.parquet, .csv, .jsonl) or - for stdout")
    p.add_argument("--format", choices=["parquet", "csv", "jsonl"],
                   help="output format (default: from the file's extension; jsonl for -)")
    p.add_argument("--codec", default="auto",
                   help="payload codec: auto, json, msgpack, arrow, raw (default auto)")
    p.add_argument("--columns", help="comma-separated columns to keep")
    p.add_argument("--metadata", default="subject,seq,time",
                   help="metadata columns to add: any of subject,seq,time, or 'none'")
    p.add_argument("--headers", action="store_true", help="add a _headers column")
    p.add_argument("--max-messages", type=int, metavar="N", help="read at most N messages")
    p.add_argument("--on-error", choices=["raise", "skip", "keep"], default="raise",
                   help="what to do with payloads that do not decode (default raise)")
    p.add_argument("--batch-size", type=int, metavar="N",
                   help="write -o batch by batch, N messages at a time, in bounded memory "
                   "(Stream.to_batches: the columns come from the first batch)")
    p.add_argument("--max-rows", type=int, default=50, metavar="N",
                   help="rows shown in the table without -o (default 50)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=read)

    p = sub.add_parser(
        "write", help="publish the rows of a file to a stream",
        description="Publish the rows of a Parquet, CSV or JSON-lines file (- for JSON "
        "lines on stdin) with JetStream.publish_dataframe: one message per row, the subject "
        "filled per row from columns ('orders.{region}').")
    p.add_argument("subject", metavar="SUBJECT_TEMPLATE",
                   help="subject, or a template with {column} fields")
    p.add_argument("file", metavar="FILE", help="a .parquet, .csv or .jsonl file, or -")
    p.add_argument("--format", choices=["parquet", "csv", "jsonl"],
                   help="input format (default: from the extension; jsonl for -)")
    p.add_argument("--msg-id", metavar="TEMPLATE",
                   help="Nats-Msg-Id per row: a column or a template such as 'order-{id}' "
                   "(a rerun is then deduplicated)")
    p.add_argument("--codec", default="json", choices=["json", "msgpack", "arrow"],
                   help="payload encoding (default json: one object per message)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=write)

    p = sub.add_parser(
        "tail", help="the last messages of a stream (and new ones with -f)",
        description="Print the last N messages of a stream: sequence, time, subject and "
        "payload (JSON lines with --json). With --follow, keep printing new messages.")
    p.add_argument("stream", help="stream name")
    p.add_argument("--subjects", metavar="S", help="only these subjects (comma separated, "
                   "wildcards allowed)")
    p.add_argument("-n", "--count", type=int, default=20, metavar="N",
                   help="how many messages (default 20)")
    p.add_argument("-f", "--follow", action="store_true",
                   help="keep printing new messages until interrupted")
    p.set_defaults(func=tail)


def _range_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--subjects", metavar="S",
                   help="only these subjects (comma separated, wildcards allowed)")
    p.add_argument("--start", metavar="SEQ|TIME",
                   help="first sequence, an ISO time, or an age such as 1h / 30m / 2d")
    p.add_argument("--end", metavar="SEQ|TIME",
                   help="last sequence or time, inclusive (default: the last message now)")


def parse_position(what: str, text: str | None) -> int | datetime.datetime | None:
    """A ``--start``/``--end`` value: a sequence, ISO 8601 time, or an age ("1h")."""
    if text is None:
        return None
    t = text.strip()
    if t.isdigit():
        return int(t)
    m = _REL.match(t)
    if m:
        secs = float(m.group(1)) * _UNITS[m.group(2).lower()]
        return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=secs)
    try:
        dt = datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--{what} {text!r} is not a sequence number, an ISO time or an "
                         "age such as 1h") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=datetime.timezone.utc)


def _subjects(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [s.strip() for s in text.split(",") if s.strip()] or None


def _format_of(path: str | None, given: str | None, what: str) -> str:
    if given:
        return given
    if path in (None, "-"):
        return "jsonl"
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise UsageError(f"cannot tell the format of {what} {path!r} from its extension "
                         "(use .parquet, .csv or .jsonl, or --format)")
    return fmt


def _jsonable(df: Any) -> Any:
    """A copy of ``df`` for text output: bytes as text (UTF-8, else base64:...), times as
    ISO 8601 with all their digits (nanoseconds)."""
    import pandas as pd
    out = df.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype) or out[c].dtype.kind == "M":
            out[c] = out[c].map(lambda t: None if pd.isna(t) else t.isoformat())
        elif out[c].dtype == object:
            out[c] = out[c].map(lambda v: bytes_text(bytes(v))
                                if isinstance(v, (bytes, bytearray, memoryview)) else v)
    return out


def _write_frame(df: Any, fmt: str, out: str) -> None:
    if fmt == "parquet":
        if out == "-":
            buf = io.BytesIO()
            df.to_parquet(buf, index=False)
            sys.stdout.buffer.write(buf.getvalue())
            sys.stdout.flush()
        else:
            df.to_parquet(out, index=False)
    elif fmt == "csv":
        _jsonable(df).to_csv(sys.stdout if out == "-" else out, index=False)
    else:
        text = "" if not len(df) else _jsonable(df).to_json(
            orient="records", lines=True, date_format="iso", date_unit="ns", force_ascii=False)
        if text and not text.endswith("\n"):
            text += "\n"
        if out == "-":
            sys.stdout.write(text)
        else:
            Path(out).write_text(text, encoding="utf-8")


def read(args: argparse.Namespace) -> int:
    import jsdata
    meta_opt = args.metadata.strip().lower()
    metadata: tuple[str, ...] = () if meta_opt in ("", "none") else tuple(
        m.strip() for m in meta_opt.split(",") if m.strip())
    opts: dict[str, Any] = {
        "subjects": _subjects(args.subjects), "start": parse_position("start", args.start),
        "end": parse_position("end", args.end), "codec": args.codec, "metadata": metadata,
        "include_headers": args.headers, "on_error": args.on_error,
        "progress": progress_wanted(args),
    }
    if args.columns:
        opts["columns"] = [c.strip() for c in args.columns.split(",") if c.strip()]
    if args.max_messages is not None:
        opts["max_messages"] = args.max_messages
    out = args.output
    fmt = _format_of(out, args.format, "output") if out else None
    if fmt == "parquet" and out == "-" and sys.stdout.isatty():
        raise UsageError("refusing to write Parquet to a terminal (use -o FILE.parquet)")
    opts = {k: v for k, v in opts.items() if v is not None}
    if args.batch_size is not None:
        if out is None or (fmt == "parquet" and out == "-"):
            raise UsageError("--batch-size needs -o FILE (or -o - for CSV / JSON lines)")
        if args.batch_size < 1:
            raise UsageError("--batch-size must be >= 1")
        assert fmt is not None
        with connection(args) as js:
            rows, first, last = _export_batches(js, args.stream, opts, args.batch_size,
                                                fmt, out)
        _report_export(args, rows, first, last, fmt, out)
        return 0
    with connection(args) as js:
        df = jsdata.read_stream(args.stream, js, **opts)
    rng = df.attrs.get("jetstream", {})
    where = f"{args.stream} seq {rng.get('start_seq')}..{rng.get('end_seq')}"
    if out is not None:
        assert fmt is not None
        _write_frame(df, fmt, out)
        _report_export(args, len(df), rng.get("start_seq"), rng.get("end_seq"), fmt, out)
        return 0
    if args.json:
        _write_frame(df, "jsonl", "-")
        return 0
    if len(df):
        print(_jsonable(df).to_string(index=False, max_rows=args.max_rows))
    note(f"{len(df):,} rows from {where}")
    return 0


def _report_export(args: argparse.Namespace, rows: int, first: int | None, last: int | None,
                   fmt: str, out: str) -> None:
    if out == "-":
        return
    if args.json:
        print_json({"stream": args.stream, "rows": rows, "file": out, "format": fmt,
                    "start_seq": first, "end_seq": last})
    else:
        print(f"wrote {rows:,} rows from {args.stream} seq {first}..{last} to {out}")


def _export_batches(js: Any, stream: str, opts: dict[str, Any], batch_size: int, fmt: str,
                    out: str) -> tuple[int, int | None, int | None]:
    """Write the read batch by batch (Parquet through Arrow, CSV and JSON lines through
    the same pandas conversion as ``read_stream``); returns rows and the range covered."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..frames.decode import table_to_pandas
    reader = js.stream(stream).to_batches(batch_size=batch_size, **opts)
    rows, first, last = 0, None, None
    writer: Any = None
    text_out: Any = None
    try:
        for batch in reader:
            meta = (batch.schema.metadata or {}).get(b"jetstream")
            if meta:
                covered = json.loads(meta)
                first = covered["start_seq"] if first is None else first
                last = covered["end_seq"]
            batch = batch.replace_schema_metadata(None)
            if fmt == "parquet":
                if writer is None:
                    writer = pq.ParquetWriter(out, batch.schema)
                writer.write_batch(batch)
            else:
                df = table_to_pandas(pa.Table.from_batches([batch]), None)
                if text_out is None:
                    text_out = sys.stdout if out == "-" else open(out, "w", encoding="utf-8")
                if fmt == "csv":
                    _jsonable(df).to_csv(text_out, index=False, header=rows == 0)
                elif len(df):
                    text = _jsonable(df).to_json(orient="records", lines=True,
                                                 date_format="iso", date_unit="ns",
                                                 force_ascii=False)
                    text_out.write(text if text.endswith("\n") else text + "\n")
            rows += batch.num_rows
        if fmt == "parquet" and writer is None:  # nothing read: an empty file with the schema
            pq.write_table(reader.schema.empty_table().replace_schema_metadata(None), out)
        elif fmt != "parquet" and text_out is None and out != "-":
            Path(out).write_text("", encoding="utf-8")
    finally:
        if writer is not None:
            writer.close()
        if text_out is not None and text_out is not sys.stdout:
            text_out.close()
        reader.close()
    return rows, first, last


def _load_table(path: str, fmt: str) -> Any:
    import pyarrow as pa
    if fmt == "parquet":
        import pyarrow.parquet as pq
        src: Any = io.BytesIO(sys.stdin.buffer.read()) if path == "-" else path
        return pq.read_table(src)
    if fmt == "csv":
        import pyarrow.csv as pcsv
        return pcsv.read_csv(io.BytesIO(sys.stdin.buffer.read()) if path == "-" else path)
    import pandas as pd
    src = sys.stdin if path == "-" else path
    try:
        df = pd.read_json(src, lines=True, dtype_backend="pyarrow")
    except ValueError as e:
        raise CLIError(f"{path} is not JSON lines: {e}") from None
    return pa.Table.from_pandas(df, preserve_index=False)


def write(args: argparse.Namespace) -> int:
    fmt = _format_of(args.file, args.format, "input")
    if args.file != "-" and not Path(args.file).is_file():
        raise CLIError(f"no such file: {args.file}")
    table = _load_table(args.file, fmt)
    with connection(args) as js:
        res = js.publish_dataframe(args.subject, table, codec=args.codec, msg_id=args.msg_id,
                                   progress=progress_wanted(args))
    if args.json:
        print_json({"rows": res.rows, "messages": res.messages, "bytes": res.bytes,
                    "stream": res.stream, "first_seq": res.first_seq,
                    "last_seq": res.last_seq, "duplicates": res.duplicates,
                    "elapsed": res.elapsed})
    else:
        dup = f", {res.duplicates:,} duplicates" if res.duplicates else ""
        seqs = f" seq {res.first_seq}..{res.last_seq}" if res.first_seq is not None else ""
        print(f"published {res.rows:,} rows as {res.messages:,} messages to "
              f"{res.stream or args.subject}{seqs}{dup}")
    return 0


# -- tail --------------------------------------------------------------------------------------

def _print_msg(args: argparse.Namespace, seq: int, ts: Any, subject: str, data: bytes) -> None:
    if args.json:
        import json
        text = bytes_text(bytes(data))
        try:
            payload: Any = json.loads(text) if not text.startswith("base64:") else text
        except ValueError:
            payload = text
        print(dumps({"seq": int(seq), "time": ts, "subject": subject, "data": payload}))
    else:
        t = ts.isoformat(timespec="milliseconds") if hasattr(ts, "isoformat") else str(ts)
        body = bytes_text(bytes(data)).replace("\n", "\\n")
        print(f"[{int(seq)}] {t} {subject}: {body}")
    sys.stdout.flush()


def _last_rows(js: Any, args: argparse.Namespace) -> tuple[Any, int]:
    """The last ``-n`` messages (as a raw read) and the stream's last sequence."""
    import jsdata
    st = js.stream(args.stream).info().state
    subjects = _subjects(args.subjects)
    n = max(0, args.count)
    last, first = st.last_seq, max(1, st.first_seq)
    if n == 0 or st.messages == 0:
        return None, last
    window = n
    while True:
        start = max(first, last - window + 1)
        df = jsdata.read_stream(args.stream, js, subjects=subjects, start=start, end=last,
                                codec="raw", metadata=("subject", "seq", "time"),
                                progress=False)
        if len(df) >= n or start == first:
            return df.tail(n), last
        window *= 4  # a filter matched too few: look further back


def tail(args: argparse.Namespace) -> int:
    if args.count < 0:
        raise UsageError("-n must be >= 0")
    with connection(args) as js:
        df, last = _last_rows(js, args)
        if df is not None:
            for seq, ts, subject, data in zip(df["_seq"], df["_time"], df["_subject"],
                                              df["_data"], strict=True):
                _print_msg(args, seq, ts, subject, data)
        elif not args.follow and not args.json:
            note(f"no messages in {args.stream}")
        if not args.follow:
            return 0
        oc = js.ordered_consumer(args.stream, filter_subjects=_subjects(args.subjects),
                                 deliver_policy="by_start_sequence", opt_start_seq=last + 1)
        it = oc.messages()
        try:
            for m in it:
                md = m.metadata
                _print_msg(args, md.sequence.stream, md.timestamp, m.subject, m.data)
        finally:
            it.stop()
    return 0
