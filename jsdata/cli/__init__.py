"""The ``jsdata`` command line (``python -m jsdata`` is the same).

Commands: ``server start|stop|status``, ``demo``, ``stream ls|info|rm``, ``consumer ls|info``,
``read``, ``write``, ``tail``, ``kv ls|get|put|watch``, ``object ls|put|get``. Every command
takes ``--server URL`` (or ``--context NAME``), credentials and ``--json``; output is a table
for people and JSON for scripts. A failure is one line on stderr naming what was wrong, exit
code 1; bad usage exits with 2 (as argparse does). ``JSDATA_DEBUG=1`` shows the traceback of
a failure instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from ._common import CLIError, UsageError, add_connection_options, print_fields, print_json

PROG = "jsdata"


def _version() -> str:
    import jsdata
    try:
        from importlib.metadata import version
        nats_py = version("nats-py")
    except Exception:  # noqa: BLE001 - informational only
        nats_py = "?"
    return f"jsdata {jsdata.__version__} (nats-py {nats_py}, Python {sys.version.split()[0]})"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    from . import buckets, data, streams
    parser = argparse.ArgumentParser(
        prog=PROG, description="NATS JetStream data from the command line: streams, "
        "consumers, reading and writing tables, key-value buckets, object stores and the "
        "embedded server.",
        epilog="Run 'jsdata COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=_version())
    add_connection_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sp = sub.add_parser("server", help="start, stop or check the embedded default server",
                        description="Manage jsdata's default embedded nats-server (shared by "
                        "every process of the user; its home is $JSDATA_HOME).")
    ssub = sp.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (("start", "start it (if needed) and print its URL"),
                       ("stop", "stop it"), ("status", "is it running, where, which version")):
        p = ssub.add_parser(name, help=text, description=text[0].upper()
                            + text[1:] + ".")
        p.set_defaults(func=server_cmd)

    p = sub.add_parser("demo", help="a tour of jsdata on a server",
                       description="A tour of jsdata: creates DEMO_* streams and demo_* "
                       "buckets, publishes and reads them back and prints what happened.")
    p.set_defaults(func=demo_cmd)

    streams.register(sub)
    data.register(sub)
    buckets.register(sub)
    _add_common_options(parser)
    return parser


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    """Give every command (a parser with ``func``) the connection and output options, after
    its own so that its help starts with what is particular to it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for p in action.choices.values():
                if p.get_default("func") is not None:
                    add_connection_options(p, top=False)
                else:
                    _add_common_options(p)


def server_cmd(args: argparse.Namespace) -> int:
    from ..server import (
        default_server_status,
        default_server_url,
        jsdata_home,
        stop_default_server,
    )
    if args.action == "start":
        url = default_server_url()
        if args.json:
            print_json({"url": url, **(default_server_status() or {})})
        else:
            print(url)
        return 0
    if args.action == "stop":
        stopped = stop_default_server()
        if args.json:
            print_json({"stopped": stopped})
        else:
            print("stopped" if stopped else "not running")
        return 0
    status = default_server_status()
    if args.json:
        print_json(status or {"healthy": False, "home": str(jsdata_home())})
    elif status is None:
        print(f"not running (no state in {jsdata_home()})")
    else:
        print_fields((k, status.get(k)) for k in ("healthy", "url", "monitor_url", "pid",
                                                  "version", "store_dir", "log_file"))
    return 0 if status and status.get("healthy") else 1


def demo_cmd(args: argparse.Namespace) -> int:
    import os

    from ._common import connect_kwargs
    url, kw = connect_kwargs(args)
    if kw:
        raise UsageError("demo takes --server only (no credentials)")
    if url:
        os.environ["JSDATA_URL"] = url
    from ..demo import main as demo
    return demo()


def _message(e: BaseException) -> str:
    if isinstance(e, KeyError) and len(e.args) == 1 and isinstance(e.args[0], str):
        msg = e.args[0]  # KeyError's str() adds quotes
    else:
        msg = str(e)
    if isinstance(e, OSError) and e.filename and str(e.filename) not in msg:
        msg = f"{msg}: {e.filename}"
    msg = msg or e.__class__.__name__
    return " ".join(msg.split())  # one line


def _mentions_target(msg: str, args: argparse.Namespace) -> str:
    """Add what the command was about when a not-found error does not say it."""
    targets = [str(v) for k in ("stream", "name", "bucket", "key")
               if isinstance(v := getattr(args, k, None), str)]
    if targets and not any(t in msg for t in targets):
        return f"{msg} ({' '.join(targets)})"
    return msg


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (0 ok, 1 failure, 2 usage, 130 interrupted)."""
    import logging

    import jsdata.errors as jerr
    # asyncio warns on every TLS connection close ("returning true from eof_received() has
    # no effect when using ssl"): noise on a command line's stderr, not an error
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    func: Any = args.func
    try:
        return int(func(args) or 0)
    except UsageError as e:
        parser.exit(2, f"{PROG}: error: {e}\n")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `jsdata read STREAM -o - | head`: the reader is done
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
        return 0
    except Exception as e:  # noqa: BLE001 - every failure is one line (JSDATA_DEBUG=1: traceback)
        if os.environ.get("JSDATA_DEBUG"):
            raise
        msg = _message(e)
        if isinstance(e, jerr.NotFoundError):
            msg = _mentions_target(msg, args)
        kind = "" if isinstance(e, CLIError) else f"{e.__class__.__name__}: "
        print(f"{PROG}: error: {kind}{msg}", file=sys.stderr)
        return 1
    return 0
