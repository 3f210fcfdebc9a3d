"""Push consumers (placeholder: being written)."""

from __future__ import annotations

from typing import Any


class PushConsumer:
    """A push consumer."""

    def __init__(self, js: Any, info: Any) -> None:
        self._js = js
        self._info = info
        self.stream: str = info.stream_name
        self.name: str = info.name

    def cached_info(self) -> Any:
        return self._info

    async def info(self) -> Any:
        from .info import ConsumerInfo
        resp = await self._js._api(f"CONSUMER.INFO.{self.stream}.{self.name}")
        self._info = ConsumerInfo.from_json(resp)
        return self._info
