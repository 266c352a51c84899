"""The curfew check map: every subject of a district whose curfew is in force at an instant
(or starts soon), where the tag last placed them, and an order to visit them in.

Status, by word and colour:

* ``home``: the last fix (within the no-signal limit) has its whole accuracy circle inside
  the curfew area;
* ``away``: its whole circle is outside;
* ``not sure``: the circle straddles the edge;
* ``no signal``: no fix within the no-signal limit (30 minutes) before the instant;
* ``not yet due``: the curfew starts within ``ahead`` of the instant (its last fix shown).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ...model.errors import InputError
from ...model.geography import district_boundary
from ...model.registry import Registry, known_districts
from ...model.text import distance, duration, local_clock, local_time
from ...model.times import MS_PER_MINUTE, UK, iso, to_datetime
from ...rules.config import EngineConfig
from ...rules.curfew.family import curfew_rules
from ...store.domain import Store
from .base import (
    COLOURS,
    KEY_ACCURACY,
    KEY_CURFEW,
    KEY_LABEL,
    KEY_PATH,
    KEY_ZONE,
    MapPage,
    Tiles,
    bng,
    circle,
    dot,
    esc,
    fit,
    latlon,
    legend,
    new_page,
    zone_layer,
)
from .route import route_length, visiting_order


@dataclass
class Visit:
    """One subject to visit."""

    subject_id: str
    condition_id: str
    window_start: int
    window_end: int
    lat: float
    lon: float
    radius_m: float
    status: str
    last_fix: dict | None = None  # ts, lat, lon, accuracy_m, age_minutes
    zones: list[str] = field(default_factory=list)
    order: int = 0
    leg_m: float = 0.0


def _last_fix(store: Store, reg: Registry, subject: str, at: int) -> dict | None:
    """The subject's latest fix at or before ``at`` from a tag they wore at the time."""
    best = None
    for f in reg.fittings:
        if f.subject_id != subject or f.fitted_at > at:
            continue
        hi = at if f.removed_at is None else min(at, f.removed_at - 1)
        row = store.db.execute(
            "SELECT ts, lat, lon, accuracy_m FROM fixes WHERE tag_id=? AND ts>=? AND ts<=? "
            "ORDER BY ts DESC LIMIT 1",
            (f.tag_id, f.fitted_at, hi),
        ).fetchone()
        if row is not None and (best is None or row[0] > best[0]):
            best = row
    if best is None:
        return None
    ts, lat, lon, acc = best
    return {"ts": int(ts), "lat": lat, "lon": lon, "accuracy_m": acc,
            "age_minutes": int((at - ts) // MS_PER_MINUTE)}  # fmt: skip


def curfew_visits(
    store: Store,
    district: str,
    at: int,
    ahead_ms: int,
    start: tuple[float, float] | None = None,
    config: EngineConfig | None = None,
) -> tuple[list[Visit], tuple[float, float]]:
    """The visits (in visiting order) and the start point (lat, lon)."""
    cfg = config or EngineConfig()
    reg = store.current_registry()
    code = _district(reg, district)
    limit = int(cfg.curfew_no_signal_minutes * MS_PER_MINUTE)
    visits: list[Visit] = []
    for rule in curfew_rules(reg, cfg):
        subj = reg.subjects.get(rule.subject_id)
        if subj is None or subj.district != code:
            continue
        now = [(a, b) for a, b in rule.nights(at, at + 1) if a <= at < b]
        soon = rule.next_night(at + 1)
        if now:
            (s, e), due = now[0], True
        elif soon is not None and soon[0] <= at + ahead_ms:
            (s, e), due = soon, False
        else:
            continue
        lat, lon = latlon(rule.x, rule.y)
        fix = _last_fix(store, reg, rule.subject_id, at)
        status = "not yet due"
        if due:
            if fix is None or at - fix["ts"] > limit:
                status = "no signal"
            else:
                x, y = bng(fix["lat"], fix["lon"])
                d, acc = float(np.hypot(x - rule.x, y - rule.y)), float(fix["accuracy_m"])
                status = "home" if d + acc <= rule.radius_m else (
                    "away" if d - acc > rule.radius_m else "not sure"
                )  # fmt: skip
        zones = sorted(
            cond.zone_id
            for order, cond in reg.conditions()
            if order.subject_id == rule.subject_id and cond.zone_id
        )
        visits.append(Visit(rule.subject_id, rule.condition_id, s, e, lat, lon, rule.radius_m,
                            status, fix, zones))  # fmt: skip
    if start is None:
        c = district_boundary(code).representative_point()
        start = latlon(c.x, c.y)
    sx, sy = bng(*start)
    pts = [bng(v.lat, v.lon) for v in visits]
    order = visiting_order((sx, sy), pts)
    out = [visits[i] for i in order]
    prev = (sx, sy)
    for k, (v, i) in enumerate(zip(out, order, strict=True), 1):
        v.order = k
        v.leg_m = round(float(np.hypot(pts[i][0] - prev[0], pts[i][1] - prev[1])), 1)
        prev = pts[i]
    assert abs(route_length((sx, sy), pts, order) - sum(v.leg_m for v in out)) < 1.0
    return out, start


def _district(reg: Registry, ref: str) -> str:
    code = reg.district_code(ref)
    if code is None:
        raise InputError(f"district {ref!r}: not in the registry ({known_districts(reg)})")
    return code


def curfew_map(
    store: Store,
    district: str,
    at: int,
    out: Path,
    ahead_ms: int = 2 * 3_600_000,
    start: tuple[float, float] | None = None,
    offline: bool = False,
    tiles: Tiles | None = None,
    picker: str = "",
) -> Path:
    """Write the curfew check map; returns its path. ``picker``: HTML put at the top of the
    panel (the desk's form to choose another night)."""
    visits, start = curfew_visits(store, district, at, ahead_ms, start)
    reg = store.current_registry()
    code = _district(reg, district)
    name = reg.districts[code].name
    page = new_page(f"Curfew check: {name}, {local_time(at)}", start, offline, zoom=12,
                    tiles=tiles)  # fmt: skip
    dot(page, start[0], start[1], "#ffffff", "start", "start of the route", radius_px=8,
        label="S")  # fmt: skip
    for v in visits:
        colour = COLOURS[v.status]
        tip = f"{v.order}. {v.subject_id}: {v.status}"
        circle(page, v.lat, v.lon, v.radius_m, colour, f"curfew-area subject-{v.subject_id}",
               f"{tip}; curfew area {distance(v.radius_m)}", fill=0.08, dash="6 4")  # fmt: skip
        if v.last_fix is not None:
            f = v.last_fix
            circle(page, f["lat"], f["lon"], f["accuracy_m"], colour,
                   f"accuracy subject-{v.subject_id}",
                   f"{tip}; last fix {local_time(f['ts'])} ({duration(f['age_minutes'] * 60_000)} "
                   f"before), accuracy {distance(f['accuracy_m'])}")  # fmt: skip
            dot(page, f["lat"], f["lon"], colour, f"fix subject-{v.subject_id}", tip, radius_px=4)
        dot(page, v.lat, v.lon, colour, f"visit subject-{v.subject_id}", tip, label=str(v.order))
        for zid in v.zones:
            z = reg.zones.get(zid)
            if z is not None:
                zone_layer(page, z.geometry, zid, f"{v.subject_id}: exclusion zone {zid}")
    route = [list(start)] + [[v.lat, v.lon] for v in visits]
    if len(route) > 1:
        page.fm.PolyLine(route, color="#252525", weight=2, opacity=0.7, dash_array="2 6",
                         class_name="route", tooltip="visiting order").add_to(page.m)  # fmt: skip
    pts = route + [[v.last_fix["lat"], v.last_fix["lon"]] for v in visits if v.last_fix]
    if not visits:  # nobody to visit: the district, not a point at an infinite zoom
        minx, miny, maxx, maxy = district_boundary(code).bounds
        pts = [list(latlon(minx, miny)), list(latlon(maxx, maxy))]
    fit(page, pts)
    _panel(page, name, at, ahead_ms, visits, picker)
    legend(page, [(KEY_LABEL, "S: where the route starts; 1, 2 ...: the order to visit"),
                  (KEY_CURFEW, "curfew area (coloured by status)"),
                  (KEY_ACCURACY.format(c="#1a9850"), "last fix, with its accuracy circle"),
                  (KEY_ZONE, "the subject's exclusion zones"),
                  (KEY_PATH.format(c="#252525"), "visiting order (straight lines)")])  # fmt: skip
    page.data = {
        "kind": "curfew",
        "district": name,
        "at": iso(at),
        "start": {"lat": start[0], "lon": start[1]},
        "visits": [
            {
                **asdict(v),
                "colour": COLOURS[v.status],
                "window_start": iso(v.window_start),
                "window_end": iso(v.window_end),
            }
            for v in visits
        ],
    }
    return page.save(out)


def _hhmm(ms: int) -> str:
    return to_datetime(ms).astimezone(UK).strftime("%H:%M")


def _panel(page: MapPage, name: str, at: int, ahead_ms: int, visits: list[Visit],
           picker: str = "") -> None:  # fmt: skip
    counts = {s: sum(v.status == s for v in visits) for s in COLOURS}
    legend = "".join(
        f'<span><span class="gm-status" style="background:{c}">{esc(s)}</span> {counts[s]}</span>'
        for s, c in COLOURS.items()
    )
    rows = []
    for v in visits:
        f = v.last_fix
        last = "no fix" if f is None else (
            f"{local_clock(f['ts'], at)} ({duration(f['age_minutes'] * 60_000)} ago, "
            f"&plusmn;{distance(f['accuracy_m'])})"
        )  # fmt: skip
        rows.append(
            f'<tr class="gm-visit" data-subject="{esc(v.subject_id)}"><td>{v.order}</td>'
            f"<td>{esc(v.subject_id)}</td>"
            f'<td><span class="gm-status" style="background:{COLOURS[v.status]}">'
            f"{esc(v.status)}</span></td>"
            f"<td>{_hhmm(v.window_start)} to {_hhmm(v.window_end)}</td>"
            f"<td>{last}</td><td>{distance(v.leg_m)}</td></tr>"
        )
    page.panel.append(
        f"<h1>Curfew check: {esc(name)}</h1>{picker}"
        f'<p class="meta">At {local_time(at)}; curfews in force, or starting within '
        f"{duration(ahead_ms)}. {len(visits)} to visit, in this order from S "
        f"({distance(sum(v.leg_m for v in visits))} in straight lines). Subjects by "
        "pseudonymous id.</p>"
        + (
            '<p class="gm-none" id="none-to-visit">No curfew is in force at this time, or '
            "starts within the next hours: choose a night and time.</p>"
            if not visits
            else ""
        )
        + f'<p class="gm-legend">{legend}</p>'
        "<table><thead><tr><th>#</th><th>subject</th><th>status</th><th>curfew</th>"
        "<th>last fix</th><th>leg</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
