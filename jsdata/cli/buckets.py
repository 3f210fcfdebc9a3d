"""``jsdata kv ls|get|put|watch`` and ``jsdata object ls|put|get``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ._common import (
    CLIError,
    bytes_text,
    connection,
    dumps,
    fmt_cell,
    note,
    print_json,
    print_table,
    progress_wanted,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``kv`` and ``object`` commands."""
    kp = sub.add_parser("kv", help="key-value buckets: list, get, put, watch",
                        description="Key-value buckets.")
    ksub = kp.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = ksub.add_parser("ls", help="list buckets, or a bucket's keys",
                        description="List the key-value buckets, or the keys of BUCKET.")
    p.add_argument("bucket", nargs="?", help="list this bucket's keys")
    p.set_defaults(func=kv_ls)
    p = ksub.add_parser("get", help="print a key's value",
                        description="Print a key's value (raw bytes on stdout; the entry "
                        "with revision and time with --json).")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("--revision", type=int, help="this revision instead of the latest")
    p.set_defaults(func=kv_get)
    p = ksub.add_parser("put", help="store a value under a key",
                        description="Store VALUE under KEY (- reads the value from stdin).")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("value", help="the value, or - for stdin")
    p.add_argument("--create", action="store_true",
                   help="create the bucket if it does not exist")
    p.set_defaults(func=kv_put)
    p = ksub.add_parser("watch", help="print changes to keys as they happen",
                        description="Print the current values of the keys, then every change "
                        "(until interrupted, or --count entries).")
    p.add_argument("bucket")
    p.add_argument("keys", nargs="*", help="key patterns (default: every key)")
    p.add_argument("--updates-only", action="store_true",
                   help="skip the current values; only print changes")
    p.add_argument("--count", type=int, metavar="N", help="stop after N entries")
    p.set_defaults(func=kv_watch)

    op = sub.add_parser("object", help="object stores: list, put, get",
                        description="Object store buckets.")
    osub = op.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = osub.add_parser("ls", help="list object stores, or a bucket's objects",
                        description="List the object stores, or the objects in BUCKET.")
    p.add_argument("bucket", nargs="?", help="list this bucket's objects")
    p.set_defaults(func=object_ls)
    p = osub.add_parser("put", help="store a local file as an object",
                        description="Store FILE in BUCKET (created if missing) as an object "
                        "named --name (default: the file's name).")
    p.add_argument("bucket")
    p.add_argument("file")
    p.add_argument("--name", help="object name (default: the file's base name)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=object_put)
    p = osub.add_parser("get", help="download an object to a file",
                        description="Download an object (its digest is verified) to -o FILE "
                        "(default: its base name in the current directory; - for stdout).")
    p.add_argument("bucket")
    p.add_argument("name")
    p.add_argument("-o", "--output", metavar="FILE", help="output file, or - for stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=object_get)


# -- key-value ---------------------------------------------------------------------------------

def _entry(e: Any) -> dict[str, Any]:
    return {"bucket": e.bucket, "key": e.key, "value": bytes_text(bytes(e.value)),
            "revision": e.revision, "created": e.created, "operation": e.operation}


def kv_ls(args: argparse.Namespace) -> int:
    with connection(args) as js:
        if args.bucket is None:
            rows = [{"bucket": s.bucket, "values": s.values, "history": s.history,
                     "ttl": s.ttl, "bytes": s.bytes}
                    for s in sorted(js.key_values(), key=lambda s: s.bucket)]
            if args.json:
                print_json(rows)
            else:
                print_table(rows, ["bucket", "values", "history", "ttl", "bytes"],
                            empty="no key-value buckets")
            return 0
        keys = sorted(js.key_value(args.bucket).keys())
    if args.json:
        print_json(keys)
    elif keys:
        print("\n".join(keys))
    else:
        note(f"no keys in {args.bucket}")
    return 0


def kv_get(args: argparse.Namespace) -> int:
    with connection(args) as js:
        e = js.key_value(args.bucket).get(args.key, revision=args.revision)
    if args.json:
        print_json(_entry(e))
    else:
        sys.stdout.buffer.write(bytes(e.value))
        if sys.stdout.isatty() and not bytes(e.value).endswith(b"\n"):
            sys.stdout.buffer.write(b"\n")
        sys.stdout.flush()
    return 0


def kv_put(args: argparse.Namespace) -> int:
    import jsdata
    value = sys.stdin.buffer.read() if args.value == "-" else args.value.encode()
    with connection(args) as js:
        try:
            kv = js.key_value(args.bucket)
        except jsdata.errors.BucketNotFoundError:
            if not args.create:
                raise CLIError(f"key-value bucket {args.bucket!r} not found "
                               "(--create makes it)") from None
            kv = js.create_key_value(bucket=args.bucket)
        rev = kv.put(args.key, value)
    if args.json:
        print_json({"bucket": args.bucket, "key": args.key, "revision": rev})
    else:
        print(f"{args.bucket}/{args.key} revision {rev}")
    return 0


def kv_watch(args: argparse.Namespace) -> int:
    if args.count is not None and args.count < 1:
        raise CLIError("--count must be >= 1")
    shown = 0
    with connection(args) as js:
        kv = js.key_value(args.bucket)
        w = kv.watch(args.keys or ">", updates_only=args.updates_only)
        try:
            for e in w:
                if e is None:  # the end of the current values
                    continue
                if args.json:
                    print(dumps(_entry(e)))
                else:
                    op = e.operation.value if hasattr(e.operation, "value") else e.operation
                    body = "" if op != "PUT" else ": " + fmt_cell(bytes(e.value))
                    print(f"[{e.revision}] {op} {e.key}{body}")
                sys.stdout.flush()
                shown += 1
                if args.count is not None and shown >= args.count:
                    break
        finally:
            w.stop()
    return 0


# -- objects -----------------------------------------------------------------------------------

def object_ls(args: argparse.Namespace) -> int:
    with connection(args) as js:
        if args.bucket is None:
            rows = [{"bucket": s.bucket, "size": s.size, "sealed": s.sealed,
                     "storage": s.storage, "description": s.description}
                    for s in sorted(js.object_stores(), key=lambda s: s.bucket)]
            if args.json:
                print_json(rows)
            else:
                print_table(rows, ["bucket", "size", "sealed", "storage", "description"],
                            empty="no object stores")
            return 0
        infos = sorted(js.object_store(args.bucket).list(), key=lambda i: i.name)
    rows = [{"name": i.name, "size": i.size, "chunks": i.chunks, "mtime": i.mtime,
             "digest": i.digest,
             "link": f"{i.link.bucket}/{i.link.name or ''}" if i.link else None}
            for i in infos]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["name", "size", "chunks", "mtime", "digest"],
                    empty=f"no objects in {args.bucket}")
    return 0


def _bar(args: argparse.Namespace, total: int, desc: str) -> Any:
    if not progress_wanted(args):
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                file=sys.stderr, leave=False)


def object_put(args: argparse.Namespace) -> int:
    import jsdata
    path = Path(args.file)
    if not path.is_file():
        raise CLIError(f"no such file: {args.file}")
    name = args.name or path.name
    size = path.stat().st_size
    with connection(args) as js:
        try:
            obs = js.object_store(args.bucket)
        except jsdata.errors.BucketNotFoundError:
            obs = js.create_object_store(bucket=args.bucket)
        bar = _bar(args, size, f"put {name}")
        with open(path, "rb") as f:
            if bar is None:
                info = obs.put(name, f)
            else:
                with bar:
                    def chunks() -> Any:
                        while True:
                            b = f.read(1 << 20)
                            if not b:
                                return
                            bar.update(len(b))
                            yield b
                    info = obs.put(name, chunks())
    if args.json:
        print_json(info)
    else:
        n = "1 chunk" if info.chunks == 1 else f"{info.chunks} chunks"
        print(f"stored {args.bucket}/{info.name}: {info.size:,} bytes in {n} "
              f"({info.digest})")
    return 0


def object_get(args: argparse.Namespace) -> int:
    out = args.output or os.path.basename(args.name.rstrip("/")) or "object"
    with connection(args) as js:
        obs = js.object_store(args.bucket)
        if out == "-":
            with obs.get(args.name) as r:
                for chunk in r.iter_chunks():
                    sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            return 0
        tmp = f"{out}.part"
        try:
            with obs.get(args.name) as r, open(tmp, "wb") as f:
                bar = _bar(args, r.size, f"get {args.name}")
                try:
                    for chunk in r.iter_chunks():
                        f.write(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                finally:
                    if bar is not None:
                        bar.close()
                info = r.info
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    if args.json:
        print_json({"bucket": args.bucket, "name": info.name, "size": info.size,
                    "digest": info.digest, "file": out})
    else:
        print(f"wrote {args.bucket}/{info.name} ({info.size:,} bytes) to {out}")
    return 0
