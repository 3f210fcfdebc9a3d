"""Stream management and stream-level reads (API.md §2) on both surfaces, real servers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

import jsdata
from jsdata import errors


def _mk(js: jsdata.JetStream, name: str = "S", **kw) -> jsdata.Stream:
    kw.setdefault("subjects", [f"{name.lower()}.>"])
    kw.setdefault("storage", "memory")
    return js.create_stream(name=name, **kw)


# -- create / update / get / delete --------------------------------------------------------------

def test_create_is_idempotent_and_conflicts_raise(js) -> None:
    s = _mk(js)
    assert isinstance(s, jsdata.Stream)
    assert s.name == "S" and s.cached_info().config.subjects == ["s.>"]
    again = _mk(js)  # the same config: no error, same stream
    assert again.name == "S"
    with pytest.raises(errors.StreamNameAlreadyInUseError) as ei:
        _mk(js, subjects=["other.>"])
    e = ei.value
    assert isinstance(e, errors.APIError) and isinstance(e, errors.JetStreamError)
    assert e.err_code == 10058 and e.code == 400 and e.description
    assert "already in use" in str(e)


def test_create_with_config_object_and_keywords(js) -> None:
    cfg = jsdata.StreamConfig(name="CFG", subjects=["cfg.>"], storage="memory")
    s = js.create_stream(cfg, max_msgs=10)
    info = s.cached_info()
    assert info.config.max_msgs == 10 and info.config.storage == jsdata.StorageType.MEMORY
    assert cfg.max_msgs != 10  # the caller's config object is not changed


def test_update_and_create_or_update(js) -> None:
    _mk(js)
    s = js.update_stream(name="S", subjects=["s.>"], storage="memory", max_msgs=5)
    assert s.cached_info().config.max_msgs == 5
    assert js.stream("S").cached_info().config.max_msgs == 5
    with pytest.raises(errors.StreamNotFoundError):
        js.update_stream(name="MISSING", subjects=["m.>"])
    created = js.create_or_update_stream(name="COU", subjects=["cou.>"], storage="memory")
    assert created.cached_info().config.max_msgs == -1
    updated = js.create_or_update_stream(name="COU", subjects=["cou.>"], storage="memory",
                                         max_msgs=3)
    assert updated.cached_info().config.max_msgs == 3
    # an invalid update is the server's error, not a silent create
    with pytest.raises(errors.APIError):
        js.create_or_update_stream(name="COU", subjects=["cou.>"], storage="file")


def test_create_without_subjects_uses_the_name(js) -> None:
    s = js.create_stream(name="PLAIN", storage="memory")
    assert s.cached_info().config.subjects == ["PLAIN"]
    assert js.publish("PLAIN", b"x").stream == "PLAIN"
    with pytest.raises(errors.InvalidStreamNameError):
        js.create_stream(subjects=["nameless"])


def test_stream_and_delete(js) -> None:
    _mk(js)
    s = js.stream("S")
    assert s.name == "S" and s.cached_info().config.name == "S"
    js.delete_stream("S")
    with pytest.raises(errors.StreamNotFoundError) as ei:
        js.stream("S")
    assert isinstance(ei.value, KeyError)
    assert ei.value.code == 404 and ei.value.err_code == 10059
    with pytest.raises(errors.StreamNotFoundError):
        js.delete_stream("S")
    with pytest.raises(KeyError):  # missing things are KeyErrors
        s.info()


@pytest.mark.parametrize("bad", ["", "a.b", "a b", "a*", "a>", "a/b", "a\\b", "a\tb", None, 5])
def test_invalid_stream_names(js, bad) -> None:
    expected = (errors.InvalidStreamNameError if isinstance(bad, str) or bad is None
                else errors.InvalidConfigError)  # a non-str name is a bad config value
    with pytest.raises(expected):
        js.create_stream(name=bad, subjects=["x"])
    with pytest.raises(errors.InvalidNameError):
        js.stream(bad)
    with pytest.raises(errors.InvalidNameError):
        js.delete_stream(bad)


def test_unknown_config_field(js) -> None:
    with pytest.raises(errors.InvalidConfigError) as ei:
        js.create_stream(name="S", subjects=["s"], max_msg=5)
    assert "max_msg" in str(ei.value)


# -- listing -------------------------------------------------------------------------------------

def test_list_streams_and_names_with_subject_filter(js) -> None:
    _mk(js, "A", subjects=["orders.a.*"])
    _mk(js, "B", subjects=["orders.b.*"])
    _mk(js, "C", subjects=["other.>"])
    assert sorted(js.stream_names()) == ["A", "B", "C"]
    assert sorted(i.config.name for i in js.list_streams()) == ["A", "B", "C"]
    assert all(isinstance(i, jsdata.StreamInfo) for i in js.list_streams())
    assert sorted(js.stream_names(subject="orders.>")) == ["A", "B"]
    assert [i.config.name for i in js.list_streams(subject="orders.b.x")] == ["B"]
    assert list(js.stream_names(subject="nothing.here")) == []


def test_stream_name_by_subject(js) -> None:
    _mk(js, "A", subjects=["orders.a.*"])
    assert js.stream_name_by_subject("orders.a.1") == "A"
    assert js.stream_name_by_subject("orders.a.*") == "A"
    with pytest.raises(errors.StreamNotFoundError):
        js.stream_name_by_subject("nope")
    with pytest.raises(errors.InvalidSubjectError):
        js.stream_name_by_subject("bad subject")


def test_account_info(js) -> None:
    a = js.account_info()
    assert a.streams == 0 and a.consumers == 0
    s = _mk(js)
    s.create_consumer(durable="C")
    js.publish("s.1", b"12345")
    a = js.account_info()
    assert a.streams == 1 and a.consumers == 1 and a.memory > 0
    assert a.limits.max_streams == -1
    assert a.api.total > 0


N_PAGED = 1030  # STREAM.NAMES pages at 1024 names, STREAM.LIST at 256 infos


@pytest.fixture(scope="module")
def many_streams(shared_server) -> Iterator[jsdata.JetStream]:
    with jsdata.connect(shared_server.url) as js:
        for i in range(N_PAGED):
            js.create_stream(name=f"P{i:04d}", subjects=[f"pg.{i}.*"], storage="memory",
                             max_msgs=1)
        yield js


def test_paging_stream_names_and_list(many_streams) -> None:
    js = many_streams
    names = list(js.stream_names())
    assert len(names) == N_PAGED and len(set(names)) == N_PAGED
    infos = list(js.list_streams())
    assert len(infos) == N_PAGED
    assert {i.config.name for i in infos} == set(names)
    assert list(js.stream_names(subject="pg.7.x")) == ["P0007"]
    assert len(list(js.stream_names(subject="pg.*.x"))) == N_PAGED


async def test_paging_async(many_streams, shared_server) -> None:
    async with await jsdata.aio.connect(shared_server.url) as ajs:
        names = [n async for n in ajs.stream_names()]
        assert len(set(names)) == N_PAGED
        infos = [i async for i in ajs.list_streams(subject="pg.*.x")]
        assert len(infos) == N_PAGED


# -- info ----------------------------------------------------------------------------------------

def test_info_and_cached_info(js) -> None:
    s = _mk(js)
    assert s.cached_info().state.messages == 0
    for i in range(3):
        js.publish(f"s.{i}", b"x")
    assert s.cached_info().state.messages == 0  # no round trip
    info = s.info()
    assert info.state.messages == 3 and info.state.last_seq == 3
    assert isinstance(info.state.last_ts, datetime) and info.state.last_ts.tzinfo is not None
    assert s.cached_info() is info
    assert info.state.subjects is None


def test_info_subjects_filter_and_deleted_details(js) -> None:
    s = _mk(js)
    for i in range(6):
        js.publish(f"s.{i % 3}", b"x")
    info = s.info(subjects_filter="s.*")
    assert info.state.subjects == {"s.0": 2, "s.1": 2, "s.2": 2}
    assert s.info(subjects_filter="s.1").state.subjects == {"s.1": 2}
    s.delete_msg(2)
    s.delete_msg(4)
    info = s.info(deleted_details=True)
    assert info.state.deleted == [2, 4] and info.state.num_deleted == 2
    assert s.info().state.deleted is None


def test_info_subjects_paging(js) -> None:
    """STREAM.INFO pages subject details at 100 000; info() gathers every page."""
    s = _mk(js)
    n = 100_050
    for i in range(n):
        js.publish_async(f"s.{i}", b"")
    js.publish_async_complete(timeout=60)
    info = s.info(subjects_filter=">")
    assert len(info.state.subjects) == n
    assert info.state.subjects["s.100049"] == 1


# -- purge ---------------------------------------------------------------------------------------

def _filled(js: jsdata.JetStream) -> jsdata.Stream:
    s = _mk(js)
    for i in range(10):
        js.publish(f"s.{i % 2}", str(i))  # s.0: seq 1,3,5,7,9  s.1: seq 2,4,6,8,10
    return s


def test_purge_all(js) -> None:
    s = _filled(js)
    assert s.purge() == 10
    st = s.info().state
    assert st.messages == 0 and st.first_seq == 11


def test_purge_subject(js) -> None:
    s = _filled(js)
    assert s.purge(subject="s.0") == 5
    assert s.info(subjects_filter=">").state.subjects == {"s.1": 5}


def test_purge_sequence(js) -> None:
    s = _filled(js)
    assert s.purge(sequence=4) == 3  # everything below 4
    assert s.info().state.first_seq == 4


def test_purge_keep(js) -> None:
    s = _filled(js)
    assert s.purge(keep=2) == 8
    st = s.info().state
    assert st.messages == 2 and st.first_seq == 9


def test_purge_subject_and_keep(js) -> None:
    s = _filled(js)
    assert s.purge(subject="s.1", keep=1) == 4
    assert s.info(subjects_filter=">").state.subjects == {"s.0": 5, "s.1": 1}


def test_purge_sequence_and_keep_is_an_error(js) -> None:
    s = _filled(js)
    with pytest.raises(errors.InvalidArgumentError):
        s.purge(sequence=3, keep=1)
    with pytest.raises(errors.InvalidSubjectError):
        s.purge(subject="bad subject")
    assert s.info().state.messages == 10


# -- get / delete messages -----------------------------------------------------------------------

@pytest.mark.parametrize("direct", [False, True])
def test_get_msg_and_last_for_subject(js, direct) -> None:
    s = _mk(js, allow_direct=direct)
    assert s.cached_info().config.allow_direct is direct
    js.publish("s.a", b"one", headers={"K": ["v1", "v2"], "Other": "x"})
    js.publish("s.b", b"two")
    js.publish("s.a", b"three")
    m = s.get_msg(1)
    assert isinstance(m, jsdata.RawStreamMsg)
    assert (m.subject, m.sequence, m.data) == ("s.a", 1, b"one")
    assert m.headers["K"] == "v1" and m.headers.get_all("K") == ["v1", "v2"]
    assert m.headers["Other"] == "x"
    assert isinstance(m.time, datetime) and m.time.tzinfo is not None
    assert abs((datetime.now(timezone.utc) - m.time).total_seconds()) < 60
    assert "Nats-Sequence" not in m.headers and "Nats-Subject" not in m.headers
    m2 = s.get_msg(2)
    assert m2.data == b"two" and len(m2.headers) == 0
    last = s.get_last_msg_for_subject("s.a")
    assert (last.sequence, last.data) == (3, b"three")
    assert s.get_last_msg_for_subject("s.*").sequence == 3
    assert s.get_last_msg_for_subject("s.b").sequence == 2
    with pytest.raises(errors.MsgNotFoundError) as ei:
        s.get_msg(99)
    assert isinstance(ei.value, KeyError) and ei.value.code == 404
    with pytest.raises(errors.MsgNotFoundError):
        s.get_last_msg_for_subject("s.none")
    with pytest.raises(errors.InvalidSubjectError):
        s.get_last_msg_for_subject("s..a")


@pytest.mark.parametrize("direct", [False, True])
def test_delete_msg_and_secure_delete(js, direct) -> None:
    s = _mk(js, allow_direct=direct)
    for i in range(4):
        js.publish("s.x", f"m{i}")
    s.delete_msg(2)
    s.secure_delete_msg(3)
    with pytest.raises(errors.MsgNotFoundError):
        s.get_msg(2)
    with pytest.raises(errors.MsgNotFoundError):
        s.get_msg(3)
    assert s.get_msg(4).data == b"m3"
    st = s.info(deleted_details=True).state
    assert st.messages == 2 and st.deleted == [2, 3]
    with pytest.raises(errors.MsgNotFoundError) as ei:
        s.delete_msg(2)
    assert isinstance(ei.value, KeyError)
    with pytest.raises(errors.MsgNotFoundError):
        s.secure_delete_msg(100)


@pytest.mark.parametrize("direct", [False, True])
def test_reads_on_a_deleted_stream(js, direct) -> None:
    s = _mk(js, allow_direct=direct)
    js.publish("s.1", b"x")
    js.delete_stream("S")
    with pytest.raises(errors.StreamNotFoundError):
        s.get_msg(1)
    with pytest.raises(errors.StreamNotFoundError):
        s.get_last_msg_for_subject("s.1")
    with pytest.raises(errors.StreamNotFoundError):
        s.purge()
    with pytest.raises(errors.StreamNotFoundError):
        s.delete_msg(1)


def test_file_stream_secure_delete(js) -> None:
    s = _mk(js, "F", storage="file")
    js.publish("f.1", b"secret-bytes")
    js.publish("f.1", b"keep")
    s.secure_delete_msg(1)
    assert s.info().state.messages == 1
    with pytest.raises(errors.MsgNotFoundError):
        s.get_msg(1)


def test_stream_handle_repr(js) -> None:
    s = _mk(js)
    js.publish("s.1", b"x")
    s.info()
    r = repr(s)
    assert "S" in r and "messages=1" in r


# -- the asyncio surface -------------------------------------------------------------------------

async def test_async_stream_lifecycle(ajs) -> None:
    s = await ajs.create_stream(name="S", subjects=["s.>"], storage="memory")
    assert isinstance(s, jsdata.aio.Stream)
    assert (await ajs.create_stream(name="S", subjects=["s.>"], storage="memory")).name == "S"
    with pytest.raises(errors.StreamNameAlreadyInUseError):
        await ajs.create_stream(name="S", subjects=["t.>"], storage="memory")
    await ajs.publish("s.a", b"1", headers={"H": ["a", "b"]})
    await ajs.publish("s.b", b"2")
    info = await s.info(subjects_filter=">")
    assert info.state.subjects == {"s.a": 1, "s.b": 1}
    m = await s.get_msg(1)
    assert m.data == b"1" and m.headers.get_all("H") == ["a", "b"]
    assert (await s.get_last_msg_for_subject("s.>")).sequence == 2
    assert [n async for n in ajs.stream_names()] == ["S"]
    assert [i.config.name async for i in ajs.list_streams(subject="s.a")] == ["S"]
    assert await ajs.stream_name_by_subject("s.b") == "S"
    await s.delete_msg(1)
    with pytest.raises(errors.MsgNotFoundError):
        await s.get_msg(1)
    assert await s.purge() == 1
    s2 = await ajs.update_stream(name="S", subjects=["s.>"], storage="memory", max_msgs=9)
    assert s2.cached_info().config.max_msgs == 9
    assert (await ajs.account_info()).streams == 1
    await ajs.delete_stream("S")
    with pytest.raises(errors.StreamNotFoundError):
        await ajs.stream("S")
