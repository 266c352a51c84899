import pytest

from geomonitor.model.times import MS_PER_HOUR, iso, parse_ts
from geomonitor.model.timetable import ActivePeriods, Timetable, TimetableError

EVERY_NIGHT = [
    {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "19:00", "end": "07:00"}
]


def _window_starting(tt: Timetable, local_evening_utc: str):
    t = parse_ts(local_evening_utc)
    return next((s, e) for s, e in tt.intervals(t - MS_PER_HOUR, t + MS_PER_HOUR) if s == t)


def test_spring_forward_night_lasts_eleven_hours():
    tt = Timetable.parse(EVERY_NIGHT)
    s, e = _window_starting(tt, "2026-03-28T19:00:00Z")  # GMT evening
    assert iso(e) == "2026-03-29T06:00:00Z"  # 07:00 BST
    assert (e - s) == 11 * MS_PER_HOUR


def test_fall_back_night_lasts_thirteen_hours():
    tt = Timetable.parse(EVERY_NIGHT)
    s, e = _window_starting(tt, "2026-10-24T18:00:00Z")  # 19:00 BST
    assert iso(e) == "2026-10-25T07:00:00Z"  # 07:00 GMT
    assert (e - s) == 13 * MS_PER_HOUR


def test_window_spanning_midnight_belongs_to_its_start_day():
    tt = Timetable.parse([{"days": ["fri"], "start": "22:00", "end": "02:00"}])
    # Friday 20 November 2026 22:00 GMT to Saturday 02:00.
    got = tt.intervals(parse_ts("2026-11-16T00:00:00Z"), parse_ts("2026-11-23T00:00:00Z"))
    assert [(iso(s), iso(e)) for s, e in got] == [("2026-11-20T22:00:00Z", "2026-11-21T02:00:00Z")]


def test_summer_windows_are_in_local_time():
    tt = Timetable.parse([{"days": ["mon"], "start": "09:00", "end": "17:00"}])
    got = tt.intervals(parse_ts("2026-07-13T00:00:00Z"), parse_ts("2026-07-14T00:00:00Z"))
    assert [(iso(s), iso(e)) for s, e in got] == [("2026-07-13T08:00:00Z", "2026-07-13T16:00:00Z")]


def test_active_periods_membership():
    ap = ActivePeriods([(10, 20), (30, 40)])
    import numpy as np

    got = ap.contains(np.array([5, 10, 19, 20, 25, 30, 39, 40], np.int64))
    assert got.tolist() == [False, True, True, False, False, True, True, False]


@pytest.mark.parametrize(
    "entries,needle",
    [
        ([{"days": ["funday"], "start": "19:00", "end": "07:00"}], "[0].days"),
        ([{"days": ["mon"], "start": "25:00", "end": "07:00"}], "[0].start"),
        ([{"days": ["mon"], "start": "19:00", "end": "19:00"}], "equal"),
        ([], "non-empty"),
    ],
)
def test_bad_timetables_name_the_entry(entries, needle):
    with pytest.raises(TimetableError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        Timetable.parse(entries)


def test_unknown_time_zone_is_refused():
    with pytest.raises(TimetableError, match="timezone"):
        Timetable.parse(EVERY_NIGHT, "Europe/Atlantis")


# --------------------------------------------------------------------------- rows of their own
def _rows(*rows):
    return Timetable.parse(list(rows))


WEEK = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "19:00", "end": "07:00"}


def test_a_dated_row_replaces_that_days_weekly_rows_only():
    """A night moved later by the court (21:00 instead of 19:00), and a release day from
    15:00: those dates' weekly rows do not apply; the other days' do."""
    t = _rows(
        WEEK,
        {"date": "2026-11-20", "start": "15:00", "end": "07:00"},
        {"date": "2026-11-21", "start": "21:00", "end": "07:00"},
    )
    got = t.intervals(parse_ts("2026-11-19T12:00:00Z"), parse_ts("2026-11-23T12:00:00Z"))
    assert got == [
        (parse_ts("2026-11-19T19:00:00Z"), parse_ts("2026-11-20T07:00:00Z")),
        (parse_ts("2026-11-20T15:00:00Z"), parse_ts("2026-11-21T07:00:00Z")),
        (parse_ts("2026-11-21T21:00:00Z"), parse_ts("2026-11-22T07:00:00Z")),
        (parse_ts("2026-11-22T19:00:00Z"), parse_ts("2026-11-23T07:00:00Z")),
    ]


def test_rows_at_their_own_address_are_cut_apart_and_keep_the_dated_rows_rule():
    away = {"lat": 53.79, "lon": -1.6}
    t = _rows(
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "19:00", "end": "07:00"},
        {
            "days": ["sat", "sun"],
            "start": "21:00",
            "end": "08:00",
            "location": away,
            "radius_m": 150,
        },
        {"date": "2026-11-21", "start": "18:00", "end": "08:00"},  # a Saturday, at home
    )
    assert t.places() == [None, (53.79, -1.6, 150.0)]
    weekend = t.for_place((53.79, -1.6, 150.0))
    got = weekend.intervals(parse_ts("2026-11-20T12:00:00Z"), parse_ts("2026-11-23T12:00:00Z"))
    # the Saturday is replaced by the dated row (at home); the Sunday stays at the partner's
    assert got == [(parse_ts("2026-11-22T21:00:00Z"), parse_ts("2026-11-23T08:00:00Z"))]
    assert "sat sun 21:00 to 08:00 at 53.79000, -1.60000 within 150 m" in [
        w.describe() for w in t.windows
    ]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [{"days": ["sat"], "date": "2026-11-21", "start": "19:00", "end": "07:00"}],
            "give days or a date, not both",
        ),
        ([{"date": "21/11/2026", "start": "19:00", "end": "07:00"}], "[0].date: expected a date"),
        (
            [{"days": ["sat"], "start": "19:00", "end": "07:00", "radius_m": 50}],
            "[0].radius_m: a radius needs a location",
        ),
        (
            [
                {
                    "days": ["sat"],
                    "start": "19:00",
                    "end": "07:00",
                    "location": {"lat": 91, "lon": 0},
                }
            ],
            "[0].location.lat",
        ),
        (
            [
                {
                    "days": ["sat"],
                    "start": "19:00",
                    "end": "07:00",
                    "location": {"lat": 53.8, "lon": -1.5},
                    "radius_m": 0,
                }
            ],
            "[0].radius_m: expected a positive",
        ),
        (
            [
                WEEK,
                {
                    "days": ["sat"],
                    "start": "22:00",
                    "end": "06:00",
                    "location": {"lat": 53.8, "lon": -1.5},
                },
            ],
            "rows at different addresses overlap",
        ),
        (
            [
                WEEK,
                {
                    "date": "2026-11-21",
                    "start": "06:00",
                    "end": "08:00",
                    "location": {"lat": 53.8, "lon": -1.5},
                },
            ],
            "rows at different addresses overlap",
        ),
    ],
)
def test_bad_rows_are_refused_naming_the_row(rows, message):
    with pytest.raises(TimetableError) as e:
        Timetable.parse(rows)
    assert message in str(e.value)


def test_rows_that_only_touch_at_different_addresses_are_allowed():
    """Friday's home night ends at 07:00 Saturday; Saturday's night elsewhere starts 21:00."""
    t = _rows(
        {"days": ["fri"], "start": "19:00", "end": "07:00"},
        {"days": ["sat"], "start": "07:00", "end": "21:00", "location": {"lat": 53.8, "lon": -1.5}},
    )
    assert len(t.places()) == 2
