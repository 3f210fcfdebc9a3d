"""The process-wide default connection used when ``js=None`` (``read_stream``, ``to_jetstream``).

Created lazily as :func:`jsdata.connect` does (``JSDATA_URL`` / ``NATS_URL``, else the embedded
server), shared by every caller in the process and closed when the interpreter exits.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

_lock = threading.Lock()
_js: Any = None


def default_js() -> Any:
    """The shared blocking connection (created on first use, reconnected if it was closed)."""
    global _js
    with _lock:
        js = _js
        if js is None or _is_closed(js):
            from ._twins import connect
            js = connect()
            _js = js
        return js


def _is_closed(js: Any) -> bool:
    core = getattr(js, "_core", None)
    lt = getattr(js, "_lt", None)
    return bool(core is None or getattr(core, "_closed", False) or lt is None or lt.closed)


def close_default() -> None:
    """Close the default connection (done automatically at exit)."""
    global _js
    with _lock:
        js, _js = _js, None
    if js is not None:
        try:
            js.close()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(close_default)
