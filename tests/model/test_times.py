import pytest

from geomonitor.model.times import TimeError, iso, parse_ts


def test_zulu_and_offset_are_the_same_instant():
    assert parse_ts("2026-11-21T21:14:05Z") == parse_ts("2026-11-21T22:14:05+01:00")


def test_milliseconds_survive_a_round_trip():
    ms = parse_ts("2026-06-01T10:00:00.123Z")
    assert iso(ms) == "2026-06-01T10:00:00.123Z"
    assert iso(parse_ts("2026-06-01T10:00:00Z")) == "2026-06-01T10:00:00Z"


@pytest.mark.parametrize("bad", ["2026-11-21T21:14:05", "yesterday", "", 1700000000, None])
def test_naive_or_garbage_times_are_refused(bad):
    with pytest.raises(TimeError):
        parse_ts(bad)
