"""An alert's evidence on a map: the zone or curfew area, every evidence fix with its
accuracy circle and time, the path between them (a gap over five minutes drawn dashed:
nobody knows the way taken), ANPR cameras and reads, the other subject of a
non-association, and the explanation."""

from __future__ import annotations

from pathlib import Path

from ...model.errors import InputError
from ...model.registry import condition_at
from ...model.text import distance, kind_words, local_seconds, local_time
from ...model.times import MS_PER_MINUTE, UK, iso, to_datetime
from ...store.domain import Store
from ..evidence import evidence_of
from .base import (
    KEY_ACCURACY,
    KEY_CURFEW,
    KEY_DOT,
    KEY_GAP,
    KEY_PATH,
    KEY_ZONE,
    MapPage,
    Tiles,
    circle,
    dot,
    esc,
    fit,
    latlon,
    legend,
    new_page,
    zone_layer,
)

SUBJECT, OTHER, CAMERA = "#d73027", "#4575b4", "#1b7837"
#: fixes further apart than this are joined by a dashed line: a gap, not a known path
GAP_MS = 5 * MS_PER_MINUTE


def _evidence(store: Store, refs: list[str]) -> tuple[list[dict], list[dict]]:
    """The evidence fixes (tag, ts, lat, lon, accuracy) and ANPR reads it names that are
    still in the store."""
    fixes, reads = [], []
    for e in evidence_of(store, refs):
        if not e.stored:
            continue
        if e.kind == "read":
            reads.append({"read_id": e.read_id, "camera_id": e.source, "ts": e.ts,
                          "lat": e.lat, "lon": e.lon})  # fmt: skip
        else:
            fixes.append({"tag_id": e.source, "ts": e.ts, "lat": e.lat, "lon": e.lon,
                          "accuracy_m": e.accuracy_m})  # fmt: skip
    fixes.sort(key=lambda f: (f["tag_id"], f["ts"]))
    return fixes, reads


def alert_map(store: Store, cid: str, out: Path, offline: bool = False,
              tiles: Tiles | None = None) -> Path:  # fmt: skip
    """Write candidate ``cid``'s evidence map; returns its path."""
    c = store.candidate(cid)
    if c is None:
        raise InputError(f"no candidate {cid}")
    reg = store.current_registry()
    fixes, reads = _evidence(store, c.evidence)
    pts = [(f["lat"], f["lon"]) for f in fixes] + [(r["lat"], r["lon"]) for r in reads]
    order = reg.orders.get(c.order_id)
    cond = condition_at(order, c.condition_id, c.opened_at) if order else None
    area = cond.curfew_place(c.opened_at) if cond is not None else None
    if area is not None:
        pts.append(area[:2])
    zone = reg.zones.get(c.zone_id or "")
    if zone is not None:
        cen = zone.geometry.centroid
        pts.append(latlon(cen.x, cen.y))
    if not pts:
        raise InputError(f"{cid}: none of its evidence is in the store to draw")
    centre = (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))
    page = new_page(f"{kind_words(c.kind)} {cid}", centre, offline, zoom=15, tiles=tiles)
    if zone is not None:
        zone_layer(page, zone.geometry, zone.id, f"zone {zone.id}")
        minx, miny, maxx, maxy = zone.geometry.bounds
        pts += [latlon(minx, miny), latlon(maxx, maxy)]
    if area is not None:
        circle(page, area[0], area[1], area[2], "#7b3294", "curfew-area",
               f"curfew area {distance(area[2])}", fill=0.08, dash="6 4")  # fmt: skip
    other = c.details.get("other_subject_id")
    own_tags = {f.tag_id for f in reg.fittings if f.subject_id == c.subject_id}
    segments = {"path": 0, "gap": 0}
    for k, f in enumerate(fixes):
        mine = f["tag_id"] in own_tags or other is None
        colour = SUBJECT if mine else OTHER
        who = c.subject_id if mine else other
        tip = f"{who} {local_time(f['ts'])}, accuracy {distance(f['accuracy_m'])}"
        circle(page, f["lat"], f["lon"], f["accuracy_m"], colour, "accuracy evidence", tip)
        dot(page, f["lat"], f["lon"], colour, "fix evidence", tip, radius_px=4)
        nxt = fixes[k + 1] if k + 1 < len(fixes) else None
        if nxt is not None and nxt["tag_id"] == f["tag_id"]:
            gap = nxt["ts"] - f["ts"] > GAP_MS
            segments["gap" if gap else "path"] += 1
            page.fm.PolyLine(
                [[f["lat"], f["lon"]], [nxt["lat"], nxt["lon"]]],
                color="#9e9e9e" if gap else colour, weight=2 if gap else 3,
                dash_array="4 6" if gap else None, class_name="gap" if gap else "path",
                tooltip=f"{'gap' if gap else 'path'}: {(nxt['ts'] - f['ts']) // 1000} s",
            ).add_to(page.m)  # fmt: skip
    for r in reads:
        tip = f"camera {r['camera_id']}: read at {local_seconds(r['ts'])}"
        dot(page, r["lat"], r["lon"], CAMERA, "camera read", tip, radius_px=7,
            label=f"ANPR {_clock(r['ts'])}")  # fmt: skip
    fit(page, pts)
    _panel(page, c, fixes, reads, other)
    key = [(KEY_ACCURACY.format(c=SUBJECT), f"{c.subject_id}: fix and its accuracy circle"),
           (KEY_PATH.format(c=SUBJECT), "fixes at most five minutes apart"),
           (KEY_GAP, "a longer gap: the way taken is not known")]  # fmt: skip
    if other:
        key.insert(1, (KEY_ACCURACY.format(c=OTHER), f"{other}: fix and its accuracy circle"))
    if zone is not None:
        key.append((KEY_ZONE, f"zone {zone.id}"))
    if area is not None:
        key.append((KEY_CURFEW, "curfew area"))
    if reads:
        key.append((KEY_DOT.format(c=CAMERA), "camera that read the vehicle, with the time"))
    legend(page, key)
    page.data = {
        "kind": "alert",
        "candidate": c.id,
        "candidate_kind": c.kind,
        "subject_id": c.subject_id,
        "other_subject_id": other,
        "zone": zone.id if zone is not None else None,
        "curfew_area": None
        if area is None
        else {"lat": area[0], "lon": area[1], "radius_m": area[2]},
        "fixes": [{**f, "ts": iso(f["ts"])} for f in fixes],
        "reads": [{**r, "ts": iso(r["ts"])} for r in reads],
        "segments": segments,
        "explanation": c.explanation,
    }
    return page.save(out)


def _clock(ms: int) -> str:
    return to_datetime(ms).astimezone(UK).strftime("%H:%M")


def _panel(page: MapPage, c, fixes: list[dict], reads: list[dict], other: str | None) -> None:  # type: ignore[no-untyped-def]
    rows = "".join(
        f"<tr><td>{esc(f['tag_id'])}</td><td>{local_seconds(f['ts'])}</td>"
        f"<td>&plusmn;{distance(f['accuracy_m'])}</td></tr>"
        for f in fixes
    )
    read_rows = "".join(
        f"<tr><td>{esc(r['camera_id'])}</td><td>{local_seconds(r['ts'])}</td>"
        "<td>ANPR read</td></tr>"
        for r in sorted(reads, key=lambda r: r["ts"])
    )
    extra = f"<p>Other subject: <b>{esc(other)}</b> (blue).</p>" if other else ""
    cams = f"<p>{len(reads)} ANPR read(s) at the cameras shown (green).</p>" if reads else ""
    page.panel.append(
        f"<h1>{esc(kind_words(c.kind))}: {esc(c.subject_id)}</h1>"
        f'<p class="meta">{esc(c.id)}, {esc(c.status)}; opened {local_time(c.opened_at)}</p>'
        f'<p class="gm-explanation">{esc(c.explanation)}</p>{extra}{cams}'
        "<p>Evidence fixes with their accuracy circles; a solid line joins fixes at most five "
        "minutes apart, a dashed grey line a longer gap.</p>"
        + (
            '<table class="gm-reads"><thead><tr><th>camera</th><th>time</th><th></th></tr>'
            f"</thead><tbody>{read_rows}</tbody></table>"
            if reads
            else ""
        )
        + "<table><thead><tr><th>tag</th><th>time</th><th>accuracy</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
