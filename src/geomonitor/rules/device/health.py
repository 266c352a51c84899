"""Device health: what a tag's own reports say about the tag.

From the same fixes, per tag (fitted or not):

* ``strap_tamper``: the strap reported cut or opened; each run of tamper reports is one
  event, ended by the next intact report. A desk candidate at once while the tag is fitted.
* ``low_battery``: battery at or below the threshold (default 20%, as the national
  monitoring service's rule), until it is above it again or charging.
* ``battery_depleted``: battery at or below 5%, or contact lost right after a low-battery
  report (missed charging).
* ``no_contact``: no fix for longer than the threshold (default 2 hours) while fitted,
  including now (the latest event time seen on any tag) since the last fix, not counting
  feed outages (:mod:`geomonitor.rules.feed`: the feed was down, not the tag). A desk
  candidate.
* ``implausible_jump``: consecutive fixes implying more than 250 km/h even allowing for
  both accuracy radii: a GPS fault. (A single wild fix cannot open or close a zone episode
  on its own: episodes need consecutive fixes.)
* ``poor_accuracy``: clock hours in which most fixes (at least 10) had an accuracy radius
  worse than the threshold (default 100 m), merged into streaks.

Events are a pure function of the tag's sorted fixes and *now*; they are recomputed when
the tag's fixes change, so arrival order does not matter. An event's identity is its tag,
kind and start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ...model.candidate import DeviceEvent
from ...model.columns import Columns
from ...model.times import MS_PER_HOUR, MS_PER_MINUTE
from ..config import DeviceConfig


class DeviceColumns(NamedTuple):
    """What device health needs of each fix, as columns (the order of
    :attr:`DeviceTrack._DTYPES`)."""

    ts: np.ndarray
    x: np.ndarray
    y: np.ndarray
    acc: np.ndarray
    batt: np.ndarray
    tamper: np.ndarray
    charging: np.ndarray
    rank: np.ndarray


class DeviceTrack:
    """One tag's fixes, sorted by event time, with what device health needs."""

    __slots__ = ("_cols", "acc", "batt", "charging", "rank", "tamper", "ts", "x", "y")

    _DTYPES = (
        np.int64,
        np.float64,
        np.float64,
        np.float32,
        np.float32,
        np.bool_,
        np.int8,
        np.int64,
    )

    def __init__(self) -> None:
        self._cols = Columns(self._DTYPES)
        self._refresh()

    def _refresh(self) -> None:
        (self.ts, self.x, self.y, self.acc, self.batt, self.tamper, self.charging, self.rank) = (
            self._cols.views()
        )

    def add(self, cols: DeviceColumns) -> None:
        """Merge fixes (any order; of two for the same instant the lower rank stays)."""
        self._cols.merge(cols, ts=0, rank=7)
        self._refresh()


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges ``[a, b)`` of consecutive True values."""
    if not mask.any():
        return []
    m = mask.astype(np.int8)
    edges = np.diff(np.concatenate([[0], m, [0]]))
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True)
    )


@dataclass
class _Cols:
    ts: np.ndarray
    x: np.ndarray
    y: np.ndarray
    acc: np.ndarray
    batt: np.ndarray
    tamper: np.ndarray
    charging: np.ndarray


def device_events(
    tag_id: str,
    track: DeviceTrack,
    now: int,
    fitted_until: Callable[[np.ndarray], np.ndarray],
    cfg: DeviceConfig,
    since: int | None = None,
    outages: Sequence[tuple[int, int]] = (),
) -> list[DeviceEvent]:
    """Events of one tag starting at or after ``since`` (all of them if ``None``).

    ``fitted_until(ts)`` says, for each instant, when the fitting covering it ends (-1:
    not fitted then): a silence after a fix counts only while the tag is fitted, never
    after its removal, nor during a feed outage (``outages``, ``[start, end)``). The caller
    chooses ``since`` so that no event spans it; the fixes from the one before ``since`` on
    are enough to find every event that starts after it.
    """
    a0 = 0 if since is None else max(0, int(np.searchsorted(track.ts, since)) - 1)
    t = _Cols(
        track.ts[a0:],
        track.x[a0:],
        track.y[a0:],
        track.acc[a0:],
        track.batt[a0:],
        track.tamper[a0:],
        track.charging[a0:],
    )
    events = _events(tag_id, t, now, fitted_until(t.ts), cfg, outages)
    if since is None:
        return events
    return [ev for ev in events if ev.started_at >= since]


def _events(
    tag_id: str,
    t: _Cols,
    now: int,
    until: np.ndarray,
    cfg: DeviceConfig,
    outages: Sequence[tuple[int, int]] = (),
) -> list[DeviceEvent]:
    if len(t.ts) == 0:
        return []
    return (
        _tamper_events(tag_id, t)
        + _battery_events(tag_id, t, cfg)
        + _contact_events(tag_id, t, now, until, cfg, outages)
        + _jump_events(tag_id, t, cfg)
        + _accuracy_events(tag_id, t, cfg)
    )


def _end_after(ts: np.ndarray, b: int) -> int | None:
    """The end of a run that stops before index ``b`` (None: still going)."""
    return int(ts[b]) if b < len(ts) else None


def _tamper_events(tag_id: str, t: _Cols) -> list[DeviceEvent]:
    ts = t.ts
    return [
        DeviceEvent(
            "strap_tamper",
            tag_id,
            int(ts[a]),
            _end_after(ts, b),
            ts[a:b].tolist(),
            {"reports": b - a},
        )
        for a, b in _runs(t.tamper)
    ]


def _battery_events(tag_id: str, t: _Cols, cfg: DeviceConfig) -> list[DeviceEvent]:
    ts = t.ts
    out: list[DeviceEvent] = []
    has_batt = ~np.isnan(t.batt)
    low = has_batt & (t.batt <= cfg.low_battery_pct) & (t.charging != 1)
    # Reports without a battery reading neither start nor end a low spell.
    idx = np.flatnonzero(has_batt)
    for a, b in _runs(low[idx]):
        ia, ib = int(idx[a]), int(idx[b - 1])
        end = int(ts[idx[b]]) if b < len(idx) else None
        out.append(
            DeviceEvent(
                "low_battery",
                tag_id,
                int(ts[ia]),
                end,
                [int(ts[ia]), int(ts[ib])],
                {"lowest_pct": float(np.nanmin(t.batt[ia : ib + 1]))},
            )
        )
    dead = has_batt & (t.batt <= cfg.depleted_battery_pct)
    for a, b in _runs(dead):
        out.append(
            DeviceEvent(
                "battery_depleted",
                tag_id,
                int(ts[a]),
                _end_after(ts, b),
                ts[a:b].tolist(),
                {"lowest_pct": float(t.batt[a:b].min())},
            )
        )
    return out


def _contact_events(
    tag_id: str,
    t: _Cols,
    now: int,
    until: np.ndarray,
    cfg: DeviceConfig,
    outages: Sequence[tuple[int, int]] = (),
) -> list[DeviceEvent]:
    """Silences while fitted (an outage: from a fix to the next, or to the removal of the
    tag, or to now), less the feed outages in them, and a battery that died (missed
    charging) before one."""
    ts = t.ts
    n = len(ts)
    out: list[DeviceEvent] = []
    has_batt = ~np.isnan(t.batt)
    limit = int(cfg.no_contact_minutes * MS_PER_MINUTE)
    nxt = np.concatenate([ts[1:], [now]])
    stop = np.minimum(nxt, until)  # silence is not counted after the tag was removed
    gaps = np.flatnonzero((until >= 0) & (stop - ts > limit))
    for k in gaps.tolist():
        start, end_k = int(ts[k]), int(stop[k])
        down = sum(max(0, min(end_k, b) - max(start, a)) for a, b in outages)
        if end_k - start - down <= limit:
            continue  # silent only while the feed was down
        removed = int(until[k]) < int(nxt[k])
        end = None if k == n - 1 and not removed else end_k
        silent = end_k - start - down
        details: dict[str, Any] = {"silent_minutes": int(silent // MS_PER_MINUTE)}
        if down:
            details["feed_outage_minutes"] = int(down // MS_PER_MINUTE)
        if removed:
            details["until_removal"] = True
        if has_batt[k]:
            details["battery_pct_at_last_fix"] = float(t.batt[k])
        out.append(DeviceEvent("no_contact", tag_id, start, end, [start], details))
        if has_batt[k] and t.batt[k] <= cfg.low_battery_pct and t.charging[k] != 1:
            out.append(
                DeviceEvent(
                    "battery_depleted",
                    tag_id,
                    start,
                    end,
                    [start],
                    {"missed_charging": True, "lowest_pct": float(t.batt[k])},
                )
            )
    return out


def _jump_events(tag_id: str, t: _Cols, cfg: DeviceConfig) -> list[DeviceEvent]:
    ts = t.ts
    if len(ts) < 2:
        return []
    dt = np.diff(ts) / 1000.0
    dist = np.hypot(np.diff(t.x), np.diff(t.y))
    slack = t.acc[1:] + t.acc[:-1]
    speed = np.where(dt > 0, (dist - slack) / np.maximum(dt, 1e-3), np.inf) * 3.6
    return [
        DeviceEvent(
            "implausible_jump",
            tag_id,
            int(ts[k + 1]),
            int(ts[k + 1]),
            [int(ts[k]), int(ts[k + 1])],
            {"km_h": round(float(speed[k]), 0), "metres": round(float(dist[k]), 0)},
        )
        for k in np.flatnonzero(speed > cfg.max_speed_kmh).tolist()
    ]


def _accuracy_events(tag_id: str, t: _Cols, cfg: DeviceConfig) -> list[DeviceEvent]:
    """Streaks of clock hours in which most fixes were poor."""
    out: list[DeviceEvent] = []
    hour = t.ts // MS_PER_HOUR
    poor = t.acc > cfg.poor_accuracy_m
    hours, start_idx, counts = np.unique(hour, return_index=True, return_counts=True)
    bad_counts = np.add.reduceat(poor.astype(np.int64), start_idx)
    bad_hour = (counts >= cfg.poor_accuracy_min_fixes) & (
        bad_counts > cfg.poor_accuracy_share * counts
    )
    streak_start = None
    for i, (h, bad) in enumerate(zip(hours.tolist(), bad_hour.tolist(), strict=True)):
        contiguous = i > 0 and hours[i - 1] == h - 1 and bad_hour[i - 1]
        if bad and not contiguous:
            streak_start = h
        if bad and (i == len(hours) - 1 or not (hours[i + 1] == h + 1 and bad_hour[i + 1])):
            assert streak_start is not None
            sel = (hour >= streak_start) & (hour <= h)
            out.append(
                DeviceEvent(
                    "poor_accuracy",
                    tag_id,
                    int(streak_start * MS_PER_HOUR),
                    int((h + 1) * MS_PER_HOUR),
                    [],
                    {
                        "hours": int(h - streak_start + 1),
                        "share_poor": round(float(poor[sel].mean()), 2),
                        "median_accuracy_m": round(float(np.median(t.acc[sel])), 1),
                    },
                )
            )
    return out
