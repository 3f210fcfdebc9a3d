"""Message schedules (nats-server 2.12+, ADR-51; streams with ``allow_msg_schedules``).

A message published with ``Nats-Schedule`` is not delivered as such: the server keeps it
as a schedule and, when it fires, publishes a copy of its payload to
``Nats-Schedule-Target`` (a subject of the same stream). Patterns: ``"@at <RFC 3339>"``
(once; 2.12), ``"@every 5s"``, six-field cron ``"0 30 9 * * 1-5"`` and ``@hourly`` /
``@daily`` / ... (repeating; 2.14, cron with an optional time zone).
``Nats-Schedule-TTL`` gives the produced messages a TTL. A schedule is replaced by
publishing another on the same subject and removed by purging that subject.
"""

from __future__ import annotations

import datetime
from datetime import timedelta

from .. import errors
from . import names
from .headers import Headers, HeadersInput, ttl_value
from .times import format_time


def schedule_pattern(schedule: str | datetime.datetime) -> str:
    """The ``Nats-Schedule`` value: a datetime becomes ``@at`` (naive = UTC)."""
    if isinstance(schedule, datetime.datetime):
        at = schedule if schedule.tzinfo else schedule.replace(tzinfo=datetime.timezone.utc)
        return "@at " + format_time(at.replace(microsecond=0))
    if not isinstance(schedule, str) or not schedule.strip():
        raise errors.InvalidArgumentError(
            f"schedule must be a pattern ('@at <time>', '@every 5s', cron) or a datetime, "
            f"got {schedule!r}")
    return schedule.strip()


def feature_of(pattern: str) -> str:
    """Which feature (see :mod:`jsdata.client.features`) a pattern needs."""
    return "message schedules" if pattern.startswith("@at ") else "cron message schedules"


def with_schedule(headers: HeadersInput, schedule: str | datetime.datetime,
                  target: str | None, ttl: float | timedelta | str | None,
                  time_zone: str | None) -> tuple[Headers, str]:
    """``headers`` plus the schedule headers; also the pattern (to check the feature)."""
    pattern = schedule_pattern(schedule)
    if not target:
        raise errors.InvalidArgumentError("a scheduled publish needs schedule_target= (the "
                                          "subject the schedule publishes to)")
    names.publish_subject(target)
    h = Headers(headers)
    h.set("Nats-Schedule", pattern)
    h.set("Nats-Schedule-Target", target)
    if ttl is not None:
        h.set("Nats-Schedule-TTL", ttl_value(ttl))
    if time_zone is not None:
        if pattern.startswith(("@at ", "@every ")):
            raise errors.InvalidArgumentError(
                "schedule_time_zone applies to cron schedules only, not '@at' / '@every'")
        h.set("Nats-Schedule-Time-Zone", time_zone)
    return h, pattern
