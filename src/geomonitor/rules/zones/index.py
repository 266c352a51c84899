"""An exact H3 index over zones, with GPS accuracy.

Every zone is covered by H3 (v4) cells out to a margin around it. Each cell is classified:

* *interior*: the whole cell lies inside the zone, at least ``clearance`` metres from its
  boundary;
* *exterior*: the whole cell lies outside the zone (in the margin), at least ``clearance``
  metres from its boundary;
* *boundary*: the cell touches the boundary (``clearance`` 0).

A fix is a point with an accuracy radius ``r``. It is **inside** a zone only if its whole
accuracy circle is inside (point inside, distance to the boundary >= r), **outside** only if
the whole circle is outside (point outside, distance > r), and **uncertain** otherwise.
For a fix in an interior or exterior cell whose radius is within the cell's clearance the
answer is known without geometry; every other fix is tested exactly with shapely on the
prepared BNG geometry. A fix in no cell of the zone's cover is more than the margin away.

The cell polygons are built from H3's vertices in BNG with straight edges; the clearance
subtracts a tolerance (``CELL_TOLERANCE_M``) far larger than the difference between
H3's geodesic edges and straight BNG edges over a few hundred metres, so the shortcuts are
exact: they never disagree with the exact test (see ``tests/test_zone_index.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import h3.api.basic_int as h3
import numpy as np
import shapely

from ...model.crs import BNG, WGS84, to_bng, transformer
from ...model.zone import Zone

OUTSIDE = np.int8(0)
INSIDE = np.int8(1)
UNCERTAIN = np.int8(2)

KIND_EXTERIOR = 0
KIND_INTERIOR = 1
KIND_BOUNDARY = 2

#: Safety tolerance (metres) between H3's cells and their straight-edged BNG polygons.
CELL_TOLERANCE_M = 0.5
#: Bumped whenever the way a cover is built changes (a kept cover of another version is
#: built again).
COVER_VERSION = 1

#: A zone's cover as kept between runs: its cells, their kinds and clearances.
CoverArrays = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass
class _Cover:
    zone: Zone
    cells: np.ndarray  # int64, sorted
    kind: np.ndarray  # int8
    clearance: np.ndarray  # float64 metres; 0 for boundary cells
    far_m: float  # a fix outside the cover is at least this far from the zone


def cells_for(lat: np.ndarray, lon: np.ndarray, resolution: int) -> np.ndarray:
    """H3 cell of every WGS84 point, as int64."""
    f = h3.latlng_to_cell
    return np.fromiter(
        (f(a, b, resolution) for a, b in zip(lat.tolist(), lon.tolist(), strict=True)),
        np.int64,
        len(lat),
    )


def classify_exact(zone: Zone, x: np.ndarray, y: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Accuracy-aware classification by geometry alone (no index)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    acc = np.asarray(acc, float)
    if len(x) == 0:
        return np.empty(0, np.int8)
    contains = shapely.contains_xy(zone.geometry, x, y)
    dist = shapely.distance(zone.boundary, shapely.points(x, y))
    out = np.full(len(x), UNCERTAIN, np.int8)
    out[contains & (dist >= acc)] = INSIDE
    out[~contains & (dist > acc)] = OUTSIDE
    return out


class ZoneIndex:
    """H3 covers of a set of zones.

    Parameters
    ----------
    zones
        The zones to index.
    resolution
        H3 resolution of the covers (9: cells of about 0.1 km²).
    margin_m
        How far around each zone the cover reaches. A fix farther away than this with an
        accuracy radius below it is outside without any geometry.
    """

    def __init__(
        self,
        zones: Iterable[Zone],
        resolution: int = 9,
        margin_m: float = 250.0,
        kept: Mapping[str, CoverArrays] | None = None,
    ):
        self.resolution = resolution
        self.margin_m = margin_m
        self.exact_tests = 0
        self._covers: dict[str, _Cover] = {}
        #: Covers built here that were not among ``kept`` (by cover key), to keep.
        self.built: dict[str, CoverArrays] = {}
        far_m = self.margin_m * 0.99 - CELL_TOLERANCE_M
        for z in zones:
            key = self.cover_key(z)
            got = kept.get(key) if kept is not None else None
            if got is not None:
                self._covers[z.id] = _Cover(z, *got, far_m)
            else:
                cov = self._covers[z.id] = self._build(z)
                self.built[key] = (cov.cells, cov.kind, cov.clearance)

    def cover_key(self, zone: Zone) -> str:
        """What a zone's cover depends on: its geometry (exactly), the resolution, the
        margin, the tolerance and the way covers are built. A cover kept under this key
        (:attr:`built`, passed back as ``kept``) is the cover this index would build."""
        h = hashlib.sha256(shapely.to_wkb(zone.geometry, hex=False, output_dimension=2))
        h.update(
            f"|{self.resolution}|{self.margin_m!r}|{CELL_TOLERANCE_M!r}|{COVER_VERSION}".encode()
        )
        return h.hexdigest()

    def __contains__(self, zone_id: str) -> bool:
        return zone_id in self._covers

    def zone(self, zone_id: str) -> Zone:
        return self._covers[zone_id].zone

    def cover_size(self, zone_id: str) -> int:
        return len(self._covers[zone_id].cells)

    def _build(self, zone: Zone) -> _Cover:
        # Every cell that overlaps the zone grown by the margin has its centre within one
        # circumradius (= edge length) of it; grow by three average edge lengths more so
        # H3's planar polyfill of the WGS84 outline loses nothing near the edge.
        edge = h3.average_hexagon_edge_length(self.resolution, unit="m")
        buffered = zone.geometry.buffer(self.margin_m + 3 * edge, quad_segs=16)
        t = transformer(BNG, WGS84)
        wgs = shapely.transform(buffered, lambda c: np.column_stack(t.transform(c[:, 0], c[:, 1])))
        shape = h3.geo_to_h3shape(shapely.geometry.mapping(wgs))
        arr = np.array(sorted(h3.h3shape_to_cells(shape, self.resolution)), dtype=np.int64)

        # Cell polygons in BNG (ragged: some cells have distortion vertices).
        coords: list[tuple[float, float]] = []
        ring_index: list[int] = []
        for i, c in enumerate(arr.tolist()):
            b = h3.cell_to_boundary(c)
            coords.extend(b)
            coords.append(b[0])
            ring_index.extend([i] * (len(b) + 1))
        latlng = np.asarray(coords, float)
        bx, by = to_bng(latlng[:, 1], latlng[:, 0])
        rings = shapely.linearrings(np.column_stack([bx, by]), indices=np.asarray(ring_index))
        polys = shapely.polygons(rings)
        clearance = shapely.distance(polys, zone.boundary) - CELL_TOLERANCE_M
        cen = shapely.centroid(polys)
        inside = shapely.contains_xy(zone.geometry, shapely.get_x(cen), shapely.get_y(cen))
        kind = np.where(inside, KIND_INTERIOR, KIND_EXTERIOR).astype(np.int8)
        boundary = clearance <= 0
        kind[boundary] = KIND_BOUNDARY
        clearance = np.where(boundary, 0.0, clearance)
        far_m = self.margin_m * 0.99 - CELL_TOLERANCE_M
        return _Cover(zone, arr, kind, clearance, far_m)

    def classify(
        self,
        zone_id: str,
        cells: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        acc: np.ndarray,
    ) -> np.ndarray:
        """Classify fixes against one zone: ``INSIDE``, ``OUTSIDE`` or ``UNCERTAIN``.

        ``cells`` are the fixes' H3 cells at this index's resolution (:func:`cells_for`).
        """
        cov = self._covers[zone_id]
        n = len(cells)
        out = np.full(n, UNCERTAIN, np.int8)
        if n == 0:
            return out
        pos = np.searchsorted(cov.cells, cells)
        pos_c = np.minimum(pos, len(cov.cells) - 1)
        found = cov.cells[pos_c] == cells
        kind = np.where(found, cov.kind[pos_c], -1)
        clear = np.where(found, cov.clearance[pos_c], cov.far_m)
        decided_out = ((kind == KIND_EXTERIOR) | (kind == -1)) & (acc < clear)
        decided_in = (kind == KIND_INTERIOR) & (acc <= clear)
        out[decided_out] = OUTSIDE
        out[decided_in] = INSIDE
        todo = ~(decided_out | decided_in)
        if todo.any():
            idx = np.flatnonzero(todo)
            self.exact_tests += len(idx)
            out[idx] = classify_exact(cov.zone, x[idx], y[idx], acc[idx])
        return out

    def depth(self, zone_id: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance (metres) from each point to the zone's boundary."""
        if len(x) == 0:
            return np.empty(0)
        z = self._covers[zone_id].zone
        return np.asarray(shapely.distance(z.boundary, shapely.points(x, y)), float)
