"""A subject's trail between two instants: fixes sized by their accuracy, a time slider,
the path coloured by the gap between fixes (under 2 minutes, under 10, longer), and the
subject's zones and curfew areas.

A long trail is thinned for drawing (at most :data:`MAX_DRAWN` fixes): every fix either side
of a gap of 2 minutes or more stays, and so does every fix that is evidence of one of the
subject's candidates; of the rest an even share is kept. The panel says how many were drawn.
"""

from __future__ import annotations

import importlib
import itertools
from pathlib import Path

import numpy as np

from ...model.errors import InputError
from ...model.text import distance, duration, local_time
from ...model.times import MS_PER_MINUTE, iso, parse_ts
from ...store.domain import Store
from .base import (
    KEY_ACCURACY,
    KEY_CURFEW,
    KEY_DOT,
    KEY_ZONE,
    MapPage,
    Tiles,
    circle,
    esc,
    fit,
    new_page,
    zone_layer,
)
from .base import legend as add_legend

#: the time slider's clock in UK local time with its zone, not the browser's
UK_SLIDER = (
    "(function () {"
    "var c = window.timeDimensionControl; if (!c) return;"
    "var f = {timeZone: 'Europe/London', weekday: 'short', day: '2-digit', month: 'short',"
    " year: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short'};"
    "c._getDisplayDateFormat = function (d) { return new Date(d).toLocaleString('en-GB', f); };"
    "if (c._update) c._update();"
    "})();"
)

MAX_DRAWN = 4000
GAP_CLASSES = (
    ("under 2 min", "#1a9850"),
    ("under 10 min", "#fdae61"),
    ("10 min or more", "#d73027"),
)


def gap_class(ms: np.ndarray) -> np.ndarray:
    """0: under 2 minutes, 1: under 10, 2: longer."""
    return np.where(ms < 2 * MS_PER_MINUTE, 0, np.where(ms < 10 * MS_PER_MINUTE, 1, 2))


def _fixes(store: Store, subject: str, lo: int, hi: int) -> dict[str, np.ndarray]:
    reg = store.current_registry()
    if subject not in reg.subjects:
        raise InputError(f"subject {subject!r}: not in the registry")
    rows: list[tuple] = []
    for f in reg.fittings:
        if f.subject_id != subject:
            continue
        a, b = max(lo, f.fitted_at), min(hi, f.removed_at if f.removed_at is not None else hi)
        if a < b:
            rows += [
                (*r, f.tag_id)
                for r in store.db.execute(
                    "SELECT ts, lat, lon, accuracy_m FROM fixes WHERE tag_id=? AND ts>=? AND ts<?",
                    (f.tag_id, a, b),
                )
            ]
    rows.sort()
    cols = np.array([r[:4] for r in rows], float).reshape(-1, 4)
    return {"ts": cols[:, 0].astype(np.int64), "lat": cols[:, 1], "lon": cols[:, 2],
            "acc": cols[:, 3],
            "tag": np.array([r[4] for r in rows], object)}  # fmt: skip


def thin(ts: np.ndarray, keep_ts: set[int], limit: int | None = None) -> np.ndarray:
    """Indexes of the fixes to draw: both ends of every gap of 2 minutes or more, every fix
    at an instant in ``keep_ts``, and an even share of the rest up to about ``limit``."""
    n = len(ts)
    limit = MAX_DRAWN if limit is None else limit
    if n <= limit:
        return np.arange(n)
    keep = np.zeros(n, bool)
    gap = np.flatnonzero(np.diff(ts) >= 2 * MS_PER_MINUTE)
    keep[gap] = keep[gap + 1] = True
    keep[0] = keep[-1] = True
    if keep_ts:
        keep |= np.isin(ts, np.fromiter(keep_ts, np.int64, len(keep_ts)))
    room = max(limit - int(keep.sum()), 0)
    if room:
        keep[np.linspace(0, n - 1, room).astype(np.int64)] = True
    return np.flatnonzero(keep)


def _point(lon: float, lat: float, **props: object) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
        "properties": props,
    }


def trail_map(
    store: Store,
    subject: str,
    lo: int,
    hi: int,
    out: Path,
    offline: bool = False,
    tiles: Tiles | None = None,
) -> Path:
    """Write the subject's trail in ``[lo, hi)``; returns its path."""
    if hi <= lo:
        raise InputError("--to must be after --from")
    reg = store.current_registry()
    f = _fixes(store, subject, lo, hi)
    n = len(f["ts"])
    if n == 0:
        raise InputError(f"subject {subject}: no fixes between {iso(lo)} and {iso(hi)}")
    evidence = {
        parse_ts(ref.partition("@")[2])
        for c in store.candidates()
        if c.subject_id == subject
        for ref in c.evidence
        if "@" in ref and not ref.startswith("ANPR:")
    }
    idx = thin(f["ts"], evidence)
    ts, lat, lon, acc = f["ts"][idx], f["lat"][idx], f["lon"][idx], f["acc"][idx]
    full_gaps = np.diff(f["ts"])
    # A drawn segment's colour: the longest gap among the fixes it spans.
    seg_cls = np.array([gap_class(full_gaps[a:b]).max() if b > a else 0
                        for a, b in itertools.pairwise(idx)], int)  # fmt: skip
    page = new_page(f"Trail of {subject}", (float(lat.mean()), float(lon.mean())), offline,
                    tiles=tiles)  # fmt: skip
    for zid in sorted(
        {c.zone_id for o, c in reg.conditions() if o.subject_id == subject and c.zone_id}
    ):
        z = reg.zones.get(zid)
        if z is not None:
            zone_layer(page, z.geometry, zid, f"zone {zid}")
    places = set()
    for o, c in reg.conditions("curfew"):
        if o.subject_id == subject and c.curfew is not None and c.schedule is not None:
            p = c.curfew
            for place in c.schedule.places():  # each address the timetable names
                places.add((p.lat, p.lon, p.radius_m) if place is None
                           else (place[0], place[1], place[2] or p.radius_m))  # fmt: skip
    for plat, plon, r in sorted(places):
        circle(page, plat, plon, r, "#7b3294", "curfew-area", f"curfew area {distance(r)}",
               fill=0.08, dash="6 4")  # fmt: skip
    for k, (label, colour) in enumerate(GAP_CLASSES):
        lines = [[[lat[i], lon[i]], [lat[i + 1], lon[i + 1]]] for i in np.flatnonzero(seg_cls == k)]
        if lines:
            page.fm.PolyLine(
                lines,
                color=colour,
                weight=3,
                opacity=0.85,
                dash_array=None if k == 0 else "5 5",
                class_name=f"path gap-{k}",
                tooltip=f"gap {label}",
            ).add_to(page.m)
    feats = [
        _point(lon[i], lat[i], acc=float(acc[i]), time=local_time(int(ts[i])),
               evidence=int(ts[i]) in evidence)
        for i in range(len(ts))
    ]  # fmt: skip
    page.fm.GeoJson(
        {"type": "FeatureCollection", "features": feats},
        name="fixes",
        marker=page.fm.Circle(radius=10, fill=True, weight=1),
        style_function=lambda ft: {
            "radius": max(ft["properties"]["acc"], 2.0),
            "color": "#d73027" if ft["properties"]["evidence"] else "#2166ac",
            "fillOpacity": 0.15,
            "className": "accuracy fix",
        },
        tooltip=page.fm.GeoJsonTooltip(fields=["time", "acc"], aliases=["time", "accuracy (m)"]),
    ).add_to(page.m)
    plugins = importlib.import_module(f"{page.fm.__name__}.plugins")
    style = {"radius": 5, "color": "#000", "fillColor": "#ffd700", "fillOpacity": 1}
    timed = [
        _point(lon[i], lat[i], times=[iso(int(ts[i]))], icon="circle", iconstyle=style)
        for i in range(len(ts))
    ]
    plugins.TimestampedGeoJson(
        {"type": "FeatureCollection", "features": timed},
        period="PT1M",
        duration="PT10M",
        add_last_point=False,
        auto_play=False,
        transition_time=100,
        loop=False,
    ).add_to(page.m)
    fit(page, [(float(lat.min()), float(lon.min())), (float(lat.max()), float(lon.max()))])
    page.scripts.append(UK_SLIDER)
    counts = _panel(page, subject, lo, hi, n, len(ts), seg_cls)
    page.data = {
        "kind": "trail", "subject_id": subject, "from": iso(lo), "to": iso(hi),
        "fixes": n, "drawn": len(ts), "gap_segments": counts,
        "evidence_drawn": int(sum(int(t) in evidence for t in ts)),
        "evidence_in_window": int(sum(1 for t in evidence if lo <= t < hi)),
        "first": iso(int(ts[0])), "last": iso(int(ts[-1])),
    }  # fmt: skip
    return page.save(out)


def _panel(page: MapPage, subject: str, lo: int, hi: int, n: int, drawn: int,
           seg_cls: np.ndarray) -> list[int]:  # fmt: skip
    """The trail's panel and key; returns the drawn segments per gap class."""
    counts = [int((seg_cls == k).sum()) for k in range(3)]
    legend = "".join(
        f'<span><span class="gm-status" style="background:{c}">{esc(lab)}</span> {counts[k]}</span>'
        for k, (lab, c) in enumerate(GAP_CLASSES)
    )
    page.panel.append(
        f"<h1>Trail of {esc(subject)}</h1>"
        f'<p class="meta">{local_time(lo)} to {local_time(hi)} ({duration(hi - lo)}): '
        f"{n:,} fixes, {drawn:,} drawn"
        + (
            " (thinned for drawing; every fix either side of a gap and every evidence fix kept)"
            if drawn < n
            else ""
        )
        + ". Circles: accuracy (red: evidence of a candidate). Use the time slider to play "
        "the trail.</p>"
        f'<p class="gm-legend">gaps between fixes: {legend}</p>'
        '<p class="meta">Times are UK local time (GMT or BST), whatever the zone of the '
        "computer showing the map.</p>"
    )
    add_legend(
        page,
        [
            (KEY_ACCURACY.format(c="#2166ac"), "fix and its accuracy circle"),
            (KEY_ACCURACY.format(c="#d73027"), "evidence of a candidate"),
            (KEY_DOT.format(c="#ffd700"), "position at the slider's time"),
            (KEY_ZONE, "the subject's zones"),
            (KEY_CURFEW, "curfew area"),
        ],
    )
    return counts
