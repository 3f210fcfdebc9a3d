"""One codec vocabulary (jsdata.frames.values) for key-value values and DataFrame payloads:
the names mean the same on both surfaces, KV's value codecs are its functions, the DataFrame
codecs decode one message and encode one row with them, and encoding stays strict."""

from __future__ import annotations

import datetime
import decimal

import pytest

from jsdata import errors
from jsdata.frames import codec as frames_codec
from jsdata.frames import values
from jsdata.kv.codecs import resolve_codec


@pytest.mark.parametrize("name", ["bytes", "raw", "str", "text", "utf-8", "json", "msgpack"])
def test_kv_value_codecs_are_the_shared_functions(name: str) -> None:
    assert resolve_codec(name) == values.value_codec(name)


def test_names_on_both_surfaces() -> None:
    for name in values.FRAME_CODECS:
        assert frames_codec.get_codec(name).name == name
    assert values.value_codec_name("RAW") == "bytes"  # raw: the payload bytes, both sides
    assert values.value_codec_name("arrow") is None  # a DataFrame codec only
    with pytest.raises(errors.InvalidArgumentError, match="unknown codec 'arrow'"):
        resolve_codec("arrow")


def test_frames_codecs_use_the_shared_one_message_functions() -> None:
    j, m = frames_codec.JsonCodec(), frames_codec.MsgpackCodec()
    row = {"a": 1, "é": [1.5, None], "t": "x"}
    assert j.decode_message(values.encode_json(row)) == row
    assert m.decode_message(values.encode_msgpack(row)) == row
    assert values.decode_msgpack(m.encode_row(row)) == row
    # the row encoder writes what JSON cannot hold as str(); the value encoder refuses it
    odd = {"d": decimal.Decimal("1.5")}
    assert j.encode_row(odd) == b'{"d":"1.5"}'
    with pytest.raises(errors.EncodeError, match="not JSON serializable"):
        values.encode_json(odd)


def test_value_encoding_is_strict_and_byte_stable() -> None:
    assert values.encode_json({"k": "é"}) == '{"k":"é"}'.encode()  # UTF-8, not \\u-escaped
    assert values.encode_msgpack({"k": b"\x00"}) == b"\x81\xa1k\xc4\x01\x00"
    with pytest.raises(errors.EncodeError, match="msgpack"):
        values.encode_msgpack(datetime.datetime(2020, 1, 1))
    with pytest.raises(errors.EncodeError, match="'str' codec stores str values, not int"):
        values.encode_str(1)
    assert values.decode_str(values.encode_str("ü")) == "ü"
    assert values.encode_bytes("x") == b"x" and values.encode_bytes(memoryview(b"y")) == b"y"
