"""pandas integration: ``read_stream``, ``df.to_jetstream(...)`` and the ``df.jetstream`` accessor.

Registered when ``jsdata`` is imported. To keep ``import jsdata`` cheap, pandas is not
imported here: if pandas is already loaded the registration happens at once, otherwise a
one-shot import hook registers it right after pandas is first imported.

``js=None`` means the process-wide default connection (:func:`default_js`): what
``jsdata.connect()`` gives with no URL (``JSDATA_URL`` / ``NATS_URL``, else the embedded
server), created on first use and closed at exit.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from . import errors
from ._default import close_default, default_js
from .client import names
from .frames.options import given, keyword_options

if TYPE_CHECKING:
    import pyarrow as pa

    from .frames.codec import Codec

__all__ = ["JetStreamAccessor", "default_js", "close_default", "to_jetstream", "register",
           "read_stream", "aread_stream"]


def _publish(df: Any, subject: str, js: Any, kw: dict[str, Any]) -> Any:
    if js is None:
        js = default_js()
    # blocking connection: the WriteResult; asyncio connection: a coroutine to await
    return js.publish_dataframe(subject, df, **kw)


def to_jetstream(self: Any, subject: str, js: Any = None, *, codec: Any = "json",
                 msg_id: str | None = None,
                 headers: Sequence[str] | Mapping[str, str] | None = None,
                 rows_per_message: int | None = None, max_pending: int | None = None,
                 progress: str | bool = "auto") -> Any:
    """Publish this DataFrame's rows to JetStream (see ``JetStream.publish_dataframe``).

    ``js`` is a connection from ``jsdata.connect()`` (None: the default connection); with an
    asyncio connection from ``jsdata.aio`` the result is a coroutine to await.
    """
    return _publish(self, subject, js, dict(codec=codec, msg_id=msg_id, headers=headers,
                                            rows_per_message=rows_per_message,
                                            max_pending=max_pending, progress=progress))


class JetStreamAccessor:
    """``df.jetstream``: JetStream operations on a DataFrame (``df.jetstream.publish``)."""

    def __init__(self, df: Any) -> None:
        self._df = df

    def publish(self, subject: str, js: Any = None, **kw: Any) -> Any:
        """Publish the rows (same options as ``JetStream.publish_dataframe``)."""
        return _publish(self._df, subject, js, kw)

    to_jetstream = publish


_registered = False
_lock = threading.Lock()


def register(pandas: ModuleType | None = None) -> None:
    """Add ``DataFrame.to_jetstream`` and the ``jetstream`` accessor to pandas (idempotent)."""
    global _registered
    with _lock:
        if _registered:
            return
        pd: Any = pandas if pandas is not None else importlib.import_module("pandas")
        frame = pd.DataFrame
        if not hasattr(frame, "to_jetstream"):
            frame.to_jetstream = to_jetstream
        if "jetstream" not in getattr(frame, "_accessors", set()):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # re-registration warnings on reloads
                pd.api.extensions.register_dataframe_accessor("jetstream")(JetStreamAccessor)
        _registered = True


@keyword_options("read")
async def aread_stream(stream: str | Any, js: Any = None, *,
        subjects: str | Sequence[str] | None = None,
        start: int | datetime | Literal["first"] | None = None,
        end: int | datetime | None = None,
        codec: str | Codec = "auto",
        schema: pa.Schema | None = None,
        columns: str | Sequence[str] | None = None,
        metadata: str | Sequence[str] | None = ("subject", "seq", "time"),
        include_headers: bool = False,
        include_markers: bool = False,
        batch_size: int | None = None,
        max_messages: int | None = None,
        on_error: Literal["raise", "skip", "keep"] = "raise",
        progress: bool | Literal["auto"] = "auto",
        dtype_backend: Literal["numpy_nullable", "pyarrow"] | None = None,
        engine: Literal["pandas", "polars"] = "pandas",
        ) -> Any:
    """The asyncio :func:`read_stream`: ``await aread_stream("ORDERS", js=ajs)``."""
    read = given(locals(), skip=("stream", "js"))
    if js is None:
        raise errors.InvalidArgumentError("aread_stream needs js= (an asyncio JetStream)")
    from .frames.polars_ext import check_engine
    engine = check_engine(read.pop("engine", "pandas"))
    s = stream if not isinstance(stream, str) else await js.stream(stream)
    if engine == "polars":
        return await s.to_polars(**read)  # type: ignore[no-any-return]
    return await s.to_pandas(**read)  # type: ignore[no-any-return]


@keyword_options("read")
def read_stream(stream: str | Any, js: Any = None, *,
        subjects: str | Sequence[str] | None = None,
        start: int | datetime | Literal["first"] | None = None,
        end: int | datetime | None = None,
        codec: str | Codec = "auto",
        schema: pa.Schema | None = None,
        columns: str | Sequence[str] | None = None,
        metadata: str | Sequence[str] | None = ("subject", "seq", "time"),
        include_headers: bool = False,
        include_markers: bool = False,
        batch_size: int | None = None,
        max_messages: int | None = None,
        on_error: Literal["raise", "skip", "keep"] = "raise",
        progress: bool | Literal["auto"] = "auto",
        dtype_backend: Literal["numpy_nullable", "pyarrow"] | None = None,
        engine: Literal["pandas", "polars"] = "pandas") -> Any:
    """Read a stream into a pandas DataFrame.

    ``stream`` is a stream name (or a ``Stream``); ``js`` a connection from
    :func:`jsdata.connect` (None: the default connection). With an asyncio ``JetStream``
    from :mod:`jsdata.aio` this returns a coroutine to await.

    Read options: ``subjects`` (filter, str or list), ``start`` (sequence, datetime or
    "first"), ``end`` (sequence or datetime; default: the stream's last sequence when the
    read starts; both inclusive), ``codec`` ("auto", "json", "msgpack", "arrow", "raw" or a
    :class:`jsdata.Codec`), ``schema`` (pyarrow.Schema), ``columns``, ``metadata`` (any of
    "subject", "seq", "time"), ``include_headers``, ``include_markers`` (keep subject
    delete markers as rows), ``batch_size``, ``max_messages``,
    ``on_error`` ("raise", "skip", "keep"), ``progress`` ("auto", True, False) and
    ``dtype_backend`` (None, "numpy_nullable", "pyarrow"). ``engine="polars"`` returns a
    ``polars.DataFrame`` instead (the same options but ``dtype_backend``).
    """
    read = given(locals(), skip=("stream", "js"))
    if js is None:
        js = default_js()
    from ._api import JetStream as AsyncJetStream
    if isinstance(js, AsyncJetStream):
        return aread_stream(stream, js, **read)
    from .frames.polars_ext import check_engine
    engine = check_engine(read.pop("engine", "pandas"))
    if isinstance(stream, str):
        names.stream_name(stream)
        stream = js.stream(stream)
    if engine == "polars":
        return stream.to_polars(**read)
    return stream.to_pandas(**read)


class _PandasHook(importlib.abc.MetaPathFinder):
    """Registers the pandas extensions right after ``import pandas`` finishes (one shot)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "pandas":
            return None
        _unhook()
        spec = importlib.util.find_spec("pandas")
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            try:
                register(module)
            except Exception:  # noqa: BLE001 - never break importing pandas
                pass

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


_hook: _PandasHook | None = None


def _unhook() -> None:
    global _hook
    if _hook is not None and _hook in sys.meta_path:
        sys.meta_path.remove(_hook)
    _hook = None


def _install() -> None:
    global _hook
    if "pandas" in sys.modules and hasattr(sys.modules["pandas"], "DataFrame"):
        register(sys.modules["pandas"])
        return
    if _hook is None:
        _hook = _PandasHook()
        sys.meta_path.insert(0, _hook)


_install()
