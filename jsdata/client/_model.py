"""A small base for dataclasses that map to and from the JetStream server's JSON.

Subclasses are plain ``@dataclass`` classes whose field names are the server's snake_case
JSON names. Field metadata (usually set with :func:`wire`) says how a value is encoded:

``json``
    the wire name when it differs from the Python name (``None``: never on the wire).
``kind``
    ``"duration"`` (Python float seconds, wire int nanoseconds), ``"time"`` (tz-aware UTC
    datetime, wire RFC 3339 with nanoseconds), ``"enum"`` or ``"model"``; the last three are
    normally inferred from the type hint (``datetime``, a :class:`WireEnum`, a :class:`Model`,
    or lists/dicts of them).
``omitempty``
    ``True`` (the default) mirrors Go's ``omitempty``: ``None``, ``False``, ``0``, ``""``,
    empty containers and the enum ``zero`` are left out. ``False`` always writes the field,
    using the Go zero value (``zero``) when the Python value is ``None``.
``zero``
    the Go zero value of the field (inferred from the type when not given).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import difflib
import enum
import functools
import inspect
import json as _json
import numbers
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from ..errors import InvalidConfigError
from .times import ZERO_TIME, Duration, format_time, parse_time, to_duration, to_nanos, to_time

__all__ = ["Model", "WireEnum", "make_config", "wire", "with_aliases"]

M = TypeVar("M", bound="Model")

_MISSING: Any = dataclasses.MISSING



# ---------------------------------------------------------------------------------------------
# Enums


class WireEnum(str, enum.Enum):
    """Base of the string enums whose values are the server's JSON strings.

    Lookups are forgiving: the value or the member name, in any case, is accepted.
    """

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            low = value.strip().lower()
            for member in cls:
                if member.value.lower() == low:
                    return member
            for name, member in cls.__members__.items():
                if name.lower() == low.replace("-", "_"):
                    return member
            extra = cls._wire_aliases().get(low)
            if extra is not None:
                return cls(extra)
        return None

    @classmethod
    def _wire_aliases(cls) -> dict[str, str]:
        """Extra spellings (lower case) accepted when reading, mapped to a member value."""
        return {}


# ---------------------------------------------------------------------------------------------
# Field specs


def wire(
    default: Any = _MISSING,
    *,
    json: str | None | Any = _MISSING,
    kind: str | None = None,
    omitempty: bool = True,
    zero: Any = _MISSING,
    default_factory: Any = _MISSING,
    enum: type[enum.Enum] | None = None,
    model: type[Model] | None = None,
) -> Any:
    """Declare a dataclass field with its wire metadata (see the module docstring)."""
    md: dict[str, Any] = {"omitempty": omitempty}
    if json is not _MISSING:
        md["json"] = json
    if kind is not None:
        md["kind"] = kind
    if zero is not _MISSING:
        md["zero"] = zero
    if enum is not None:
        md["enum"] = enum
    if model is not None:
        md["model"] = model
    if default_factory is not _MISSING:
        return field(default_factory=default_factory, metadata=md)
    return field(default=default, metadata=md)


@dataclass(frozen=True)
class _Spec:
    name: str
    json: str | None
    kind: str | None  # duration, time, enum, model or None (plain)
    container: str | None  # "list", "dict" or None
    target: Any  # the enum/model class, or the plain Python type
    omitempty: bool
    zero: Any
    default: Any
    default_factory: Any


_NONE_TYPE = type(None)


def _strip_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not _NONE_TYPE]
        if len(args) == 1:
            return args[0]
        return Any
    return tp


def _analyze(tp: Any) -> tuple[str | None, Any]:
    """Split a (non-optional) hint into (container, inner type)."""
    origin = typing.get_origin(tp)
    if origin in (list, tuple, set, frozenset, Sequence):
        args = typing.get_args(tp)
        return "list", _strip_optional(args[0]) if args else Any
    if origin in (dict, Mapping):
        args = typing.get_args(tp)
        return "dict", _strip_optional(args[1]) if len(args) == 2 else Any
    return None, tp


_SPECS: dict[type, tuple[_Spec, ...]] = {}


def _specs(cls: type) -> tuple[_Spec, ...]:
    cached = _SPECS.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls)
    out: list[_Spec] = []
    for f in dataclasses.fields(cls):
        if f.name == "extra":
            continue
        md = f.metadata
        container, inner = _analyze(_strip_optional(hints.get(f.name, Any)))
        kind = md.get("kind")
        target: Any = inner
        if md.get("enum") is not None:
            kind, target = "enum", md["enum"]
        elif md.get("model") is not None:
            kind, target = "model", md["model"]
        elif kind is None and inspect.isclass(inner) and typing.get_origin(inner) is None:
            if issubclass(inner, enum.Enum):
                kind = "enum"
            elif issubclass(inner, Model):
                kind = "model"
            elif issubclass(inner, _dt.datetime):
                kind = "time"
        if "zero" in md:
            zero = md["zero"]
        elif kind == "enum" and isinstance(f.default, enum.Enum):
            zero = f.default
        elif container is not None:
            zero = None
        elif kind == "model":
            zero = {}
        elif kind == "time":
            zero = ZERO_TIME
        elif kind == "duration":
            zero = 0
        elif target is bool:
            zero = False
        elif target is int or target is float:
            zero = 0
        elif target is str:
            zero = ""
        else:
            zero = None
        out.append(_Spec(
            name=f.name,
            json=md.get("json", f.name),
            kind=kind,
            container=container,
            target=target,
            omitempty=md.get("omitempty", True),
            zero=zero,
            default=f.default,
            default_factory=f.default_factory,
        ))
    specs = tuple(out)
    _SPECS[cls] = specs
    return specs


# ---------------------------------------------------------------------------------------------
# Encoding / decoding of single values


def _encode_one(spec: _Spec, v: Any) -> Any:
    if v is None:
        return None
    kind = spec.kind
    if kind == "duration":
        return to_nanos(v)
    if kind == "time":
        if isinstance(v, str):
            return v
        return format_time(to_time(v))  # type: ignore[arg-type]
    if kind == "enum":
        return v.value if isinstance(v, enum.Enum) else v
    if kind == "model":
        if isinstance(v, Model):
            return v.to_json()
        if isinstance(v, Mapping):
            return make_config(spec.target, v).to_json()
        return v
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, (list, tuple, set, frozenset)):
        return [x.value if isinstance(x, enum.Enum) else x for x in v]
    if isinstance(v, Mapping):
        return dict(v)
    return v


def _encode(spec: _Spec, v: Any) -> Any:
    if v is None:
        return None
    if spec.container == "list" and spec.kind is not None:
        return [_encode_one(spec, x) for x in v]
    if spec.container == "dict" and spec.kind is not None:
        return {k: _encode_one(spec, x) for k, x in v.items()}
    if spec.container == "list":
        return [x.value if isinstance(x, enum.Enum) else x for x in v]
    if spec.container == "dict":
        return {k: (list(x) if isinstance(x, (list, tuple)) else x) for k, x in v.items()}
    return _encode_one(spec, v)


def _decode_one(spec: _Spec, v: Any) -> Any:
    if v is None:
        return None
    kind = spec.kind
    try:
        if kind == "duration":
            return Duration.from_nanos(int(v))
        if kind == "time":
            return parse_time(v) if isinstance(v, str) else to_time(v)
        if kind == "enum":
            return spec.target(v)
        if kind == "model" and isinstance(v, Mapping):
            return spec.target.from_json(v)
    except (ValueError, TypeError, OverflowError):
        return v  # keep what a newer server sent rather than failing
    return v


def _decode(spec: _Spec, v: Any) -> Any:
    if v is None:
        return None
    if spec.container == "list" and isinstance(v, list):
        if spec.kind is None:
            return list(v)
        return [_decode_one(spec, x) for x in v]
    if spec.container == "dict" and isinstance(v, Mapping):
        if spec.kind is None:
            return dict(v)
        return {k: _decode_one(spec, x) for k, x in v.items()}
    return _decode_one(spec, v)


def _is_empty(spec: _Spec, v: Any) -> bool:
    """Go ``omitempty`` emptiness (plus the enum zero given in the field metadata)."""
    if v is None:
        return True
    if isinstance(v, enum.Enum) or spec.kind == "enum":
        return spec.zero is not None and v == spec.zero or v == ""
    if isinstance(v, bool):
        return not v
    if isinstance(v, numbers.Real):
        return v == 0
    if isinstance(v, _dt.timedelta):
        return not v
    if isinstance(v, (str, bytes, list, tuple, dict, set, frozenset)):
        return len(v) == 0
    return False


# ---------------------------------------------------------------------------------------------
# Validation / coercion of user-supplied values


def _bad(cls: type, name: str, msg: str) -> InvalidConfigError:
    return InvalidConfigError(f"{cls.__name__}.{name}: {msg}")


def _coerce_one(cls: type, spec: _Spec, v: Any) -> Any:
    if v is None:
        return None
    kind, target, name = spec.kind, spec.target, spec.name
    if kind == "duration":
        try:
            return to_duration(v)
        except TypeError:
            raise _bad(cls, name, f"expected a duration in seconds or a timedelta, got {v!r}") \
                from None
    if kind == "time":
        try:
            return to_time(v)
        except (TypeError, ValueError, OverflowError):
            raise _bad(cls, name, f"expected a datetime, got {v!r}") from None
    if kind == "enum":
        if isinstance(v, target):
            return v
        try:
            return target(v)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in target)
            raise _bad(cls, name, f"invalid value {v!r}; allowed values: {allowed}") from None
    if kind == "model":
        if isinstance(v, target):
            return v
        if isinstance(v, Mapping):
            return make_config(target, v)
        conv = target._from_value(v)
        if conv is not None:
            return conv
        raise _bad(cls, name, f"expected {target.__name__}, got {type(v).__name__}")
    if target is bool:
        if isinstance(v, bool):
            return v
        raise _bad(cls, name, f"expected a bool, got {v!r}")
    if target is int:
        if isinstance(v, numbers.Integral) and not isinstance(v, bool):
            return int(v)
        if isinstance(v, float) and v.is_integer():
            return int(v)
        raise _bad(cls, name, f"expected an int, got {v!r}")
    if target is float:
        if isinstance(v, numbers.Real) and not isinstance(v, bool):
            return float(v)
        raise _bad(cls, name, f"expected a number, got {v!r}")
    if target is str:
        if isinstance(v, enum.Enum) and isinstance(v.value, str):
            return v.value
        if isinstance(v, str):
            return v
        raise _bad(cls, name, f"expected a str, got {v!r}")
    return v


def _coerce(cls: type, spec: _Spec, v: Any) -> Any:
    if v is None:
        return None
    if spec.container == "list":
        if isinstance(v, (str, bytes)) and spec.target is str:
            v = [v]
        elif isinstance(v, (str, bytes, Mapping)) or not isinstance(v, Iterable):
            raise _bad(cls, spec.name, f"expected a list, got {type(v).__name__}")
        return [_coerce_one(cls, spec, x) for x in v]
    if spec.container == "dict":
        if not isinstance(v, Mapping):
            raise _bad(cls, spec.name, f"expected a dict, got {type(v).__name__}")
        return {k: _coerce_one(cls, spec, x) for k, x in v.items()}
    return _coerce_one(cls, spec, v)


# ---------------------------------------------------------------------------------------------
# The base class


@dataclass
class Model:
    """Base of the JSON-mapped dataclasses.

    ``extra`` keeps JSON keys this version does not know (from newer servers) so that
    ``to_json`` round trips are lossless; it takes no part in ``repr`` or equality.
    """

    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False,
                                  kw_only=True)

    # Extra keyword spellings accepted by make_config: alias -> field name.
    _aliases: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        cls = type(self)
        for spec in _specs(cls):
            v = getattr(self, spec.name)
            if v is not None:
                object.__setattr__(self, spec.name, _coerce(cls, spec, v))
        if self.extra is None:
            self.extra = {}
        self._validate()

    def _validate(self) -> None:
        """Hook for cross-field checks; raise InvalidConfigError on a bad combination."""

    @classmethod
    def _from_value(cls: type[M], value: Any) -> M | None:
        """Hook to build an instance from a non-mapping shorthand (e.g. a name string)."""
        return None

    @property
    def _extra(self) -> dict[str, Any]:
        """The unknown JSON keys kept from ``from_json`` (same object as ``extra``)."""
        return self.extra

    def to_json(self) -> dict[str, Any]:
        """Return the wire JSON object, omitting what nats.go's ``omitempty`` tags omit."""
        out: dict[str, Any] = {}
        for spec in _specs(type(self)):
            if spec.json is None:
                continue
            v = getattr(self, spec.name)
            if spec.omitempty:
                if _is_empty(spec, v):
                    continue
                out[spec.json] = _encode(spec, v)
            elif v is None:
                z = spec.zero
                out[spec.json] = z.value if isinstance(z, enum.Enum) else copy.copy(z)
            else:
                out[spec.json] = _encode(spec, v)
        for k, v in self.extra.items():
            out.setdefault(k, copy.deepcopy(v))
        return out

    def to_json_bytes(self) -> bytes:
        """Return ``to_json()`` serialized as compact JSON bytes."""
        return _json.dumps(self.to_json(), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls: type[M], d: Mapping[str, Any] | bytes | str) -> M:
        """Build an instance from a wire JSON object (or its bytes/str); keep unknown keys."""
        if isinstance(d, (bytes, bytearray, memoryview, str)):
            d = _json.loads(bytes(d) if not isinstance(d, str) else d)
        if not isinstance(d, Mapping):
            raise TypeError(f"{cls.__name__}.from_json needs a JSON object, got "
                            f"{type(d).__name__}")
        self = object.__new__(cls)
        known: set[str] = set()
        for spec in _specs(cls):
            if spec.json is not None and spec.json in d:
                known.add(spec.json)
                value = _decode(spec, d[spec.json])
            elif spec.default_factory is not _MISSING:
                value = spec.default_factory()
            elif spec.default is not _MISSING:
                value = spec.default
            else:
                value = None
            object.__setattr__(self, spec.name, value)
        self.extra = {k: v for k, v in d.items() if k not in known}
        return self

    def replace(self: M, **fields: Any) -> M:
        """Return a copy with ``fields`` changed (validated like :func:`make_config`)."""
        return make_config(type(self), self, **fields)


def _field_names(cls: type[Model]) -> dict[str, str]:
    """Accepted keywords -> field name (field names, wire names and class aliases)."""
    names: dict[str, str] = {}
    specs = _specs(cls)
    for spec in specs:
        if spec.json and spec.json != spec.name:
            names[spec.json] = spec.name
    names.update(cls._aliases)
    for spec in specs:
        names[spec.name] = spec.name
    return names


def make_config(cls: type[M], config: M | Mapping[str, Any] | None = None, /,
                **fields: Any) -> M:
    """Build a ``cls`` from a config object and/or keyword fields.

    ``config`` may be an instance of ``cls`` (copied, never changed) or a mapping of field
    names; keyword ``fields`` override it. Unknown names raise
    :class:`~jsdata.errors.InvalidConfigError` with a suggestion; values are coerced (enum
    strings, ``timedelta`` durations, ...) and bad values raise ``InvalidConfigError`` too.
    """
    accepted = _field_names(cls)
    if config is not None and not isinstance(config, (cls, Mapping)):
        raise InvalidConfigError(
            f"expected a {cls.__name__} or a mapping, got {type(config).__name__}")
    merged: dict[str, Any] = {}
    if isinstance(config, Mapping):
        merged.update(_resolve(cls, accepted, config))
    merged.update(_resolve(cls, accepted, fields))
    if isinstance(config, cls):
        # Copy, then coerce only the changed fields: values kept from the server (e.g. an
        # enum value this version does not know) pass through untouched.
        base = copy.deepcopy(config)
        specs = {spec.name: spec for spec in _specs(cls)}
        for name, value in merged.items():
            object.__setattr__(base, name, _coerce(cls, specs[name], value))
        base._validate()
        return base
    return cls(**merged)


def _resolve(cls: type[Model], accepted: dict[str, str],
             given: Mapping[str, Any]) -> dict[str, Any]:
    """Map given keywords (names, wire names, aliases) to field names, rejecting unknowns."""
    out: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for key, value in given.items():
        target = accepted.get(key)
        if target is None:
            choices = sorted(accepted)
            close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
            hint = (f"; did you mean {close[0]!r}?" if close else
                    f"; valid fields: {', '.join(s.name for s in _specs(cls))}")
            raise InvalidConfigError(f"unknown field {key!r} for {cls.__name__}{hint}")
        if target in out and out[target] != value:
            raise InvalidConfigError(
                f"{cls.__name__}: both {seen[target]!r} and {key!r} given for {target!r}")
        out[target] = value
        seen[target] = key
    return out


def with_aliases(cls: type[M]) -> type[M]:
    """Let the constructor take ``cls._aliases`` spellings (``ConsumerConfig(durable=...)``)
    and expose each alias as a property of its field (``cfg.durable``); apply after
    ``@dataclass``."""
    init = cls.__init__
    aliases = dict(cls._aliases)

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kw: Any) -> None:
        for alias, real in aliases.items():
            if alias in kw:
                if real in kw:
                    raise InvalidConfigError(
                        f"{cls.__name__}: give {alias} or {real}, not both")
                kw[real] = kw.pop(alias)
        init(self, *args, **kw)

    cls.__init__ = __init__  # type: ignore[method-assign]
    for alias, real in aliases.items():
        if alias not in cls.__dict__:
            setattr(cls, alias, property(
                lambda self, r=real: getattr(self, r),
                lambda self, v, r=real: setattr(self, r, v),
                doc=f"Alias of :attr:`{real}`."))
    return cls

