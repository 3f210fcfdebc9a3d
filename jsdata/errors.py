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
    """Stream name already in use with a different configuration."""


class StreamSubjectTransformNotSupportedError(APIError):
    """Stream subject transformation not supported by the server."""


class StreamSourceNotSupportedError(APIError):
    """Stream sourcing is not supported by the server."""


class ConsumerExistsError(APIError):
    """Consumer already exists."""


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


def from_api_error(err: dict[str, Any], context: str | None = None) -> JetStreamError:
    """Build the typed error for a JetStream API ``error`` object."""
    code = err.get("code")
    err_code = err.get("err_code")
    desc = err.get("description") or "JetStream API error"
    if context:
        desc = f"{context}: {desc}"
    cls: type[JetStreamError] = ERR_CODES.get(err_code or 0, APIError)
    if cls is APIError and code == 503:
        cls = JetStreamNotEnabledError if "not enabled" in desc else APIError
    return cls(desc, code=code, err_code=err_code)


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
