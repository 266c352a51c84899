"""Undeclared vehicles: a subject travelling in a vehicle not declared to the police.

A subject whose order has a ``declared_vehicles`` condition (in force) may use only the
vehicles it lists. An ANPR read puts a plate at a camera at an instant; the subject's trail
(:mod:`geomonitor.trail`) puts the subject somewhere at that instant, interpolated between
the neighbouring fixes (never across a gap of more than 5 minutes). The subject is
*co-located* with the read when that position is within ``colocation_m`` (default 100 m)
plus its accuracy radius of the camera.

One co-location proves nothing (a car passing while the subject walks by). The same plate
co-located with the subject at two or more distinct cameras, each read within
``journey_minutes`` (default 30) of the last, is a journey together: one
``undeclared_vehicle`` candidate per subject, plate and journey, listing the reads and the
fixes that placed the subject at each.

Scale: reads and trails meet in an index of (5-minute slot, 500 m cell) keys, bucketed by
hour. A read's key is its camera's cell at its slot; a trail's keys are the cells within
reach of every point along it at each slot it passes through. Only reads and subjects whose
keys meet get the exact test, so matching a read costs a few array look-ups whatever the
number of subjects, and a late fix re-examines only the reads of the hours it changed.

Pure: reads and trail changes in, candidate changes out. Co-locations are a function of the
reads and the trails, so any arrival order of fixes and reads gives the same candidates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..model.candidate import (
    Candidate,
    Emitted,
    candidate_id,
    fix_refs,
    local_clock,
    local_time,
    reconcile,
)
from ..model.columns import Columns, join_sorted, ranges
from ..model.crs import to_bng
from ..model.read import Read
from ..model.registry import Registry
from ..model.times import MS_PER_HOUR, MS_PER_MINUTE
from .config import AssociationConfig, VehicleConfig
from .trail import Trail
from .vehicle import Declaration, declarations, read_rank, read_ref

SLOT_MS = 5 * MS_PER_MINUTE
BUCKET_MS = MS_PER_HOUR
CELL_M = 500.0
#: Points along a trail are placed no further apart than this for the key cells.
SPACING_M = 200.0
_BITS = 14  # bits of a cell coordinate in a key
#: Cell coordinates are kept this far inside their field, so that a key plus a ring
#: offset is the key of the neighbouring cell (reach up to 8 cells, 4 km).
_MAX_RINGS = 8
_OFF = 1 << (_BITS - 1)


def _keys(slot: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One key per (slot, cell). Cells more than about 4,000 km from the BNG origin are
    clamped to the edge of the key space: a camera is never there, and a key shared by
    mistake only costs an exact test."""
    lo, hi = _MAX_RINGS, (1 << _BITS) - 1 - _MAX_RINGS
    cx = np.clip(np.floor(x / CELL_M).astype(np.int64) + _OFF, lo, hi)
    cy = np.clip(np.floor(y / CELL_M).astype(np.int64) + _OFF, lo, hi)
    return slot.astype(np.int64) * (1 << (2 * _BITS)) + cx * (1 << _BITS) + cy


class _KeyIndex:
    """Keys with a payload, in parts (replaceable by owner); sorted lazily for look-ups."""

    __slots__ = ("_sorted", "parts")

    def __init__(self) -> None:
        self.parts: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None

    def set(self, owner: Any, keys: np.ndarray, payload: np.ndarray) -> None:
        if len(keys):
            self.parts[owner] = (keys, payload)
        else:
            self.parts.pop(owner, None)
        self._sorted = None

    def lookup(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._sorted is None:
            if self.parts:
                k = np.concatenate([p[0] for p in self.parts.values()])
                v = np.concatenate([p[1] for p in self.parts.values()])
                o = np.argsort(k, kind="stable")
                self._sorted = (k[o], v[o])
            else:
                e = np.empty(0, np.int64)
                self._sorted = (e, e)
        keys, payload = self._sorted
        return join_sorted(keys, payload, queries)


@dataclass
class _Group:
    """A subject's co-locations with one plate (read rows) and the candidates made of them."""

    rows: set[int] = field(default_factory=set)
    emitted: Emitted = field(default_factory=dict)


class UndeclaredVehicles:
    """The undeclared-vehicle rule of a registry.

    Parameters
    ----------
    registry
        Declarations come from its ``declared_vehicles`` conditions.
    subject_ix
        Subject id -> engine subject index (the keys of the trails).
    tag_ids
        Engine tag index -> tag id (for evidence references).
    """

    def __init__(
        self,
        registry: Registry,
        subject_ix: dict[str, int],
        tag_ids: list[str],
        vcfg: VehicleConfig | None = None,
        acfg: AssociationConfig | None = None,
    ):
        self.vcfg = vcfg or VehicleConfig()
        self.acfg = acfg or AssociationConfig()
        self.subject_ids = {i: s for s, i in subject_ix.items()}
        self._tag_names = np.array(tag_ids, dtype=object)
        self.declarations: dict[int, list[Declaration]] = {}
        for d in declarations(registry):
            self.declarations.setdefault(subject_ix[d.subject_id], []).append(d)
        for decls in self.declarations.values():
            decls.sort(key=lambda d: (d.order_id, d.condition_id))
        self.gap_ms = int(self.acfg.max_gap_minutes * MS_PER_MINUTE)
        self.journey_ms = int(self.vcfg.journey_minutes * MS_PER_MINUTE)
        reach = self.vcfg.colocation_m + self.acfg.max_accuracy_m + SPACING_M
        self._rings = max(1, math.ceil(reach / CELL_M))
        if self._rings > _MAX_RINGS:
            raise ValueError("colocation_m and max_accuracy_m reach too far (4 km at most)")
        # Reads kept for matching: objects, and their time and camera position as columns.
        self.reads: list[Read] = []
        self._cols = Columns((np.int64, np.float64, np.float64, np.bool_))
        self._by_id: dict[str, int] = {}
        self._sites: dict[tuple[float, float], tuple[float, float]] = {}
        self._read_index: dict[int, _KeyIndex] = {}  # bucket -> keys of reads (rows)
        self._pass_index: dict[int, _KeyIndex] = {}  # bucket -> keys of trails (subjects)
        #: bucket -> subjects whose keys there are out of date (made when first needed)
        self._stale: dict[int, set[int]] = {}
        r = self._rings
        self._ring_offsets = np.array(
            [(dx << _BITS) + dy for dx in range(-r, r + 1) for dy in range(-r, r + 1)], np.int64
        )
        self._coloc: dict[int, dict[int, str]] = {}  # subject -> read row -> plate
        self._groups: dict[tuple[int, str], _Group] = {}
        self._chunk = 0

    @property
    def subjects(self) -> set[int]:
        """Subjects whose trails this rule needs."""
        return set(self.declarations)

    # ------------------------------------------------------------------ reads
    def add_reads(
        self, reads: list[Read], trails: dict[int, Trail]
    ) -> tuple[list[Candidate], list[str]]:
        """Take reads in (any order, duplicates allowed); returns the candidates opened or
        changed and the ids of those retracted."""
        if not self.declarations:
            return [], []
        touched: set[tuple[int, str]] = set()
        fresh: list[Read] = []
        by_id = self._by_id
        min_conf = self.vcfg.min_confidence
        first = len(self.reads)
        for r in reads:
            if r.confidence is not None and r.confidence < min_conf:
                continue
            old = by_id.get(r.read_id)
            if old is not None:
                held = self.reads[old] if old < first else fresh[old - first]
                if read_rank(r) >= read_rank(held):
                    continue
                if old >= first:  # both copies in this batch: keep the better one
                    fresh[old - first] = r
                    continue
                self._kill(old, touched)  # a better copy of the same read replaces it
            by_id[r.read_id] = first + len(fresh)
            fresh.append(r)
        if fresh:
            rows = np.arange(first, first + len(fresh), dtype=np.int64)
            x, y = self._positions(fresh)
            ts = np.fromiter((r.ts for r in fresh), np.int64, len(fresh))
            self.reads.extend(fresh)
            self._cols.append((ts, x, y, np.zeros(len(fresh), bool)))
            keys = _keys(ts // SLOT_MS, x, y)
            bucket = ts // BUCKET_MS
            o = np.argsort(bucket, kind="stable")
            cuts = np.flatnonzero(np.diff(bucket[o])) + 1
            self._chunk += 1
            hits_row: list[np.ndarray] = []
            hits_subj: list[np.ndarray] = []
            for seg in np.split(o, cuts):
                h = int(bucket[seg[0]])
                idx = self._read_index.setdefault(h, _KeyIndex())
                idx.set(self._chunk, keys[seg], rows[seg])
                passes = self._passes(h, trails)
                if passes is None:
                    continue
                qi, subj = passes.lookup(keys[seg])
                hits_row.append(rows[seg][qi])
                hits_subj.append(subj)
            if hits_row:
                self._colocate(np.concatenate(hits_row), np.concatenate(hits_subj), trails, touched)
        return self._judge_all(touched, trails)

    def _positions(self, reads: list[Read]) -> tuple[np.ndarray, np.ndarray]:
        """Camera positions in BNG (each site projected once)."""
        sites = self._sites
        missing = {(r.lat, r.lon) for r in reads} - sites.keys()
        if missing:
            ll = sorted(missing)
            x, y = to_bng(np.array([p[1] for p in ll]), np.array([p[0] for p in ll]))
            sites.update(zip(ll, zip(x.tolist(), y.tolist(), strict=True), strict=True))
        xy = [sites[(r.lat, r.lon)] for r in reads]
        return np.array([p[0] for p in xy]), np.array([p[1] for p in xy])

    def _kill(self, row: int, touched: set[tuple[int, str]]) -> None:
        self._cols.views()[3][row] = True
        for s, rows in self._coloc.items():
            vrm = rows.pop(row, None)
            if vrm is not None:
                self._groups[(s, vrm)].rows.discard(row)
                touched.add((s, vrm))

    # ------------------------------------------------------------------ trails
    def trails_changed(
        self, trails: dict[int, Trail], changed: dict[int, tuple[int, int]]
    ) -> tuple[list[Candidate], list[str]]:
        """Re-match the reads of the hours in which these subjects' trails changed."""
        touched: set[tuple[int, str]] = set()
        for s, (lo, hi) in sorted(changed.items()):
            if s not in self.declarations:
                continue
            trail = trails[s]
            a = int(np.searchsorted(trail.ts, lo - self.gap_ms, side="left"))
            b = int(np.searchsorted(trail.ts, hi + self.gap_ms, side="right"))
            hours = np.unique(trail.ts[a:b] // BUCKET_MS).tolist()
            ts_col = self._cols.views()[0]
            for h in hours:
                # Forget this subject's co-locations in the hour ...
                mine = self._coloc.get(s, {})
                for row in [r for r in mine if ts_col[r] // BUCKET_MS == h]:
                    vrm = mine.pop(row)
                    self._groups[(s, vrm)].rows.discard(row)
                    touched.add((s, vrm))
                idx = self._read_index.get(h)
                if idx is None:  # no reads in the hour yet: its keys are made when needed
                    self._stale.setdefault(h, set()).add(s)
                    continue
                # ... and match it again against the hour's reads.
                keys = self._set_keys(s, h, trail)
                if len(keys) == 0:
                    continue
                _, rows = idx.lookup(keys)
                if len(rows):
                    rows = np.unique(rows)
                    self._colocate(rows, np.full(len(rows), s, np.int64), trails, touched)
        return self._judge_all(touched, trails)

    def _set_keys(self, s: int, h: int, trail: Trail) -> np.ndarray:
        keys = self._trail_keys(trail, h)
        self._pass_index.setdefault(h, _KeyIndex()).set(s, keys, np.full(len(keys), s, np.int64))
        stale = self._stale.get(h)
        if stale is not None:
            stale.discard(s)
            if not stale:
                del self._stale[h]
        return keys

    def _passes(self, h: int, trails: dict[int, Trail]) -> _KeyIndex | None:
        """The trails' keys in hour bucket ``h``, brought up to date."""
        for s in sorted(self._stale.get(h, ())):
            self._set_keys(s, h, trails[s])
        return self._pass_index.get(h)

    def _trail_keys(self, trail: Trail, h: int) -> np.ndarray:
        """The (slot, cell) keys within reach of the trail during hour bucket ``h``."""
        lo, hi = h * BUCKET_MS, (h + 1) * BUCKET_MS
        a = max(int(np.searchsorted(trail.ts, lo - self.gap_ms, side="left")), 0)
        b = int(np.searchsorted(trail.ts, hi + self.gap_ms, side="right"))
        ts, x, y = trail.ts[a:b], trail.x[a:b], trail.y[a:b]
        if len(ts) == 0:
            return np.empty(0, np.int64)
        # Segments between fixes close enough in time to interpolate, and every fix alone.
        ok = (ts[1:] - ts[:-1]) <= self.gap_ms
        t0 = np.concatenate([ts[:-1][ok], ts])
        t1 = np.concatenate([ts[1:][ok], ts])
        x0 = np.concatenate([x[:-1][ok], x])
        x1 = np.concatenate([x[1:][ok], x])
        y0 = np.concatenate([y[:-1][ok], y])
        y1 = np.concatenate([y[1:][ok], y])
        length = np.hypot(x1 - x0, y1 - y0)
        npts = np.ceil(length / SPACING_M).astype(np.int64) + 1
        seg, k = ranges(npts)
        f = k / np.maximum(npts[seg] - 1, 1)
        pt = t0[seg] + (f * (t1[seg] - t0[seg])).astype(np.int64)
        px = x0[seg] + f * (x1[seg] - x0[seg])
        py = y0[seg] + f * (y1[seg] - y0[seg])
        # A read between two consecutive points (at most 5 minutes apart) falls in the
        # slot of one of them, and is within the spacing of that one: its own key covers it.
        keep = (pt >= lo) & (pt < hi)
        slots, px2, py2 = pt[keep] // SLOT_MS, px[keep], py[keep]
        base = _keys(slots, px2, py2)
        return np.unique((base[:, None] + self._ring_offsets[None, :]).ravel())

    # ------------------------------------------------------------------ co-location
    def _colocate(
        self,
        rows: np.ndarray,
        subj: np.ndarray,
        trails: dict[int, Trail],
        touched: set[tuple[int, str]],
    ) -> None:
        """Exact test of (read row, subject) pairs; records the co-locations."""
        if len(rows) == 0:
            return
        code = np.unique((subj.astype(np.int64) << 40) | rows.astype(np.int64))
        subj, rows = code >> 40, code & ((1 << 40) - 1)
        ts_col, x_col, y_col, dead = self._cols.views()
        reach = self.vcfg.colocation_m
        cuts = np.flatnonzero(np.diff(subj)) + 1
        for r_s, s in zip(np.split(rows, cuts), subj[np.r_[0, cuts]].tolist(), strict=True):
            r_s = r_s[~dead[r_s]]
            trail = trails.get(s)
            if trail is None or len(r_s) == 0:
                continue
            known, px, py, acc, _ = trail.at(ts_col[r_s], self.gap_ms)
            d = np.hypot(px - x_col[r_s], py - y_col[r_s])
            near = known & (d <= reach + acc)
            decls = self.declarations[s]
            mine = self._coloc.setdefault(s, {})
            for row in r_s[near].tolist():
                read = self.reads[row]
                live = [dc for dc in decls if dc.valid_from <= read.ts < dc.valid_to]
                if not live or any(read.vrm in dc.vrms for dc in live):
                    continue  # no declaration in force, or a declared vehicle
                mine[row] = read.vrm
                g = self._groups.setdefault((s, read.vrm), _Group())
                g.rows.add(row)
                touched.add((s, read.vrm))

    # ------------------------------------------------------------------ candidates
    def _judge_all(
        self, touched: set[tuple[int, str]], trails: dict[int, Trail]
    ) -> tuple[list[Candidate], list[str]]:
        upserts: list[Candidate] = []
        retracted: list[str] = []
        for key in sorted(touched):
            g = self._groups[key]
            reconcile(g.emitted, self._journeys(key, g, trails), upserts, retracted)
            if not g.rows and not g.emitted:
                del self._groups[key]
        return sorted(upserts, key=lambda c: c.id), sorted(retracted)

    def _journeys(
        self, key: tuple[int, str], g: _Group, trails: dict[int, Trail]
    ) -> list[Candidate]:
        s, vrm = key
        reads = sorted((self.reads[row] for row in g.rows), key=lambda r: (r.ts, r.read_id))
        out: list[Candidate] = []
        run: list[Read] = []
        for r in [*reads, None]:
            if r is None or (run and r.ts - run[-1].ts > self.journey_ms):
                if len({x.camera_id for x in run}) >= self.vcfg.journey_cameras:
                    out.append(self._candidate(s, vrm, run, trails[s]))
                run = []
            if r is not None:
                run.append(r)
        return out

    def _candidate(self, s: int, vrm: str, run: list[Read], trail: Trail) -> Candidate:
        subject = self.subject_ids[s]
        first, last = run[0], run[-1]
        decl = next(d for d in self.declarations[s] if d.valid_from <= first.ts < d.valid_to)
        ts = np.array([r.ts for r in run], np.int64)
        _, px, py, acc, k = trail.at(ts, self.gap_ms)
        x, y = self._positions(run)
        dist = np.hypot(px - x, py - y)
        # The fixes that placed the subject at each read: the one at or before, and after.
        fix_ix = sorted(
            {int(i) for i in k if i >= 0}
            | {int(i) + 1 for i, t in zip(k, ts, strict=True) if 0 <= i < len(trail.ts) - 1
               and trail.ts[i] != t}
        )  # fmt: skip
        fixes = fix_refs(
            self._tag_names[trail.tag[fix_ix]].tolist() if fix_ix else [],
            trail.ts[fix_ix].tolist() if fix_ix else [],
        )
        cameras = sorted({r.camera_id for r in run})
        return Candidate(
            id=candidate_id("undeclared_vehicle", subject, decl.order_id,
                            f"{decl.condition_id}|{vrm}", first.ts),
            kind="undeclared_vehicle",
            subject_id=subject,
            order_id=decl.order_id,
            condition_id=decl.condition_id,
            zone_id=None,
            opened_at=first.ts,
            closed_at=last.ts,
            status="closed",
            fix_count=len(fixes),
            explanation=(
                f"{subject} travelled with vehicle {vrm}, not declared ({decl.condition_id}): "
                f"read {len(run)} time(s) by {len(cameras)} camera(s) from "
                f"{local_time(first.ts)} to {local_clock(last.ts, first.ts)}, each time with "
                f"{subject}'s tag within {self.vcfg.colocation_m:.0f} m (plus accuracy) of "
                f"the camera, {dist.min():.0f}-{dist.max():.0f} m."
            ),
            last_evidence_at=last.ts,
            evidence=[read_ref(r) for r in run] + fixes,
            details={
                "vrm": vrm,
                "cameras": cameras,
                "reads": len(run),
                "nearest_m": round(float(dist.min()), 1),
                "furthest_m": round(float(dist.max()), 1),
                "worst_accuracy_m": round(float(acc.max()), 1),
            },
        )  # fmt: skip

    def candidates(self) -> list[Candidate]:
        return [c for g in self._groups.values() for _, c in g.emitted.values()]
