"""``Stream``: info, purge, message get/delete and the stream-scoped consumer methods."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import errors
from . import names
from ._conn import status_of
from ._portable import direct
from .consumer_manager import StreamConsumerMethods
from .direct import DirectMethods
from .info import StreamInfo
from .message import RawStreamMsg, raw_from_api, raw_from_direct

if TYPE_CHECKING:
    from .context import Context


class Stream(StreamConsumerMethods, DirectMethods):
    """A handle on one stream. Obtain it from ``js.stream(name)`` or ``js.create_stream``."""

    def __init__(self, js: Context, info: StreamInfo) -> None:
        self._js = js
        self._info = info
        self.name: str = info.config.name

    def __repr__(self) -> str:
        st = self._info.state
        return f"<Stream {self.name} messages={st.messages} last_seq={st.last_seq}>"

    def _repr_html_(self) -> str:
        """The cached info as bounded, escaped HTML (no network call)."""
        from .._repr import stream_info_html
        return stream_info_html(self._info, note_text="cached info; s.info() refreshes")

    @property
    def stream_name(self) -> str:
        return self.name

    def cached_info(self) -> StreamInfo:
        """The info from the last server call, without a network round trip."""
        return self._info

    @direct
    async def info(self, subjects_filter: str | None = None,
                   deleted_details: bool = False) -> StreamInfo:
        """Fresh stream info; ``subjects_filter`` fills ``state.subjects`` (all pages)."""
        payload: dict[str, Any] = {}
        if subjects_filter:
            payload["subjects_filter"] = subjects_filter
        if deleted_details:
            payload["deleted_details"] = True
        subjects: dict[str, int] = {}
        offset = 0
        while True:
            resp = await self._js._api(f"STREAM.INFO.{self.name}",
                                       {**payload, "offset": offset} if payload else None)
            info = StreamInfo.from_json(resp)
            page = resp.get("state", {}).get("subjects") or {}
            subjects.update(page)
            total = resp.get("total", 0)
            offset += len(page)
            if not subjects_filter or not page or offset >= total:
                break
        if subjects_filter:
            info.state.subjects = subjects
        self._info = info
        return info

    async def purge(self, subject: str | None = None, sequence: int | None = None,
                    keep: int | None = None) -> int:
        """Remove messages (all, by subject, below ``sequence`` or all but ``keep``);
        returns how many were purged."""
        if sequence is not None and keep is not None:
            raise errors.InvalidArgumentError("purge: give sequence or keep, not both")
        payload: dict[str, Any] = {}
        if subject:
            payload["filter"] = names.filter_subject(subject)
        if sequence is not None:
            payload["seq"] = int(sequence)
        if keep is not None:
            payload["keep"] = int(keep)
        resp = await self._js._api(f"STREAM.PURGE.{self.name}", payload or None)
        return int(resp.get("purged", 0))

    def _direct(self) -> bool:
        return bool(self._info.config.allow_direct)

    @direct
    async def _direct_get(self, payload: dict[str, Any] | None, subject: str | None = None
                          ) -> RawStreamMsg:
        import json
        suffix = f"DIRECT.GET.{self.name}" + (f".{subject}" if subject else "")
        body = json.dumps(payload).encode() if payload else b""
        js = self._js
        data, hdr = await js._mux.request(js.api_subject(suffix), body, js.timeout)
        st = status_of(hdr) if hdr else None
        if st is not None:
            if st[0] == 404:
                what = errors._message_about(payload) or (
                    f" (last message for subject {subject!r})" if subject else "")
                e = errors.MsgNotFoundError(
                    f"message not found in stream {self.name!r}{what}", code=404)
                e.stream = self.name
                raise e
            if st[0] == 503:  # nobody serves direct gets for this name: the stream is gone
                raise errors.StreamNotFoundError(
                    f"stream {self.name!r} not found (no responders for direct get)", code=503)
            raise errors.APIError(f"direct get failed: {st[0]} {st[1]}", code=st[0])
        return raw_from_direct(data, hdr)

    @direct
    async def get_msg(self, seq: int) -> RawStreamMsg:
        """The message stored at stream sequence ``seq`` (MsgNotFoundError if none)."""
        if self._direct():
            return await self._direct_get({"seq": int(seq)})
        resp = await self._js._api(f"STREAM.MSG.GET.{self.name}", {"seq": int(seq)})
        return raw_from_api(resp["message"])

    @direct
    async def get_last_msg_for_subject(self, subject: str) -> RawStreamMsg:
        """The newest message on ``subject`` (wildcards allowed)."""
        names.filter_subject(subject)
        if self._direct():
            return await self._direct_get(None, subject)
        resp = await self._js._api(f"STREAM.MSG.GET.{self.name}", {"last_by_subj": subject})
        return raw_from_api(resp["message"])

    @direct
    async def delete_msg(self, seq: int) -> None:
        """Mark a message deleted (its bytes are not overwritten)."""
        await self._js._api(f"STREAM.MSG.DELETE.{self.name}",
                            {"seq": int(seq), "no_erase": True})

    async def secure_delete_msg(self, seq: int) -> None:
        """Delete a message and overwrite its bytes on disk."""
        await self._js._api(f"STREAM.MSG.DELETE.{self.name}", {"seq": int(seq)})
