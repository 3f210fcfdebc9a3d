"""The blocking surface: mechanical twins of the asyncio classes, run on one loop thread.

Each blocking class (``jsdata.JetStream``, ``jsdata.Stream``, ...) is generated from its
asyncio class: coroutine methods run on the connection's background event-loop thread and
block for the result; async iterators become iterators; async context managers become
context managers; results that are asyncio objects come back as their blocking twins.
Nothing here knows JetStream: behaviour lives once, in the async core.

The registry starts empty: ``jsdata._twins`` declares which core classes have twins
(:func:`declare`), which blocking-only extras a twin inherits (:func:`add_extras`: the
``KeyValue`` mapping protocol, for example) and which hand-written classes serve as twins
(:func:`set_twin`). Extras registered for a base class serve its subclasses too.

The signatures of the generated methods come from the asyncio ones (``signatures.py``), so
``help()`` and ``inspect.signature`` show what they take; ``scripts/gen_stubs.py`` writes
the same into ``.pyi`` stubs for type checkers.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

from .. import errors
from . import signatures as _sigs
from .loop import LoopThread

CALLBACK_PARAMS = frozenset({"handler", "error_handler", "cb", "callback"})


# ---------------------------------------------------------------------------------------------
# wrapping values between the surfaces

TWINS: dict[type, type[Twin]] = {}  # core class -> its twin (generated or hand-written)
DECLARED: set[type] = set()  # core classes that get a twin; their subclasses share it
EXTRAS: dict[type, type] = {}  # core class -> blocking-only extras of its twins (and subclasses')


def declare(*core: type) -> None:
    """Give each core class a blocking twin (generated on first use)."""
    DECLARED.update(core)


def add_extras(core: type, extras: type) -> None:
    """Let the twins of ``core`` (and of its subclasses) inherit ``extras``."""
    EXTRAS[core] = extras


def set_twin(core: type, twin: type) -> None:
    """Use the hand-written ``twin`` (a class with ``_wrap(core, lt)``) for ``core``."""
    DECLARED.add(core)
    TWINS[core] = twin


def _twin_class_for(t: type) -> type[Twin] | None:
    tw = TWINS.get(t)
    if tw is None:
        for base in t.__mro__:
            if base in DECLARED:
                tw = twin_of(base)
                break
    return tw


_PLAIN: set[type] = set()  # result types with no twin that are returned as they are


# core class -> its twin, for the twins whose ``_wrap`` is :meth:`Twin._wrap` itself (the
# generated ones): :func:`wrap` builds those inline (a blocking publish_async wraps one per
# call). Filled as they are first wrapped, after every twin has been declared.
_INLINE: dict[type, type[Twin]] = {}
_new = object.__new__


def _inline_twin(t: type) -> type[Twin] | None:
    """``t``'s twin when it is a generated one (plain ``_wrap``): built inline, cached."""
    tw = _INLINE.get(t)
    if tw is None:
        tw = _twin_class_for(t)
        if tw is None or tw._wrap.__func__ is not _plain_wrap:  # type: ignore[attr-defined]
            return None
        _INLINE[t] = tw
    return tw


def wrap(value: Any, lt: LoopThread) -> Any:
    """Turn a core result into what the blocking API returns."""
    tw = _INLINE.get(type(value))
    if tw is not None:
        o = _new(tw)
        o._core = value
        o._lt = lt
        return o
    if value is None or type(value) in _PLAIN:
        return value
    if isinstance(value, (bytes, str, int, float, bool)):
        return value
    tw = _twin_class_for(type(value))
    if tw is not None:
        _inline_twin(type(value))  # a generated twin: built inline above from now on
        return tw._wrap(value, lt)
    if isinstance(value, list):
        return [wrap(v, lt) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(wrap(v, lt) for v in value)
    if hasattr(value, "__anext__"):
        return SyncIterator(value, lt)
    if inspect.iscoroutine(value):
        return wrap(lt.run(value), lt)
    t = type(value)
    if t.__module__.startswith("jsdata.") and not hasattr(t, "__anext__") \
            and not hasattr(t, "_fields"):
        with _twin_lock:  # a jsdata value class (PubAck, an entry): skip the search next time
            if t not in TWINS and not any(b in DECLARED for b in t.__mro__):
                _PLAIN.add(t)
    return value


# Builds a list of one generated twin's objects in one call, ``(twin_cls, cores, lt)`` ->
# list, as the loop in :func:`wrap_all` does; the top of the package sets it to the C
# extension's builder when that is in use (this engine imports no part of the package).
bulk_wrap: Callable[[type, list[Any], LoopThread], list[Any]] | None = None


def wrap_all(values: list[Any], lt: LoopThread) -> list[Any]:
    """:func:`wrap` for a list of results; a burst of one generated twin's objects (the
    messages of a fetch) is wrapped in one tight loop (or one :data:`bulk_wrap` call)."""
    if values:
        t = type(values[0])
        tw = _inline_twin(t)
        if tw is not None and all(type(v) is t for v in values):
            if bulk_wrap is not None:
                return bulk_wrap(tw, values, lt)
            out = []
            add = out.append
            for v in values:
                o = _new(tw)
                o._core = v
                o._lt = lt
                add(o)
            return out
    return [wrap(v, lt) for v in values]


def unwrap(value: Any, lt: LoopThread | None) -> Any:
    """Turn a blocking-API argument into what the core expects."""
    if isinstance(value, Twin):
        return value._core
    if isinstance(value, list):
        return [unwrap(v, lt) for v in value]
    return value


def _callback(fn: Callable[..., Any], lt: LoopThread) -> Callable[..., Any]:
    """A core-side callback that runs the user's blocking ``fn`` on the handler thread."""
    if inspect.iscoroutinefunction(fn):
        raise errors.InvalidArgumentError(
            "the blocking API takes plain functions as handlers; use jsdata.aio for coroutines")
    handlers = lt.handlers

    def call(*args: Any) -> Any:
        room = handlers.submit(fn, tuple(wrap(a, lt) for a in args))
        return room  # an awaitable only when the handler thread is far behind

    async def acall(*args: Any) -> None:
        room = call(*args)
        if room is not None:
            await room

    acall.__jsdata_blocking__ = True  # type: ignore[attr-defined]
    return acall


def _plain(value: Any) -> bool:
    return not isinstance(value, (Twin, list))


def _bind_args(sig: inspect.Signature | None, args: tuple[Any, ...], kw: dict[str, Any],
               lt: LoopThread, callbacks: bool | None = None
               ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if not all(map(_plain, args)):
        args = tuple(unwrap(a, lt) for a in args)
    if kw and not all(map(_plain, kw.values())):
        kw = {k: unwrap(v, lt) for k, v in kw.items()}
    if sig is None or callbacks is False:
        return args, kw
    params = list(sig.parameters)[1:]  # without self
    if any(p in CALLBACK_PARAMS for p in params):
        new_args = list(args)
        for i, p in enumerate(params[: len(args)]):
            if p in CALLBACK_PARAMS and callable(args[i]):
                new_args[i] = _callback(args[i], lt)
        args = tuple(new_args)
        for k in list(kw):
            if k in CALLBACK_PARAMS and callable(kw[k]):
                kw[k] = _callback(kw[k], lt)
    return args, kw


class SyncIterator(Iterator[Any]):
    """A blocking iterator over a core async iterator (uses ``_next_many`` when offered)."""

    def __init__(self, ait: Any, lt: LoopThread) -> None:
        self._ait = ait
        self._lt = lt
        self._buf: list[Any] = []
        self._many = getattr(ait, "_next_many", None)
        self._ready = getattr(ait, "_ready", None)  # what is buffered, without waiting
        # _next_many may wait on the calling thread (woken from the loop, no hop)
        self._many_direct = getattr(self._many, "__jsdata_direct__", False)
        self._many_sends = getattr(self._many, "__jsdata_sends__", True)
        self._lock = threading.Lock()  # several threads may iterate one iterator

    def __iter__(self) -> SyncIterator:
        return self

    def __next__(self) -> Any:
        with self._lock:
            return self._next_locked()

    def _next_locked(self) -> Any:
        if self._buf:
            stopped = getattr(self._ait, "_iter_stopped", None)
            if stopped is not None and stopped():  # stop() ends the iteration at once (Go)
                self._buf.clear()
                raise StopIteration
            return self._buf.pop()
        if self._many is not None:
            # what has arrived already is taken on this thread, with no hop to the loop
            items = self._ready() if self._ready is not None else None
            if items is None:
                items = self._lt.run(self._many(), direct=self._many_direct,
                                     ordered=self._many_sends)
            if not items:
                raise StopIteration
            items = wrap_all(items, self._lt)
            items.reverse()
            self._buf = items
            return self._buf.pop()
        try:
            return wrap(self._lt.run(_anext(self._ait)), self._lt)
        except StopAsyncIteration:
            raise StopIteration from None

    def burst(self) -> list[Any]:
        """What :meth:`__next__` would return next, all of it: everything buffered, or else
        the next burst (waiting for it); ``[]`` at the end. Needs ``_next_many``."""
        with self._lock:
            if self._buf:
                out = self._buf[::-1]
                self._buf = []
                return out
            items = self._ready() if self._ready is not None else None
            if items is None:
                items = self._lt.run(self._many(), direct=self._many_direct,
                                     ordered=self._many_sends)
            return wrap_all(items, self._lt) if items else []

    def unread(self, items: list[Any]) -> None:
        """Put back the unconsumed tail of a :meth:`burst`: the next items again."""
        with self._lock:
            self._buf.extend(reversed(items))

    def close(self) -> None:
        aclose = getattr(self._ait, "aclose", None)
        if aclose is not None and not self._lt.closed:
            self._lt.run(aclose())


async def _anext(ait: Any) -> Any:
    return await ait.__anext__()


# ---------------------------------------------------------------------------------------------
# twin classes

class Twin:
    """Base of the blocking twins; ``_core`` is the asyncio object, ``_lt`` its loop thread."""

    __slots__ = ("_core", "_lt")
    _core_cls: type = object

    def __init__(self, *args: Any, **kw: Any) -> None:
        # Constructing a twin directly builds its core object (e.g. jsdata.Msg(...)).
        self._core = self._core_cls(*args, **kw)
        self._lt: LoopThread | None = None

    @classmethod
    def _wrap(cls, core: Any, lt: LoopThread) -> Any:
        self = cls.__new__(cls)
        self._core = core
        self._lt = lt
        return self

    def _run(self, coro: Any, direct: bool = False) -> Any:
        lt = self._lt
        if lt is None:
            coro.close()
            raise errors.NotConnectedError(
                f"this {type(self).__name__} is not bound to a connection")
        return lt.run(coro, direct=direct)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(self._core, name)
        if callable(value) and not isinstance(value, type):
            return _method_proxy(self, name, value)
        return wrap(value, self._lt) if self._lt is not None else value

    def __repr__(self) -> str:
        return repr(self._core)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Twin):
            return bool(self._core == other._core)
        return bool(self._core == other)

    def __hash__(self) -> int:
        return hash(self._core)

    def _repr_html_(self) -> str | None:
        f = getattr(self._core, "_repr_html_", None)
        return f() if f is not None else None


def _method_proxy(self: Twin, name: str, bound: Callable[..., Any]) -> Callable[..., Any]:
    fn = getattr(type(self._core), name, None)
    try:
        sig = inspect.signature(fn) if fn is not None else None
    except (TypeError, ValueError):
        sig = None

    direct = getattr(fn, "__jsdata_direct__", False)

    def call(*args: Any, **kw: Any) -> Any:
        lt = self._lt
        a, k = _bind_args(sig, args, kw, lt) if lt is not None else (args, kw)
        res = bound(*a, **k)
        if inspect.iscoroutine(res):
            return wrap(self._run(res, direct), lt) if lt else self._run(res)
        return wrap(res, lt) if lt is not None else res

    call.__name__ = name
    return call


def _make_method(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    try:
        sig: inspect.Signature | None = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None
    is_coro = inspect.iscoroutinefunction(fn)
    direct = getattr(fn, "__jsdata_direct__", False)  # driven on the calling thread
    callbacks = sig is not None and any(p in CALLBACK_PARAMS for p in sig.parameters)

    @functools.wraps(fn)
    def method(self: Twin, *args: Any, **kw: Any) -> Any:
        lt = self._lt
        a, k = _bind_args(sig, args, kw, lt, callbacks) if lt is not None else (args, kw)
        res = getattr(self._core, name)(*a, **k)
        if is_coro or inspect.iscoroutine(res):
            res = self._run(res, direct)
        return wrap(res, lt) if lt is not None else res

    if is_coro:
        method.__doc__ = fn.__doc__
    method.__jsdata_core__ = fn  # type: ignore[attr-defined]  # for the stub generator
    method.__signature__ = _sigs.LazySignature(  # type: ignore[attr-defined]
        make=functools.partial(twin_signature, fn))
    return method


def twin_name(cls: type) -> str | None:
    """The name of the blocking twin of asyncio class ``cls`` (None: it has none)."""
    if isinstance(cls, type) and issubclass(cls, Twin):
        return cls.__name__
    if not isinstance(cls, type) or not cls.__module__.startswith("jsdata."):
        return None
    for base in cls.__mro__:
        if base in DECLARED:
            return base.__name__
    for d in DECLARED:  # a core class the front door assembles (client.Stream -> Stream)
        if d.__name__ == cls.__name__ and issubclass(d, cls):
            return d.__name__
    return None


@functools.lru_cache(maxsize=1)
def public_names() -> dict[type, tuple[str, str]]:
    """Classes the faces export -> (face module, name): how signatures should name them.

    Read from the loaded face (``jsdata`` is always imported before any of its modules),
    not imported: the blocking engine names no part of the package above it.
    """
    face = sys.modules["jsdata"]
    out: dict[type, tuple[str, str]] = {}
    twins = getattr(face, "_BLOCKING_TWINS", frozenset())
    for name in face.__all__:
        if name in twins or not name[:1].isupper():  # classes only: no twins, no modules
            continue
        try:
            value = getattr(face, name)
        except AttributeError:
            continue
        if isinstance(value, type) and not issubclass(value, Twin):
            out.setdefault(value, ("jsdata", name))
    return out


def twin_signature(fn: Callable[..., Any], here: str = "jsdata") -> inspect.Signature:
    """What the blocking twin of method ``fn`` takes and returns, as ``inspect`` shows it."""
    tt = _sigs.TypeText(twin_name, here, public_names())
    return _sigs.display_signature(_sigs.blocking_signature(fn), tt)


def _weak_signature(fn: Any) -> bool:
    """An extras method typed ``(*args, **kw) -> Any``: show the core method's instead."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    return (any(_sigs.is_bare(p) for p in sig.parameters.values())
            or sig.return_annotation in ("Any", Any, inspect.Signature.empty))


def _shown_as(fn: Callable[..., Any], core_fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a blocking extra) with the signature of the core method it stands for: a
    copy of the function (same code, defaults and closure; no forwarding frame per call,
    which a blocking ``publish_async`` would pay per message), so ``fn`` itself is left as
    it is for the other twins that inherit it."""
    method = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__,  # type: ignore[attr-defined]
                                fn.__defaults__, fn.__closure__)  # type: ignore[attr-defined]
    method.__kwdefaults__ = fn.__kwdefaults__  # type: ignore[attr-defined]
    functools.update_wrapper(method, fn)
    del method.__wrapped__  # it is the function, not a wrapper around it
    method.__jsdata_core__ = core_fn  # type: ignore[attr-defined]
    method.__signature__ = _sigs.LazySignature(  # type: ignore[attr-defined]
        make=functools.partial(twin_signature, core_fn))
    return method


def _make_property(name: str) -> property:
    def get(self: Twin) -> Any:
        v = getattr(self._core, name)
        return wrap(v, self._lt) if self._lt is not None else v

    def set_(self: Twin, value: Any) -> None:
        setattr(self._core, name, unwrap(value, self._lt))

    return property(get, set_)


def _iter_self(self: Twin) -> Twin:
    return self


def _sync_iterator(self: Twin) -> SyncIterator:
    try:
        return self._sit  # type: ignore[attr-defined, no-any-return]
    except AttributeError:
        lt = self._lt
        if lt is None:
            raise errors.NotConnectedError("not bound to a connection") from None
        sit = self._sit = SyncIterator(self._core, lt)  # type: ignore[attr-defined]
        return sit


def _next_item(self: Twin) -> Any:
    return next(_sync_iterator(self))


def _iter_bursts(self: Twin) -> Iterator[Any]:
    """``for`` over a core iterator that opts in (``_iter_in_bursts``): a burst at a time
    from the shared :class:`SyncIterator`, so each item costs a generator step instead of
    a ``__next__`` call through the iterator's lock. What a loop left (``break``) goes back
    to the shared buffer when the generator closes, for the next loop or ``next()``."""
    sit = _sync_iterator(self)
    while True:
        items = sit.burst()
        if not items:
            return
        i = 0
        try:
            for item in items:
                i += 1
                yield item
        finally:
            if i < len(items):
                sit.unread(items[i:])


def _enter(self: Twin) -> Any:
    res = self._run(self._core.__aenter__())
    return self if res is self._core else wrap(res, self._lt)  # type: ignore[arg-type]


def _exit(self: Twin, *exc: Any) -> Any:
    return self._run(self._core.__aexit__(*exc))


_CLASS_DUNDERS = frozenset({"__doc__", "__module__", "__dict__", "__weakref__", "__qualname__",
                            "__annotations__", "__slots__", "__firstlineno__",
                            "__static_attributes__"})
_DUNDERS_KEEP = ("__len__", "__contains__", "__bool__", "__getitem__")


def make_twin(name: str, core: type, module: str = "jsdata") -> type[Twin]:
    """Generate the blocking class for asyncio class ``core``."""
    ns: dict[str, Any] = {"__slots__": (), "_core_cls": core, "__module__": module,
                          "__doc__": core.__doc__}
    for attr in dir(core):
        if attr.startswith("_") and attr not in _DUNDERS_KEEP:
            continue
        raw = inspect.getattr_static(core, attr)
        if isinstance(raw, (staticmethod, classmethod)):
            ns[attr] = raw
        elif isinstance(raw, property) or inspect.isdatadescriptor(raw):
            ns[attr] = _make_property(attr)
        elif inspect.isasyncgenfunction(raw) or callable(raw):
            ns[attr] = _make_method(attr, raw)
    if hasattr(core, "__anext__"):
        ns["__slots__"] = ("_sit",)
        ns["__iter__"] = (_iter_bursts if getattr(core, "_iter_in_bursts", False)
                          and hasattr(core, "_next_many") else _iter_self)
        ns["__next__"] = _next_item
    if hasattr(core, "__aenter__"):
        ns["__enter__"] = _enter
        ns["__exit__"] = _exit
    extras = list(dict.fromkeys(EXTRAS[k] for k in core.__mro__ if k in EXTRAS))
    for m in extras:  # explicit extras (and their bases) win over generated methods
        for klass in m.__mro__[:-1]:
            for attr in vars(klass):
                if attr not in _CLASS_DUNDERS:
                    ns.pop(attr, None)
    for m in extras:  # an extra typed (*args, **kw) -> Any shows the core method's signature
        for attr in dir(m):
            fn = getattr(m, attr)
            if (not attr.startswith("_") and inspect.isfunction(fn) and attr not in ns
                    and callable(getattr(core, attr, None)) and _weak_signature(fn)):
                ns[attr] = _shown_as(fn, getattr(core, attr))
    bases: tuple[type, ...] = (*extras, Twin)
    cls = type(name, bases, ns)
    TWINS[core] = cls
    return cls


_twin_lock = threading.RLock()


def twin_of(core: type) -> type[Twin]:
    """The blocking twin of asyncio class ``core`` (generated once)."""
    with _twin_lock:
        tw = TWINS.get(core)
        if tw is None:
            tw = make_twin(core.__name__, core)
        return tw


_plain_wrap = Twin._wrap.__func__  # type: ignore[attr-defined]  # twins that wrap_all may build
