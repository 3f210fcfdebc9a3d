"""Typed errors: every jsdata failure is a :class:`JetStreamError` subclass.

Server API errors are mapped from their ``err_code`` to a specific class (as nats.go's
``errors.go`` does with sentinel errors), so callers can ``except StreamNotFoundError``.
Timeouts also subclass the builtin :class:`TimeoutError`; missing things also subclass
:class:`KeyError`.
"""

from __future__ import annotations

from typing import Any


class JetStreamError(Exception):
    """Base class of every jsdata error.

    ``code`` is the HTTP-like status the server gave (e.g. 404), ``err_code`` the JetStream
    API error code (e.g. 10059) and ``description`` the server's text, when known.
    """

    def __init__(
        self,
        description: str | None = None,
        *,
        code: int | None = None,
        err_code: int | None = None,
    ) -> None:
        if description is None:
            doc = (self.__class__.__doc__ or "").strip()
            description = doc.splitlines()[0] if doc else self.__class__.__name__
        self.description = description
        self.code = code
        self.err_code = err_code
        super().__init__(self.description)

    #: the stream / consumer an API error is about, when known
    stream: str | None = None
    consumer: str | None = None

    def __str__(self) -> str:
        parts = [self.description or self.__class__.__name__]
        if self.err_code:
            parts.append(f"(err_code={self.err_code})")
        return " ".join(parts)

    # KeyError.__str__ quotes its argument; keep our message readable for KeyError subclasses.
    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.description!r})"


class APIError(JetStreamError):
    """JetStream API error."""


class InvalidConfigError(JetStreamError, ValueError):
    """Invalid configuration."""


class InvalidArgumentError(JetStreamError, ValueError):
    """Invalid argument."""


class InvalidNameError(InvalidArgumentError):
    """Invalid name (stream, consumer, bucket, key, subject or object)."""


class InvalidSubjectError(InvalidNameError):
    """Invalid subject."""


class InvalidStreamNameError(InvalidNameError):
    """Invalid stream name."""


class InvalidConsumerNameError(InvalidNameError):
    """Invalid consumer name."""


class InvalidBucketNameError(InvalidNameError):
    """Invalid bucket name."""


class InvalidKeyError(InvalidNameError):
    """Invalid key."""


class InvalidObjectNameError(InvalidNameError):
    """Invalid object name."""


class MaxPayloadExceededError(InvalidArgumentError):
    """Message payload exceeds the server's max_payload."""


class NotConnectedError(JetStreamError):
    """The connection is closed or not connected."""


class ConnectionClosedError(NotConnectedError):
    """The connection is closed."""


class JetStreamNotEnabledError(JetStreamError):
    """JetStream is not enabled on the server."""


class JetStreamNotEnabledForAccountError(JetStreamNotEnabledError):
    """JetStream is not enabled for this account."""


class JetStreamTimeoutError(JetStreamError, TimeoutError):
    """Timed out waiting for the server."""


class APITimeoutError(JetStreamTimeoutError):
    """Timed out waiting for a JetStream API response."""


class ReadInterruptedError(JetStreamError):
    """A read lost the server and could not resume in time.

    Raised by the bulk readers (``to_arrow`` / ``to_pandas`` / ``to_batches`` /
    ``read_stream``, object reads) only when the connection closed, or stayed down longer
    than the resume window; shorter drops and server restarts are resumed transparently.
    ``stream`` is the stream read; messages ``first_seq`` .. ``last_seq`` (inclusive) were
    read before the interruption (``last_seq == first_seq - 1`` when none was), so a read
    with ``start=resume_seq`` continues exactly after them.
    """

    def __init__(self, description: str | None = None, *, stream: str = "",
                 first_seq: int = 0, last_seq: int = 0, code: int | None = None,
                 err_code: int | None = None) -> None:
        self.stream = stream
        self.first_seq = first_seq
        self.last_seq = last_seq
        super().__init__(description, code=code, err_code=err_code)

    @property
    def resume_seq(self) -> int:
        """The sequence to pass as ``start=`` to read on after what was read."""
        return self.last_seq + 1


class NoStreamResponseError(JetStreamError):
    """No response from stream (no stream captures the subject, or no responders)."""


class NoRespondersError(NoStreamResponseError):
    """No responders are available for the request."""


class NotFoundError(JetStreamError, KeyError):
    """Not found."""

    def __str__(self) -> str:  # KeyError would quote the message
        return JetStreamError.__str__(self)


class StreamNotFoundError(NotFoundError):
    """Stream not found."""


class ConsumerNotFoundError(NotFoundError):
    """Consumer not found."""


class MsgNotFoundError(NotFoundError):
    """Message not found."""


class BucketNotFoundError(StreamNotFoundError):
    """Bucket not found."""


class KeyNotFoundError(NotFoundError):
    """Key not found."""


class KeyDeletedError(KeyNotFoundError):
    """Key was deleted."""


class ObjectNotFoundError(NotFoundError):
    """Object not found."""


class NoKeysFoundError(NotFoundError):
    """No keys found."""


class StreamNameAlreadyInUseError(APIError):
    """Stream name already in use with a different configuration (``differences`` lists the
    fields that differ, as named in the message)."""

    differences: list[str] | tuple[str, ...] = ()


class StreamSubjectsOverlapError(APIError):
    """The stream's subjects overlap with another stream's (the message names both)."""


class StreamSubjectTransformNotSupportedError(APIError):
    """Stream subject transformation not supported by the server."""


class StreamSourceNotSupportedError(APIError):
    """Stream sourcing is not supported by the server."""


class ConsumerExistsError(APIError):
    """Consumer already exists (with another configuration: ``differences`` names fields)."""

    differences: list[str] | tuple[str, ...] = ()


class ConsumerDoesNotExistError(ConsumerNotFoundError):
    """Consumer does not exist."""


class ConsumerNameAlreadyInUseError(ConsumerExistsError):
    """Consumer name already in use."""


class ConsumerDeletedError(JetStreamError):
    """Consumer was deleted."""


class ConsumerLeadershipChangedError(JetStreamError):
    """Leadership of the consumer changed."""


class ConsumerTypeError(JetStreamError):
    """The consumer is of the wrong type (push vs pull)."""


class NotPullConsumerError(ConsumerTypeError):
    """The consumer is a push consumer, not a pull consumer."""


class NotPushConsumerError(ConsumerTypeError):
    """The consumer is a pull consumer, not a push consumer."""


class ConsumerMultipleFilterSubjectsNotSupportedError(APIError):
    """Multiple filter subjects are not supported by the server."""


class WrongLastSequenceError(APIError):
    """Wrong last sequence (expectation failed)."""


class WrongLastMsgIdError(APIError):
    """Wrong last message id (expectation failed)."""


class StreamWrongExpectedError(APIError):
    """Expected stream does not match."""


class MsgAlreadyAckedError(JetStreamError):
    """Message was already acknowledged."""


class NotJetStreamMsgError(JetStreamError):
    """Not a JetStream message (no ack subject)."""


class MsgIteratorClosedError(JetStreamError):
    """The message iterator is closed."""


class NoHeartbeatError(JetStreamError):
    """No heartbeat received (two missed idle heartbeats)."""


class TooManyStalledMsgsError(JetStreamError):
    """Stalled with too many outstanding async published messages."""


class MaxBytesExceededError(JetStreamError):
    """Message size exceeds the max_bytes of the request."""


class BatchCompletedError(JetStreamError):
    """The fetch batch completed."""


class JetStreamConnectionError(JetStreamError, ConnectionError):
    """Connection failed."""


class InvalidURLError(JetStreamConnectionError, ValueError):
    """A server URL is malformed or has an unsupported scheme."""


class ConnectTimeoutError(JetStreamConnectionError, JetStreamTimeoutError):
    """Connecting (TCP, TLS, auth and the JetStream check) did not finish within ``timeout``."""


class TLSError(JetStreamConnectionError):
    """The TLS handshake failed (e.g. the server wants a client certificate, or no TLS)."""


class TLSVerificationError(TLSError):
    """The server's TLS certificate is not trusted by the client's context."""


class AuthenticationError(JetStreamConnectionError):
    """The server rejected the credentials (authorization violation)."""


class NoJetStreamError(JetStreamConnectionError, JetStreamNotEnabledError):
    """Connected, but JetStream is not available (disabled, or not for this account/domain)."""


class PermissionDeniedError(JetStreamError, PermissionError):
    """The server denied a publish or subscription (permissions violation); ``subject``
    names it and ``operation`` is "publish" or "subscribe". The connection stays usable."""

    def __init__(self, description: str | None = None, *, subject: str | None = None,
                 operation: str | None = None, **kw: Any) -> None:
        self.subject = subject
        self.operation = operation
        super().__init__(description, **kw)


RETRY_HINT = ("the message may still be stored: retrying is safe only with msg_id "
              "(the stream drops a duplicate msg_id within its duplicate window); "
              "without msg_id a retry may store it twice")


class PublishTimeoutError(APITimeoutError):
    """No ack for a publish in time; the message may be stored anyway (retry with msg_id)."""


class EmbeddedServerError(JetStreamError):
    """The embedded nats-server could not be started or stopped."""


class ServerNotFoundError(EmbeddedServerError, FileNotFoundError):
    """The nats-server binary was not found."""


class KeyExistsError(APIError):
    """Key exists (create over a live key, or a failed compare-and-set)."""


class KeyValueError(JetStreamError):
    """Key-value error."""


class BadBucketError(KeyValueError):
    """The stream is not a valid key-value or object bucket."""


class ValueTooLargeError(InvalidArgumentError):
    """Value exceeds the bucket's max_value_size."""


class LimitMarkerTTLNotEnabledError(InvalidConfigError):
    """Per-key TTL needs a bucket created with limit_marker_ttl."""


class ObjectStoreError(JetStreamError):
    """Object store error."""


class DigestMismatchError(ObjectStoreError):
    """Object digest does not match its contents."""


class BucketSealedError(ObjectStoreError):
    """The bucket is sealed."""


class ObjectLinkError(ObjectStoreError):
    """Invalid object link."""


class ObjectExistsError(ObjectStoreError):
    """An object with that name already exists."""


class DecodeError(JetStreamError, ValueError):
    """A message could not be decoded; ``sequence`` names it."""

    def __init__(self, description: str | None = None, *, sequence: int | None = None,
                 subject: str | None = None, **kw: Any) -> None:
        self.sequence = sequence
        self.subject = subject
        super().__init__(description, **kw)


class EncodeError(JetStreamError, ValueError):
    """Data could not be encoded for publishing."""


class UnsupportedTypeError(EncodeError, TypeError):
    """A column's dtype cannot be encoded."""


# ---------------------------------------------------------------------------------------------
# API error code mapping (nats-server's JSApiError codes, as in nats.go jetstream/errors.go)

ERR_CODES: dict[int, type[JetStreamError]] = {
    10039: JetStreamNotEnabledForAccountError,
    10076: JetStreamNotEnabledError,
    10059: StreamNotFoundError,
    10058: StreamNameAlreadyInUseError,
    10065: StreamSubjectsOverlapError,
    10014: ConsumerNotFoundError,
    10148: ConsumerExistsError,       # consumer already exists (create with different config)
    10013: ConsumerNameAlreadyInUseError,
    10105: ConsumerExistsError,       # consumer already exists (action create)
    10149: ConsumerDoesNotExistError,  # action update on a missing consumer
    10037: MsgNotFoundError,
    10043: MsgNotFoundError,          # "sequence N not found" (delete of a missing message)
    10071: WrongLastSequenceError,
    10164: WrongLastSequenceError,    # CAS conflict on replicated (R>1) streams
    10070: WrongLastMsgIdError,
    10060: StreamWrongExpectedError,
    10137: ConsumerMultipleFilterSubjectsNotSupportedError,  # 10136 is "duplicate filters"
}


def _api_target(suffix: str) -> dict[str, str]:
    """The stream and consumer an API subject suffix is about, e.g.
    ``CONSUMER.INFO.ORDERS.C1`` -> ``{"stream": "ORDERS", "consumer": "C1"}``."""
    t = suffix.split(".")
    if t[:2] == ["CONSUMER", "DURABLE"] and len(t) >= 5:  # CONSUMER.DURABLE.CREATE.S.C
        return {"stream": t[3], "consumer": t[4]}
    if t[0] == "CONSUMER" and len(t) >= 4 and t[1] in ("MSG", "LEADER"):
        # CONSUMER.MSG.NEXT.S.C, CONSUMER.LEADER.STEPDOWN.S.C
        return {"stream": t[3], "consumer": t[4]} if len(t) >= 5 else {"stream": t[3]}
    if t[0] == "CONSUMER" and len(t) >= 3:
        # CONSUMER.CREATE.S[.C[.filter]], INFO/DELETE/PAUSE/UNPIN.S.C, NAMES/LIST.S
        return {"stream": t[2], "consumer": t[3]} if len(t) >= 4 else {"stream": t[2]}
    if t[0] == "STREAM" and len(t) >= 4 and t[1] in ("MSG", "LEADER", "PEER"):
        return {"stream": t[3]}  # STREAM.MSG.GET.S, STREAM.LEADER.STEPDOWN.S
    if t[0] == "STREAM" and len(t) >= 3 and t[1] not in ("NAMES", "LIST", "TEMPLATE"):
        return {"stream": t[2]}  # STREAM.CREATE/UPDATE/INFO/DELETE/PURGE/SNAPSHOT.S
    if t[0] == "DIRECT" and len(t) >= 3:
        return {"stream": t[2]}
    return {}


def _message_about(payload: dict[str, Any] | None) -> str:
    """Which message a STREAM.MSG.GET / DELETE payload asked for."""
    if not payload:
        return ""
    if payload.get("last_by_subj"):
        return f" (last message for subject {payload['last_by_subj']!r})"
    if payload.get("next_by_subj"):
        return f" (next message for subject {payload['next_by_subj']!r})"
    if payload.get("seq") is not None:
        return f" (sequence {payload['seq']})"
    return ""


def from_api_error(err: dict[str, Any], context: str | None = None, *,
                   suffix: str | None = None,
                   payload: dict[str, Any] | None = None) -> JetStreamError:
    """Build the typed error for a JetStream API ``error`` object.

    ``context`` prefixes the server's description; without it, the stream and consumer
    named by the API ``suffix`` are put in the message (the server's "stream not found"
    does not say which) and set as the error's ``stream`` / ``consumer`` attributes.
    """
    code = err.get("code")
    err_code = err.get("err_code")
    desc = err.get("description") or "JetStream API error"
    cls: type[JetStreamError] = ERR_CODES.get(err_code or 0, APIError)
    if cls is APIError and code == 503:
        cls = JetStreamNotEnabledError if "not enabled" in desc else APIError
    target = _api_target(suffix) if suffix else {}
    stream, consumer = target.get("stream"), target.get("consumer")
    if context:
        desc = f"{context}: {desc}"
    elif stream:
        on = f"consumer {consumer!r} on stream {stream!r}" if consumer else f"stream {stream!r}"
        if issubclass(cls, ConsumerNotFoundError) and consumer:
            desc = f"consumer {consumer!r} not found on stream {stream!r}"
        elif issubclass(cls, StreamNotFoundError):
            desc = f"stream {stream!r} not found"
        elif issubclass(cls, MsgNotFoundError):
            desc = f"message not found in stream {stream!r}{_message_about(payload)}"
        elif cls is StreamNameAlreadyInUseError:
            desc = f"stream name {stream!r} already in use with a different configuration"
        else:
            desc = f"{on}: {desc}"
    e = cls(desc, code=code, err_code=err_code)
    e.stream = stream  # type: ignore[attr-defined]
    e.consumer = consumer  # type: ignore[attr-defined]
    return e


class BucketExistsError(StreamNameAlreadyInUseError):
    """A bucket with that name already exists with a different configuration."""


# -- continuous consumption (consume / messages / ordered / push) ------------------------------


class HandlerRequiredError(InvalidArgumentError):
    """A message handler is required."""


class ConsumerAlreadyConsumingError(JetStreamError):
    """The push consumer is already consuming (stop the running consume first)."""


class OrderedConsumerUsedAsFetchError(JetStreamError):
    """The ordered consumer is used with fetch; consume and messages are not allowed."""


class OrderedConsumerUsedAsConsumeError(JetStreamError):
    """The ordered consumer is used with consume/messages; fetch is not allowed."""


class OrderedConsumerConcurrentRequestsError(JetStreamError):
    """An ordered consumer cannot run two consumes or fetches at the same time."""


class OrderedConsumerNotCreatedError(JetStreamError):
    """The ordered consumer has not created its server-side consumer yet."""


class ServerShutdownError(JetStreamError):
    """The server is shutting down (409 Server Shutdown)."""


class ColumnNotFoundError(InvalidArgumentError, KeyError):
    """A column named in a subject template, msg_id or headers does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return JetStreamError.__str__(self)


class DataFrameError(InvalidArgumentError):
    """A DataFrame / table cannot be published as it is; ``column`` and ``row`` name the
    culprit when known. When some rows were already stored, ``rows_stored`` is how many
    (rows ``0 .. rows_stored - 1``, in stream sequences ``first_seq .. last_seq`` of
    ``stream``): resume with ``df.iloc[rows_stored:]``."""

    def __init__(self, description: str | None = None, *, column: str | None = None,
                 row: int | None = None, **kw: Any) -> None:
        self.column = column
        self.row = row
        self.rows_stored = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.stream: str | None = None
        super().__init__(description, **kw)


class DuplicateColumnError(DataFrameError):
    """Two columns share a name: a row cannot be one object (or map) with both."""


class ColumnTypeError(DataFrameError, UnsupportedTypeError):
    """A column holds values (e.g. arbitrary Python objects) the codec cannot encode."""


class PayloadTooLargeError(DataFrameError, MaxPayloadExceededError):
    """A row (or a message of several rows) is larger than the server's max_payload."""


class FeatureNotSupportedError(JetStreamError):
    """The connected server's JetStream API level is too low for a feature.

    ``feature`` names it, ``required_level`` is the API level it needs (1: nats-server
    2.11, 2: 2.12, 4: 2.14) and ``server_level`` / ``server_version`` what the server has.
    Raised before anything is sent."""

    def __init__(self, description: str | None = None, *, feature: str = "",
                 required_level: int = 0, server_level: int = 0, server_version: str = "",
                 **kw: Any) -> None:
        self.feature = feature
        self.required_level = required_level
        self.server_level = server_level
        self.server_version = server_version
        super().__init__(description, **kw)


class BatchPublishError(APIError):
    """An atomic batch publish was refused: nothing of the batch was stored."""


class PinIdMismatchError(JetStreamError):
    """A pinned-client pull was refused (423): another client holds the pin."""


class ContextNotFoundError(NotFoundError):
    """A nats CLI context named for connecting does not exist."""


class MissingDependencyError(JetStreamError, ImportError):
    """An optional package a feature needs is not installed (the message says which)."""


class AsyncCallError(JetStreamError):
    """A fire-and-forget call (``msg.ack()``, a background abort) failed after it returned.

    The blocking API raises it from the next call made through the same connection (or
    from ``close()``), unless ``jsdata.connect(error_cb=...)`` takes such errors; as in Go,
    nothing is only logged or dropped. ``call`` names what failed, ``error`` is the failure.
    """

    def __init__(self, description: str | None = None, *, call: str = "",
                 error: BaseException | None = None, **kw: Any) -> None:
        if description is None and call:
            description = f"{call} failed: {error}"
        super().__init__(description, **kw)
        self.call = call
        self.error = error
