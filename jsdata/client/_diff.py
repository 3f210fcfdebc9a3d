"""Which configuration fields differ: for "already exists with a different configuration".

The server only says *that* a stream, consumer or bucket exists with another configuration;
these helpers compare what was asked for with what exists (as API JSON) so the error can
name the fields, e.g. ``subjects: ['b.>'] (existing: ['a.>'])``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MAX_SHOWN = 8  # fields named in one message
_VALUE_CHARS = 80

# fields the server fills in or rewrites itself: never a user's difference
_SERVER_SET = frozenset({"created", "ts", "name", "durable_name", "metadata"})


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "\u2026"


def _norm(key: str, v: Any) -> Any:
    """Treat missing, empty, zero and -1 ("unlimited") alike: the server writes its defaults
    for them (0 becomes -1 for limits, 0 replicas becomes 1)."""
    if key == "num_replicas" and v in (None, 0):
        return 1
    if v is None or v is False or v == "" or v == [] or v == {} or v == 0 or v == -1:
        return None
    return v


def differing_fields(wanted: Mapping[str, Any], existing: Mapping[str, Any], *,
                     keys: Iterable[str] | None = None,
                     rename: Mapping[str, str] | None = None) -> list[str]:
    """``"field: wanted (existing: value)"`` for each field of ``wanted`` (or of ``keys``)
    whose value differs from ``existing``'s; ``rename`` maps API names to the user's."""
    out = []
    for k in keys if keys is not None else wanted:
        if k in _SERVER_SET or k not in wanted:
            continue
        a, b = wanted.get(k), existing.get(k)
        if _norm(k, a) == _norm(k, b):
            continue
        out.append(f"{(rename or {}).get(k, k)}: {_short(a)} (existing: {_short(b)})")
    return out


def describe(fields: list[str]) -> str:
    """``"; fields that differ: a (existing: b), ..."`` or "" when none were found."""
    if not fields:
        return ""
    more = f", and {len(fields) - MAX_SHOWN} more" if len(fields) > MAX_SHOWN else ""
    return "; fields that differ: " + ", ".join(fields[:MAX_SHOWN]) + more


def renamed(fields: Iterable[str], mapping: Mapping[str, str]) -> list[str]:
    """``differing_fields`` output with API field names replaced by the user's names."""
    out = []
    for f in fields:
        key, sep, rest = f.partition(":")
        out.append(f"{mapping.get(key, key)}{sep}{rest}")
    return out


KV_NAMES = {"max_msgs_per_subject": "history", "max_age": "ttl", "max_msg_size":
            "max_value_size", "num_replicas": "replicas"}
"""Stream config fields as KeyValueConfig names them."""
OBJECT_NAMES = {"max_age": "ttl", "num_replicas": "replicas"}
"""Stream config fields as ObjectStoreConfig names them."""
