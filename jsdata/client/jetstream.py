"""The core asyncio JetStream context: opening the connection and stream management.

``JetStream`` is the core's composition (as nats.go's ``JetStream`` interface): the
``Context`` plumbing, consumer management and publishing. The user-facing
``jsdata.aio.JetStream`` adds key-value, object stores and DataFrames on top
(``jsdata._api``); handles are made through ``_stream_class`` and the consumer manager's
class attributes, which the assembled class points at its own handle classes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

from .. import errors
from .._util import seconds
from . import _connect, _diff, names
from ._conn import Connection
from ._connect import redact
from ._model import make_config
from ._portable import direct
from .atomic import AtomicPublishMethods
from .config import StreamConfig
from .connect_options import DEFAULT_RESUME_WINDOW, DEFAULT_TIMEOUT, ConnectOptions
from .consumer_manager import ConsumerManager
from .counters import CounterMethods
from .fast import FastPublishMethods
from .info import AccountInfo, StreamInfo
from .publish import Publisher
from .stream import Stream

J = TypeVar("J", bound="JetStream")


class JetStream(ConsumerManager, Publisher, AtomicPublishMethods, FastPublishMethods,
                CounterMethods):
    """A JetStream context on one connection: streams, consumers, publishing.

    Create it with :func:`jsdata.aio.connect`; use ``async with`` or :meth:`close`.
    """

    _stream_class: ClassVar[type[Stream]] = Stream

    def __init__(self, nc: Connection, *, domain: str | None = None,
                 api_prefix: str | None = None, timeout: float | timedelta = DEFAULT_TIMEOUT,
                 resume_window: float | timedelta = DEFAULT_RESUME_WINDOW,
                 publish_async_max_pending: int = 4000, owns_connection: bool = True,
                 display_url: str = "") -> None:
        super().__init__(nc, domain=domain, api_prefix=api_prefix, timeout=timeout,
                         resume_window=resume_window)
        self._owns_connection = owns_connection
        self._display_url = display_url
        self._closed = False
        self._init_publisher(publish_async_max_pending)

    def __repr__(self) -> str:
        state = "closed" if self._closed or self.nc.is_closed else "connected"
        return f"<JetStream {self._display_url or 'nats'} {state}>"

    def _repr_html_(self) -> str:
        """The connection for a notebook: server (credentials redacted), state, TLS, API
        prefix or domain, server version. Never a secret."""
        from .. import _repr
        state = "closed" if self._closed or self.nc.is_closed else (
            "connected" if self.nc.is_connected else "reconnecting")
        info = self.nc.server_info
        tls = _connect.uses_tls(self.nc) if state != "closed" else None
        rows = [("server", self._display_url or "nats"), ("state", state),
                ("TLS", None if tls is None else ("yes" if tls else "no")),
                ("domain", self.domain), ("API prefix", self.prefix),
                ("server version", info.get("version")), ("server name", info.get("server_name"))]
        return _repr.field_table("JetStream", rows)

    # -- lifecycle -----------------------------------------------------------------------------
    async def close(self) -> None:
        """Stop async publishing, close consumers' subscriptions and the connection.

        Calls still waiting for a reply (awaited publishes, API requests, KV gets, on any
        task or calling thread) fail at once with ConnectionClosedError rather than waiting
        out their timeout."""
        if self._closed:
            return
        self._closed = True
        await self._close_publisher()
        await self._cancel_tasks()
        await self._mux.close()
        if self._owns_connection and not self.nc.is_closed:
            await self.nc.close_quietly()

    async def __aenter__(self) -> JetStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- streams -------------------------------------------------------------------------------
    async def create_stream(self, config: StreamConfig | None = None, /,
                            **fields: Any) -> Stream:
        """Create a stream; identical config is a no-op, a different one raises
        :class:`~jsdata.errors.StreamNameAlreadyInUseError`."""
        cfg = make_config(StreamConfig, config, **fields)
        names.stream_name(cfg.name)
        body = cfg.to_json()
        try:
            resp = await self._api(f"STREAM.CREATE.{cfg.name}", body)
        except errors.StreamNameAlreadyInUseError as e:
            await self._name_differences(e, body)
            raise
        except errors.APIError as e:
            await self._name_overlaps(e, body)
            raise
        return self._stream_class(self, StreamInfo.from_json(resp))

    async def _name_differences(self, e: errors.JetStreamError, wanted: dict[str, Any]) -> None:
        """Add the fields that differ from the existing stream to ``e``'s message."""
        try:
            have = await self._api(f"STREAM.INFO.{wanted['name']}")
        except errors.JetStreamError:
            return
        diff = _diff.differing_fields(wanted, have.get("config") or {})
        if diff:
            e.description += _diff.describe(diff)
            e.args = (e.description,)
            e.differences = diff  # type: ignore[attr-defined]

    async def _name_overlaps(self, e: errors.APIError, wanted: dict[str, Any]) -> None:
        """For "subjects overlap with an existing stream", say which streams and subjects."""
        if e.err_code != 10065:
            return
        clashes = []
        for subj in wanted.get("subjects") or []:
            try:
                found = await self._api("STREAM.NAMES", {"subject": subj})
            except errors.JetStreamError:
                return
            others = [n for n in found.get("streams") or [] if n != wanted.get("name")]
            if others:
                clashes.append(f"{subj!r} (captured by {', '.join(map(repr, others))})")
        if clashes:
            e.description += "; overlapping subjects: " + ", ".join(clashes)
            e.args = (e.description,)

    async def update_stream(self, config: StreamConfig | None = None, /,
                            **fields: Any) -> Stream:
        """Update an existing stream's configuration."""
        cfg = make_config(StreamConfig, config, **fields)
        names.stream_name(cfg.name)
        body = cfg.to_json()
        try:
            resp = await self._api(f"STREAM.UPDATE.{cfg.name}", body)
        except errors.StreamNotFoundError:
            raise
        except errors.APIError as e:
            await self._name_overlaps(e, body)
            raise
        return self._stream_class(self, StreamInfo.from_json(resp))

    async def create_or_update_stream(self, config: StreamConfig | None = None, /,
                                      **fields: Any) -> Stream:
        """Update the stream, creating it when it does not exist."""
        cfg = make_config(StreamConfig, config, **fields)
        try:
            return await self.update_stream(cfg)
        except errors.StreamNotFoundError:
            return await self.create_stream(cfg)

    @direct
    async def stream(self, name: str) -> Stream:
        """A handle on an existing stream (raises StreamNotFoundError)."""
        names.stream_name(name)
        resp = await self._api(f"STREAM.INFO.{name}")
        return self._stream_class(self, StreamInfo.from_json(resp))

    @direct
    async def stream_info(self, name: str, subjects_filter: str | None = None,
                          deleted_details: bool = False) -> StreamInfo:
        """The stream's info (with per-subject counts for ``subjects_filter``)."""
        s = await self.stream(name)
        if subjects_filter is None and not deleted_details:
            return s.cached_info()
        return await s.info(subjects_filter, deleted_details)

    @direct
    async def delete_stream(self, name: str) -> None:
        """Delete a stream and all its messages and consumers."""
        names.stream_name(name)
        await self._api(f"STREAM.DELETE.{name}")

    async def list_streams(self, subject: str | None = None) -> AsyncIterator[StreamInfo]:
        """Every stream's info (optionally only streams capturing ``subject``)."""
        payload = {"subject": subject} if subject else {}
        async for it in self._paged("STREAM.LIST", "streams", payload):
            yield StreamInfo.from_json(it)

    async def stream_names(self, subject: str | None = None) -> AsyncIterator[str]:
        """Every stream name (optionally only streams capturing ``subject``)."""
        payload = {"subject": subject} if subject else {}
        async for it in self._paged("STREAM.NAMES", "streams", payload):
            yield it

    async def stream_name_by_subject(self, subject: str) -> str:
        """The name of the stream capturing ``subject`` (StreamNotFoundError if none)."""
        names.filter_subject(subject)
        resp = await self._api("STREAM.NAMES", {"subject": subject})
        found: Sequence[str] = resp.get("streams") or []
        if not found:
            raise errors.StreamNotFoundError(f"no stream captures subject {subject!r}")
        return found[0]

    async def account_info(self) -> AccountInfo:
        """Account usage and limits."""
        return AccountInfo.from_json(await self._api("INFO"))


async def open_context(cls: type[J], servers: str | Sequence[str], options: ConnectOptions,
                       **nats_options: Any) -> J:
    """Connect to ``servers`` as ``options`` say and return a started ``cls`` context on
    the connection; ``nats_options`` go to nats-py's ``connect`` as they are.

    The public :func:`jsdata.aio.connect` resolves the servers (JSDATA_URL / NATS_URL, the
    default embedded server, a nats context) and names the assembled class; what each option
    means is on :class:`~jsdata.client.connect_options.ConnectOptions`. Failures are
    :class:`~jsdata.errors.JetStreamConnectionError` subclasses that say what failed; no
    secret is ever in them.
    """
    o = options
    domain, api_prefix, tls_handshake_first = o.domain, o.api_prefix, o.tls_handshake_first
    if domain and api_prefix:
        raise errors.InvalidArgumentError("give domain or api_prefix, not both")
    server_list, url_secrets = [], []
    for u in _connect.split_servers(servers):
        full, found = _connect.check_url(u)
        server_list.append(full)
        url_secrets += found
    display = ",".join(redact(u) for u in server_list)
    t = seconds(o.timeout, DEFAULT_TIMEOUT)
    if t <= 0:
        raise errors.InvalidArgumentError(f"timeout must be > 0 seconds, not {t:g}")
    window = seconds(o.resume_window, DEFAULT_RESUME_WINDOW)
    if window < 0:
        raise errors.InvalidArgumentError(
            f"resume_window must be >= 0 seconds, not {window:g}")
    cred = _connect.credentials(user=o.user, password=o.password, token=o.token,
                                creds=o.creds, nkeys_seed=o.nkeys_seed, tls=o.tls,
                                url_secrets=url_secrets)
    opts: dict[str, Any] = {**cred.options, "name": o.name or "jsdata", "connect_timeout": t,
                            "allow_reconnect": True, "max_reconnect_attempts": -1,
                            "reconnect_time_wait": 0.5}
    if o.inbox_prefix is not None:
        opts["inbox_prefix"] = names.inbox_prefix(o.inbox_prefix)
    if tls_handshake_first:
        opts["tls_handshake_first"] = True
        opts.setdefault("tls", _connect.tls_context(True))

    async def _quiet(e: Exception) -> None:  # nats-py prints errors by default
        pass

    opts["error_cb"] = _quiet
    opts.update(nats_options)
    # nats-py retries the *initial* connect forever with max_reconnect_attempts=-1 (a wrong
    # password or a dead URL would hang): connect with a bounded attempt count, then switch
    # to the requested reconnect behaviour for the life of the connection.
    reconnect = {k: opts[k] for k in ("allow_reconnect", "max_reconnect_attempts")}
    connect_errors: list[BaseException] | None = []
    user_error_cb = opts["error_cb"]

    async def _error_cb(e: Exception) -> None:
        if connect_errors is not None:
            connect_errors.append(e)
        await user_error_cb(e)

    initial = {**opts, "allow_reconnect": False, "max_reconnect_attempts": 1,
               "error_cb": _error_cb}
    tls_wanted = initial.get("tls") is not None or any(
        u.lower().startswith(("tls://", "wss://")) for u in server_list)
    nc = Connection()
    js = cls(nc, domain=domain, api_prefix=api_prefix, timeout=t, resume_window=window,
             publish_async_max_pending=o.publish_async_max_pending, display_url=display)
    stage = ["connecting"]

    async def _establish() -> None:
        try:
            await nc.connect(servers=server_list, **initial)
        except Exception as e:  # nats-py raises several unrelated types here
            why: BaseException = e
            if _connect.no_servers(e) and connect_errors:
                why = connect_errors[-1]  # say why (refused, auth, ...), not just "no servers"
            raise _connect.classify(why, display, cred.method, tls=tls_wanted) from None
        if tls_wanted and _connect.uses_tls(nc) is False:
            raise errors.TLSError(
                f"the server at {display} does not offer TLS, but tls was asked for: not "
                "connecting in plain text")
        stage[0] = "checking JetStream"
        await js._mux.start()
        await _check_jetstream(js, display)

    try:
        await asyncio.wait_for(_establish(), t)
    except BaseException as e:
        await _connect.abort(nc)
        if isinstance(e, asyncio.TimeoutError):
            why = ""
            if connect_errors:
                last = _connect.classify(connect_errors[-1], display, cred.method,
                                         tls=tls_wanted)
                why = f"; last error: {last.description}"
            elif stage[0] == "connecting" and tls_wanted and not tls_handshake_first:
                why = ("; no INFO from the server (does it want tls_handshake_first=True?)")
            err: BaseException = errors.ConnectTimeoutError(
                f"could not connect to {display} within {t:g}s "
                f"(timed out while {stage[0]}){why}")
        elif isinstance(e, errors.JetStreamError):
            err = e
        elif isinstance(e, Exception):
            err = _connect.classify(e, display, cred.method, tls=tls_wanted)
        else:
            raise  # CancelledError, KeyboardInterrupt: as they are
        if isinstance(err, errors.JetStreamError):
            err.description = _connect.scrub(err.description, cred.secrets)
            err.args = (err.description,)
        raise err from None
    nc.keep_reconnecting(**reconnect)
    connect_errors = None
    return js


async def _check_jetstream(js: JetStream, display: str) -> None:
    """One account-info request: NoJetStreamError when nobody answers for JetStream here.

    Only "nobody serves the JetStream API here" fails: a user whose permissions do not allow
    ``$JS.API.INFO``, or an API error such as a cluster still electing its leader, still
    connects (JetStream's API is there). The deadline of connect bounds the wait.
    """
    where = f"domain {js.domain!r}" if js.domain else f"API prefix {js.prefix!r}"
    try:
        await js._api("INFO", timeout=3600)
    except errors.PermissionDeniedError as e:
        if e.operation == "subscribe":  # no replies could ever arrive: say so now
            raise errors.PermissionDeniedError(
                f"connected to {display}, but this user may not subscribe to the reply inbox "
                f"{e.subject!r}: JetStream replies need subscribe permission on "
                f"'{js.nc.inbox_prefix}.>'",
                subject=e.subject, operation="subscribe") from None
        return  # the server said no: JetStream's API is there
    except errors.JetStreamNotEnabledForAccountError:
        raise errors.NoJetStreamError(
            f"connected to {display}, but JetStream is not enabled for this account",
            code=503) from None
    except errors.JetStreamNotEnabledError:
        raise errors.NoJetStreamError(
            f"connected to {display}, but nothing answers the JetStream API there ({where}): "
            "JetStream is not enabled on the server, or for this domain", code=503) from None
    except errors.APIError:
        return  # e.g. "JetStream system temporarily unavailable" while a cluster elects
