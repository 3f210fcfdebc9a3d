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
import sys
from types import ModuleType

__all__ = ["ENV_PURE_PYTHON", "NATIVE", "cparse"]

ENV_PURE_PYTHON = "JSDATA_PURE_PYTHON"


def _load() -> ModuleType | None:
    if os.environ.get(ENV_PURE_PYTHON, "").strip().lower() in ("1", "true", "yes", "on"):
        return None
    try:
        from .._cparse import pubs, scan  # noqa: F401 - both must be there
    except ImportError:  # not built (no compiler at install time, PyPy): pure Python
        return None
    return sys.modules[__name__.rsplit(".", 2)[0] + "._cparse"]


cparse: ModuleType | None = _load()
NATIVE: bool = cparse is not None  # whether this process uses the C hot paths
