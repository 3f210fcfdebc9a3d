"""Validation of names and subjects, done before anything is sent (as nats.go does)."""

from __future__ import annotations

import re

from .. import errors

_BAD_NAME_CHARS = frozenset(">*. /\\\t\r\n")
_BUCKET_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
_KEY_RE = re.compile(r"^[-/_=.a-zA-Z0-9]+$")


def _check_name(kind: str, name: object, err: type[errors.InvalidNameError]) -> str:
    if not isinstance(name, str) or not name:
        raise err(f"invalid {kind} name {name!r}: must be a non-empty string")
    bad = sorted({c for c in name if c in _BAD_NAME_CHARS})
    if bad:
        raise err(f"invalid {kind} name {name!r}: must not contain {' '.join(map(repr, bad))}")
    return name


def stream_name(name: object) -> str:
    """Check a stream name: non-empty, no '.', '*', '>', spaces or path separators."""
    return _check_name("stream", name, errors.InvalidStreamNameError)


def consumer_name(name: object) -> str:
    """Check a consumer (durable) name, with the same rules as stream names."""
    return _check_name("consumer", name, errors.InvalidConsumerNameError)


def bucket_name(name: object) -> str:
    """Check a KV or object bucket name: letters, digits, '-' and '_'."""
    if not isinstance(name, str) or not _BUCKET_RE.match(name):
        raise errors.InvalidBucketNameError(
            f"invalid bucket name {name!r}: use letters, digits, '-' and '_'")
    return name


def kv_key(key: object, *, allow_wildcards: bool = False) -> str:
    """Check a KV key: [-/_=.a-zA-Z0-9]+, no leading/trailing '.', no '$KV' style start."""
    ok = isinstance(key, str) and key and not key.startswith(".") and not key.endswith(".")
    if ok:
        assert isinstance(key, str)
        if allow_wildcards:
            ok = all(t in ("*", ">") or _KEY_RE.match(t) for t in key.split("."))
            ok = ok and ">" not in key[:-1]
        else:
            ok = bool(_KEY_RE.match(key)) and ".." not in key
    if not ok:
        raise errors.InvalidKeyError(f"invalid key {key!r}")
    return key  # type: ignore[return-value]


_GOOD_SUBJECTS: dict[str, None] = {}


def publish_subject(subject: object) -> str:
    """Check a subject to publish to: no whitespace, no wildcards, no empty tokens."""
    if subject in _GOOD_SUBJECTS:  # hot path: publishing to the same subjects again
        return subject  # type: ignore[return-value]
    _check_publish_subject(subject)
    if len(_GOOD_SUBJECTS) > 10_000:
        _GOOD_SUBJECTS.clear()
    _GOOD_SUBJECTS[subject] = None  # type: ignore[index]
    return subject  # type: ignore[return-value]


def _check_publish_subject(subject: object) -> None:
    if not isinstance(subject, str) or not subject:
        raise errors.InvalidSubjectError(f"invalid subject {subject!r}: must be a non-empty string")
    if any(c.isspace() for c in subject):
        raise errors.InvalidSubjectError(f"invalid subject {subject!r}: contains whitespace")
    for tok in subject.split("."):
        if not tok:
            raise errors.InvalidSubjectError(f"invalid subject {subject!r}: empty token")
        if tok in ("*", ">"):
            raise errors.InvalidSubjectError(
                f"invalid subject {subject!r}: wildcards cannot be published to")


def filter_subject(subject: object) -> str:
    """Check a subscription/filter subject: wildcards allowed, '>' only last."""
    if not isinstance(subject, str) or not subject:
        raise errors.InvalidSubjectError(f"invalid subject {subject!r}: must be a non-empty string")
    if any(c.isspace() for c in subject):
        raise errors.InvalidSubjectError(f"invalid subject {subject!r}: contains whitespace")
    toks = subject.split(".")
    for i, tok in enumerate(toks):
        if not tok:
            raise errors.InvalidSubjectError(f"invalid subject {subject!r}: empty token")
        if tok == ">" and i != len(toks) - 1:
            raise errors.InvalidSubjectError(f"invalid subject {subject!r}: '>' must be last")
    return subject


def inbox_prefix(prefix: object) -> str:
    """Check an inbox prefix (``connect(inbox_prefix=...)``): a subject without wildcards,
    to which each reply subject adds tokens; a trailing ``.`` is dropped."""
    if isinstance(prefix, str):
        prefix = prefix.rstrip(".")
    try:
        _check_publish_subject(prefix)
    except errors.InvalidSubjectError as e:
        raise errors.InvalidArgumentError(
            f"inbox_prefix: {str(e).replace('invalid subject', 'invalid prefix')}") from None
    return prefix  # type: ignore[return-value]
