"""Timetables in local time (curfews, scheduled exclusion zones).

A timetable is a list of rows ``{"days": ["mon", ...], "start": "19:00", "end": "07:00"}``
read in a named time zone (``Europe/London`` by default). A row whose end is not after its
start spans midnight: it starts on the listed day and ends on the next. Windows are turned
into UTC intervals once, so the per-fix cost is a binary search.

A row may name one date instead of days (``{"date": "2026-11-20", "start": "15:00", "end":
"07:00"}``: a release-day curfew, or a night moved by the court): on that date the dated
rows replace every weekly row that would start that day. A curfew's row may carry its own
address (``"location": {"lat": .., "lon": ..}`` and ``"radius_m"``): the weekend at a
partner's address. Rows at different addresses must not overlap.

Daylight saving is handled by the zone database: a 19:00-07:00 window starting on Saturday
28 March 2026 lasts 11 hours of UTC time; one starting on Saturday 24 October 2026 lasts 13.
A local time that does not exist (in the spring-forward hour) is read as the wall-clock time
an hour later; an ambiguous one (in the autumn hour) as its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from .errors import TimetableError
from .times import MS_PER_DAY, from_datetime, to_datetime

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


#: A row's own address: latitude, longitude and radius (metres; None: the condition's).
Place = tuple[float, float, float | None]


@dataclass(frozen=True)
class Window:
    """One row: starts on each of ``days`` (or on ``date`` only) at ``start`` local time,
    at ``place`` (None: the condition's own address)."""

    days: tuple[int, ...]  # 0 = Monday
    start: time
    end: time
    date: date | None = None
    place: Place | None = None

    @property
    def spans_midnight(self) -> bool:
        return self.end <= self.start

    def describe(self) -> str:
        """The row in words: ``sat sun 19:00 to 07:00 at 53.80000, -1.55000 within 100 m``."""
        when = self.date.isoformat() if self.date else " ".join(DAYS[d] for d in self.days)
        text = f"{when} {self.start:%H:%M} to {self.end:%H:%M}"
        if self.place is not None:
            lat, lon, radius = self.place
            text += f" at {lat:.5f}, {lon:.5f}"
            if radius is not None:
                text += f" within {radius:.0f} m"
        return text


@dataclass(frozen=True)
class Timetable:
    windows: tuple[Window, ...]
    timezone: str = "Europe/London"
    #: Dates whose weekly rows are replaced by dated rows (of this timetable or of the one
    #: it was cut from by :meth:`for_place`).
    dated: frozenset[date] = frozenset()

    @classmethod
    def parse(cls, entries: object, timezone: object = "Europe/London") -> Timetable:
        """Parse the registry's timetable list; raise :class:`TimetableError` naming the entry."""
        if not isinstance(timezone, str):
            raise TimetableError("timezone: expected a zone name such as 'Europe/London'")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise TimetableError(f"timezone: unknown time zone {timezone!r}") from None
        if not isinstance(entries, list) or not entries:
            raise TimetableError("expected a non-empty list of {days, start, end}")
        windows = [_parse_row(i, entry) for i, entry in enumerate(entries)]
        table = cls(tuple(windows), timezone, frozenset(w.date for w in windows if w.date))
        table._check_places()
        return table

    def places(self) -> list[Place | None]:
        """The addresses its rows name (None: the condition's own), in row order."""
        out: list[Place | None] = []
        for w in self.windows:
            if w.place not in out:
                out.append(w.place)
        return out

    def for_place(self, place: Place | None) -> Timetable:
        """The rows at one address (dated rows elsewhere still replace weekly ones here)."""
        rows = tuple(w for w in self.windows if w.place == place)
        return Timetable(rows, self.timezone, self.dated)

    def _check_places(self) -> None:
        places = self.places()
        if len(places) < 2:
            return
        # Weekly rows repeat every week: two weeks (one of each clock change's kind does not
        # matter for overlap) and the days around each dated row cover every case.
        spans = [(from_datetime(datetime(2024, 1, 1, tzinfo=UTC)), 15 * MS_PER_DAY)]
        for d in sorted(self.dated):
            spans.append(
                (from_datetime(datetime.combine(d, time(), UTC)) - MS_PER_DAY, 3 * MS_PER_DAY)
            )
        for lo, length in spans:
            cuts = [self.for_place(p).intervals(lo, lo + length) for p in places]
            for a in range(len(cuts)):
                for b in range(a + 1, len(cuts)):
                    if intersect_intervals(cuts[a], cuts[b]):
                        raise TimetableError(
                            "rows at different addresses overlap (a subject cannot be at "
                            "two addresses at once)"
                        )

    def intervals(self, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
        """UTC intervals ``[s, e)`` (epoch ms) of every window overlapping ``[start_ms, end_ms)``.

        Overlapping windows are merged, so the result is sorted and disjoint.
        """
        tz = ZoneInfo(self.timezone)
        first = to_datetime(start_ms - 2 * MS_PER_DAY).astimezone(tz).date()
        last = to_datetime(end_ms + MS_PER_DAY).astimezone(tz).date()
        out: list[tuple[int, int]] = []
        day = first
        while day <= last:
            wd = day.weekday()
            for w in self.windows:
                if w.date is not None:
                    if w.date != day:
                        continue
                elif wd not in w.days or day in self.dated:
                    continue
                s = _local_ms(day, w.start, tz)
                end_day = day + timedelta(days=1) if w.spans_midnight else day
                e = _local_ms(end_day, w.end, tz)
                if e > start_ms and s < end_ms and e > s:
                    out.append((s, e))
            day += timedelta(days=1)
        return merge_intervals(out)


def _parse_row(i: int, entry: object) -> Window:
    if not isinstance(entry, dict):
        raise TimetableError(f"[{i}]: expected an object")
    days, on = entry.get("days"), entry.get("date")
    idx: list[int] = []
    when: date | None = None
    if on is not None:
        if days is not None:
            raise TimetableError(f"[{i}]: give days or a date, not both")
        try:
            when = date.fromisoformat(on) if isinstance(on, str) else None
        except ValueError:
            when = None
        if when is None:
            raise TimetableError(f"[{i}].date: expected a date 'YYYY-MM-DD', got {on!r}")
    else:
        if not isinstance(days, list) or not days:
            raise TimetableError(f"[{i}].days: expected a non-empty list of mon..sun (or a date)")
        for d in days:
            if not isinstance(d, str) or d.lower()[:3] not in DAYS:
                raise TimetableError(f"[{i}].days: unknown day {d!r} (use mon..sun)")
            idx.append(DAYS.index(d.lower()[:3]))
    start = _parse_hhmm(entry.get("start"), f"[{i}].start")
    end = _parse_hhmm(entry.get("end"), f"[{i}].end")
    if start == end:
        raise TimetableError(f"[{i}]: start and end are equal")
    return Window(tuple(sorted(set(idx))), start, end, when, _parse_place(i, entry))


def _parse_place(i: int, entry: dict[str, Any]) -> Place | None:
    loc, radius = entry.get("location"), entry.get("radius_m")
    if loc is None:
        if radius is not None:
            raise TimetableError(f"[{i}].radius_m: a radius needs a location")
        return None
    if not isinstance(loc, dict):
        raise TimetableError(f"[{i}].location: expected {{lat, lon}}")
    lat, lon = loc.get("lat"), loc.get("lon")
    if not _number(lat) or not -90 <= float(lat) <= 90:  # type: ignore[arg-type]
        raise TimetableError(f"[{i}].location.lat: expected a latitude")
    if not _number(lon) or not -180 <= float(lon) <= 180:  # type: ignore[arg-type]
        raise TimetableError(f"[{i}].location.lon: expected a longitude")
    if radius is not None and (not _number(radius) or float(radius) <= 0):
        raise TimetableError(f"[{i}].radius_m: expected a positive number of metres")
    return (float(lat), float(lon), None if radius is None else float(radius))  # type: ignore[arg-type]


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _parse_hhmm(value: object, where: str) -> time:
    if not isinstance(value, str):
        raise TimetableError(f"{where}: expected a time 'HH:MM'")
    try:
        hh, mm = value.split(":")
        t = time(int(hh), int(mm))
    except ValueError:
        raise TimetableError(f"{where}: expected a time 'HH:MM', got {value!r}") from None
    return t


def _local_ms(day: date, t: time, tz: ZoneInfo) -> int:
    local = datetime.combine(day, t, tzinfo=tz)
    # A wall-clock time inside the spring-forward gap does not exist; zoneinfo reads it with
    # the pre-transition offset, which lands one hour later in the new offset. Normalise it.
    return from_datetime(local)


def merge_intervals(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort and merge overlapping or touching ``[s, e)`` intervals."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def intersect_intervals(
    a: list[tuple[int, int]], b: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Intersection of two sorted disjoint interval lists."""
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        s = max(a[i][0], b[j][0])
        e = min(a[i][1], b[j][1])
        if s < e:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


class ActivePeriods:
    """Sorted disjoint UTC intervals with vectorised membership tests."""

    __slots__ = ("ends", "starts")

    def __init__(self, intervals: list[tuple[int, int]]):
        self.starts = np.array([s for s, _ in intervals], dtype=np.int64)
        self.ends = np.array([e for _, e in intervals], dtype=np.int64)

    def contains(self, ts: np.ndarray) -> np.ndarray:
        """Boolean mask: which instants fall inside an interval."""
        i = np.searchsorted(self.starts, ts, side="right") - 1
        ok = i >= 0
        res = np.zeros(len(ts), dtype=bool)
        res[ok] = ts[ok] < self.ends[i[ok]]
        return res

    def end_before(self, ts: int) -> int | None:
        """End of the last interval that ended at or before ``ts`` (when the rule stopped)."""
        i = int(np.searchsorted(self.ends, ts, side="right")) - 1
        return int(self.ends[i]) if i >= 0 else None
