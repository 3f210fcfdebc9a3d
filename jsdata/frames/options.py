"""Spelled-out keyword options: a typed error for a misspelt one, forwarding to validators.

The read and decode methods (``Stream.to_pandas``, ``Consumer.fetch_arrow``, ...) spell
their options out as keyword-only parameters so that ``help()``, IDEs and type checkers see
them. :func:`keyword_options` keeps the error a misspelt option gets typed
(``InvalidArgumentError`` naming it and the valid ones, not Python's ``TypeError``), and
:func:`given` turns the method's parameters back into the dict of options the validators
(``reader.ReadOptions.parse``) take.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from .. import errors
from ..client import names

if TYPE_CHECKING:
    import pyarrow as pa

    from .codec import Codec

F = TypeVar("F", bound=Callable[..., Any])

# options whose ``None`` means "not given" (the validator picks the default and may act on
# the option being absent, e.g. whole-table reads choose a larger pull when batch_size is)
_UNSET_WHEN_NONE = frozenset({"batch_size", "dtype_backend"})


def given(ns: dict[str, Any], *, skip: tuple[str, ...] = ("self",)) -> dict[str, Any]:
    """The options in ``ns`` (a method's ``locals()``) minus ``skip`` and unset ones."""
    return {k: v for k, v in ns.items()
            if k not in skip and not (v is None and k in _UNSET_WHEN_NONE)}


def keyword_options(what: str) -> Callable[[F], F]:
    """Make an unknown keyword raise ``InvalidArgumentError("unknown <what> option(s) ...")``.

    The wrapped function keeps its signature (``inspect``, ``help()``, mypy see it) and
    stays a coroutine function when it is one.
    """
    def deco(fn: F) -> F:
        sig = inspect.signature(fn)
        accepted = frozenset(sig.parameters)
        valid = ", ".join(sorted(p.name for p in sig.parameters.values()
                                 if p.kind is p.KEYWORD_ONLY))

        def check(kw: dict[str, Any]) -> None:
            unknown = sorted(set(kw) - accepted)
            if unknown:
                raise errors.InvalidArgumentError(
                    f"unknown {what} option(s) {', '.join(map(repr, unknown))}; "
                    f"valid: {valid}")

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def acall(*args: Any, **kw: Any) -> Any:
                check(kw)
                return await fn(*args, **kw)
            return acall  # type: ignore[return-value]

        @functools.wraps(fn)
        def call(*args: Any, **kw: Any) -> Any:
            check(kw)
            return fn(*args, **kw)
        return call  # type: ignore[return-value]
    return deco


# ---------------------------------------------------------------------------------------------
# the read options of to_batches / to_arrow / to_pandas

DEFAULT_BATCH_SIZE = 10_000


@dataclass
class ReadOptions:
    """The validated read options shared by ``to_batches`` / ``to_arrow`` / ``to_pandas``."""

    subjects: list[str] | None = None
    start: int | datetime | None = None
    end: int | datetime | None = None
    codec: str | Codec = "auto"
    schema: pa.Schema | None = None
    columns: list[str] | None = None
    metadata: tuple[str, ...] = ("subject", "seq", "time")
    include_headers: bool = False
    include_markers: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE
    max_messages: int | None = None
    on_error: str = "raise"
    progress: str | bool = "auto"
    dtype_backend: str | None = None

    @classmethod
    def parse(cls, read: dict[str, Any], *, pandas: bool = False) -> ReadOptions:
        allowed = set(cls.__dataclass_fields__)
        if not pandas:
            allowed.discard("dtype_backend")
        unknown = sorted(set(read) - allowed)
        if unknown:
            raise errors.InvalidArgumentError(
                f"unknown read option(s) {', '.join(map(repr, unknown))}; "
                f"valid: {', '.join(sorted(allowed))}")
        o = cls(**read)
        o._validate()
        return o

    def _validate(self) -> None:
        import pyarrow as pa

        from .codec import Codec, get_codec
        from .fields import METADATA_FIELDS
        E = errors.InvalidArgumentError
        if self.subjects is not None:
            subs = [self.subjects] if isinstance(self.subjects, str) else list(self.subjects)
            self.subjects = [names.filter_subject(s) for s in subs] or None
        self.start = _check_pos("start", self.start, allow_first=True)
        self.end = _check_pos("end", self.end, allow_first=False)
        if isinstance(self.codec, str):
            if self.codec.lower() != "auto":
                self.codec = get_codec(self.codec)
            else:
                self.codec = "auto"
        elif not isinstance(self.codec, Codec):
            self.codec = get_codec(self.codec)
        if self.schema is not None and not isinstance(self.schema, pa.Schema):
            raise E(f"schema must be a pyarrow.Schema, not {type(self.schema).__name__}")
        if self.columns is not None:
            if isinstance(self.columns, str):
                self.columns = [self.columns]
            self.columns = list(self.columns)
        if self.metadata is None or self.metadata is False:
            self.metadata = ()
        elif isinstance(self.metadata, str):
            self.metadata = (self.metadata,)
        self.metadata = tuple(self.metadata)
        bad = [m for m in self.metadata if m not in METADATA_FIELDS]
        if bad:
            raise E(f"unknown metadata {bad!r}: choose from 'subject', 'seq', 'time'")
        if (isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int)
                or self.batch_size < 1):
            raise E(f"batch_size must be an int >= 1, got {self.batch_size!r}")
        if self.max_messages is not None and (
                isinstance(self.max_messages, bool) or not isinstance(self.max_messages, int)
                or self.max_messages < 0):
            raise E(f"max_messages must be an int >= 0, got {self.max_messages!r}")
        if self.on_error not in ("raise", "skip", "keep"):
            raise E(f"on_error must be 'raise', 'skip' or 'keep', got {self.on_error!r}")
        if self.progress not in ("auto", True, False):
            raise E(f"progress must be 'auto', True or False, got {self.progress!r}")
        if self.dtype_backend not in (None, "numpy_nullable", "pyarrow"):
            raise E("dtype_backend must be None, 'numpy_nullable' or 'pyarrow', "
                    f"got {self.dtype_backend!r}")

    def meta_fields(self) -> list[pa.Field]:
        from .fields import HEADERS_FIELD, METADATA_FIELDS
        out = [METADATA_FIELDS[m] for m in ("subject", "seq", "time") if m in self.metadata]
        if self.include_headers:
            out.append(HEADERS_FIELD)
        return out


def _check_pos(what: str, v: Any, *, allow_first: bool) -> int | datetime | None:
    if v is None:
        return None
    if isinstance(v, str):
        if allow_first and v.lower() == "first":
            return None
        raise errors.InvalidArgumentError(
            f"{what} must be a sequence number, a datetime" + (' or "first"' if allow_first
                                                               else "") + f", got {v!r}")
    if isinstance(v, datetime):
        return v if v.tzinfo is not None else v.replace(tzinfo=timezone.utc)
    if type(v).__name__ == "datetime64":
        import pandas as pd
        return pd.Timestamp(v).tz_localize("UTC").to_pydatetime()
    if hasattr(v, "__index__") and not isinstance(v, bool):
        v = v.__index__()
        if v < (1 if what == "start" else 0):  # type: ignore[operator]
            raise errors.InvalidArgumentError(f"{what} sequence must be >= 1, got {v!r}")
        return int(v)
    raise errors.InvalidArgumentError(
        f"{what} must be a sequence number or a datetime, not {type(v).__name__}")
