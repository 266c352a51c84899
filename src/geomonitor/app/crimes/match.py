"""Crimes against tag trails: who could have been there (hits), and who could not
(eliminations), with the reasons.

For a crime at a point, in a window ``[from, to]``, every subject whose tag was fitted
during the window plus a margin (default 60 minutes) is judged from their fixes:

* **Hit positions.** A fix in the window whose accuracy circle reaches within the vicinity
  radius (default 100 m; per crime type in :data:`RADIUS_BY_TYPE`) of the scene; and, at
  each whole minute in the window between two fixes at most 5 minutes apart, the position
  on the straight line between them, with the worse of their two accuracy radii ("between"
  positions: never guessed across a longer gap). Positions are grouped into visits (a
  letter each: A, B...) separated by positions outside the vicinity, and numbered in time
  order (A1, A2...).
* **Elimination**, for every subject without a hit: their trail proves they could not have
  been there if, for every pair of consecutive fixes around and in the window, going from
  the first to the vicinity and on to the second at the top speed (default 20 km/h; per
  type in :data:`SPEED_BY_TYPE`) takes longer than the time between them (the space-time
  prism between two fixes does not reach the vicinity during the window), and the window
  is covered: a fix at or before its start and at or after its end (within the margin).
  Otherwise it cannot be eliminated, and the first pair or silence that leaves it open is
  the reason.

The index: every fix of the period, sorted by (tag, time) under one integer key, so the
fixes of all tags fitted during a crime's window are found with one vectorised search.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...model.columns import ranges
from ...model.crime import Crime
from ...model.crs import to_wgs84
from ...model.registry import Registry
from ...model.text import distance, duration, local_time
from ...model.times import MS_PER_MINUTE
from ...store.domain import Store

RADIUS_BY_TYPE = {"RB": 100.0, "TFP": 100.0, "BIAD": 100.0, "AB": 100.0, "BOTD": 100.0,
                  "TOMV": 150.0, "TFMV": 150.0}  # fmt: skip
SPEED_BY_TYPE = {"TOMV": 50.0, "TFMV": 30.0}
SHIFT = 41  # epoch ms fit in 41 bits until 2039; the tag index above them


@dataclass(frozen=True)
class CrimeConfig:
    radius_m: float = 100.0
    top_speed_kmh: float = 20.0
    margin_minutes: float = 60.0
    between_gap_minutes: float = 5.0
    by_type: bool = True

    def radius(self, crime: Crime) -> float:
        return RADIUS_BY_TYPE.get(crime.type, self.radius_m) if self.by_type else self.radius_m

    def speed_ms(self, crime: Crime) -> float:
        kmh = (
            SPEED_BY_TYPE.get(crime.type, self.top_speed_kmh)
            if self.by_type
            else self.top_speed_kmh
        )
        return kmh / 3.6


@dataclass
class Position:
    ts: int
    x: float
    y: float
    lat: float
    lon: float
    accuracy_m: float
    speed_kmh: float
    kind: str  # "fix" or "between"
    sequence: str = ""
    number: int = 0


@dataclass
class Verdict:
    crime_ref: str
    subject_id: str
    hit: bool
    verdict: str  # "hit", "eliminated" or "cannot_eliminate"
    reason: str
    positions: list[Position] = field(default_factory=list)


class FixIndex:
    """Every fix of ``[lo, hi)`` of the registry's fitted tags, by (tag, time)."""

    def __init__(self, store: Store, registry: Registry, lo: int, hi: int):
        self.registry = registry
        tags = sorted({f.tag_id for f in registry.fittings})
        self.tag_ix = {t: i for i, t in enumerate(tags)}
        parts = []
        q = "SELECT ts, x, y, accuracy_m FROM fixes WHERE tag_id=? AND ts>=? AND ts<? ORDER BY ts"
        for i, t in enumerate(tags):
            rows = store.db.execute(q, (t, lo, hi)).fetchall()
            if rows:
                a = np.array(rows, float)
                parts.append((np.full(len(a), i, np.int64), a))
        if parts:
            tag = np.concatenate([p[0] for p in parts])
            a = np.concatenate([p[1] for p in parts])
        else:
            tag, a = np.empty(0, np.int64), np.empty((0, 4))
        self.ts = a[:, 0].astype(np.int64)
        self.key = (tag << SHIFT) | self.ts
        self.x, self.y, self.acc = a[:, 1], a[:, 2], a[:, 3]
        self.fittings = [
            (self.tag_ix[f.tag_id], f.subject_id, f.fitted_at,
             f.removed_at if f.removed_at is not None else 2**62)
            for f in registry.fittings
        ]  # fmt: skip

    def __len__(self) -> int:
        return len(self.ts)

    def slices(self, lo: int, hi: int) -> list[tuple[str, int, int, int, int]]:
        """(subject, first index, end index, fitted from, fitted to) of every fitting
        overlapping ``[lo, hi]``, its fixes in that span, found in one search."""
        fits = [f for f in self.fittings if f[2] <= hi and f[3] > lo]
        if not fits:
            return []
        t = np.array([f[0] for f in fits], np.int64)
        a = np.array([max(lo, f[2]) for f in fits], np.int64)
        b = np.array([min(hi, f[3] - 1) for f in fits], np.int64)
        start = np.searchsorted(self.key, (t << SHIFT) | a, side="left")
        end = np.searchsorted(self.key, (t << SHIFT) | b, side="right")
        return [
            (f[1], int(s), int(e), f[2], f[3]) for f, s, e in zip(fits, start, end, strict=True)
        ]


def match_crime(index: FixIndex, crime: Crime, cfg: CrimeConfig | None = None) -> list[Verdict]:
    """A verdict for every subject fitted during the crime's window plus the margin.

    Triage first, over every subject's fixes at once: a subject with no fix or segment
    near enough for a hit, whose trail covers the window with no pair of fixes the scene
    is reachable between, is eliminated there and then; only the others (possible hits,
    open gaps) are judged one by one, for their positions and reasons."""
    cfg = cfg or CrimeConfig()
    margin = int(cfg.margin_minutes * MS_PER_MINUTE)
    slices = index.slices(crime.start - margin, crime.end + margin)
    if not slices:
        return []
    r, v = cfg.radius(crime), cfg.speed_ms(crime)
    t0, t1 = crime.start, crime.end
    counts = np.array([e - s for _, s, e, _, _ in slices], np.int64)
    group, offset = ranges(counts)
    idx = np.array([s for _, s, _, _, _ in slices], np.int64)[group] + offset
    ts, x, y, acc = index.ts[idx], index.x[idx], index.y[idx], index.acc[idx]
    reach = np.hypot(x - crime.x, y - crime.y) - acc
    g = len(slices)
    maybe = np.zeros(g, bool)  # a hit is possible: judge in full
    np.logical_or.at(maybe, group, (ts >= t0) & (ts <= t1) & (reach <= r))
    open_ = np.zeros(g, bool)  # the scene reachable between two fixes
    if len(ts) > 1:
        same = group[1:] == group[:-1]
        vx, vy = x[1:] - x[:-1], y[1:] - y[:-1]
        ll = np.maximum(vx * vx + vy * vy, 1e-9)
        f = np.clip(((crime.x - x[:-1]) * vx + (crime.y - y[:-1]) * vy) / ll, 0.0, 1.0)
        closest = np.hypot(x[:-1] + f * vx - crime.x, y[:-1] + f * vy - crime.y)
        dt = ts[1:] - ts[:-1]
        near = same & (dt <= int(cfg.between_gap_minutes * MS_PER_MINUTE))
        near &= (ts[1:] > t0) & (ts[:-1] < t1) & (closest - np.maximum(acc[1:], acc[:-1]) <= r)
        np.logical_or.at(maybe, group[:-1], near)
        need = np.maximum(reach - r, 0.0) / v * 1000
        earliest, latest = ts[:-1] + need[:-1], ts[1:] - need[1:]
        reachable = same & (earliest <= latest) & (earliest <= t1) & (latest >= t0)
        reachable &= (ts[1:] > t0) & (ts[:-1] < t1)
        np.logical_or.at(open_, group[:-1], reachable)
    first = np.full(g, np.iinfo(np.int64).max)
    last = np.full(g, np.iinfo(np.int64).min)
    np.minimum.at(first, group, ts)
    np.maximum.at(last, group, ts)
    fit_a = np.array([a for _, _, _, a, _ in slices], np.int64)
    fit_b = np.array([b for _, _, _, _, b in slices], np.int64)
    covered = (counts > 0) & (first <= t0) & (last >= t1) & (fit_a <= t0) & (fit_b > t1)
    nearest = np.full(g, np.inf)
    np.minimum.at(nearest, group, np.where((ts >= t0) & (ts <= t1), reach, np.inf))
    anywhere = np.full(g, np.inf)
    np.minimum.at(anywhere, group, reach)
    nearest = np.where(np.isfinite(nearest), nearest, anywhere)
    out: dict[str, Verdict] = {}
    for k, (subject, s, e, a, b) in enumerate(slices):
        if not maybe[k] and covered[k] and not open_[k]:
            near_m = float(nearest[k]) if np.isfinite(nearest[k]) else 0.0
            verdict = Verdict(crime.ref, subject, False, "eliminated", _eliminated(near_m, v))
        else:
            verdict = judge(crime, subject, index.ts[s:e], index.x[s:e], index.y[s:e],
                            index.acc[s:e], a, b, cfg)  # fmt: skip
        old = out.get(subject)
        if old is None or _rank(verdict) > _rank(old):
            out[subject] = verdict  # several fittings: the strongest verdict stands
    return [out[k] for k in sorted(out)]


def _eliminated(nearest: float, v: float) -> str:
    return (
        f"every fix at least {distance(max(nearest, 0.0))} from the scene, and no gap long "
        f"enough to reach the vicinity and back at {v * 3.6:.0f} km/h"
    )


def _rank(v: Verdict) -> int:
    return {"hit": 2, "cannot_eliminate": 1, "eliminated": 0}[v.verdict]


def judge(crime: Crime, subject: str, ts: np.ndarray, x: np.ndarray, y: np.ndarray,
          acc: np.ndarray, fit_a: int, fit_b: int, cfg: CrimeConfig) -> Verdict:  # fmt: skip
    """One subject's verdict for one crime from their fixes around its window."""
    r, v = cfg.radius(crime), cfg.speed_ms(crime)
    reach = np.hypot(x - crime.x, y - crime.y) - acc  # how near the accuracy circle comes
    pos = _positions(crime, ts, x, y, acc, reach, r, cfg)
    if any(p.sequence for p in pos):
        return Verdict(crime.ref, subject, True, "hit", "positions within the vicinity",
                       [p for p in pos if p.sequence])  # fmt: skip
    return Verdict(
        crime.ref, subject, False, *_eliminate(crime, ts, acc, reach, r, v, fit_a, fit_b)
    )


def _positions(crime: Crime, ts: np.ndarray, x: np.ndarray, y: np.ndarray, acc: np.ndarray,
               reach: np.ndarray, r: float, cfg: CrimeConfig) -> list[Position]:  # fmt: skip
    """The hit positions (fixes and between positions in the window within the vicinity),
    in time order, lettered by visit: a position outside the vicinity ends a visit."""
    t0, t1 = crime.start, crime.end
    inw = np.flatnonzero((ts >= t0) & (ts <= t1))
    speeds = _speeds(ts, x, y)
    cols = [ts[inw], x[inw], y[inw], acc[inw], speeds[inw], reach[inw] <= r,
            np.zeros(len(inw), bool)]  # fmt: skip
    gap_ms = int(cfg.between_gap_minutes * MS_PER_MINUTE)
    if len(ts) > 1:
        # Segments short enough to interpolate, in the window, that come near the scene:
        # only their instants can be hits. (Leaving the others out changes no lettering: a
        # segment that stays away has a fix outside the vicinity at one end at least.)
        px, py, qx, qy = x[:-1], y[:-1], x[1:], y[1:]
        vx, vy = qx - px, qy - py
        ll = np.maximum(vx * vx + vy * vy, 1e-9)
        f = np.clip(((crime.x - px) * vx + (crime.y - py) * vy) / ll, 0.0, 1.0)
        closest = np.hypot(px + f * vx - crime.x, py + f * vy - crime.y)
        dt = np.diff(ts)
        near = (dt <= gap_ms) & (ts[1:] > t0) & (ts[:-1] < t1)
        near &= closest - np.maximum(acc[:-1], acc[1:]) <= r
        for k in np.flatnonzero(near).tolist():
            a, b = int(ts[k]), int(ts[k + 1])
            first = -(-max(a + 1, t0) // MS_PER_MINUTE) * MS_PER_MINUTE
            inst = np.arange(first, min(b - 1, t1) + 1, MS_PER_MINUTE, dtype=np.int64)
            if len(inst) == 0:
                continue
            g = (inst - a) / (b - a)
            bx, by = x[k] + g * vx[k], y[k] + g * vy[k]
            pa = np.full(len(inst), max(acc[k], acc[k + 1]))
            hit = np.hypot(bx - crime.x, by - crime.y) - pa <= r
            spd = np.full(len(inst), np.hypot(vx[k], vy[k]) / ((b - a) / 1000) * 3.6)
            more = (inst, bx, by, pa, spd, hit, np.ones(len(inst), bool))
            cols = [np.concatenate([c, m]) for c, m in zip(cols, more, strict=True)]
    t, px_, py_, pa_, spd_, hit, between = cols
    if not hit.any():
        return []
    order = np.lexsort((between, t))
    t, px_, py_, pa_, spd_, hit, between = (c[order] for c in cols)
    starts = hit & ~np.concatenate([[False], hit[:-1]])
    visit = np.cumsum(starts) - 1
    run_start = np.maximum.accumulate(np.where(starts, np.arange(len(hit)), 0))
    number = np.arange(len(hit)) - run_start + 1
    hits = np.flatnonzero(hit)
    lon, lat = to_wgs84(px_[hits], py_[hits])
    return [
        Position(int(t[i]), float(px_[i]), float(py_[i]), float(lat[j]), float(lon[j]),
                 float(pa_[i]), round(float(spd_[i]), 1), "between" if between[i] else "fix",
                 _letters(int(visit[i])), int(number[i]))
        for j, i in enumerate(hits.tolist())
    ]  # fmt: skip


def _letters(k: int) -> str:
    s = ""
    k += 1
    while k:
        k, rem = divmod(k - 1, 26)
        s = chr(65 + rem) + s
    return s


def _speeds(ts: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """km/h at each fix: from the fix before (the one after, for the first)."""
    if len(ts) < 2:
        return np.zeros(len(ts))
    seg = np.hypot(np.diff(x), np.diff(y)) / np.maximum(np.diff(ts) / 1000, 1e-3) * 3.6
    return np.concatenate([seg[:1], seg])


def _eliminate(crime: Crime, ts: np.ndarray, acc: np.ndarray, reach: np.ndarray, r: float,
               v: float, fit_a: int, fit_b: int) -> tuple[str, str]:  # fmt: skip
    """("eliminated" or "cannot_eliminate", the reason)."""
    t0, t1 = crime.start, crime.end
    if len(ts) == 0:
        return "cannot_eliminate", "no fix around the window: the tag was silent"
    if fit_a > t0:
        return "cannot_eliminate", f"the tag was fitted only at {local_time(fit_a)}, in the window"
    if fit_b <= t1:
        return "cannot_eliminate", f"the tag was removed at {local_time(fit_b)}, in the window"
    if ts[0] > t0:
        return (
            "cannot_eliminate",
            f"no fix before the window starts: the first at {local_time(int(ts[0]))}",
        )
    if ts[-1] < t1:
        return (
            "cannot_eliminate",
            f"no fix after the window ends: the last at {local_time(int(ts[-1]))}",
        )
    need = np.maximum(reach - r, 0.0) / v * 1000  # ms from each fix to the vicinity's edge
    if len(ts) > 1:
        a, b = ts[:-1], ts[1:]
        earliest = a + need[:-1]  # the earliest the vicinity could be reached after a fix
        latest = b - need[1:]  # the latest it could be left to make the next fix
        open_ = (earliest <= latest) & (earliest <= t1) & (latest >= t0) & (b > t0) & (a < t1)
        bad = np.flatnonzero(open_)
        if len(bad):
            k = int(bad[0])
            gap = int(b[k] - a[k])
            if max(acc[k], acc[k + 1]) > 100:
                why = (f"poor accuracy: ±{distance(max(acc[k], acc[k + 1]))} at "
                       f"{local_time(int(a[k]))}")  # fmt: skip
            else:
                why = (f"a gap of {duration(gap)} from {local_time(int(a[k]))}: the scene was "
                       f"within reach at {v * 3.6:.0f} km/h")  # fmt: skip
            return "cannot_eliminate", why
    inside = (ts >= t0) & (ts <= t1)
    return "eliminated", _eliminated(float(np.min(reach[inside] if inside.any() else reach)), v)
