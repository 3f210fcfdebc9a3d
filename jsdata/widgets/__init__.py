"""Live notebook widgets (ipywidgets): KV tables, stream monitors with charts, tails, object
browsers and an account dashboard.

Each widget is an :class:`ipywidgets.VBox` fed by a background task on the connection's
event loop (never a thread of its own)::

    kv = js.key_value("profiles")
    w = jsdata.widgets.KVWatcher(kv)          # display it: last expression of a cell
    w.stop()                                  # or w.close(): stops the watcher too

They take the blocking objects of ``jsdata.connect()`` (the usual case in a notebook), or
the asyncio objects of ``jsdata.aio`` when created from a coroutine running on that
connection's loop. Updates are coalesced: at most ``render_interval`` (0.25 s) apart, the
latest state wins, and they are applied by assigning widget state (never ``with output:``
from a task). Charts are inline SVG drawn in Python (see :mod:`jsdata.widgets._svg`), so
they render in any front end without extensions or network. Errors show in the widget.
For tests and scripts: ``w.rows`` (the current rows, a list of dicts), ``w.renders`` (how
many renders so far), ``w.wait_for(predicate, timeout)``. Widgets still running when the
kernel shuts down are stopped (their server-side consumers deleted).

One module per widget: :mod:`~jsdata.widgets.kv`, :mod:`~jsdata.widgets.monitor`,
:mod:`~jsdata.widgets.tail`, :mod:`~jsdata.widgets.objects`,
:mod:`~jsdata.widgets.dashboard`.
"""

from __future__ import annotations

from .dashboard import Dashboard
from .kv import KVWatcher
from .monitor import StreamMonitor
from .objects import ObjectStoreBrowser
from .tail import StreamTail

__all__ = ["Dashboard", "KVWatcher", "ObjectStoreBrowser", "StreamMonitor", "StreamTail"]
