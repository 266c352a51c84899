"""Decoding careless and hostile input: the clock guard, and decoders that never raise."""

from __future__ import annotations

import json
from collections import namedtuple

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from geomonitor.engine import Engine
from geomonitor.io.decode import Clock, decode_fix_lines, decode_fixes, decode_reads
from geomonitor.io.kafka.messages import records_of
from geomonitor.io.replay import replay
from geomonitor.io.sources import RawRecord, iter_jsonl_lines
from geomonitor.model.times import iso
from geomonitor.store.domain import Store

from ..conftest import T0, fix_at, make_registry

MIN = 60_000
TAGS = frozenset({"BUD-0001", "BUD-0002"})
Msg = namedtuple("Msg", "offset key value timestamp")


def line(ts: str, **extra) -> bytes:
    rec = {"tag_id": "BUD-0001", "ts": ts, "lat": 53.8, "lon": -1.55, "accuracy_m": 10, **extra}
    return orjson.dumps(rec)


def reasons(decoded) -> list[str]:
    return [r.reason for r in decoded.rejections]


# ---------------------------------------------------------------- the clock guard
def test_a_fix_more_than_ten_minutes_ahead_of_its_receipt_is_refused_as_future_time():
    received = T0
    clock = Clock(received)
    at = decode_fix_lines([line(iso(T0 + 10 * MIN))], 1, "f", TAGS, 25.0, clock)
    assert len(at.items) == 1 and at.rejections == []  # exactly at the margin: accepted
    below = decode_fix_lines([line(iso(T0 + 10 * MIN - 1))], 1, "f", TAGS, 25.0, clock)
    assert len(below.items) == 1
    above = decode_fix_lines([line(iso(T0 + 10 * MIN + 1))], 1, "f", TAGS, 25.0, clock)
    assert len(above.items) == 0 and reasons(above) == ["future_time"]
    (r,) = above.rejections
    assert r.field == "ts" and r.locator == "line 1" and "2026" not in r.message
    assert r.raw == line(iso(T0 + 10 * MIN + 1)).decode()  # the raw record is kept


def test_years_past_9999_and_before_1970_are_refused_not_crashed_on():
    clock = Clock(T0)
    got = decode_fix_lines(
        [line("10000-01-01T00:00:00Z"), line("1969-12-31T23:59:00Z"), line("2045-01-01T00:00Z")],
        1,
        "f",
        TAGS,
        25.0,
        clock,
    )
    assert reasons(got) == ["bad_value", "out_of_range", "future_time"]
    assert all("10000" not in r.message and "1969" not in r.message for r in got.rejections)


def test_reads_are_guarded_too():
    cams = {}
    rec = {"read_id": "R1", "camera_id": "C", "vrm": "AB12CDE", "lat": 53.8, "lon": -1.5}
    records = [
        RawRecord("line 1", b"", {**rec, "ts": iso(T0 + 11 * MIN)}),
        RawRecord("line 2", b"", {**rec, "read_id": "R2", "ts": iso(T0)}),
    ]
    got = decode_reads(records, "anpr", cams, Clock(T0))
    assert [r.read_id for r in got.items] == ["R2"] and reasons(got) == ["future_time"]


def test_a_kafka_message_is_received_at_the_earlier_of_its_timestamp_and_the_clock():
    """A producer cannot make a record look received later than the consumer's clock."""
    v = line(iso(T0 + 35 * MIN))
    honest = next(records_of([Msg(0, None, v, T0 + 40 * MIN)], wall=T0 + 50 * MIN))
    assert honest.received_at == T0 + 40 * MIN
    forged = next(records_of([Msg(1, None, v, T0 + 10**9)], wall=T0 + 20 * MIN))
    assert forged.received_at == T0 + 20 * MIN
    got = decode_fixes([honest, forged], "topic/0", TAGS, 25.0, Clock(T0 + 50 * MIN))
    assert len(got.items) == 1 and reasons(got) == ["future_time"]


def test_a_replay_refuses_future_fixes_and_can_be_replayed_as_of_a_time(tmp_path):
    fixes = tmp_path / "f.jsonl"
    rows = [line(iso(T0 + m * MIN)) for m in range(5)] + [line("2045-06-01T00:00:00Z")]
    fixes.write_bytes(b"\n".join(rows) + b"\n")
    with Store(tmp_path / "g.db") as st:
        st.load_registry(make_registry())
        s, _ = replay(st, fixes, progress=False, received_at=T0 - 8 * MIN)
        assert s.fixes_accepted == 3 and s.fixes_rejected == {"future_time": 3}
    with Store(tmp_path / "h.db") as st:
        st.load_registry(make_registry())
        s, _ = replay(st, fixes, progress=False)  # received now (the wall clock)
        assert s.fixes_accepted == 5 and s.fixes_rejected == {"future_time": 1}
        stored = st.rejections("future_time")
        assert len(stored) == 1 and stored[0]["raw"] == rows[-1].decode()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 3 * 60), min_size=3, max_size=40),
    st.integers(1, 200 * 365 * 24 * 60),
)
def test_adding_a_fix_from_the_future_changes_no_candidate(minutes, ahead):
    """Whatever the trail, one fix dated years ahead (refused at the edge) leaves every
    candidate as it was: nothing of it reaches the engine or event time."""
    reg = make_registry()
    fixes = [fix_at(0 if m % 50 < 30 else 1000, 0, m) for m in sorted(set(minutes))]
    clock = Clock(T0 + 4 * 60 * MIN)
    lines = [
        orjson.dumps({"tag_id": f.tag_id, "ts": iso(f.ts), "lat": f.lat, "lon": f.lon,
                      "accuracy_m": f.accuracy_m})
        for f in fixes
    ]  # fmt: skip
    future = line(iso(T0 + 4 * 60 * MIN + ahead * MIN + 10 * MIN))
    out = []
    for chunk in (lines, [*lines, future]):
        got = decode_fix_lines(chunk, 1, "f", TAGS, 25.0, clock)
        e = Engine(reg)
        e.process(got.items)
        out.append([c.to_json() for c in e.candidates()])
    assert out[0] == out[1]


# ---------------------------------------------------------------- never raise
@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_the_fix_decoder_never_raises_on_arbitrary_bytes(raw):
    got = decode_fix_lines([raw], 7, "f", TAGS, 25.0, Clock(T0))
    assert got.records <= 1 and len(got.items) + len(got.rejections) == got.records
    for r in got.rejections:
        assert r.locator == "line 7" and r.reason and r.message


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=15,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "tag_id": st.sampled_from(["BUD-0001", "BUD-9", ""]) | JSON,
        "ts": st.sampled_from([iso(T0), "2026-11-21T18:00:00", "99999-01-01T00:00Z"]) | JSON,
        "lat": st.floats(allow_nan=True, allow_infinity=True) | JSON,
        "lon": st.floats(allow_nan=True, allow_infinity=True) | JSON,
        "x": JSON,
        "y": JSON,
        "accuracy_m": JSON,
        "battery_pct": JSON,
        "strap": JSON,
        "charging": JSON,
        "source": JSON,
        "read_id": JSON,
        "camera_id": JSON,
        "vrm": JSON,
        "confidence": JSON,
        "direction": JSON,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, FIELDS))
def test_the_decoders_never_raise_on_arbitrary_json(value):
    raw = json.dumps(value, allow_nan=True).encode()
    for decoded in (
        decode_fixes(iter_jsonl_lines([raw]), "f", TAGS, 25.0, Clock(T0)),
        decode_reads([RawRecord("line 1", raw, value)], "a", {}, Clock(T0)),
    ):
        assert len(decoded.items) + len(decoded.rejections) == 1


def test_unknown_fields_are_dropped_and_counted_unless_allowed(tmp_path):
    """A feed that carries a name and an address must not put them in the store."""
    rec = {"tag_id": "BUD-0001", "ts": iso(T0), "lat": 53.8, "lon": -1.55,
           "subject_name": "John Smith", "home_address": "1 Example St",
           "firmware": "4.2"}  # fmt: skip
    (tmp_path / "f.jsonl").write_text(json.dumps(rec) + "\n")
    read = {"read_id": "R1", "camera_id": "CAM-0001", "vrm": "AB12CDE", "ts": iso(T0),
            "driver": "Jane Doe"}  # fmt: skip
    (tmp_path / "a.jsonl").write_text(json.dumps(read) + "\n")
    with Store(tmp_path / "g.db") as st:
        st.load_registry(make_registry())
        s, _ = replay(st, tmp_path / "f.jsonl", tmp_path / "a.jsonl", progress=False)
        assert s.fields_dropped == 4 and "unknown fields dropped" in "\n".join(s.lines())
        stored = st.db.execute("SELECT extra FROM fixes").fetchall()
        assert stored == [(None,)]
        assert st.db.execute("SELECT extra FROM anpr_reads").fetchall() == [(None,)]
        everything = b"".join(
            bytes(str(row), "utf-8") for row in st.db.execute("SELECT * FROM fixes")
        )
        assert b"John Smith" not in everything and b"Example St" not in everything
    with Store(tmp_path / "h.db") as st:
        st.load_registry(make_registry())
        s, _ = replay(st, tmp_path / "f.jsonl", progress=False, keep_fields=frozenset({"firmware"}))
        assert s.fields_dropped == 2
        (extra,) = st.db.execute("SELECT extra FROM fixes").fetchone()
        assert json.loads(extra) == {"firmware": "4.2"}


def test_messages_never_quote_the_value_and_dead_letters_carry_none():
    """A timestamp field holding a name and an address must not come back in the
    message (the raw record is kept, and shown only with --show-raw)."""
    raw = line("John Smith 1 Example St")
    got = decode_fix_lines([raw], 1, "f", TAGS, 25.0, Clock(T0))
    (r,) = got.rejections
    assert r.field == "ts" and "Smith" not in r.message and "Example" not in r.message
    assert "John Smith" in r.raw
    from geomonitor.io.kafka.messages import deadletter_row

    m = Msg(4, b"k", raw, T0)
    _, _, value, headers = deadletter_row("dl", "fixes", 0, r, m)
    assert value == raw and "Smith" not in headers and "Example" not in headers
