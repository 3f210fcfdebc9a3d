"""The front door: the user-facing asyncio classes, assembled in one place.

nats.go composes its ``JetStream`` interface from small ones (``StreamConsumerManager``,
``Publisher``, ``KeyValueManager``, ``ObjectStoreManager``); in Python each part is a module,
so the composition happens here, at the top, and the core (``jsdata.client``) never imports
the data layer. The core creates handles through class attributes (``_stream_class``,
``_consumer_class``, ``_ordered_consumer_class``) that the assembled ``JetStream`` points at
the assembled handles, so ``await js.stream("ORDERS")`` has ``to_pandas`` and a consumer has
``fetch_arrow``.

:func:`connect` resolves where to connect (``servers``, ``url``, JSDATA_URL / NATS_URL, else
the default embedded server) and opens the context.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from .client import consumer as _consumer
from .client import jetstream as _jetstream
from .client import ordered as _ordered
from .client import stream as _stream
from .client._conn import env_url
from .client.connect_options import DEFAULT_RESUME_WINDOW, DEFAULT_TIMEOUT, ConnectOptions
from .frames.batch import ArrowMethods
from .frames.methods import StreamReader
from .frames.writer import DataFrameWriter
from .kv.manager import KeyValueManager
from .objects.manager import ObjectStoreManager

__all__ = ["JetStream", "Stream", "Consumer", "OrderedConsumer", "connect"]


class Stream(_stream.Stream, StreamReader):
    __doc__ = _stream.Stream.__doc__


class Consumer(_consumer.Consumer, ArrowMethods):
    __doc__ = _consumer.Consumer.__doc__


class OrderedConsumer(_ordered.OrderedConsumer, ArrowMethods):
    __doc__ = _ordered.OrderedConsumer.__doc__


class JetStream(_jetstream.JetStream, KeyValueManager, ObjectStoreManager, DataFrameWriter):
    """A JetStream context on one connection: streams, consumers, publishing, KV, objects
    and DataFrames.

    Create it with :func:`jsdata.aio.connect`; use ``async with`` or :meth:`close`.
    """

    _stream_class = Stream
    _consumer_class = Consumer
    _ordered_consumer_class = OrderedConsumer


async def connect(servers: str | Sequence[str] | None = None, *, user: str | None = None,
                  password: str | None = None, token: str | None = None,
                  creds: Any = None, nkeys_seed: Any = None, tls: Any = None,
                  tls_handshake_first: bool = False,
                  name: str | None = None, domain: str | None = None,
                  api_prefix: str | None = None, inbox_prefix: str | None = None,
                  timeout: float | timedelta = DEFAULT_TIMEOUT,
                  resume_window: float | timedelta = DEFAULT_RESUME_WINDOW,
                  publish_async_max_pending: int = 4000, url: str | None = None,
                  context: str | None = None, **nats_options: Any) -> JetStream:
    """Connect and return the asyncio JetStream context.

    With no ``servers``, JSDATA_URL / NATS_URL are used, else the default embedded server
    (started on first use, shared by every process of the user).

    ``context`` names a nats CLI context (``~/.config/nats/context/<name>.json``, see
    :mod:`jsdata.client.contexts`); with no ``servers`` and no JSDATA_URL / NATS_URL, the
    ``NATS_CONTEXT`` environment variable names one. Its URL, credentials, TLS files,
    JetStream domain / API prefix and inbox prefix apply wherever the call does not give its
    own.

    ``timeout`` bounds the whole connect (TCP, TLS, authentication and the JetStream check)
    and is the default timeout of API requests afterwards. Credentials: ``user``/``password``
    (or in the URL), ``token`` (or ``nats://token@host``), ``nkeys_seed`` (a seed string or a
    file holding one), ``creds`` (a ``.creds`` file, its text, or a (jwt_file, seed_file)
    pair). ``tls`` is an :class:`ssl.SSLContext`, True, or a dict of ``ca_file``,
    ``cert_file``, ``key_file``; ``tls_handshake_first`` for servers with
    ``tls { handshake_first: true }``. ``inbox_prefix`` (default ``_INBOX``) is the prefix of
    every reply subject, for users allowed to subscribe only under their own.
    ``resume_window`` (seconds) is how long a stream or object read waits for a dropped
    connection to come back, and resumes, before it raises
    :class:`~jsdata.errors.ReadInterruptedError`. The parameters are those of
    :class:`~jsdata.client.connect_options.ConnectOptions`; other keywords go to nats-py's
    ``connect``. Failures are
    :class:`~jsdata.errors.JetStreamConnectionError` subclasses that say what failed
    (:class:`~jsdata.errors.InvalidURLError`, :class:`~jsdata.errors.TLSVerificationError`,
    :class:`~jsdata.errors.AuthenticationError`, :class:`~jsdata.errors.NoJetStreamError`,
    :class:`~jsdata.errors.ConnectTimeoutError`, ...); no secret is ever in them.
    """
    options = ConnectOptions.of(locals())
    if context is None and not (servers or url or env_url()):
        context = os.environ.get("NATS_CONTEXT") or None
    if context is not None:
        from .client.contexts import load_context
        o = load_context(context).connect_options()
        servers = servers or url or o.get("servers")
        options = options.with_context(o)
    servers = servers or url or env_url()
    if not servers:
        from .server import default_server_url
        servers = default_server_url()
    return await _jetstream.open_context(JetStream, servers, options, **nats_options)
