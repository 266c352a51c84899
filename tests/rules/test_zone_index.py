"""The H3 index must agree exactly with brute-force geometry, for every zone shape and every
accuracy radius: no false positive, no false negative, no uncertain turned certain."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from geomonitor.model.crs import to_wgs84
from geomonitor.model.geography import wards
from geomonitor.model.zone import Zone
from geomonitor.rules.zones.index import (
    INSIDE,
    OUTSIDE,
    UNCERTAIN,
    ZoneIndex,
    cells_for,
    classify_exact,
)

from ..conftest import CX, CY


def brute_force(zone_geom, x: float, y: float, r: float) -> int:
    """Whole accuracy circle inside / outside / neither, one point at a time."""
    p = Point(x, y)
    d = zone_geom.boundary.distance(p)
    if zone_geom.contains(p) and d >= r:
        return int(INSIDE)
    if not zone_geom.contains(p) and d > r:
        return int(OUTSIDE)
    return int(UNCERTAIN)


def star(cx: float, cy: float, radii: list[float], phase: float) -> shapely.Polygon:
    n = len(radii)
    pts = [
        (
            cx + r * math.cos(phase + 2 * math.pi * i / n),
            cy + r * math.sin(phase + 2 * math.pi * i / n),
        )
        for i, r in enumerate(radii)
    ]
    return shapely.Polygon(pts)


@st.composite
def zones(draw) -> shapely.Geometry:
    kind = draw(st.sampled_from(["star", "holed", "multi", "sliver", "tiny", "circle"]))
    scale = draw(st.sampled_from([3.0, 40.0, 400.0, 2500.0]))
    ox = CX + draw(st.floats(-2000, 2000))
    oy = CY + draw(st.floats(-2000, 2000))
    radii = draw(st.lists(st.floats(0.3, 1.0), min_size=3, max_size=24))
    phase = draw(st.floats(0, 2 * math.pi))
    if kind == "star":
        return star(ox, oy, [r * scale for r in radii], phase)
    if kind == "holed":
        outer = star(ox, oy, [r * scale for r in radii], phase)
        inner = min(radii) * scale * draw(st.floats(0.1, 0.9))
        hole = shapely.Point(ox, oy).buffer(inner, quad_segs=4)
        return outer.difference(hole)
    if kind == "multi":
        a = star(ox, oy, [r * scale for r in radii], phase)
        gap = draw(st.floats(1.0, 3.0)) * scale
        b = star(ox + 2 * scale + gap, oy, [r * scale * 0.5 for r in radii], phase)
        return shapely.MultiPolygon([a, b])
    if kind == "sliver":
        width = draw(st.floats(0.2, 25.0))
        length = draw(st.floats(50.0, 4000.0))
        box = shapely.box(-length / 2, -width / 2, length / 2, width / 2)
        return shapely.affinity.translate(
            shapely.affinity.rotate(box, phase, use_radians=True), ox, oy
        )
    if kind == "tiny":
        return star(ox, oy, [r * draw(st.floats(0.5, 6.0)) for r in radii], phase)
    return shapely.Point(ox, oy).buffer(scale, quad_segs=draw(st.integers(2, 64)))


@st.composite
def probes(draw, geom) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points all around the zone, many of them right at the boundary, with radii from 0
    to kilometres."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = geom.bounds
    pad = max(maxx - minx, maxy - miny) * 0.5 + 600
    n_box = 150
    xs = rng.uniform(minx - pad, maxx + pad, n_box)
    ys = rng.uniform(miny - pad, maxy + pad, n_box)
    # Points near the boundary, offset along random directions by about their radius.
    n_edge = 150
    ring = geom.boundary
    along = rng.uniform(0, ring.length, n_edge)
    edge_pts = shapely.line_interpolate_point(ring, along)
    ang = rng.uniform(0, 2 * math.pi, n_edge)
    acc_edge = rng.choice([0.0, 1.0, 5.0, 12.0, 25.0, 80.0, 300.0], n_edge)
    off = acc_edge * rng.choice([0.0, 0.5, 0.999, 1.0, 1.001, 2.0], n_edge) + rng.uniform(
        -0.01, 0.01, n_edge
    )
    ex = shapely.get_x(edge_pts) + off * np.cos(ang)
    ey = shapely.get_y(edge_pts) + off * np.sin(ang)
    acc_box = np.concatenate([rng.exponential(30.0, n_box - 20), rng.uniform(200, 3000, 20)])
    return (np.concatenate([xs, ex]), np.concatenate([ys, ey]), np.concatenate([acc_box, acc_edge]))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(), resolution=st.sampled_from([8, 9, 10]), margin=st.sampled_from([30.0, 250.0])
)
def test_index_is_exact_against_brute_force(data, resolution, margin):
    geom = data.draw(zones())
    assume(geom.is_valid and not geom.is_empty and geom.area > 0)
    zone = Zone("Z", "z", geom)
    index = ZoneIndex([zone], resolution=resolution, margin_m=margin)
    x, y, acc = data.draw(probes(geom))
    lon, lat = to_wgs84(x, y)
    got = index.classify("Z", cells_for(lat, lon, resolution), x, y, acc)
    want = np.array([brute_force(geom, a, b, r) for a, b, r in zip(x, y, acc, strict=True)])
    bad = np.flatnonzero(got != want)
    assert len(bad) == 0, [(x[i], y[i], acc[i], got[i], want[i]) for i in bad[:5]]


def test_real_wards_exact_and_mostly_decided_without_geometry():
    ws = wards()[:12]
    zs = [Zone(w.code, w.name, w.geometry) for w in ws]
    index = ZoneIndex(zs, resolution=9)
    rng = np.random.default_rng(7)
    for z in zs:
        minx, miny, maxx, maxy = z.geometry.bounds
        x = rng.uniform(minx - 500, maxx + 500, 3000)
        y = rng.uniform(miny - 500, maxy + 500, 3000)
        acc = rng.exponential(20.0, 3000)
        lon, lat = to_wgs84(x, y)
        before = index.exact_tests
        got = index.classify(z.id, cells_for(lat, lon, 9), x, y, acc)
        want = np.array(
            [brute_force(z.geometry, a, b, r) for a, b, r in zip(x, y, acc, strict=True)]
        )
        assert (got == want).all()
        # The point of the index: most fixes never touch the geometry.
        assert index.exact_tests - before < 0.5 * len(x)


def test_fix_far_away_with_huge_radius_is_still_tested():
    zone = Zone("Z", "z", shapely.Point(CX, CY).buffer(100))
    index = ZoneIndex([zone], resolution=9, margin_m=50)
    x, y = np.array([CX + 5000.0]), np.array([CY])
    lon, lat = to_wgs84(x, y)
    cells = cells_for(lat, lon, 9)
    assert index.classify("Z", cells, x, y, np.array([10.0]))[0] == OUTSIDE
    assert index.classify("Z", cells, x, y, np.array([6000.0]))[0] == UNCERTAIN


@pytest.mark.parametrize("resolution", [8, 9, 10])
def test_a_circle_tangent_to_the_edge_from_inside_and_from_outside(resolution):
    """Exact distances (a square on whole metres, fixes on whole metres): a circle just
    touching the edge from inside is inside; from outside it is not outside (it touches
    the zone). One millimetre of radius either way decides it."""
    left, bottom = float(round(CX)), float(round(CY))
    zone = Zone("Z", "z", shapely.box(left, bottom, left + 1000, bottom + 1000))
    index = ZoneIndex([zone], resolution=resolution, margin_m=250)
    x = np.array([left + 30] * 3 + [left - 30] * 3)
    y = np.full(6, bottom + 500)
    acc = np.array([29.999, 30.0, 30.001] * 2)
    want = [INSIDE, INSIDE, UNCERTAIN, OUTSIDE, UNCERTAIN, UNCERTAIN]
    lon, lat = to_wgs84(x, y)
    assert index.classify("Z", cells_for(lat, lon, resolution), x, y, acc).tolist() == want
    assert classify_exact(zone, x, y, acc).tolist() == want


def test_kept_covers_give_the_same_answers_and_are_keyed_by_what_they_depend_on(tmp_path):
    """The covers kept in the store between runs: read back, the index classifies exactly
    as one built afresh (and as brute force); a zone whose outline changed, or another
    resolution or margin, gets a cover of its own; nothing is built the second time."""
    from geomonitor.engine import EngineConfig
    from geomonitor.model.registry_load import parse_registry
    from geomonitor.store.domain import Store

    from ..conftest import BASE_DOC, make_doc

    ws = wards()[:6]
    zones = [{"id": w.code, "name": w.name, "geometry": w.geojson, "crs": "EPSG:4326"}
             for w in ws]  # fmt: skip
    conds = [{"id": f"C-{k}", "type": "exclusion_zone", "zone": w.code} for k, w in enumerate(ws)]
    orders = [dict(BASE_DOC["orders"][0], conditions=conds)]
    reg = parse_registry(make_doc(zones=zones, orders=orders))
    with Store(tmp_path / "z.db") as st:
        first = st.zone_index(reg)
        assert len(first.built) == 6
        again = st.zone_index(reg)
        assert again.built == {}
        rng = np.random.default_rng(3)
        for w in ws:
            minx, miny, maxx, maxy = w.geometry.bounds
            x = rng.uniform(minx - 400, maxx + 400, 2000)
            y = rng.uniform(miny - 400, maxy + 400, 2000)
            acc = rng.exponential(25.0, 2000)
            lon, lat = to_wgs84(x, y)
            cells = cells_for(lat, lon, 9)
            got = again.classify(w.code, cells, x, y, acc)
            assert (got == first.classify(w.code, cells, x, y, acc)).all()
            want = [brute_force(w.geometry, a, b, r) for a, b, r in zip(x, y, acc, strict=True)]
            assert (got == np.array(want)).all()
        # another margin: every cover built again; then both kept side by side
        assert len(st.zone_index(reg, EngineConfig(index_margin_m=300.0)).built) == 6
        assert st.zone_index(reg, EngineConfig(index_margin_m=300.0)).built == {}
        assert st.zone_index(reg).built == {}
        # one zone's outline moved a metre: that zone alone is built again
        shifted = shapely.affinity.translate(shapely.geometry.shape(ws[0].geojson), 0.00001, 0)
        moved = dict(zones[0], geometry=shapely.geometry.mapping(shifted))
        reg2 = parse_registry(make_doc(zones=[moved, *zones[1:]], orders=orders))
        assert len(st.zone_index(reg2).built) == 1
