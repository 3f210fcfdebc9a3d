"""The optional C extension (jsdata/_cparse.c), chosen once, at import.

``jsdata._cparse`` speeds up two hot paths: scanning runs of bulk-subscription frames in
the protocol parser (:mod:`jsdata.client._parser`) and formatting a batch of PUB/HPUB
commands in the bulk publisher (:mod:`jsdata.client.bulk`). Both have a pure-Python twin
that produces the same results. Which one a process uses is decided here, once: the C one
when the extension is built, unless the environment variable ``JSDATA_PURE_PYTHON=1`` is
set (the suite runs once that way, so the fallback is as tested as the C path; users may set
it to rule the extension out when chasing a problem). Nothing switches it later.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["ENV_PURE_PYTHON", "NATIVE", "pubs", "scan"]

ENV_PURE_PYTHON = "JSDATA_PURE_PYTHON"


def _load() -> tuple[Callable[..., Any] | None, Callable[..., Any] | None]:
    if os.environ.get(ENV_PURE_PYTHON, "").strip().lower() in ("1", "true", "yes", "on"):
        return None, None
    try:
        from .._cparse import pubs, scan
    except ImportError:  # not built (no compiler at install time, PyPy): pure Python
        return None, None
    return scan, pubs


# The C functions this process uses (None: their pure-Python twins are used instead).
scan, pubs = _load()  # the bulk-frame scan of the parser; the batch PUB/HPUB formatter
NATIVE: bool = scan is not None  # whether this process uses the C hot paths
