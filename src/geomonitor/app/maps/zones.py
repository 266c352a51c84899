"""Every zone on one map, with the conditions that use it and the districts it touches."""

from __future__ import annotations

from pathlib import Path

from ...model.errors import InputError
from ...model.geography import DISTRICTS, district_boundary
from ...model.registry import known_districts
from ...store.domain import Store
from .base import KEY_ZONE, Tiles, esc, fit, latlon, legend, new_page, zone_layer

KIND_COLOURS = {"exclusion_zone": "#d73027", "inclusion_zone": "#1a9850"}


def zones_map(store: Store, out: Path, district: str | None = None, offline: bool = False,
              tiles: Tiles | None = None) -> Path:  # fmt: skip
    """Write the zones map (of one district, or all); returns its path."""
    reg = store.current_registry()
    code = None
    if district is not None:
        code = reg.district_code(district)
        if code is None:
            raise InputError(f"district {district!r}: not in the registry ({known_districts(reg)})")
    uses: dict[str, list[str]] = {}
    kinds: dict[str, set[str]] = {}
    for order, cond in reg.conditions():
        if cond.zone_id:
            uses.setdefault(cond.zone_id, []).append(f"{cond.type} {cond.id} ({order.subject_id})")
            kinds.setdefault(cond.zone_id, set()).add(cond.type)
    shown = []
    for zid, z in sorted(reg.zones.items()):
        touches = sorted(
            n for c, n in DISTRICTS.items() if district_boundary(c).intersects(z.geometry)
        )
        if code is not None and DISTRICTS.get(code, reg.districts[code].name) not in touches:
            continue
        shown.append((zid, z, touches))
    if not shown:
        raise InputError("no zone to show" + (f" in {district}" if district else ""))
    minx = min(z.geometry.bounds[0] for _, z, _ in shown)
    miny = min(z.geometry.bounds[1] for _, z, _ in shown)
    maxx = max(z.geometry.bounds[2] for _, z, _ in shown)
    maxy = max(z.geometry.bounds[3] for _, z, _ in shown)
    sw, ne = latlon(minx, miny), latlon(maxx, maxy)
    title = f"Zones{f' of {reg.districts[code].name}' if code else ''}"
    page = new_page(title, ((sw[0] + ne[0]) / 2, (sw[1] + ne[1]) / 2), offline, zoom=11,
                    tiles=tiles)  # fmt: skip
    rows = []
    for zid, z, touches in shown:
        used = uses.get(zid, [])
        kind = sorted(kinds.get(zid, {"unused"}))[0]
        tip = f"{zid} {z.name}: " + ("; ".join(used) if used else "no condition") + (
            f" | {', '.join(touches)}" if touches else "")  # fmt: skip
        zone_layer(page, z.geometry, zid, tip, KIND_COLOURS.get(kind, "#7b3294"))
        rows.append(
            f'<tr class="gm-zone" data-zone="{esc(zid)}"><td>{esc(zid)}</td><td>{esc(z.name)}</td>'
            f"<td>{esc('; '.join(used) or '-')}</td><td>{esc(', '.join(touches) or '-')}</td></tr>"
        )
    fit(page, [sw, ne], padding=20)
    page.panel.append(
        f'<h1>{esc(title)}</h1><p class="meta">{len(shown)} zones; red: exclusion, green: '
        "inclusion. Subjects by pseudonymous id.</p><table><thead><tr><th>zone</th><th>name</th>"
        "<th>conditions</th><th>districts</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )
    legend(page, [(KEY_ZONE.replace("123,50,148", "215,48,39").replace("#7b3294", "#d73027"),
                   "exclusion zone"),
                  (KEY_ZONE.replace("123,50,148", "26,152,80").replace("#7b3294", "#1a9850"),
                   "inclusion zone (travel limit)"),
                  (KEY_ZONE, "a zone no condition uses")])  # fmt: skip
    page.data = {
        "kind": "zones",
        "district": reg.districts[code].name if code else None,
        "zones": [
            {"id": zid, "name": z.name, "conditions": uses.get(zid, []), "districts": t}
            for zid, z, t in shown
        ],
    }
    return page.save(out)
