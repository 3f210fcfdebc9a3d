"""``jsdata stream ls|info|rm`` and ``jsdata consumer ls|info``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import CLIError, connection, note, print_fields, print_json, print_table

STREAM_COLUMNS = ["name", "subjects", "storage", "messages", "bytes", "first_seq", "last_seq",
                  "consumers"]
CONSUMER_COLUMNS = ["name", "durable", "filter", "ack_policy", "delivered", "ack_pending",
                    "pending", "redelivered"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``stream`` and ``consumer`` commands."""
    sp = sub.add_parser("stream", help="list, inspect and delete streams",
                        description="List, inspect and delete streams.")
    ssub = sp.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = ssub.add_parser("ls", help="list streams",
                        description="List the streams (optionally only those capturing a "
                        "subject).")
    p.add_argument("--subject", help="only streams that capture this subject")
    p.set_defaults(func=stream_ls)
    p = ssub.add_parser("info", help="a stream's configuration and state",
                        description="Show a stream's configuration and state.")
    p.add_argument("name", help="stream name")
    p.set_defaults(func=stream_info)
    p = ssub.add_parser("rm", help="delete a stream and its messages",
                        description="Delete a stream and all its messages.")
    p.add_argument("name", help="stream name")
    p.add_argument("-f", "--force", action="store_true",
                   help="do not ask for confirmation (needed when not on a terminal)")
    p.set_defaults(func=stream_rm)

    cp = sub.add_parser("consumer", help="list and inspect consumers",
                        description="List and inspect a stream's consumers.")
    csub = cp.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = csub.add_parser("ls", help="list a stream's consumers",
                        description="List the consumers of a stream.")
    p.add_argument("stream", help="stream name")
    p.set_defaults(func=consumer_ls)
    p = csub.add_parser("info", help="a consumer's configuration and state",
                        description="Show a consumer's configuration and delivery state.")
    p.add_argument("stream", help="stream name")
    p.add_argument("name", help="consumer name")
    p.set_defaults(func=consumer_info)


def _stream_row(info: Any) -> dict[str, Any]:
    c, st = info.config, info.state
    return {"name": c.name, "subjects": list(c.subjects or []), "storage": c.storage,
            "messages": st.messages, "bytes": st.bytes, "first_seq": st.first_seq,
            "last_seq": st.last_seq, "consumers": st.consumer_count}


def stream_ls(args: argparse.Namespace) -> int:
    with connection(args) as js:
        infos = sorted(js.list_streams(subject=args.subject), key=lambda i: i.config.name)
    if args.json:
        print_json([_stream_row(i) for i in infos])
    else:
        print_table([_stream_row(i) for i in infos], STREAM_COLUMNS, empty="no streams")
    return 0


def stream_info(args: argparse.Namespace) -> int:
    with connection(args) as js:
        info = js.stream(args.name).info()
    if args.json:
        print_json(info)
        return 0
    c, st = info.config, info.state
    print_fields([
        ("name", c.name), ("description", c.description), ("subjects", c.subjects),
        ("storage", c.storage), ("retention", c.retention), ("replicas", c.num_replicas),
        ("max_age", c.max_age), ("max_msgs", c.max_msgs), ("max_bytes", c.max_bytes),
        ("discard", c.discard), ("created", info.created),
        ("messages", st.messages), ("bytes", st.bytes),
        ("first_seq", st.first_seq), ("first_time", st.first_ts),
        ("last_seq", st.last_seq), ("last_time", st.last_ts),
        ("subjects_stored", st.num_subjects), ("deleted", st.num_deleted),
        ("consumers", st.consumer_count),
    ])
    return 0


def _confirm(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def stream_rm(args: argparse.Namespace) -> int:
    with connection(args) as js:
        if not args.force:
            if not sys.stdin.isatty():
                raise CLIError(f"refusing to delete stream {args.name!r} without --force "
                               "(not on a terminal)")
            st = js.stream(args.name).info().state
            if not _confirm(f"delete stream {args.name} and its {st.messages:,} messages?"):
                note("not deleted")
                return 1
        js.delete_stream(args.name)
    if args.json:
        print_json({"deleted": args.name})
    else:
        print(f"deleted stream {args.name}")
    return 0


def _consumer_row(ci: Any) -> dict[str, Any]:
    c = ci.config
    filters = list(c.filter_subjects or []) or ([c.filter_subject] if c.filter_subject else [])
    return {"name": ci.name, "durable": bool(c.durable_name), "filter": filters,
            "ack_policy": c.ack_policy, "delivered": ci.delivered.stream_seq,
            "ack_pending": ci.num_ack_pending, "pending": ci.num_pending,
            "redelivered": ci.num_redelivered}


def consumer_ls(args: argparse.Namespace) -> int:
    with connection(args) as js:
        s = js.stream(args.stream)  # names the stream when it does not exist
        infos = sorted(s.list_consumers(), key=lambda i: i.name)
    rows = [_consumer_row(i) for i in infos]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, CONSUMER_COLUMNS, empty=f"no consumers on {args.stream}")
    return 0


def consumer_info(args: argparse.Namespace) -> int:
    with connection(args) as js:
        ci = js.consumer(args.stream, args.name).info()
    if args.json:
        print_json(ci)
        return 0
    c = ci.config
    print_fields([
        ("stream", ci.stream_name), ("name", ci.name), ("durable", c.durable_name),
        ("description", c.description), ("filter", _consumer_row(ci)["filter"]),
        ("deliver_policy", c.deliver_policy), ("ack_policy", c.ack_policy),
        ("ack_wait", c.ack_wait), ("max_deliver", c.max_deliver),
        ("max_ack_pending", c.max_ack_pending), ("created", ci.created),
        ("delivered_stream_seq", ci.delivered.stream_seq),
        ("ack_floor_stream_seq", ci.ack_floor.stream_seq),
        ("ack_pending", ci.num_ack_pending), ("redelivered", ci.num_redelivered),
        ("waiting", ci.num_waiting), ("pending", ci.num_pending),
    ])
    return 0
