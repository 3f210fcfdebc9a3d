"""The pull ``Consumer`` handle, and the consumer create/update request all kinds share.

The management methods (``create_consumer``, ``consumer``, ...) are in
``consumer_manager.py``; ordered consumers call :func:`upsert_consumer` directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import errors
from . import _diff, names
from ._conn import new_token
from .config import ConsumerConfig
from .consume import ConsumeMethods
from .info import ConsumerInfo
from .pull import PullMethods

if TYPE_CHECKING:
    from .context import Context


class Consumer(PullMethods, ConsumeMethods):
    """A pull consumer: ``fetch`` / ``next`` / ``consume`` / ``messages`` and info."""

    def __init__(self, js: Context, info: ConsumerInfo) -> None:
        self._js = js
        self._info = info
        self.stream: str = info.stream_name
        self.name: str = info.name

    def __repr__(self) -> str:
        return f"<Consumer {self.stream}/{self.name} pending={self._info.num_pending}>"

    def _repr_html_(self) -> str:
        """The cached info as bounded, escaped HTML (no network call)."""
        from .._repr import consumer_info_html
        return consumer_info_html(self._info, note_text="cached info; c.info() refreshes")

    def cached_info(self) -> ConsumerInfo:
        """The info from the last server call, without a network round trip."""
        return self._info

    async def info(self) -> ConsumerInfo:
        """Fresh consumer info from the server."""
        resp = await self._js._api(f"CONSUMER.INFO.{self.stream}.{self.name}")
        self._info = ConsumerInfo.from_json(resp)
        return self._info


def check_kind(info: ConsumerInfo, push: bool) -> None:
    is_push = bool(info.config.deliver_subject)
    if push and not is_push:
        raise errors.NotPushConsumerError(
            f"consumer {info.name!r} on stream {info.stream_name!r} is a pull consumer; "
            "use consumer() instead")
    if not push and is_push:
        raise errors.NotPullConsumerError(
            f"consumer {info.name!r} on stream {info.stream_name!r} is a push consumer; "
            "use push_consumer() instead")


async def upsert_consumer(js: Context, stream: str, cfg: ConsumerConfig, action: str,
                          push: bool) -> ConsumerInfo:
    """Create or update a consumer (``action``: "create", "update" or "" for either) and
    return its info; ``push`` says which kind the caller expects."""
    names.stream_name(stream)
    if push and not cfg.deliver_subject:
        raise errors.InvalidConfigError("a push consumer needs deliver_subject")
    if not push and cfg.deliver_subject:
        raise errors.InvalidConfigError(
            "deliver_subject makes a push consumer; use create_push_consumer()")
    if cfg.durable_name:
        names.consumer_name(cfg.durable_name)
    if cfg.name:
        names.consumer_name(cfg.name)
    if cfg.durable_name and cfg.name and cfg.durable_name != cfg.name:
        raise errors.InvalidConfigError("durable_name and name must be equal when both set")
    name = cfg.name or cfg.durable_name or new_token(8)
    if cfg.filter_subject and cfg.filter_subjects:
        raise errors.InvalidConfigError("give filter_subject or filter_subjects, not both")
    for f in ([cfg.filter_subject] if cfg.filter_subject else []) + list(
            cfg.filter_subjects or []):
        names.filter_subject(f)
    body = cfg.to_json()
    if not cfg.durable_name:
        body["name"] = name
    subj = f"CONSUMER.CREATE.{stream}.{name}"
    if cfg.filter_subject:  # the server refuses the subject form with filter_subjects
        subj += f".{cfg.filter_subject}"
    payload: dict[str, Any] = {"stream_name": stream, "config": body}
    if action:
        payload["action"] = action
    try:
        resp = await js._api(subj, payload)
    except errors.APIError as e:
        if e.err_code == 10148 or (action == "create" and e.err_code == 10013):
            err = errors.ConsumerExistsError(
                f"consumer {name!r} already exists on stream {stream!r} with a different "
                f"configuration", code=e.code, err_code=e.err_code)
            err.stream, err.consumer = stream, name
            try:
                have = await js._api(f"CONSUMER.INFO.{stream}.{name}")
            except errors.JetStreamError:
                raise err from None
            diff = _diff.differing_fields(body, have.get("config") or {})
            err.description += _diff.describe(diff)
            err.args = (err.description,)
            err.differences = diff  # type: ignore[attr-defined]
            raise err from None
        raise
    info = ConsumerInfo.from_json(resp)
    if cfg.filter_subjects and not info.config.filter_subjects:  # a pre-2.10 server
        raise errors.ConsumerMultipleFilterSubjectsNotSupportedError(
            "the server does not support multiple filter subjects")
    check_kind(info, push)
    return info
