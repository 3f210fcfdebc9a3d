"""The error hierarchy, API error mapping and input validation before anything is sent."""

from __future__ import annotations

import inspect

import pytest

import jsdata
from jsdata import errors
from jsdata.client import names


def _error_classes() -> list[type[BaseException]]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass)
            if issubclass(c, BaseException) and c.__module__ == errors.__name__]


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_every_error_is_a_jetstream_error(cls: type[BaseException]) -> None:
    assert issubclass(cls, errors.JetStreamError)
    e = cls("something") if cls is not errors.DecodeError else cls("bad", sequence=3)
    assert str(e).startswith("something") or str(e).startswith("bad")
    assert isinstance(e, jsdata.JetStreamError)


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_default_description_from_docstring(cls: type[errors.JetStreamError]) -> None:
    e = cls()
    assert e.description and e.code is None and e.err_code is None
    assert str(e) == e.description


@pytest.mark.parametrize("name", [
    "StreamNotFoundError", "StreamNameAlreadyInUseError", "ConsumerNotFoundError",
    "ConsumerExistsError", "MsgNotFoundError", "NoStreamResponseError", "MsgAlreadyAckedError",
    "NoHeartbeatError", "TooManyStalledMsgsError", "InvalidNameError", "BucketNotFoundError",
    "KeyNotFoundError", "KeyExistsError", "ObjectNotFoundError", "DigestMismatchError",
    "DecodeError", "InvalidConfigError", "InvalidArgumentError", "InvalidSubjectError",
    "MaxPayloadExceededError", "JetStreamTimeoutError", "JetStreamConnectionError",
    "WrongLastSequenceError", "WrongLastMsgIdError", "StreamWrongExpectedError",
    "ConsumerDoesNotExistError", "NotPullConsumerError", "NotPushConsumerError",
    "JetStreamNotEnabledError", "ConnectionClosedError", "NotJetStreamMsgError",
])
def test_api_md_names_exist(name: str) -> None:
    assert issubclass(getattr(errors, name), errors.JetStreamError)


@pytest.mark.parametrize("cls", [errors.JetStreamTimeoutError, errors.APITimeoutError])
def test_timeouts_are_timeout_errors(cls) -> None:
    assert issubclass(cls, TimeoutError)


@pytest.mark.parametrize("cls", [errors.StreamNotFoundError, errors.ConsumerNotFoundError,
                                 errors.MsgNotFoundError, errors.BucketNotFoundError,
                                 errors.KeyNotFoundError, errors.ObjectNotFoundError,
                                 errors.ConsumerDoesNotExistError, errors.KeyDeletedError])
def test_missing_things_are_key_errors(cls) -> None:
    assert issubclass(cls, KeyError)
    e = cls("thing is missing")
    assert str(e) == "thing is missing"  # not quoted as KeyError would
    try:
        raise e
    except KeyError as caught:
        assert caught is e


@pytest.mark.parametrize("cls", [errors.InvalidStreamNameError, errors.InvalidConsumerNameError,
                                 errors.InvalidBucketNameError, errors.InvalidKeyError,
                                 errors.InvalidSubjectError, errors.InvalidObjectNameError])
def test_invalid_names_share_a_base(cls) -> None:
    assert issubclass(cls, errors.InvalidNameError)
    assert issubclass(cls, ValueError)


def test_other_builtin_bases() -> None:
    assert issubclass(errors.JetStreamConnectionError, ConnectionError)
    assert issubclass(errors.InvalidConfigError, ValueError)
    assert issubclass(errors.DecodeError, ValueError)
    assert errors.DecodeError("x", sequence=7).sequence == 7


def test_str_and_repr_include_err_code() -> None:
    e = errors.StreamNotFoundError("stream not found", code=404, err_code=10059)
    assert str(e) == "stream not found (err_code=10059)"
    assert "StreamNotFoundError" in repr(e)


# -- API error mapping ---------------------------------------------------------------------------

@pytest.mark.parametrize("err_code,cls", sorted(errors.ERR_CODES.items()))
def test_from_api_error_mapping(err_code: int, cls) -> None:
    e = errors.from_api_error({"code": 400, "err_code": err_code, "description": "desc"})
    assert type(e) is cls
    assert (e.code, e.err_code, e.description) == (400, err_code, "desc")


@pytest.mark.parametrize("err_code,name", [
    (10059, "StreamNotFoundError"), (10058, "StreamNameAlreadyInUseError"),
    (10014, "ConsumerNotFoundError"), (10148, "ConsumerExistsError"),
    (10149, "ConsumerDoesNotExistError"), (10037, "MsgNotFoundError"),
    (10071, "WrongLastSequenceError"), (10070, "WrongLastMsgIdError"),
    (10060, "StreamWrongExpectedError"), (10076, "JetStreamNotEnabledError"),
    (10039, "JetStreamNotEnabledForAccountError"), (10105, "ConsumerExistsError"),
    (10013, "ConsumerExistsError"), (10137, "ConsumerMultipleFilterSubjectsNotSupportedError"),
])
def test_server_codes_match_nats_go(err_code: int, name: str) -> None:
    e = errors.from_api_error({"code": 400, "err_code": err_code, "description": "d"})
    assert isinstance(e, getattr(errors, name))


def test_from_api_error_unknown_and_context() -> None:
    e = errors.from_api_error({"code": 500, "err_code": 99999, "description": "boom"}, "ctx")
    assert type(e) is errors.APIError and e.description == "ctx: boom"
    e = errors.from_api_error({"code": 503, "description": "jetstream not enabled"})
    assert isinstance(e, errors.JetStreamNotEnabledError)
    e = errors.from_api_error({})
    assert type(e) is errors.APIError and e.description


def test_real_api_errors_carry_code_err_code_description(js) -> None:
    with pytest.raises(errors.StreamNotFoundError) as ei:
        js.stream("NOPE")
    e = ei.value
    assert (e.code, e.err_code) == (404, 10059) and "not found" in e.description
    js.create_stream(name="S", subjects=["s.>"], storage="memory")
    with pytest.raises(errors.APIError) as ei2:
        js.create_stream(name="T", subjects=["s.>"], storage="memory")  # overlapping subjects
    assert ei2.value.code == 400 and ei2.value.err_code and "overlap" in ei2.value.description


def test_api_timeout_is_a_timeout_error(server) -> None:
    """A JetStream API that never answers: APITimeoutError, also a builtin TimeoutError."""
    silent = jsdata.connect(server.url)
    got: list[bytes] = []
    try:
        # answers connect's JetStream check (INFO), then never again
        silent._lt.run(silent.nc.subscribe("SILENT.API.>", cb=_collect(got, answer_info=True)))
        silent._lt.run(silent.nc.subscribe("MUTE.API.>", cb=_collect(got)))
        silent._lt.run(silent.nc.flush())
        with jsdata.connect(server.url, api_prefix="SILENT.API", timeout=0.3) as js:
            with pytest.raises(errors.APITimeoutError) as ei:
                js.stream_info("S")
            assert isinstance(ei.value, TimeoutError)
            assert isinstance(ei.value, errors.JetStreamTimeoutError)
            with pytest.raises(TimeoutError):
                js.stream("S")
        assert got  # the requests did reach the (silent) responder
        # connect itself checks JetStream within its deadline
        with pytest.raises(errors.ConnectTimeoutError) as ce:
            jsdata.connect(server.url, api_prefix="MUTE.API", timeout=0.3)
        assert isinstance(ce.value, TimeoutError)
        assert "checking JetStream" in str(ce.value)
    finally:
        silent.close()


def _collect(into: list[bytes], answer_info: bool = False):
    async def cb(msg) -> None:
        into.append(msg.data)
        if answer_info and msg.subject.endswith(".INFO"):
            await msg.respond(b'{"memory":0,"storage":0,"streams":0,"consumers":0}')
    return cb


# -- config validation ---------------------------------------------------------------------------

def test_unknown_config_fields_name_the_field(js) -> None:
    with pytest.raises(errors.InvalidConfigError) as ei:
        js.create_stream(name="S", subjects=["s"], retension="limits")
    assert "retension" in str(ei.value) and "retention" in str(ei.value)  # a suggestion
    with pytest.raises(errors.InvalidConfigError) as ei:
        js.create_stream({"name": "S", "subjects": ["s"], "bogus_field": 1})
    assert "bogus_field" in str(ei.value)
    js.create_stream(name="S", subjects=["s.>"], storage="memory")
    with pytest.raises(errors.InvalidConfigError) as ei:
        js.create_consumer("S", durable="C", not_a_field=True)
    assert "not_a_field" in str(ei.value)
    with pytest.raises(errors.InvalidConfigError):
        js.update_stream(name="S", zzz=1)
    assert list(js.consumer_names("S")) == []


def test_bad_config_values(js) -> None:
    with pytest.raises(errors.InvalidConfigError) as ei:
        js.create_stream(name="S", subjects=["s"], storage="floppy")
    assert "storage" in str(ei.value)
    with pytest.raises(errors.InvalidConfigError):
        js.create_stream(name="S", subjects=["s"], max_msgs="many")
    with pytest.raises(errors.InvalidConfigError):
        js.create_stream(jsdata.ConsumerConfig(durable_name="x"))  # wrong config type
    js.create_stream(name="S", subjects=["s.>"], storage="memory")
    with pytest.raises(errors.InvalidConfigError):
        js.create_consumer("S", durable="C", ack_policy="sometimes")


async def test_unknown_config_fields_aio(ajs) -> None:
    with pytest.raises(errors.InvalidConfigError) as ei:
        await ajs.create_stream(name="S", subjects=["s"], max_bites=5)
    assert "max_bites" in str(ei.value)


def test_config_errors_are_raised_before_sending(js) -> None:
    before = js.nc.stats["out_msgs"]
    for call in (lambda: js.create_stream(name="S", nope=1),
                 lambda: js.create_stream(name="a.b", subjects=["x"]),
                 lambda: js.create_consumer("S", durable="a.b"),
                 lambda: js.publish("a b", b"x"),
                 lambda: js.stream_name_by_subject("a..b")):
        with pytest.raises(errors.JetStreamError):
            call()
    assert js.nc.stats["out_msgs"] == before


# -- name checks (unit) --------------------------------------------------------------------------

@pytest.mark.parametrize("good", ["ORDERS", "a-b_c", "x1", "Ünïcode", "a=b"])
def test_stream_and_consumer_names_ok(good: str) -> None:
    assert names.stream_name(good) == good
    assert names.consumer_name(good) == good


@pytest.mark.parametrize("bad", ["", "a.b", "a b", "a*", "a>", "a/b", "a\\b", "a\tb", "a\nb",
                                 None, 3])
def test_stream_and_consumer_names_bad(bad) -> None:
    with pytest.raises(errors.InvalidStreamNameError) as ei:
        names.stream_name(bad)
    assert repr(bad) in str(ei.value)
    with pytest.raises(errors.InvalidConsumerNameError):
        names.consumer_name(bad)


@pytest.mark.parametrize("good", ["a", "a.b.c", "$JS.API.INFO", "_INBOX.x", "a-b.c_d"])
def test_publish_subject_ok(good: str) -> None:
    assert names.publish_subject(good) == good


@pytest.mark.parametrize("bad", ["", " ", "a b", "a.*", "a.>", "a..b", ".a", "a.", None, b"a"])
def test_publish_subject_bad(bad) -> None:
    with pytest.raises(errors.InvalidSubjectError):
        names.publish_subject(bad)


@pytest.mark.parametrize("good", ["a", "a.*", "a.>", ">", "*.*", "a.*.c.>"])
def test_filter_subject_ok(good: str) -> None:
    assert names.filter_subject(good) == good


@pytest.mark.parametrize("bad", ["", "a b", "a..b", "a.>.c", ">.a", ".", "a.", None])
def test_filter_subject_bad(bad) -> None:
    with pytest.raises(errors.InvalidSubjectError):
        names.filter_subject(bad)


@pytest.mark.parametrize("good", ["profiles", "my-bucket_1", "A"])
def test_bucket_name_ok(good: str) -> None:
    assert names.bucket_name(good) == good


@pytest.mark.parametrize("bad", ["", "a.b", "a b", "a*", "a/b", None])
def test_bucket_name_bad(bad) -> None:
    with pytest.raises(errors.InvalidBucketNameError):
        names.bucket_name(bad)


@pytest.mark.parametrize("good", ["k", "sue.color", "a/b=c_d-e", "a.b.c"])
def test_kv_key_ok(good: str) -> None:
    assert names.kv_key(good) == good


@pytest.mark.parametrize("bad", ["", ".a", "a.", "a..b", "a b", "a*", "a>", None])
def test_kv_key_bad(bad) -> None:
    with pytest.raises(errors.InvalidKeyError):
        names.kv_key(bad)


def test_kv_key_wildcards() -> None:
    assert names.kv_key("a.*", allow_wildcards=True) == "a.*"
    assert names.kv_key("a.>", allow_wildcards=True) == "a.>"
    with pytest.raises(errors.InvalidKeyError):
        names.kv_key("a.>.b", allow_wildcards=True)
