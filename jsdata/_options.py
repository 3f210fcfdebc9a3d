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
from typing import Any, TypeVar

from . import errors

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
