"""What every CLI command shares: connection options, output (tables or JSON), errors.

Output goes to stdout (a table for people, JSON with ``--json``); messages for people
(summaries, progress bars) go to stderr so that stdout stays clean for pipes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import enum
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any


class CLIError(Exception):
    """A failure to report as one line on stderr with exit code 1."""


class UsageError(CLIError):
    """Bad command-line usage: reported like argparse does, exit code 2."""


# -- connection options ------------------------------------------------------------------------

def add_connection_options(p: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command takes (``--server``, credentials, ``--json``, ...).

    They are accepted before and after the command; on subcommands their default is
    ``SUPPRESS`` so that a value given before the command is not reset by the subparser.
    """
    d: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
    g = p.add_argument_group("connection and output")
    g.add_argument("-s", "--server", metavar="URL", help="server URL(s), comma separated "
                   "(default: $JSDATA_URL, $NATS_URL, else the embedded server)", **d)
    g.add_argument("--context", metavar="NAME",
                   help="a nats CLI context (~/.config/nats/context/NAME.json)", **d)
    g.add_argument("--user", help="user name", **d)
    g.add_argument("--password", help="password (better: in the URL or a context)", **d)
    g.add_argument("--token", help="authentication token", **d)
    g.add_argument("--creds", metavar="FILE", help="a .creds file (JWT and nkey seed)", **d)
    g.add_argument("--nkey", metavar="SEED", help="an nkeys seed file (or the seed)", **d)
    g.add_argument("--tlsca", metavar="FILE", help="CA certificate(s) to trust (TLS)", **d)
    g.add_argument("--tlscert", metavar="FILE", help="client certificate (mutual TLS)", **d)
    g.add_argument("--tlskey", metavar="FILE", help="the client certificate's key", **d)
    g.add_argument("--tlsfirst", action="store_true",
                   help="TLS handshake before the server's INFO (servers with handshake_first)",
                   **d)
    g.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="connect and request timeout (default 5)", **d)
    g.add_argument("--json", action="store_true", help="JSON output for scripts", **d)


def connect_kwargs(args: argparse.Namespace) -> tuple[str | None, dict[str, Any]]:
    """The URL and :func:`jsdata.connect` keywords the options ask for; ``--context`` is
    passed through (the library reads the nats CLI context, see :mod:`jsdata.client.contexts`),
    and the explicit options win over it."""
    url = getattr(args, "server", None) or None
    kw: dict[str, Any] = {}
    if getattr(args, "context", None):
        kw["context"] = args.context
    for opt, kwarg in (("user", "user"), ("password", "password"), ("token", "token"),
                       ("creds", "creds"), ("nkey", "nkeys_seed")):
        v = getattr(args, opt, None)
        if v:
            kw[kwarg] = os.path.expanduser(v) if opt == "creds" else v
    tls = {k: os.path.expanduser(v) for k, v in (
        ("ca_file", getattr(args, "tlsca", None)), ("cert_file", getattr(args, "tlscert", None)),
        ("key_file", getattr(args, "tlskey", None))) if v}
    if tls:
        kw["tls"] = tls
    if getattr(args, "tlsfirst", False):
        kw["tls_handshake_first"] = True
    if getattr(args, "timeout", None) is not None:
        kw["timeout"] = args.timeout
    return url, kw


@contextlib.contextmanager
def connection(args: argparse.Namespace) -> Iterator[Any]:
    """A blocking connection for one command, closed afterwards."""
    import jsdata
    url, kw = connect_kwargs(args)
    js = jsdata.connect(url, **kw)
    try:
        yield js
    finally:
        js.close()


# -- output ------------------------------------------------------------------------------------

def to_plain(v: Any) -> Any:
    """``v`` as JSON-ready data (models via their wire JSON, datetimes as ISO 8601)."""
    if hasattr(v, "to_json") and callable(v.to_json):
        return to_plain(v.to_json())
    if isinstance(v, dict):
        return {str(k): to_plain(x) for k, x in v.items() if k != "stream_info"}
    if isinstance(v, (list, tuple)):
        return [to_plain(x) for x in v]
    if isinstance(v, enum.Enum):
        return to_plain(v.value)
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes_text(bytes(v))
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: to_plain(getattr(v, f.name)) for f in dataclasses.fields(v)
                if f.name != "stream_info"}
    return v


def bytes_text(b: bytes) -> str:
    """Bytes as text: UTF-8 when they are, else ``base64:...``."""
    try:
        return b.decode()
    except UnicodeDecodeError:
        import base64
        return "base64:" + base64.b64encode(b).decode()


def dumps(v: Any, *, indent: int | None = None) -> str:
    return json.dumps(to_plain(v), indent=indent, default=str, ensure_ascii=False)


def print_json(v: Any) -> None:
    """One JSON document (indented) on stdout."""
    print(dumps(v, indent=2))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str],
                empty: str = "(none)") -> None:
    """An aligned text table of ``rows`` (dicts) with the given columns."""
    if not rows:
        print(empty)
        return
    cells = [[fmt_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def print_fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """``key: value`` lines (details of one thing)."""
    pairs = list(pairs)
    w = max((len(k) for k, _ in pairs), default=0)
    for k, v in pairs:
        print(f"{k + ':':<{w + 1}} {fmt_cell(v, grouped=False)}")


def fmt_cell(v: Any, *, grouped: bool = True) -> str:
    """One value as table text (``grouped``: thousands separators in integers)."""
    if v is None:
        return "-"
    if isinstance(v, enum.Enum):
        v = v.value
    if isinstance(v, datetime.datetime):
        return v.isoformat(timespec="seconds")
    if isinstance(v, (list, tuple)):
        return ",".join(fmt_cell(x, grouped=grouped) for x in v) or "-"
    if isinstance(v, (bytes, bytearray)):
        v = bytes_text(bytes(v))
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}" if grouped else str(v)
    return str(v).replace("\r", "\\r").replace("\n", "\\n")


def note(msg: str) -> None:
    """A message for people on stderr (not part of the output)."""
    print(msg, file=sys.stderr)


def progress_wanted(args: argparse.Namespace) -> bool:
    """Progress bars only when stderr is a terminal (never in pipes, logs or CI)."""
    if getattr(args, "no_progress", False):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
