"""Durations and times as the JetStream server writes them: Go's int nanoseconds and
RFC 3339 with nanoseconds (``Duration``, ``Timestamp``; Go's zero time reads as None)."""

from __future__ import annotations

import calendar
import datetime as _dt
import numbers
import re
from typing import Any

__all__ = ["Duration", "Timestamp", "ZERO_TIME", "format_time", "parse_time", "to_duration",
           "to_nanos", "to_time"]

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Go's zero ``time.Time`` as the server writes it; it is read as ``None``."""

_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)


class Duration(float):
    """Seconds as a ``float`` that also remembers the exact nanoseconds it came from.

    The server counts durations in integer nanoseconds; keeping them exact means a config
    read from the server is written back unchanged (the server compares configs exactly).
    """

    __slots__ = ("_nanos",)
    _nanos: int

    def __new__(cls, seconds: float | int = 0.0) -> Duration:
        self = super().__new__(cls, seconds)
        if isinstance(seconds, Duration):
            self._nanos = seconds._nanos
        else:
            self._nanos = round(float(seconds) * 1e9)
        return self

    @classmethod
    def from_nanos(cls, nanos: int) -> Duration:
        """Build a duration from integer nanoseconds (the wire form)."""
        self = super().__new__(cls, nanos / 1e9)
        self._nanos = int(nanos)
        return self

    @classmethod
    def from_timedelta(cls, td: _dt.timedelta) -> Duration:
        """Build a duration from a :class:`datetime.timedelta` exactly."""
        micros = (td.days * 86_400 + td.seconds) * 1_000_000 + td.microseconds
        return cls.from_nanos(micros * 1000)

    @property
    def nanos(self) -> int:
        """The duration in integer nanoseconds."""
        return self._nanos

    @property
    def timedelta(self) -> _dt.timedelta:
        """The duration as a :class:`datetime.timedelta` (microsecond precision)."""
        return _dt.timedelta(microseconds=self._nanos // 1000)

    def __copy__(self) -> Duration:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Duration:
        return self

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return (Duration.from_nanos, (self._nanos,))


def to_nanos(value: Any) -> int:
    """Integer nanoseconds of a duration given as seconds, ``timedelta`` or :class:`Duration`."""
    if isinstance(value, Duration):
        return value.nanos
    if isinstance(value, _dt.timedelta):
        return Duration.from_timedelta(value).nanos
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"expected seconds or a timedelta, got {type(value).__name__}")
    return round(float(value) * 1e9)


def to_duration(value: Any) -> Duration | None:
    """Coerce seconds (int/float), a ``timedelta`` or ``None`` to a :class:`Duration`."""
    if value is None or isinstance(value, Duration):
        return value
    if isinstance(value, _dt.timedelta):
        return Duration.from_timedelta(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"expected seconds or a timedelta, got {type(value).__name__}")
    return Duration(float(value))


# ---------------------------------------------------------------------------------------------
# Times


class Timestamp(_dt.datetime):
    """A tz-aware UTC ``datetime`` that keeps the server's nanoseconds.

    ``nanosecond`` holds the 0-999 nanoseconds beyond ``microsecond`` so that times read from
    the server are written back exactly (the server compares e.g. ``opt_start_time`` exactly).
    """

    _nanosecond: int = 0

    @property
    def nanosecond(self) -> int:
        """Nanoseconds beyond the microsecond (0-999)."""
        return self._nanosecond

    @classmethod
    def from_datetime(cls, dt: _dt.datetime, nanosecond: int = 0) -> Timestamp:
        """Convert a datetime (naive ones are taken as UTC) to a UTC :class:`Timestamp`."""
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=_UTC)
        else:
            dt = dt.astimezone(_UTC)
        self = cls(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond,
                   tzinfo=_UTC)
        if nanosecond:
            self._nanosecond = int(nanosecond)
        return self

    def unix_nanos(self) -> int:
        """Nanoseconds since the Unix epoch."""
        secs = calendar.timegm(self.utctimetuple())
        return (secs * 1_000_000 + self.microsecond) * 1000 + self._nanosecond

    def __copy__(self) -> Timestamp:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Timestamp:
        return self

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        base = _dt.datetime(self.year, self.month, self.day, self.hour, self.minute,
                            self.second, self.microsecond, tzinfo=self.tzinfo)
        return (Timestamp.from_datetime, (base, self._nanosecond))


_TIME_RE = re.compile(
    r"^(\d{4,})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$"
)


def parse_time(value: str | None) -> Timestamp | None:
    """Parse an RFC 3339 time with up to nanosecond precision; Go's zero time gives ``None``.

    Offsets are converted to UTC; a missing offset is taken as UTC; ``None`` or ``""`` give
    ``None``.
    """
    if not value:
        return None
    m = _TIME_RE.match(value.strip())
    if not m:
        raise ValueError(f"invalid RFC 3339 time: {value!r}")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    frac = (m.group(7) or "")[:9].ljust(9, "0")
    nanos = int(frac)
    if year == 1 and month == 1 and day == 1 and not (hour or minute or second or nanos):
        return None
    offset = _dt.timedelta(0)
    if m.group(9):
        offset = _dt.timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        if m.group(9) == "-":
            offset = -offset
    # second == 60 (leap second) is clamped, as Python cannot represent it.
    base = _dt.datetime(year, month, day, hour, minute, min(second, 59), nanos // 1000,
                        tzinfo=_dt.timezone(offset))
    return Timestamp.from_datetime(base, nanos % 1000)


def format_time(value: _dt.datetime) -> str:
    """Format a datetime as the server does (Go's RFC3339Nano in UTC, trailing zeros cut)."""
    ts = value if isinstance(value, Timestamp) else Timestamp.from_datetime(value)
    if ts.tzinfo is not _UTC and ts.utcoffset() != _dt.timedelta(0):
        ts = Timestamp.from_datetime(ts, ts.nanosecond)
    nanos = ts.microsecond * 1000 + ts.nanosecond
    frac = f".{nanos:09d}".rstrip("0") if nanos else ""
    return (f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d}T{ts.hour:02d}:{ts.minute:02d}:"
            f"{ts.second:02d}{frac}Z")


def to_time(value: Any) -> Timestamp | None:
    """Coerce a datetime, an RFC 3339 string, Unix seconds or ``None`` to a :class:`Timestamp`."""
    if value is None or isinstance(value, Timestamp):
        return value
    if isinstance(value, _dt.datetime):
        return Timestamp.from_datetime(value)
    if isinstance(value, str):
        return parse_time(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        nanos = round(float(value) * 1e9)
        base = _EPOCH + _dt.timedelta(microseconds=nanos // 1000)
        return Timestamp.from_datetime(base, nanos % 1000)
    raise TypeError(f"expected a datetime, got {type(value).__name__}")


