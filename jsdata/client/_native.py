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

__all__ = ["ENV_PURE_PYTHON", "NATIVE", "forced_pure", "join", "pub_acks", "pubs",
           "received_msgs", "scan", "split", "track", "twins", "untrack"]

ENV_PURE_PYTHON = "JSDATA_PURE_PYTHON"


def forced_pure() -> bool:
    """Whether ``JSDATA_PURE_PYTHON`` rules the C extensions out in this process."""
    return os.environ.get(ENV_PURE_PYTHON, "").strip().lower() in ("1", "true", "yes", "on")


def _load() -> Any:
    """The extension module, or None when it is ruled out or not built."""
    if forced_pure():
        return None
    try:
        import jsdata._cparse as _cparse  # the extension module itself, not the package
    except ImportError:  # not built (no compiler at install time, PyPy): pure Python
        return None
    return _cparse


_c = _load()
_Fn = Callable[..., Any] | None

# The C functions this process uses (None: their pure-Python twins are used instead): the
# bulk-frame scan of the parser, the batch PUB/HPUB formatter, the join/split of packed
# message parts (jsdata.client._packed), the bulk publisher's ack settling, leaving a
# pending publish out of the cycle collector (jsdata.client.publish.PubAckFuture), and
# building a fetch's messages and their blocking twins into their slots
# (jsdata.client.message.received_run, jsdata.blocking.twin.wrap_all).
scan: _Fn = getattr(_c, "scan", None)
pubs: _Fn = getattr(_c, "pubs", None)
join: _Fn = getattr(_c, "join", None)
split: _Fn = getattr(_c, "split", None)
pub_acks: _Fn = getattr(_c, "pub_acks", None)
untrack: _Fn = getattr(_c, "untrack", None)
track: _Fn = getattr(_c, "track", None)
received_msgs: _Fn = getattr(_c, "received_msgs", None)
twins: _Fn = getattr(_c, "twins", None)
NATIVE: bool = scan is not None  # whether this process uses the C hot paths
