"""Key-value buckets on JetStream, laid out exactly as the official clients lay them out.

A bucket ``b`` is the stream ``KV_b`` capturing ``$KV.b.>``; a key ``k`` is the subject
``$KV.b.k`` and its revision the stream sequence. Deletes and purges are marker messages with
a ``KV-Operation`` header (``DEL`` / ``PURGE``, the latter with a subject rollup); since
nats-server 2.11 the server itself writes markers with ``Nats-Marker-Reason`` when keys expire
(buckets created with ``limit_marker_ttl``). Buckets written here are read by nats.go,
nats-py and the ``nats`` CLI, and the other way round.

Watchers ride on :class:`~jsdata.client.watch.OrderedFeed`; reads use the stream's direct get.
The blocking ``jsdata.KeyValue`` adds the mapping protocol (``kv["k"]``) from
``kv/_blocking.py``; bucket management is in ``kv/manager.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import (
    Generator,
    Iterable,
    Mapping,
    Sequence,
)
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .. import errors
from .._util import seconds
from ..client import names
from ..client._conn import status_of
from ..client._portable import direct
from ..client.config import (
    StoreCompression,
)
from ..client.headers import decode_headers
from ..client.message import Data, Msg, ns_to_datetime, to_bytes
from ..client.stream import Stream
from ..client.times import parse_time
from ..client.watch import OrderedFeed
from .codecs import CodecSpec, bulk_frame, resolve_codec, with_meta
from .entry import (
    _DEL,
    _PUT,
    DEFAULT_PURGE_DELETES_OLDER_THAN,
    KV_OP,
    ROLLUP,
    KeyValueEntry,
    KeyValueStatus,
    _op_of,
    _op_of_raw,
    _strip_kv,
)
from .views import AsyncKeyValueDict

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

    from ..client.jetstream import JetStream

__all__ = ["KeyLister", "KeyValue", "KeyWatcher"]

_WRONG_LAST_SEQUENCE = (10071, 10164)  # 10164: replicated streams
_MSG_TOO_LARGE = 10054
_BULK_WINDOW = 2048  # async puts in flight during update_many


# ---------------------------------------------------------------------------------------------
# The bucket


class KeyValue:
    """A key-value bucket. Obtain it from ``js.key_value(bucket)`` or ``js.create_key_value``.

    Reads use the stream's direct get; watchers are ordered push consumers. The blocking
    ``jsdata.KeyValue`` is also a mapping of keys to ``bytes`` (``kv["k"]``).
    """

    def __init__(self, js: JetStream, stream: Stream) -> None:
        self._js = js
        self._stream = stream
        cfg = stream.cached_info().config
        self._stream_name: str = cfg.name or ""
        self._name = _strip_kv(self._stream_name)
        self._pre = f"$KV.{self._name}."
        put_pre: str | None = None
        use_js_prefix = js.prefix != "$JS.API"  # domains / API prefixes: as nats.go does
        m = cfg.mirror
        if m is not None and m.name:
            origin = _strip_kv(m.name)
            # A mirror stores the origin's subjects; writes go to the origin bucket.
            self._pre = f"$KV.{origin}."
            if m.external is not None and m.external.api:
                use_js_prefix = False
                put_pre = f"{m.external.api}.$KV.{origin}."
            else:
                put_pre = self._pre
        base = put_pre or self._pre
        self._put_pre = f"{js.prefix}.{base}" if use_js_prefix else base
        self._plen = len(self._pre)

    # -- descriptive ---------------------------------------------------------------------------
    @property
    def bucket(self) -> str:
        """The bucket name."""
        return self._name

    @property
    def stream_name(self) -> str:
        """The name of the backing stream (``KV_<bucket>``)."""
        return self._stream_name

    @property
    def stream(self) -> Stream:
        """The backing stream."""
        return self._stream

    def _max_value(self) -> int | None:
        mx = self._stream.cached_info().config.max_msg_size
        return mx if mx and mx > 0 else None

    def __repr__(self) -> str:
        info = self._stream.cached_info()
        c, st = info.config, info.state
        ttl = f" ttl={float(c.max_age):g}s" if c.max_age else ""
        return (f"<KeyValue {self._name!r} history={c.max_msgs_per_subject}{ttl} "
                f"values={st.messages} bytes={st.bytes} (cached)>")

    def _repr_html_(self) -> str:
        """The cached bucket info as bounded, escaped HTML (no network call)."""
        from .._repr import field_table, fmt_duration, fmt_limit, human_bytes
        info = self._stream.cached_info()
        c, st = info.config, info.state
        rows: list[tuple[str, Any]] = [
            ("stream", self._stream_name), ("history", c.max_msgs_per_subject),
            ("ttl", fmt_duration(c.max_age) if c.max_age else "none"),
            ("max value size", fmt_limit(c.max_msg_size, "bytes")),
            ("max bytes", fmt_limit(c.max_bytes, "bytes")),
            ("storage", str(c.storage)), ("replicas", c.num_replicas),
            ("compressed", c.compression not in (None, StoreCompression.NONE)),
            ("limit marker ttl", fmt_duration(c.subject_delete_marker_ttl)
             if c.subject_delete_marker_ttl else "none"),
            ("mirror of", c.mirror.name if c.mirror is not None else None),
            ("values", f"{st.messages:,}"), ("bytes", human_bytes(st.bytes)),
            ("description", c.description)]
        return field_table(f"KeyValue {self._name}", rows,
                           subtitle="cached info; kv.status() refreshes")

    # -- writing -------------------------------------------------------------------------------
    def _prepare(self, key: str, value: Data | None) -> tuple[str, bytes]:
        key = names.kv_key(key)
        payload = to_bytes(value)
        mx = self._max_value()
        if mx is not None and len(payload) > mx:
            raise errors.ValueTooLargeError(
                f"value for key {key!r} is {len(payload)} bytes; bucket {self._name!r} allows "
                f"at most {mx} bytes (max_value_size)")
        return key, payload

    @direct
    async def _check_ttl(self, ttl: float | timedelta | None) -> None:
        if ttl is None:
            return
        if not self._stream.cached_info().config.allow_msg_ttl:
            await self._stream.info()  # the bucket may have been updated since
            if not self._stream.cached_info().config.allow_msg_ttl:
                raise errors.LimitMarkerTTLNotEnabledError(
                    f"per-key TTL needs a bucket created with limit_marker_ttl "
                    f"(bucket {self._name!r})")

    @direct
    async def _send(self, key: str, payload: bytes, *, headers: dict[str, str] | None = None,
                    expect: int | None = None, ttl: float | timedelta | None = None,
                    what: str = "put") -> int:
        try:
            ack = await self._js.publish(self._put_pre + key, payload, headers=headers,
                                         expect_last_sequence_per_subject=expect, ttl=ttl)
        except errors.JetStreamError as e:
            raise self._map_write_error(e, key, what) from None
        return ack.sequence

    def _map_write_error(self, e: errors.JetStreamError, key: str,
                         what: str) -> errors.JetStreamError:
        if e.err_code in _WRONG_LAST_SEQUENCE:
            msg = ("key exists" if what == "create" else "key revision mismatch")
            return errors.KeyExistsError(f"{what} {key!r} in bucket {self._name!r}: {msg} "
                                         f"({e.description})", code=e.code, err_code=e.err_code)
        if e.err_code == _MSG_TOO_LARGE:
            return errors.ValueTooLargeError(
                f"{what} {key!r} in bucket {self._name!r}: {e.description}", code=e.code,
                err_code=e.err_code)
        return e

    @direct
    async def put(self, key: str, value: Data | None) -> int:
        """Store ``value`` (bytes or str) under ``key``; returns the new revision."""
        key, payload = self._prepare(key, value)
        return await self._send(key, payload)

    @direct
    async def put_string(self, key: str, value: str) -> int:
        """Store a string (UTF-8) under ``key``; returns the new revision."""
        return await self.put(key, value)

    @direct
    async def create(self, key: str, value: Data | None,
                     ttl: float | timedelta | None = None) -> int:
        """Store ``value`` only if ``key`` has no value (absent, deleted or purged);
        KeyExistsError otherwise. ``ttl`` (seconds) needs a bucket with limit_marker_ttl."""
        key, payload = self._prepare(key, value)
        await self._check_ttl(ttl)
        try:
            return await self._send(key, payload, expect=0, ttl=ttl, what="create")
        except errors.KeyExistsError as first:
            try:
                entry = await self._entry(key, None)
            except errors.KeyNotFoundError:
                raise first from None
            if entry.operation is _PUT:
                raise first from None
            # Over a delete/purge marker: compare-and-set against the marker's revision.
            return await self._send(key, payload, expect=entry.revision, ttl=ttl,
                                    what="create")

    @direct
    async def update(self, key: str, value: Data | None, last_revision: int) -> int:
        """Store ``value`` only if ``key``'s latest revision is ``last_revision``
        (compare-and-set); KeyExistsError otherwise."""
        key, payload = self._prepare(key, value)
        return await self._send(key, payload, expect=int(last_revision), what="update")

    @direct
    async def delete(self, key: str, last_revision: int | None = None) -> None:
        """Place a delete marker (history is kept); with ``last_revision``, only if that is
        the latest revision (KeyExistsError otherwise)."""
        key = names.kv_key(key)
        await self._send(key, b"", headers={KV_OP: "DEL"},
                         expect=int(last_revision) if last_revision else None, what="delete")

    @direct
    async def purge(self, key: str, ttl: float | timedelta | None = None,
                    last_revision: int | None = None) -> None:
        """Place a purge marker and remove every earlier revision of ``key``; ``ttl`` makes
        the marker itself expire (needs limit_marker_ttl)."""
        key = names.kv_key(key)
        await self._check_ttl(ttl)
        await self._send(key, b"", headers={KV_OP: "PURGE", ROLLUP: "sub"},
                         expect=int(last_revision) if last_revision else None, ttl=ttl,
                         what="purge")

    async def update_many(self, mapping: Mapping[str, Data] | Iterable[tuple[str, Data]],
                          *, atomic: bool = False) -> dict[str, int]:
        """Put many keys at once, pipelined (async publishes, then wait for every ack);
        returns each key's new revision. Everything is validated before anything is sent.

        ``atomic=True`` writes them as one atomic batch (nats-server 2.12+, the bucket's
        stream with ``allow_atomic``; at most 1000 keys): all keys change, or none."""
        pairs = mapping.items() if isinstance(mapping, Mapping) else mapping
        prepared = [self._prepare(k, v) for k, v in pairs]
        if atomic:
            return await self._update_atomic(prepared)
        js = self._js
        window = max(1, min(_BULK_WINDOW, js._pa_max // 2))
        inflight: deque[tuple[str, Any]] = deque()
        revs: dict[str, int] = {}
        failed: list[tuple[str, errors.JetStreamError]] = []

        async def settle(one: tuple[str, Any]) -> None:
            k, fut = one
            try:
                revs[k] = (await fut).sequence
            except errors.JetStreamError as e:
                failed.append((k, e))

        pre = self._put_pre
        try:
            for key, payload in prepared:
                if len(inflight) >= window:
                    await settle(inflight.popleft())
                inflight.append((key, await js._publish_async_raw(pre + key, payload, b"")))
        finally:
            while inflight:
                await settle(inflight.popleft())
        if failed:
            k, e = failed[0]
            err = self._map_write_error(e, k, "put")
            err.description = f"{len(failed)} of {len(prepared)} puts failed; first: {err}"
            raise err
        return revs

    async def _update_atomic(self, prepared: list[tuple[str, bytes]]) -> dict[str, int]:
        from ..client.atomic import MAX_ATOMIC_BATCH
        if not prepared:
            return {}
        if len(prepared) > MAX_ATOMIC_BATCH:
            raise errors.InvalidArgumentError(
                f"an atomic update_many holds at most {MAX_ATOMIC_BATCH} keys, got "
                f"{len(prepared)}")
        if not self._stream.cached_info().config.allow_atomic:
            await self._stream.info()
            if not self._stream.cached_info().config.allow_atomic:
                raise errors.InvalidConfigError(
                    f"bucket {self._name!r}: atomic update_many needs allow_atomic on its "
                    f"stream {self._stream_name!r} (js.update_stream with allow_atomic=True)")
        b = await self._js.batch_publisher()
        pre = self._put_pre
        try:
            for key, payload in prepared[:-1]:
                await b.add(pre + key, payload)
            last_key, last_payload = prepared[-1]
            ack = await b.commit(pre + last_key, last_payload)
        except errors.JetStreamError as e:
            raise self._map_write_error(e, prepared[0][0], "put") from None
        first = ack.sequence - len(prepared) + 1  # an atomic batch is stored contiguously
        revs: dict[str, int] = {}
        for i, (key, _) in enumerate(prepared):
            revs[key] = first + i
        return revs

    # -- reading -------------------------------------------------------------------------------
    @direct
    async def _entry(self, key: str, revision: int | None) -> KeyValueEntry:
        """The stored revision (markers included); KeyNotFoundError when there is none."""
        subj = self._pre + key
        if not revision and self._stream.cached_info().config.allow_direct:
            return await self._direct_last(key, subj)
        try:
            if not revision:
                m = await self._stream.get_last_msg_for_subject(subj)
            else:
                m = await self._stream.get_msg(int(revision))
        except errors.MsgNotFoundError:
            raise errors.KeyNotFoundError(
                f"key {key!r} not found in bucket {self._name!r}") from None
        except errors.StreamNotFoundError:
            raise errors.BucketNotFoundError(f"bucket {self._name!r} not found") from None
        except errors.APIError as e:
            if e.code == 503:
                raise errors.BucketNotFoundError(
                    f"bucket {self._name!r} not found (no responders)") from None
            raise
        if m.subject != subj:
            raise errors.KeyNotFoundError(
                f"revision {revision} of bucket {self._name!r} is not key {key!r}")
        op = _op_of(m.headers) if m.headers else _PUT
        return KeyValueEntry(self._name, key, m.data, m.sequence, m.time, 0, op)

    @direct
    async def _direct_last(self, key: str, subj: str) -> KeyValueEntry:
        """The latest revision of ``key`` by direct get (the hot read path)."""
        js = self._js
        data, hdr = await js._mux.request(
            f"{js.prefix}.DIRECT.GET.{self._stream_name}.{subj}", b"", js.timeout)
        st = status_of(hdr) if hdr else None
        if st is not None or not hdr:
            code = st[0] if st is not None else 0
            if code == 404:
                raise errors.KeyNotFoundError(
                    f"key {key!r} not found in bucket {self._name!r}")
            if code == 503:
                raise errors.BucketNotFoundError(
                    f"bucket {self._name!r} not found (no responders)", code=503)
            raise errors.APIError(f"direct get of {key!r} failed: {st}", code=code or None)
        h = decode_headers(hdr)
        return KeyValueEntry(self._name, key, data, int(h.get("Nats-Sequence", "0")),
                             parse_time(h.get("Nats-Time-Stamp")), 0, _op_of(h))

    @direct
    async def get(self, key: str, revision: int | None = None) -> KeyValueEntry:
        """The latest entry of ``key`` (or the given revision). KeyNotFoundError if absent,
        KeyDeletedError if deleted or purged (both are KeyErrors)."""
        key = names.kv_key(key)
        e = await self._entry(key, revision)
        if e.operation is not _PUT:
            err = errors.KeyDeletedError(
                f"key {key!r} in bucket {self._name!r} was "
                f"{'deleted' if e.operation is _DEL else 'purged'} (revision {e.revision})")
            err.entry = e  # type: ignore[attr-defined]
            raise err
        return e

    def _entry_from_msg(self, m: Msg) -> KeyValueEntry:
        toks = m.reply.split(".")
        if len(toks) == 9:
            sseq, ts, pending = toks[5], toks[7], toks[8]
        else:
            sseq, ts, pending = toks[7], toks[9], toks[10]
        return KeyValueEntry(self._name, m.subject[self._plen:], m.data, int(sseq),
                             ns_to_datetime(int(ts)), int(pending), _op_of_raw(m._hdr))

    def _filters(self, keys: str | Sequence[str] | None) -> list[str]:
        pats = [keys] if isinstance(keys, str) else list(keys or [])
        if not pats:
            pats = [">"]
        for p in pats:
            names.kv_key(p, allow_wildcards=True)
        return [self._pre + p for p in pats]

    def _feed(self, filters: list[str], deliver_policy: str, *, headers_only: bool = False,
              start: int | None = None, mark_initial: bool = True) -> OrderedFeed:
        return OrderedFeed(self._js, self._stream_name, filter_subjects=filters,
                           deliver_policy=deliver_policy, opt_start_seq=start,
                           headers_only=headers_only, mark_initial=mark_initial)

    async def _start(self, feed: OrderedFeed) -> OrderedFeed:
        try:
            return await feed.start()
        except errors.StreamNotFoundError:
            raise errors.BucketNotFoundError(f"bucket {self._name!r} not found") from None

    async def _collect(self, filters: list[str], deliver_policy: str, *,
                       headers_only: bool = False) -> list[KeyValueEntry]:
        """Every entry the feed delivers before its initial-values marker."""
        feed = await self._start(self._feed(filters, deliver_policy, headers_only=headers_only))
        out: list[KeyValueEntry] = []
        conv = self._entry_from_msg
        try:
            while True:
                items = await feed.next_many()
                if not items:
                    return out
                for m in items:
                    if m is None:
                        return out
                    out.append(conv(m))
        finally:
            await feed.stop()

    async def _latest(self, filters: list[str] | None, headers_only: bool
                      ) -> list[KeyValueEntry]:
        """The latest entry of every key matching ``filters`` (markers included). A key
        can be delivered twice when writers replace values during the replay: last wins."""
        entries = await self._collect(filters or [self._pre + ">"], "last_per_subject",
                                      headers_only=headers_only)
        return list({e.key: e for e in entries}.values())

    async def history(self, key: str) -> list[KeyValueEntry]:
        """Every stored revision of ``key`` (markers included), oldest first;
        KeyNotFoundError when there is none. ``key`` may be a wildcard pattern."""
        entries = await self._collect(self._filters(key), "all")
        if not entries:
            raise errors.KeyNotFoundError(f"key {key!r} not found in bucket {self._name!r}")
        return entries

    def list_keys(self, *filters: str) -> KeyLister:
        """The live keys (optionally only those matching the wildcard ``filters``), filtered
        on the server; an async iterator (``await`` it for a list)."""
        return KeyLister(self, self._filters(list(filters)))

    def keys(self, *filters: str) -> KeyLister:
        """Alias of :meth:`list_keys`."""
        return self.list_keys(*filters)

    async def _key_list(self, filters: list[str] | None = None) -> list[str]:
        return [e.key for e in await self._latest(filters, True) if e.operation is _PUT]

    async def watch(self, keys: str | Sequence[str] = ">", *, include_history: bool = False,
                    ignore_deletes: bool = False, meta_only: bool = False,
                    updates_only: bool = False,
                    resume_from_revision: int | None = None) -> KeyWatcher:
        """Watch keys matching ``keys`` (a pattern or a list of them): first the current
        entries (every revision with ``include_history``), then one ``None``, then live
        updates. ``updates_only`` skips the current entries (and the ``None``)."""
        if include_history and updates_only:
            raise errors.InvalidArgumentError(
                "include_history cannot be combined with updates_only")
        filters = self._filters(keys)
        policy = "all" if include_history else "last_per_subject"
        start = None
        if updates_only:
            policy = "new"
        if resume_from_revision:
            policy, start = "by_start_sequence", int(resume_from_revision)
        feed = await self._start(self._feed(filters, policy, headers_only=meta_only,
                                            start=start, mark_initial=not updates_only))
        return KeyWatcher(self, feed, ignore_deletes)

    async def watch_all(self, *, include_history: bool = False, ignore_deletes: bool = False,
                        meta_only: bool = False, updates_only: bool = False,
                        resume_from_revision: int | None = None) -> KeyWatcher:
        """Watch every key of the bucket (see :meth:`watch`)."""
        return await self.watch(">", include_history=include_history,
                                ignore_deletes=ignore_deletes, meta_only=meta_only,
                                updates_only=updates_only,
                                resume_from_revision=resume_from_revision)

    async def purge_deletes(self, older_than: float | timedelta | None = None) -> None:
        """Remove delete/purge markers and the revisions they hide. Markers younger than
        ``older_than`` seconds (None: 30 minutes, as nats.go) are kept, only the data behind
        them is removed; ``older_than <= 0`` removes every marker."""
        thr = DEFAULT_PURGE_DELETES_OLDER_THAN if older_than is None else seconds(older_than)
        markers = [e for e in await self._latest(None, True) if e.operation is not _PUT]
        limit = time.time() - thr
        for i in range(0, len(markers), 64):
            await asyncio.gather(*(
                self._stream.purge(
                    subject=self._pre + e.key,
                    keep=1 if thr > 0 and e.created is not None
                    and e.created.timestamp() > limit else None)
                for e in markers[i:i + 64]))

    async def status(self) -> KeyValueStatus:
        """Fresh status of the bucket (also refreshes the cached info used by repr)."""
        try:
            info = await self._stream.info()
        except errors.StreamNotFoundError:
            raise errors.BucketNotFoundError(f"bucket {self._name!r} not found") from None
        return KeyValueStatus.from_info(info, self._name)

    # -- mapping helpers (shared by the blocking dunders and the dict views) -------------------
    @direct
    async def _value_of(self, key: str) -> bytes:
        return (await self.get(key)).value

    @direct
    async def _has(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            await self.get(key)
        except errors.InvalidKeyError:
            return False
        except KeyError:
            return False
        return True

    @direct
    async def _delete_existing(self, key: str) -> None:
        await self.get(key)  # KeyError when missing or deleted, as dict's del
        await self.delete(key)

    async def _snapshot(self, filters: list[str] | None = None, headers_only: bool = False
                        ) -> list[KeyValueEntry]:
        return [e for e in await self._latest(filters, headers_only) if e.operation is _PUT]

    def as_dict(self, codec: CodecSpec = "json") -> AsyncKeyValueDict:
        """A dict-like view with async methods whose values go through ``codec``
        (``"bytes"``, ``"str"``, ``"json"``, ``"msgpack"``, an object with encode/decode or
        an ``(encode, decode)`` pair). The blocking API returns a real MutableMapping."""
        return AsyncKeyValueDict(self, codec)

    async def to_pandas(self, codec: CodecSpec = "json",
                        keys: str | Sequence[str] | None = None) -> pd.DataFrame:
        """A DataFrame of the live keys (optionally only those matching ``keys``), index
        ``key``: JSON objects expand to columns, other values go to a ``value`` column; plus
        ``_revision`` and ``_created``."""
        import pandas as pd  # type: ignore[import-untyped]
        _, _, dec = resolve_codec(codec)
        entries = await self._snapshot(self._filters(keys) if keys else None)
        entries.sort(key=lambda e: e.key)
        index = pd.Index([e.key for e in entries], name="key", dtype=object)
        df = await bulk_frame(codec, [e.value for e in entries], index)
        if df is not None:  # every value a row: the DataFrame codec's bulk decoder read them
            return with_meta(df, entries, index)
        values = []
        for e in entries:
            try:
                values.append(dec(e.value))
            except Exception as ex:  # noqa: BLE001 - any codec failure names the key
                raise errors.DecodeError(
                    f"bucket {self._name!r}: cannot decode key {e.key!r} (revision "
                    f"{e.revision}): {ex}", sequence=e.revision, subject=self._pre + e.key
                ) from None
        if values and all(isinstance(v, dict) for v in values):
            df = pd.DataFrame.from_records(values, index=index)
        else:
            df = pd.DataFrame({"value": pd.Series(values, index=index, dtype=object)})
        return with_meta(df, entries, index)


class KeyLister:
    """The keys of one server-filtered snapshot: ``async for key in kv.list_keys()`` or
    ``await kv.list_keys()`` for a list (blocking: a plain iterator)."""

    def __init__(self, kv: KeyValue, filters: list[str]) -> None:
        self._kv = kv
        self._filters = filters
        self._keys: list[str] | None = None
        self._i = 0

    def __repr__(self) -> str:
        return f"<KeyLister {self._kv.bucket} filters={self._filters}>"

    async def _load(self) -> list[str]:
        if self._keys is None:
            self._keys = await self._kv._key_list(self._filters)
        return self._keys

    def __aiter__(self) -> KeyLister:
        return self

    async def __anext__(self) -> str:
        keys = await self._load()
        if self._i >= len(keys):
            raise StopAsyncIteration
        self._i += 1
        return keys[self._i - 1]

    async def _next_many(self) -> list[str]:
        keys = await self._load()
        out = keys[self._i:]
        self._i = len(keys)
        return out

    async def _all(self) -> list[str]:
        return list(await self._load())

    def __await__(self) -> Generator[Any, None, list[str]]:
        return self._all().__await__()


class KeyWatcher:
    """Entries of watched keys: the current ones, one ``None``, then live updates.

    An async iterator (blocking: an iterator); ``await w.next(timeout)``; ``stop()`` ends
    iteration; a context manager that stops on exit.
    """

    def __init__(self, kv: KeyValue, feed: OrderedFeed, ignore_deletes: bool) -> None:
        self._kv = kv
        self._feed = feed
        self._ignore_deletes = ignore_deletes

    def __repr__(self) -> str:
        state = "stopped" if self._feed.stopped else "watching"
        return f"<KeyWatcher {self._kv.bucket} {state}>"

    @property
    def stopped(self) -> bool:
        """True once stopped (or failed)."""
        return self._feed.stopped

    def _bucket_error(self, e: errors.StreamNotFoundError) -> errors.JetStreamError:
        return errors.BucketNotFoundError(f"bucket {self._kv.bucket!r} not found: {e}")

    async def _next(self, timeout: float | None) -> KeyValueEntry | None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                m = await self._feed.next(left)
            except errors.StreamNotFoundError as err:
                raise self._bucket_error(err) from None
            if m is None:
                return None
            entry = self._kv._entry_from_msg(m)
            if self._ignore_deletes and entry.operation is not _PUT:
                continue
            return entry

    async def next(self, timeout: float | None = None) -> KeyValueEntry | None:
        """The next entry (``None`` once, after the initial values). JetStreamTimeoutError
        after ``timeout`` seconds; MsgIteratorClosedError once stopped."""
        try:
            return await self._next(timeout)
        except StopAsyncIteration:
            raise errors.MsgIteratorClosedError("the watcher is stopped") from None

    def __aiter__(self) -> KeyWatcher:
        return self

    async def __anext__(self) -> KeyValueEntry | None:
        return await self._next(None)

    async def _next_many(self) -> list[KeyValueEntry | None]:
        conv = self._kv._entry_from_msg
        while True:
            try:
                items = await self._feed.next_many()
            except errors.StreamNotFoundError as e:
                raise self._bucket_error(e) from None
            if not items:
                return []
            out = [None if m is None else conv(m) for m in items]
            if self._ignore_deletes:
                out = [e for e in out if e is None or e.operation is _PUT]
            if out:
                return out

    async def stop(self) -> None:
        """Stop watching (deletes the consumer); iteration ends."""
        await self._feed.stop()

    async def __aenter__(self) -> KeyWatcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
