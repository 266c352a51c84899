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
