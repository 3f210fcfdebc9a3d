"""The blocking surface: mechanical twins of the asyncio classes, run on one loop thread.

Each blocking class (``jsdata.JetStream``, ``jsdata.Stream``, ...) is generated from its
asyncio class: coroutine methods run on the connection's background event-loop thread and
block for the result; async iterators become iterators; async context managers become
context managers; results that are asyncio objects come back as their blocking twins.
Nothing here knows JetStream: behaviour lives once, in the async core.

A core class may carry ``__blocking_mixin__``: a class of blocking-only extras (the
``KeyValue`` mapping protocol, for example) that the twin inherits.

Callbacks given to the blocking API (``handler``, ``error_handler``, ...) run on one
handler thread per connection, in order, so a slow handler never stalls the loop's I/O.

Fire-and-forget work (``msg.ack()`` and friends) returns before it is sent. A failure
known at once (a closed connection) raises at once, as Go's ``Ack`` does; one that happens
on the loop becomes an :class:`~jsdata.errors.AsyncCallError`, raised by the next call
through the connection or by ``close()``, or given to ``connect(error_cb=...)``.

The signatures of the generated methods come from the asyncio ones (``_signatures``), so
``help()`` and ``inspect.signature`` show what they take; ``scripts/gen_stubs.py`` writes
the same into ``.pyi`` stubs for type checkers.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import inspect
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from . import _signatures as _sigs
from . import errors
from . import message as _msg

if TYPE_CHECKING:
    from .info import PubAck

log = logging.getLogger("jsdata")

CALLBACK_PARAMS = frozenset({"handler", "error_handler", "cb", "callback"})
_HANDLER_HIGH_WATER = 1024  # queued callback calls before the core is made to wait
_NOWAIT_HIGH_WATER = 512  # queued fire-and-forget calls before the caller waits


class LoopThread:
    """One asyncio event loop on a daemon thread; ``run`` submits a coroutine and blocks."""

    def __init__(self, name: str = "jsdata-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._handlers: _HandlerThread | None = None
        self._handlers_lock = threading.Lock()
        self.closed = False
        # fire-and-forget submissions (acks, async publishes), run in order on the loop
        self._nowait: collections.deque[Any] = collections.deque()
        self._nowait_lock = threading.Lock()
        self._nowait_room = threading.Event()
        self._nowait_idle = True
        self._nowait_submitted = 0
        self._nowait_done = 0
        self._nowait_event: asyncio.Event | None = None
        self._nowait_progress: asyncio.Event | None = None
        # failures of fire-and-forget work: raised by the next call (or close()), or given to
        # error_cb when the user set one (connect(error_cb=...)); never only kept here
        self._failed: collections.deque[errors.AsyncCallError] = collections.deque()
        self.error_cb: Callable[[BaseException], Any] | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()
        self._ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._nowait_event = asyncio.Event()
        self._nowait_progress = asyncio.Event()
        self.loop.create_task(self._nowait_drainer(), name="jsdata-nowait")
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    def submit_nowait(self, coro: Any, call: str = "a fire-and-forget call") -> None:
        """Queue ``coro`` to run on the loop in submission order, without waiting for it.

        Used for fire-and-forget work (acks, async publishes): one thread hop per burst
        instead of one round trip per call. Later ``run`` calls see it done first. If it
        fails, the failure (an :class:`~jsdata.errors.AsyncCallError` naming ``call``) is
        raised by the next call through this loop, or given to ``error_cb``.
        """
        if self._failed:
            coro.close()
            self.raise_failed()
        with self._nowait_lock:
            self._nowait.append((coro, call))
            self._nowait_submitted += 1
            wake = self._nowait_idle
            self._nowait_idle = False
            full = len(self._nowait) >= _NOWAIT_HIGH_WATER
            if full:
                self._nowait_room.clear()
        if wake:
            self.loop.call_soon_threadsafe(self._nowait_event.set)  # type: ignore[union-attr]
        if full and threading.current_thread() is not self.thread:
            # Let the loop thread catch up: waiting on an Event hands it the GIL at once,
            # where spinning here would starve it for whole switch intervals.
            self._nowait_room.wait(5.0)

    async def _nowait_drainer(self) -> None:
        ev = self._nowait_event
        assert ev is not None and self._nowait_progress is not None
        while True:
            await ev.wait()
            ev.clear()
            while True:
                with self._nowait_lock:
                    if not self._nowait:
                        self._nowait_idle = True
                        break
                    batch = list(self._nowait)
                    self._nowait.clear()
                    self._nowait_room.set()
                for c, call in batch:
                    try:
                        await c
                    except asyncio.CancelledError:
                        raise
                    except BaseException as e:  # noqa: BLE001 - surfaced, see failed()
                        self.failed(call, e)
                    self._nowait_done += 1
                self._nowait_progress.set()

    def failed(self, call: str, error: BaseException) -> None:
        """Report that fire-and-forget ``call`` failed (from any thread).

        With an ``error_cb`` the error goes to it (on the handler thread); otherwise the
        next call through this loop raises it, or ``close()`` does.
        """
        if isinstance(error, errors.AsyncCallError):
            err = error
        else:
            err = errors.AsyncCallError(call=call, error=error)
            err.__cause__ = error
        cb = self.error_cb
        if cb is not None and not self.closed:
            try:
                self.handlers.submit(cb, (err,))
                return
            except Exception:  # noqa: BLE001 - fall back to raising it from the next call
                pass
        self._failed.append(err)

    def raise_failed(self) -> None:
        """Raise the oldest unreported fire-and-forget failure, if there is one."""
        try:
            err = self._failed.popleft()
        except IndexError:
            return
        raise err

    def watch(self, fut: concurrent.futures.Future[Any], call: str) -> None:
        """Report ``fut``'s exception (work started without waiting) through ``failed``."""
        def done(f: concurrent.futures.Future[Any]) -> None:
            if not f.cancelled() and f.exception() is not None:
                self.failed(call, f.exception())  # type: ignore[arg-type]

        fut.add_done_callback(done)

    async def _after_nowait(self, upto: int, coro: Any, report: bool) -> Any:
        prog = self._nowait_progress
        assert prog is not None
        while self._nowait_done < upto:
            prog.clear()
            await prog.wait()
        if report and self._failed:  # work queued before this call failed: this call says so
            coro.close()
            self.raise_failed()
        return await coro

    def run(self, coro: Any, timeout: float | None = None, *, report: bool = True) -> Any:
        """Run ``coro`` on the loop thread and return its result (Ctrl-C cancels it).

        A fire-and-forget call that failed before this one is raised here instead (not
        with ``report=False``: ``close()`` closes first and raises afterwards).
        """
        if self.closed:
            coro.close()
            raise errors.ConnectionClosedError("the connection is closed")
        if report and self._failed:
            coro.close()
            self.raise_failed()
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("a blocking jsdata call was made on the jsdata event-loop thread; "
                               "use the asyncio API (jsdata.aio) there")
        upto = self._nowait_submitted
        if upto > self._nowait_done:  # keep order with fire-and-forget work queued before
            coro = self._after_nowait(upto, coro, report)
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            if fut.done():  # the core raised its own TimeoutError subclass: keep it as is
                raise
            fut.cancel()
            raise errors.JetStreamTimeoutError("timed out waiting for the operation") from None
        except BaseException:  # KeyboardInterrupt and friends: do not leave work running
            if not fut.done():
                fut.cancel()
            raise

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Schedule a plain function on the loop thread without waiting."""
        self.loop.call_soon_threadsafe(fn, *args)

    @property
    def handlers(self) -> _HandlerThread:
        with self._handlers_lock:
            if self._handlers is None:
                self._handlers = _HandlerThread(self)
            return self._handlers

    def stop(self) -> None:
        """Cancel what still runs on the loop, stop it and join every thread."""
        if self.closed:
            return
        self.closed = True
        if self._handlers is not None:
            self._handlers.stop()

        async def _cancel_all() -> None:
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()
            await self.loop.shutdown_default_executor()

        if threading.current_thread() is not self.thread:
            try:
                asyncio.run_coroutine_threadsafe(_cancel_all(), self.loop).result(10)
            except Exception:  # noqa: BLE001 - best effort while shutting down
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


class _HandlerThread:
    """Runs blocking callbacks in order on one thread, with backpressure on the core."""

    def __init__(self, lt: LoopThread) -> None:
        self.lt = lt
        self.q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.size = 0
        self._lock = threading.Lock()
        self._room: asyncio.Future[None] | None = None
        self.thread = threading.Thread(target=self._main, name="jsdata-handlers", daemon=True)
        self.thread.start()

    def _main(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            fn, args = item
            try:
                fn(*args)
            except Exception:  # a failing handler must not stop the others; never silent
                log.exception("jsdata: handler %r raised", getattr(fn, "__name__", fn))
            with self._lock:
                self.size -= 1
                if self.size == _HANDLER_HIGH_WATER // 2 and self._room is not None:
                    room, self._room = self._room, None
                    self.lt.loop.call_soon_threadsafe(_set_res, room)

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> asyncio.Future[None] | None:
        """Queue a call (from the loop thread); returns a future to await when too far behind."""
        with self._lock:
            self.size += 1
            behind = self.size >= _HANDLER_HIGH_WATER
            if behind and self._room is None:
                self._room = self.lt.loop.create_future()
            room = self._room if behind else None
        self.q.put((fn, args))
        return room

    def stop(self) -> None:
        self.q.put(None)
        if threading.current_thread() is not self.thread:
            self.thread.join(10)


def _set_res(f: asyncio.Future[None]) -> None:
    if not f.done():
        f.set_result(None)


# ---------------------------------------------------------------------------------------------
# wrapping values between the surfaces

TWINS: dict[type, type[Twin]] = {}


def _twin_class_for(t: type) -> type[Twin] | None:
    tw = TWINS.get(t)
    if tw is None and t.__module__.startswith("jsdata."):
        for base in t.__mro__:
            if base.__name__ in TWIN_NAMES and base.__module__.startswith("jsdata."):
                tw = twin_of(base)
                break
    return tw


def wrap(value: Any, lt: LoopThread) -> Any:
    """Turn a core result into what the blocking API returns."""
    if value is None or isinstance(value, (bytes, str, int, float, bool)):
        return value
    tw = _twin_class_for(type(value))
    if tw is not None:
        return tw._wrap(value, lt)
    if isinstance(value, list):
        return [wrap(v, lt) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(wrap(v, lt) for v in value)
    if hasattr(value, "__anext__"):
        return SyncIterator(value, lt)
    if inspect.iscoroutine(value):
        return wrap(lt.run(value), lt)
    return value


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


def _bind_args(sig: inspect.Signature | None, args: tuple[Any, ...], kw: dict[str, Any],
               lt: LoopThread) -> tuple[tuple[Any, ...], dict[str, Any]]:
    args = tuple(unwrap(a, lt) for a in args)
    kw = {k: unwrap(v, lt) for k, v in kw.items()}
    if sig is None:
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
            items = self._lt.run(self._many())
            if not items:
                raise StopIteration
            items = [wrap(x, self._lt) for x in items]
            items.reverse()
            self._buf = items
            return self._buf.pop()
        try:
            return wrap(self._lt.run(_anext(self._ait)), self._lt)
        except StopAsyncIteration:
            raise StopIteration from None

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

    def _run(self, coro: Any) -> Any:
        lt = self._lt
        if lt is None:
            coro.close()
            raise errors.NotConnectedError(
                f"this {type(self).__name__} is not bound to a connection")
        return lt.run(coro)

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

    def call(*args: Any, **kw: Any) -> Any:
        lt = self._lt
        a, k = _bind_args(sig, args, kw, lt) if lt is not None else (args, kw)
        res = bound(*a, **k)
        if inspect.iscoroutine(res):
            return wrap(self._run(res), lt) if lt else self._run(res)
        return wrap(res, lt) if lt is not None else res

    call.__name__ = name
    return call


def _make_method(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    try:
        sig: inspect.Signature | None = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None
    is_coro = inspect.iscoroutinefunction(fn)

    @functools.wraps(fn)
    def method(self: Twin, *args: Any, **kw: Any) -> Any:
        lt = self._lt
        a, k = _bind_args(sig, args, kw, lt) if lt is not None else (args, kw)
        res = getattr(self._core, name)(*a, **k)
        if is_coro or inspect.iscoroutine(res):
            res = self._run(res)
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
        if base.__name__ in TWIN_NAMES and base.__module__.startswith("jsdata."):
            return base.__name__
    return None


@functools.lru_cache(maxsize=1)
def public_names() -> dict[type, tuple[str, str]]:
    """Classes the faces export -> (face module, name): how signatures should name them."""
    import jsdata
    out: dict[type, tuple[str, str]] = {}
    for name in jsdata.__all__:
        if name in TWIN_NAMES or not name[:1].isupper():  # classes only: no lazy modules
            continue
        try:
            value = getattr(jsdata, name)
        except AttributeError:
            continue
        if isinstance(value, type):
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
    """``fn`` (a blocking extra) with the signature of the core method it stands for."""
    @functools.wraps(fn)
    def method(*args: Any, **kw: Any) -> Any:
        return fn(*args, **kw)

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


def _next_item(self: Twin) -> Any:
    try:
        sit = self._sit  # type: ignore[attr-defined]
    except AttributeError:
        lt = self._lt
        if lt is None:
            raise errors.NotConnectedError("not bound to a connection") from None
        sit = self._sit = SyncIterator(self._core, lt)  # type: ignore[attr-defined]
    return next(sit)


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
        ns["__iter__"] = _iter_self
        ns["__next__"] = _next_item
    if hasattr(core, "__aenter__"):
        ns["__enter__"] = _enter
        ns["__exit__"] = _exit
    extras = [m for m in (EXTRAS.get(name), getattr(core, "__blocking_mixin__", None)) if m]
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


def loop_thread_of(twin: Twin) -> LoopThread:
    if twin._lt is None:
        raise errors.NotConnectedError("not bound to a connection")
    return twin._lt


def submit_nowait(lt: LoopThread, coro_fn: Callable[..., Any], *args: Any
                  ) -> concurrent.futures.Future[Any]:
    """Start ``coro_fn(*args)`` on the loop without waiting; a concurrent future for it.

    A failure nobody waits for is reported through ``lt.failed`` (raised by the next call
    or given to ``error_cb``), not left on the future.
    """
    fut = asyncio.run_coroutine_threadsafe(coro_fn(*args), lt.loop)
    lt.watch(fut, getattr(coro_fn, "__qualname__", repr(coro_fn)))
    return fut


# ---------------------------------------------------------------------------------------------
# the classes that get blocking twins, and the twins' blocking-only extras

TWIN_NAMES = frozenset({
    "JetStream", "Stream", "Consumer", "OrderedConsumer", "PushConsumer", "Msg",
    "MessageBatch", "ConsumeContext", "MessagesContext", "PubAckFuture", "KeyValue",
    "KeyWatcher", "ObjectStore", "ObjectResult", "ObjectWatcher", "ArrowBatch",
    "ArrowBatchIterator", "BatchPublisher", "Counter", "FastPublisher",
})


class _JetStreamExtras:
    """Blocking-only parts of ``jsdata.JetStream``: closing also stops the loop thread."""

    _core: Any
    _lt: LoopThread | None

    def close(self) -> None:
        """Close the connection and join the background threads."""
        lt = self._lt
        if lt is None or lt.closed:
            return
        try:
            lt.run(self._core.close(), report=False)
        finally:
            lt.stop()
        lt.raise_failed()  # a fire-and-forget call failed and nothing reported it yet

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def nc(self) -> Any:
        """The underlying nats-py connection (lives on the background loop thread)."""
        return self._core.nc


class _PubAckFutureExtras:
    """``concurrent.futures``-style waiting for ``jsdata.PubAckFuture``."""

    _core: Any
    _lt: LoopThread | None

    def result(self, timeout: float | None = None) -> PubAck:
        """Block until the ack arrives (or its error, or ``timeout`` seconds pass)."""
        if self._core.done():
            return self._core.result()
        assert self._lt is not None
        return self._lt.run(self._core.wait(timeout))

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The publish's error (None when it was acked), waiting up to ``timeout``."""
        try:
            self.result(timeout)
        except errors.JetStreamTimeoutError:
            if not self._core.done():
                raise
        except BaseException as e:  # noqa: BLE001
            return e
        return self._core.exception()

    def done(self) -> bool:
        """Whether the ack (or its error) has arrived."""
        return bool(self._core.done())


class _AsyncPublishExtras:
    """Blocking ``publish_async``: validate here, send from the loop without a round trip."""

    _core: Any
    _lt: LoopThread | None

    def publish_async(self, subject: str, data: Any = b"", **opts: Any) -> Any:
        """Publish without waiting for the ack; returns a PubAckFuture."""
        core, lt = self._core, self._lt
        assert lt is not None
        parts = core._prepare_publish(subject, data, **opts)
        size = len(parts[1]) + len(parts[2])
        if size > core.nc.max_payload:  # raise here, as the asyncio API does, not on the future
            raise errors.MaxPayloadExceededError(
                f"message of {size} bytes exceeds the server's max_payload of "
                f"{core.nc.max_payload} bytes")
        paf = core._new_paf(*parts, lt.loop)
        if len(core._pa) + (lt._nowait_submitted - lt._nowait_done) >= core._pa_max:
            # one round trip per half window, not per message; raises TooManyStalledMsgsError
            lt.run(core._wait_for_room(max(1, core._pa_max // 2)))
        lt.submit_nowait(_submit_or_fail(core, paf), f"publish_async to {subject!r}")
        return wrap(paf, lt)

    def publish_msg_async(self, msg: Any, **opts: Any) -> Any:
        """Publish a Msg without waiting for the ack."""
        m = unwrap(msg, self._lt)
        return self.publish_async(m.subject, m.data,
                                  headers=m._headers or (m.headers if m._hdr else None), **opts)

    def publish_async_pending(self) -> int:
        """How many async publishes await their ack (those still queued to send included)."""
        assert self._lt is not None
        return int(self._lt.run(_pending(self._core)))  # runs after the queued sends


async def _pending(core: Any) -> int:
    return int(core.publish_async_pending())


async def _submit_or_fail(core: Any, paf: Any) -> None:
    try:
        await core._submit_paf(paf)
    except errors.JetStreamError as e:
        paf._set_exception(e)


class _JetStreamBlocking(_JetStreamExtras, _AsyncPublishExtras):
    """Every blocking-only part of ``jsdata.JetStream``."""


class _MsgExtras:
    """Blocking acks: checked here, sent from the loop without waiting (as Go's Ack)."""

    _core: Any
    _lt: LoopThread | None

    def _send(self, body: bytes, final: bool = True) -> None:
        lt = self._lt
        if lt is not None and (lt.closed or self._core._js is not None
                               and self._core._js.nc.is_closed):
            raise errors.ConnectionClosedError(  # as Go's Ack returns ErrConnectionClosed
                f"cannot send {body[:5].decode()} for {self._core.subject!r}: "
                "the connection is closed")
        coro = self._core._ack_now(body, final)
        if lt is None:
            coro.close()
            raise errors.NotConnectedError("message is not bound to a connection")
        lt.submit_nowait(coro, f"{body[:5].decode().strip()} of {self._core.subject!r} "
                               f"(reply {self._core.reply})")

    def ack(self) -> None:
        """Acknowledge the message."""
        self._send(_msg.ACK)

    def nak(self) -> None:
        """Negatively acknowledge: redeliver now."""
        self._send(_msg.NAK)

    def nak_with_delay(self, delay: float) -> None:
        """Negatively acknowledge: redeliver after ``delay`` seconds."""
        self._send(_msg.nak_delay_body(delay))

    def in_progress(self) -> None:
        """Tell the server the message is still being worked on."""
        self._send(_msg.WPI, final=False)

    def term(self) -> None:
        """Stop redelivery of the message."""
        self._send(_msg.TERM)

    def term_with_reason(self, reason: str) -> None:
        """Stop redelivery, recording ``reason``."""
        self._send(_msg.TERM + b" " + reason.encode())


EXTRAS: dict[str, type] = {"JetStream": _JetStreamBlocking, "PubAckFuture": _PubAckFutureExtras,
                           "Msg": _MsgExtras}

_twin_lock = threading.RLock()


def twin_of(core: type) -> type[Twin]:
    """The blocking twin of asyncio class ``core`` (generated once)."""
    with _twin_lock:
        tw = TWINS.get(core)
        if tw is None:
            tw = make_twin(core.__name__, core)
        return tw


def connect(*args: Any, error_cb: Callable[[BaseException], object] | None = None,
            **kw: Any) -> Any:
    """Blocking connect: the asyncio core runs on a new background event-loop thread.

    ``error_cb(error)`` (a plain function, run on the handler thread) receives what fails
    without a caller to tell: the connection's asynchronous errors and failed
    fire-and-forget calls (:class:`~jsdata.errors.AsyncCallError`). Without it those
    failures are raised by the next call on the connection, or by ``close()``.
    """
    from .jetstream import connect as aconnect
    lt = LoopThread()
    if error_cb is not None:
        if inspect.iscoroutinefunction(error_cb) or not callable(error_cb):
            lt.stop()
            raise errors.InvalidArgumentError(
                "error_cb must be a plain function on the blocking API (jsdata.aio.connect "
                "takes a coroutine function)")
        lt.error_cb = error_cb
        cb = error_cb

        async def nats_error(e: Exception) -> None:  # nats-py's async errors, same callback
            lt.handlers.submit(cb, (e,))

        kw["error_cb"] = nats_error
    try:
        core = lt.run(aconnect(*args, **kw))
    except BaseException:
        lt.stop()
        raise
    return wrap(core, lt)
