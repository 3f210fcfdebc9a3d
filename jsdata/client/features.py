"""Which server features the connected nats-server has: JetStream API levels.

nats-server announces the highest JetStream API level it implements (``api_lvl`` in its
INFO; ``api.level`` in ``$JS.API.INFO``). Features of newer servers check the level before
anything is sent and raise :class:`~jsdata.errors.FeatureNotSupportedError` naming the
feature, the level it needs and the server's version (as nats.go does with
``ErrFeatureUnsupported``). Levels follow nats-server's ``jetstream_versioning.go``.
"""

from __future__ import annotations

from typing import Any

from .. import errors

# feature -> (API level, first server version)
LEVELS: dict[str, tuple[int, str]] = {
    "consumer pause": (1, "2.11"),
    "priority groups": (1, "2.11"),
    "per-message TTL": (1, "2.11"),
    "batch direct get": (1, "2.11"),
    "multi-subject last-message get": (1, "2.11"),
    "atomic batch publish": (2, "2.12"),
    "counters": (2, "2.12"),
    "message schedules": (2, "2.12"),
    "prioritized priority policy": (2, "2.12"),
    "consumer reset": (4, "2.14"),
    "fast-ingest batch publish": (4, "2.14"),
    "cron message schedules": (4, "2.14"),
}


def server_api_level(server_info: dict[str, Any]) -> int:
    """The API level a server's INFO announces (0 for servers before 2.11)."""
    try:
        return int(server_info.get("api_lvl") or 0)
    except (TypeError, ValueError):
        return 0


def require(level: int, version: str, feature: str) -> None:
    """Raise FeatureNotSupportedError unless ``level`` is enough for ``feature``."""
    need, since = LEVELS[feature]
    if level < need:
        raise errors.FeatureNotSupportedError(
            f"{feature} needs JetStream API level {need} (nats-server {since}+); the server "
            f"is {version or 'unknown'} at API level {level}",
            feature=feature, required_level=need, server_level=level, server_version=version)
