"""The optional C extension (jsdata/_cparse.c), chosen once, at import.

``jsdata._cparse`` speeds up the protocol hot paths: scanning runs of bulk-subscription
frames in the protocol parser (:mod:`jsdata.client._parser`), and formatting a batch of
PUB/HPUB commands and settling runs of their acks in the bulk publisher
(:mod:`jsdata.client.bulk`). Both have a pure-Python twin
that produces the same results. (The data layer's extension, ``jsdata._cmsgpack``, is
loaded by :mod:`jsdata.frames.msgpack_columns` and obeys the same switch.) Which one a
process uses is decided here, once: the C one when the extension is built, unless the
environment variable ``JSDATA_PURE_PYTHON=1`` is set (the suite runs once that way, so the
fallback is as tested as the C path; users may set it to rule the extension out when
chasing a problem). Nothing switches it later.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["ENV_PURE_PYTHON", "NATIVE", "forced_pure", "join", "pub_acks", "pubs", "scan",
           "split", "track", "untrack"]

ENV_PURE_PYTHON = "JSDATA_PURE_PYTHON"


_Fn = Callable[..., Any] | None


def forced_pure() -> bool:
    """Whether ``JSDATA_PURE_PYTHON`` rules the C extensions out in this process."""
    return os.environ.get(ENV_PURE_PYTHON, "").strip().lower() in ("1", "true", "yes", "on")


def _load() -> tuple[_Fn, _Fn, _Fn, _Fn, _Fn, _Fn, _Fn]:
    if forced_pure():
        return None, None, None, None, None, None, None
    try:
        from .._cparse import join, pub_acks, pubs, scan, split, track, untrack
    except ImportError:  # not built (no compiler at install time, PyPy): pure Python
        return None, None, None, None, None, None, None
    return scan, pubs, join, split, pub_acks, untrack, track


# The C functions this process uses (None: their pure-Python twins are used instead): the
# bulk-frame scan of the parser, the batch PUB/HPUB formatter, the join/split of packed
# message parts (jsdata.client._packed), the bulk publisher's ack settling, and leaving a
# pending publish out of the cycle collector (jsdata.client.publish.PubAckFuture).
scan, pubs, join, split, pub_acks, untrack, track = _load()
NATIVE: bool = scan is not None  # whether this process uses the C hot paths
