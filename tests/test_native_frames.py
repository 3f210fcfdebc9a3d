"""The C batch formatter (jsdata._cparse.pubs) writes exactly the PUB/HPUB commands the
Python formatter writes, for every mix of one/many subjects and header blocks; and a bulk
publish through it stores every message, byte for byte, on a real server."""

from __future__ import annotations

import os
import random

import pytest

import jsdata
from jsdata.client import bulk as publish

pytestmark = pytest.mark.skipif(publish._cpubs is None, reason="jsdata._cparse not built")


def _python(subjects, prefix, start, payloads, hdrs) -> bytes:  # type: ignore[no-untyped-def]
    out = []
    for i, p in enumerate(payloads):
        s = (subjects if isinstance(subjects, str) else subjects[i]).encode()
        h = hdrs if isinstance(hdrs, bytes) else hdrs[i]
        out.append(publish._HPUB % (s, prefix, start + i, len(h), len(h) + len(p), h, p) if h
                   else publish._PUB % (s, prefix, start + i, len(p), p))
    return b"".join(out)


@pytest.mark.parametrize("seed", range(20))
def test_same_bytes_as_python(seed: int) -> None:
    rnd = random.Random(seed)
    n = rnd.randrange(0, 300)
    payloads = [os.urandom(rnd.choice([0, 1, 9, 10, 99, 100, 1000, 4096])) for _ in range(n)]
    many = rnd.random() < 0.5
    subjects = ([f"orders.{rnd.choice(['eu', 'üs', 'x' * 50])}.{i}" for i in range(n)]
                if many else "orders.one")
    hdr_kind = rnd.randrange(3)
    hdrs: bytes | list[bytes]
    if hdr_kind == 0:
        hdrs = b""
    elif hdr_kind == 1:
        hdrs = b"NATS/1.0\r\nNats-Msg-Id: x\r\n\r\n"
    else:
        hdrs = [rnd.choice([b"", b"NATS/1.0\r\nK: %d\r\n\r\n" % i]) for i in range(n)]
    start = rnd.choice([0, 1, 9, 10, 999_999, 10**12])
    prefix = b"_INBOX.abc."
    assert publish._cpubs(subjects, prefix, start, payloads, hdrs) == _python(
        subjects, prefix, start, payloads, hdrs)


def test_bad_input_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="payload 1"):
        publish._cpubs("a", b"p.", 0, [b"x", "not bytes"], b"")
    with pytest.raises(ValueError, match="fewer subjects"):
        publish._cpubs(["a"], b"p.", 0, [b"x", b"y"], b"")


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_bulk_publish_round_trip(js: jsdata.JetStream, native: bool,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd
    monkeypatch.setattr(publish.BulkPublisher, "native", native)
    s = js.create_stream(name="NF", subjects=["NF.>"])
    n = 5000
    df = pd.DataFrame({"id": range(n), "region": [["eu", "us", "ap"][i % 3] for i in range(n)],
                       "blob": ["é" * (i % 50) for i in range(n)]})
    r = js.publish_dataframe("NF.{region}", df, msg_id="{id}", progress=False)
    assert r.rows == n
    back = s.to_pandas(metadata=("subject",))
    assert back["id"].tolist() == list(range(n))
    assert back["_subject"].tolist() == [f"NF.{x}" for x in df["region"]]
    assert back["blob"].tolist() == df["blob"].tolist()
    assert s.get_msg(123).headers.get("Nats-Msg-Id") == "122"
