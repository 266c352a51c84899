"""Weekly timetables in local time (curfews, scheduled exclusion zones).

A timetable is a list of entries ``{"days": ["mon", ...], "start": "19:00", "end": "07:00"}``
read in a named time zone (``Europe/London`` by default). An entry whose end is not after its
start spans midnight: it starts on the listed day and ends on the next. Windows are turned
into UTC intervals once, so the per-fix cost is a binary search.

Daylight saving is handled by the zone database: a 19:00-07:00 window starting on Saturday
28 March 2026 lasts 11 hours of UTC time; one starting on Saturday 24 October 2026 lasts 13.
A local time that does not exist (in the spring-forward hour) is read as the wall-clock time
an hour later; an ambiguous one (in the autumn hour) as its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from .errors import TimetableError
from .times import MS_PER_DAY, from_datetime, to_datetime

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Window:
    """One weekly window: starts on each of ``days`` at ``start`` local time."""

    days: tuple[int, ...]  # 0 = Monday
    start: time
    end: time

    @property
    def spans_midnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True)
class Timetable:
    windows: tuple[Window, ...]
    timezone: str = "Europe/London"

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
        windows = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise TimetableError(f"[{i}]: expected an object")
            days = entry.get("days")
            if not isinstance(days, list) or not days:
                raise TimetableError(f"[{i}].days: expected a non-empty list of mon..sun")
            idx = []
            for d in days:
                if not isinstance(d, str) or d.lower()[:3] not in DAYS:
                    raise TimetableError(f"[{i}].days: unknown day {d!r} (use mon..sun)")
                idx.append(DAYS.index(d.lower()[:3]))
            start = _parse_hhmm(entry.get("start"), f"[{i}].start")
            end = _parse_hhmm(entry.get("end"), f"[{i}].end")
            if start == end:
                raise TimetableError(f"[{i}]: start and end are equal")
            windows.append(Window(tuple(sorted(set(idx))), start, end))
        return cls(tuple(windows), timezone)

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
                if wd not in w.days:
                    continue
                s = _local_ms(day, w.start, tz)
                end_day = day + timedelta(days=1) if w.spans_midnight else day
                e = _local_ms(end_day, w.end, tz)
                if e > start_ms and s < end_ms and e > s:
                    out.append((s, e))
            day += timedelta(days=1)
        return merge_intervals(out)


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
