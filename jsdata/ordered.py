"""Ordered consumers (placeholder: being written)."""

from __future__ import annotations

from typing import Any


class OrderedConsumer:
    """An ordered consumer."""

    def __init__(self, js: Any, stream: str, cfg: Any) -> None:
        self._js = js
        self.stream = stream
        self._cfg = cfg
