import math

import pytest

from geomonitor.model.fix import FixBatch, FixError, fix_rank, parse_fix

GOOD = {
    "tag_id": "BUD-0017",
    "ts": "2026-11-21T21:14:05Z",
    "lat": 53.7997,
    "lon": -1.5492,
    "accuracy_m": 12.0,
    "battery_pct": 64,
    "strap": "ok",
    "charging": False,
    "source": "gps",
}


def test_the_documented_example_parses():
    f = parse_fix(GOOD)
    assert (f.tag_id, f.lat, f.lon, f.accuracy_m, f.battery_pct) == (
        "BUD-0017",
        53.7997,
        -1.5492,
        12.0,
        64.0,
    )
    assert f.strap == "ok" and f.charging is False and f.source == "gps"
    assert f.extra is None


def test_defaults_and_unknown_fields_dropped_unless_allowed():
    """Data minimisation: a field the format does not name (a name, an address) is not
    kept, unless the deployment allows it by name."""
    rec = {
        "tag_id": "BUD-1",
        "ts": "2026-11-21T21:14:05+00:00",
        "lat": 53.8,
        "lon": -1.5,
        "firmware": "4.2",
        "sat_count": 7,
        "subject_name": "John Smith",
    }
    f = parse_fix(rec, default_accuracy_m=30.0)
    assert f.accuracy_m == 30.0 and f.source == "gps" and f.strap == "ok"
    assert f.extra is None
    f = parse_fix(rec, keep=frozenset({"firmware", "sat_count"}))
    assert f.extra == {"firmware": "4.2", "sat_count": 7}


def test_csv_style_strings_are_accepted():
    f = parse_fix(
        {
            "tag_id": "BUD-1",
            "ts": "2026-11-21T21:14:05Z",
            "lat": "53.8",
            "lon": "-1.5",
            "accuracy_m": "450",
            "charging": "true",
            "source": "cell",
        }
    )
    assert f.lat == 53.8 and f.accuracy_m == 450.0 and f.charging is True and f.source == "cell"


def test_bng_coordinates_are_accepted_and_converted():
    f = parse_fix(
        {
            "tag_id": "BUD-1",
            "ts": "2026-11-21T21:14:05Z",
            "x": 429900.0,
            "y": 433600.0,
            "accuracy_m": 8,
        }
    )
    b = FixBatch.from_fixes([f])
    assert b.x[0] == 429900.0 and b.y[0] == 433600.0
    assert 53.7 < b.lat[0] < 53.9 and -1.7 < b.lon[0] < -1.4


@pytest.mark.parametrize(
    "change,reason,field",
    [
        ({"lat": 123.0}, "out_of_range", "lat"),
        ({"lon": -200}, "out_of_range", "lon"),
        ({"lat": math.nan}, "bad_value", "lat"),
        ({"lat": math.inf}, "bad_value", "lat"),
        ({"lat": "north"}, "bad_value", "lat"),
        ({"lat": None}, "missing_field", "lat"),
        ({"ts": "2026-11-21T21:14:05"}, "naive_time", "ts"),
        ({"ts": "21/11/2026"}, "bad_value", "ts"),
        ({"ts": None}, "missing_field", "ts"),
        ({"tag_id": None}, "missing_field", "tag_id"),
        ({"tag_id": 17}, "bad_value", "tag_id"),
        ({"strap": "loose"}, "bad_value", "strap"),
        ({"source": "psychic"}, "bad_value", "source"),
        ({"accuracy_m": -1}, "out_of_range", "accuracy_m"),
        ({"battery_pct": 140}, "out_of_range", "battery_pct"),
        ({"charging": "maybe"}, "bad_value", "charging"),
    ],
)
def test_bad_fields_are_named(change, reason, field):
    rec = dict(GOOD)
    rec.update(change)
    with pytest.raises(FixError) as e:
        parse_fix(rec)
    assert (e.value.reason, e.value.field) == (reason, field)
    assert field in e.value.message


def test_non_object_is_malformed():
    with pytest.raises(FixError) as e:
        parse_fix([1, 2, 3])
    assert e.value.reason == "malformed"


def test_rank_prefers_better_accuracy_and_is_content_based():
    a = parse_fix(dict(GOOD, accuracy_m=5.0))
    b = parse_fix(dict(GOOD, accuracy_m=50.0))
    assert fix_rank(a) < fix_rank(b)
    assert fix_rank(a) == fix_rank(parse_fix(dict(GOOD, accuracy_m=5.0)))


def test_ranks_are_fixed_values_in_every_process():
    """Which copy of a fix is kept must not depend on the process (a stream consumer and
    a replay, a restart): the rank is a function of the content alone."""
    fix = dict(tag_id="BUD-0001", ts="2026-11-21T18:00:00Z", lat=53.8, lon=-1.55)
    assert fix_rank(parse_fix(dict(fix, accuracy_m=12.5))) == 5370023860788
    assert fix_rank(parse_fix(dict(fix, accuracy_m=300.0, battery_pct=50))) == 128849730558516
