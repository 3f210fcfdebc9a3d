"""Visible signatures for the blocking twins: the types of the asyncio method, made blocking.

The blocking classes are generated at run time (``jsdata/blocking.py``), so without help an
IDE, ``help()`` and mypy would see ``(*args, **kw) -> Any``. This module derives, from each
asyncio method, what its twin really takes and returns:

- a coroutine returning ``T`` -> a method returning ``blocking(T)``;
- ``AsyncIterator[T]`` (or an async-iterator class) -> ``Iterator[blocking(T)]``;
- an asyncio class that has a twin (``Stream``, ``Msg``, ...) -> that twin;
- ``config: XConfig | None, /, **fields`` -> keyword-only parameters, one per config field
  (widened to what the config accepts: enum strings, ``timedelta`` durations).

Types are rendered as text by :class:`TypeText`: one renderer serves the run-time
``__signature__`` of the twins (shown by ``help()`` and ``inspect.signature``) and the
``.pyi`` stubs written by ``scripts/gen_stubs.py``. Nothing here names a JetStream class: the
caller says which classes have twins, so this survives moving modules around.
"""

from __future__ import annotations

import collections.abc as cabc
import datetime
import enum
import inspect
import os
import sys
import types
import typing
from collections.abc import Callable
from typing import Any

# ---------------------------------------------------------------------------------------------
# resolving string annotations (``from __future__ import annotations`` everywhere)

_EMPTY = inspect.Parameter.empty


def _fallback_namespace() -> dict[str, Any]:
    """Names that annotations use but modules import only under TYPE_CHECKING."""
    ns: dict[str, Any] = {}
    ns.update({k: getattr(typing, k) for k in typing.__all__ if hasattr(typing, k)})
    ns.update({k: getattr(cabc, k) for k in cabc.__all__})
    ns.update({"datetime": datetime.datetime, "timedelta": datetime.timedelta, "os": os,
               "enum": enum})
    for mod, alias in (("pyarrow", "pa"), ("pandas", "pd")):
        try:
            ns[alias] = __import__(mod)
        except ImportError:  # pragma: no cover - both are dependencies
            pass
    # every public name by its plain name (the faces only: modules may move); the asyncio
    # face last, so that "Stream" in a core annotation is the asyncio class
    for face in ("jsdata", "jsdata.aio"):
        m = sys.modules.get(face) or __import__(face, fromlist=["_"])
        for name in getattr(m, "__all__", ()):
            if not name[:1].isupper():  # classes only (a lazy module would be imported)
                continue
            try:
                ns[name] = getattr(m, name)
            except AttributeError:  # an optional part that is not installed
                continue
    # the core types its handles' connection as ``Context`` (jsdata.client.context): to a
    # user that is the JetStream they pass
    if "JetStream" in ns:
        ns.setdefault("Context", ns["JetStream"])
    return ns


_FALLBACK: dict[str, Any] | None = None


def resolve(annotation: Any, fn: Any) -> Any:
    """The evaluated form of ``annotation`` (a string under PEP 563) for function ``fn``.

    Returns the string unchanged when it cannot be evaluated; ``unresolved`` reports those.
    """
    global _FALLBACK
    if not isinstance(annotation, str):
        return annotation
    if _FALLBACK is None:
        _FALLBACK = _fallback_namespace()
    glb = dict(_FALLBACK)
    for k, v in getattr(inspect.unwrap(fn), "__globals__", {}).items():
        if v is not None or k not in glb:  # a lazily imported module global is None at first
            glb[k] = v
    try:
        return eval(annotation, glb)  # noqa: S307 - our own annotations
    except Exception:  # noqa: BLE001 - reported by unresolved()
        return annotation


def resolved_signature(fn: Any) -> inspect.Signature:
    """``inspect.signature(fn)`` with every annotation evaluated (where it can be)."""
    sig = inspect.signature(fn)
    params = [p.replace(annotation=resolve(p.annotation, fn)) for p in sig.parameters.values()]
    return sig.replace(parameters=params,
                       return_annotation=resolve(sig.return_annotation, fn))


# ---------------------------------------------------------------------------------------------
# rendering types as text, blocking-mapped

_ASYNC_ITERS = (cabc.AsyncIterator, cabc.AsyncIterable, cabc.AsyncGenerator)
_AWAITABLES = (cabc.Awaitable, cabc.Coroutine)
_BUILTIN_GENERICS = {list: "list", dict: "dict", tuple: "tuple", set: "set",
                     frozenset: "frozenset", type: "type"}


class TypeText:
    """Renders evaluated annotations as source text, mapping asyncio types to blocking ones.

    ``twin_name(cls)`` gives the text naming the blocking twin of ``cls`` (None: no twin).
    ``here`` is the module the text is written for: its own names are written bare, other
    modules' names through ``import`` lines collected in ``imports`` (module -> alias).
    ``public`` maps classes to the public name they are exported under (``pyarrow.Table``
    rather than ``pyarrow.lib.Table``; ``jsdata.StreamInfo`` rather than
    ``jsdata.info.StreamInfo``).
    """

    def __init__(self, twin_name: Callable[[type], str | None], here: str,
                 public: dict[type, tuple[str, str]] | None = None) -> None:
        self.twin_name = twin_name
        self.here = here
        self.public = public or {}
        self.imports: dict[str, str] = {}
        self.unresolved: list[str] = []

    # names ----------------------------------------------------------------------------------
    def module_ref(self, module: str) -> str:
        """The alias under which ``module`` is imported in the text (recorded in imports)."""
        if module == self.here:
            return ""
        alias = self.imports.get(module)
        if alias is None:
            alias = module if not module.startswith("jsdata") else "_" + module.replace(".", "_")
            self.imports[module] = alias
        return alias

    def qualified(self, module: str, qualname: str) -> str:
        ref = self.module_ref(module)
        return f"{ref}.{qualname}" if ref else qualname

    def class_name(self, cls: type) -> str:
        if cls is type(None):
            return "None"
        if cls.__module__ == "builtins":
            return cls.__qualname__
        if cls in self.public:
            return self.qualified(*self.public[cls])
        module, name = cls.__module__, cls.__qualname__
        top = module.split(".")[0]
        if module != top and "." not in name and getattr(sys.modules.get(top), name,
                                                            None) is cls:
            module = top  # pyarrow.lib.Table -> pyarrow.Table
        return self.qualified(module, name)

    def typing_name(self, name: str) -> str:
        return self.qualified("typing", name)

    def abc_name(self, name: str) -> str:
        return self.qualified("collections.abc", name)

    # types -----------------------------------------------------------------------------------
    def render(self, tp: Any, blocking: bool = True) -> str:
        """Source text for annotation ``tp`` (blocking-mapped when ``blocking``)."""
        if tp is _EMPTY:
            return self.typing_name("Any")
        if isinstance(tp, typing.ForwardRef):  # a quoted name inside an alias (HeadersInput)
            tp = resolve(tp.__forward_arg__, None)
        if isinstance(tp, str):
            self.unresolved.append(tp)
            return self.typing_name("Any")
        if tp is None or tp is type(None):
            return "None"
        if tp is Any:
            return self.typing_name("Any")
        if isinstance(tp, typing.TypeVar):
            return self.typing_name("Any")
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Union or (hasattr(types, "UnionType")
                                      and isinstance(tp, types.UnionType)):
            parts: list[str] = []
            for a in args:
                t = self.render(a, blocking)
                if t not in parts:
                    parts.append(t)
            if "None" in parts:  # None last, as people write it
                parts.remove("None")
                parts.append("None")
            return " | ".join(parts)
        if origin is typing.Literal:
            return f"{self.typing_name('Literal')}[{', '.join(map(repr, args))}]"
        if origin is not None:
            return self._generic(origin, args, blocking)
        if isinstance(tp, type):
            if blocking:
                tw = self.twin_name(tp)
                if tw is not None:
                    return tw
                anext = getattr(tp, "__anext__", None)
                if anext is not None and not _is_builtin(tp):
                    item = resolved_signature(anext).return_annotation
                    return f"{self.abc_name('Iterator')}[{self.render(item, blocking)}]"
            if tp in _BUILTIN_GENERICS:
                return _BUILTIN_GENERICS[tp]
            if tp.__module__ == "collections.abc":
                return self.abc_name(tp.__qualname__)
            return self.class_name(tp)
        if tp is ...:
            return "..."
        return self.typing_name("Any")

    def _generic(self, origin: Any, args: tuple[Any, ...], blocking: bool) -> str:
        if blocking and origin in _ASYNC_ITERS:
            return f"{self.abc_name('Iterator')}[{self.render(args[0], blocking)}]"
        if blocking and origin in _AWAITABLES:
            return self.render(args[-1], blocking)
        if origin is cabc.Callable:
            if args and args[0] is ...:
                head = "..."
            else:
                given = args[0] if len(args) == 2 and isinstance(args[0], list) else args[:-1]
                head = "[" + ", ".join(self.render(a, blocking) for a in given) + "]"
            return f"{self.abc_name('Callable')}[{head}, {self.render(args[-1], blocking)}]"
        if origin in _BUILTIN_GENERICS:
            name = _BUILTIN_GENERICS[origin]
        elif getattr(origin, "__module__", "") == "collections.abc":
            name = self.abc_name(origin.__qualname__)
        elif isinstance(origin, type):
            name = self.class_name(origin)
        else:
            return self.typing_name("Any")
        if not args:
            return name
        inner = ", ".join("..." if a is ... else self.render(a, blocking) for a in args)
        return f"{name}[{inner}]"


def _is_builtin(tp: type) -> bool:
    return tp.__module__ in ("builtins", "collections.abc", "typing")


# ---------------------------------------------------------------------------------------------
# the blocking signature of one method

def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and hasattr(tp, "__dataclass_fields__") and hasattr(
        tp, "_aliases")


def _config_class(param: inspect.Parameter) -> type | None:
    ann = param.annotation
    for a in (typing.get_args(ann) or (ann,)):
        if _is_model(a):
            return a  # type: ignore[no-any-return]
    return None


def config_fields(model: type) -> list[tuple[str, Any, Any]]:
    """``(name, accepted type, default)`` of each field of config class ``model``.

    Types are widened to what ``make_config`` coerces: enum members or their strings,
    ``timedelta`` or seconds for durations, a mapping for nested configs.
    """
    hints = typing.get_type_hints(model)
    out = []
    for f in model.__dataclass_fields__.values():  # type: ignore[attr-defined]
        if f.name == "extra" or f.name.startswith("_"):
            continue
        tp = _widen(hints.get(f.name, Any), f.metadata.get("kind"))
        default = f.default if f.default is not _dataclass_missing() else None
        out.append((f.name, tp, default))
    return out


def _widen(tp: Any, kind: str | None) -> Any:
    """``tp`` plus what make_config coerces to it (inside list elements too)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, getattr(types, "UnionType", None)):
        return typing.Union[tuple(_widen(a, kind) for a in args)]  # noqa: UP007
    if origin is list and args:
        return list[_widen(args[0], kind)]  # type: ignore[misc]
    extra: list[Any] = []
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        extra.append(str)
    elif _is_model(tp):
        extra.append(cabc.Mapping[str, Any])
    elif kind == "duration" and tp in (float, int):
        extra.append(datetime.timedelta)
    return typing.Union[(tp, *extra)] if extra else tp  # noqa: UP007


def _dataclass_missing() -> Any:
    import dataclasses
    return dataclasses.MISSING


def blocking_signature(fn: Any, *, is_async: bool | None = None) -> inspect.Signature:
    """The signature of the blocking twin of method ``fn`` (annotations evaluated).

    ``**fields`` after a config parameter becomes one keyword-only parameter per field.
    The return annotation of a coroutine function stays its awaited type (``TypeText``
    maps it); an async generator function returns ``AsyncIterator[yield type]``.
    """
    sig = resolved_signature(fn)
    raw = inspect.unwrap(fn)
    params = list(sig.parameters.values())
    out: list[inspect.Parameter] = []
    config: type | None = None
    for p in params:
        if p.kind is p.VAR_KEYWORD and config is not None and p.name == "fields":
            taken = {q.name for q in out}
            for name, tp, default in config_fields(config):
                if name not in taken:
                    out.append(inspect.Parameter(name, p.KEYWORD_ONLY, default=default,
                                                 annotation=tp))
            continue
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            config = _config_class(p) or config
        out.append(p)
    ret = sig.return_annotation
    if inspect.isasyncgenfunction(raw):
        ret = cabc.AsyncIterator[ret if ret is not _EMPTY else Any]  # type: ignore[valid-type]
        origin = typing.get_origin(sig.return_annotation)
        if origin in _ASYNC_ITERS:
            ret = sig.return_annotation
    return sig.replace(parameters=out, return_annotation=ret)


def render_signature(sig: inspect.Signature, tt: TypeText, *, blocking: bool = True) -> str:
    """``(a: int, /, b: str = 'x', *, c: bool = ...) -> T`` as source text.

    A default is written as itself when it is a plain literal (``None``, numbers, strings,
    bytes, tuples of those) and as ``...`` otherwise.
    """
    parts: list[str] = []
    star_done = False
    last_kind = None
    for p in sig.parameters.values():
        if last_kind is p.POSITIONAL_ONLY and p.kind is not p.POSITIONAL_ONLY:
            parts.append("/")
        if p.kind is p.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        if p.kind is p.VAR_POSITIONAL:
            star_done = True
        prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        text = prefix + p.name
        if p.name not in ("self", "cls"):
            text += ": " + tt.render(p.annotation, blocking)
        if p.default is not _EMPTY:  # simple literals as they are, others as ``...``
            text += " = " + _default_text(p.default)
        parts.append(text)
        last_kind = p.kind
    if last_kind is inspect.Parameter.POSITIONAL_ONLY:
        parts.append("/")
    ret = tt.render(sig.return_annotation, blocking)
    return f"({', '.join(parts)}) -> {ret}"


_LITERALS = (bool, int, float, str, bytes)


def _default_text(v: Any) -> str:
    """A default as source text: plain literals as they are (not str-enums), else ``...``."""
    if v is None or type(v) in _LITERALS:
        return repr(v)
    if type(v) is tuple and all(type(x) in _LITERALS for x in v):
        return repr(v)
    return "..."


class LazySignature(inspect.Signature):
    """A Signature computed on first use: ``__signature__`` of a generated twin method.

    Resolving annotations imports what they name (pyarrow, pandas, ...), so it waits until
    someone asks (``help()``, ``inspect.signature``, an IDE) instead of slowing ``connect``.
    """

    __slots__ = ("_make", "_real")

    def __init__(self, parameters: Any = None, *, return_annotation: Any = _EMPTY,
                 make: Callable[[], inspect.Signature] | None = None, **kw: Any) -> None:
        super().__init__(parameters, return_annotation=return_annotation, **kw)
        self._make = make
        self._real: inspect.Signature | None = None

    def _get(self) -> inspect.Signature:
        if self._make is None:
            return self
        if self._real is None:
            self._real = self._make()
        return self._real

    @property
    def parameters(self) -> Any:  # type: ignore[override]
        real = self._get()
        return inspect.Signature.parameters.fget(real)  # type: ignore[attr-defined]

    @property
    def return_annotation(self) -> Any:  # type: ignore[override]
        real = self._get()
        return inspect.Signature.return_annotation.fget(real)  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        return inspect.Signature.__eq__(self._get(), other)

    def __hash__(self) -> int:
        return hash(self._get())


def display_signature(sig: inspect.Signature, tt: TypeText) -> inspect.Signature:
    """``sig`` with annotations replaced by their blocking text (for ``__signature__``)."""
    params = [p.replace(annotation=_EMPTY) if p.name == "self"
              else p.replace(annotation=tt.render(p.annotation))
              for p in sig.parameters.values()]
    return inspect.Signature(params, return_annotation=tt.render(sig.return_annotation))


def is_bare(p: inspect.Parameter) -> bool:
    """A ``*args`` / ``**kwargs`` parameter typed as nothing or ``Any``."""
    return p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.annotation in (
        _EMPTY, Any, "Any", "typing.Any")


__all__ = ["LazySignature", "TypeText", "blocking_signature", "config_fields", "display_signature",
           "is_bare", "render_signature", "resolve", "resolved_signature"]

