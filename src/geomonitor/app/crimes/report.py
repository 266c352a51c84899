"""Writing a batch's results: hits, eliminations, a summary, and a map for every hit."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from ...model.crime import Crime, CrimeError
from ...model.text import distance, local_time
from ...model.times import iso
from ...store.domain import Store
from ..maps.base import Tiles, circle, dot, esc, fit, new_page
from .match import CrimeConfig, FixIndex, Verdict, match_crime

HIT_COLUMNS = ("crime_ref", "subject_id", "sequence", "position", "ts", "lat", "lon",
               "accuracy_m", "speed_kmh", "kind")  # fmt: skip
ELIMINATION_COLUMNS = ("crime_ref", "subject_id", "verdict", "reason")


def run_batch(store: Store, crimes: list[Crime], bad: list[CrimeError], out: Path,
              cfg: CrimeConfig | None = None, maps: bool = True,
              offline: bool = False, tiles: Tiles | None = None) -> dict[str, Any]:  # fmt: skip
    """Match every crime, write the files into ``out``; returns the summary."""
    cfg = cfg or CrimeConfig()
    out.mkdir(parents=True, exist_ok=True)
    verdicts: list[tuple[Crime, list[Verdict]]] = []
    if crimes:
        margin = int(cfg.margin_minutes * 60_000)
        lo = min(c.start for c in crimes) - margin
        hi = max(c.end for c in crimes) + margin + 1
        index = FixIndex(store, store.current_registry(), lo, hi)
        verdicts = [(c, match_crime(index, c, cfg)) for c in crimes]
    with (out / "hits.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HIT_COLUMNS)
        for c, vs in verdicts:
            for v in vs:
                for p in v.positions:
                    w.writerow([c.ref, v.subject_id, p.sequence, f"{p.sequence}{p.number}",
                                iso(p.ts), f"{p.lat:.6f}", f"{p.lon:.6f}", f"{p.accuracy_m:.1f}",
                                f"{p.speed_kmh:.1f}", p.kind])  # fmt: skip
    with (out / "eliminations.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(ELIMINATION_COLUMNS)
        for c, vs in verdicts:
            for v in vs:
                if not v.hit:
                    w.writerow([c.ref, v.subject_id, v.verdict, v.reason])
    summary: dict[str, Any] = {
        "crimes": len(crimes),
        "rejected_rows": [
            {
                "line": e.line,
                "field": e.field,
                "reason": e.reason,
                "message": e.message,
            }
            for e in bad
        ],
        "settings": {
            "radius_m": cfg.radius_m,
            "top_speed_kmh": cfg.top_speed_kmh,
            "margin_minutes": cfg.margin_minutes,
            "by_type": cfg.by_type,
        },
        "results": [],
    }
    for c, vs in verdicts:
        hits = [v for v in vs if v.hit]
        item: dict[str, Any] = {
            "crime_ref": c.ref, "type": c.type, "from": iso(c.start), "to": iso(c.end),
            "lat": round(c.lat, 6), "lon": round(c.lon, 6),
            "radius_m": cfg.radius(c), "top_speed_kmh": round(cfg.speed_ms(c) * 3.6, 1),
            "hits": [v.subject_id for v in hits],
            "eliminated": [v.subject_id for v in vs if v.verdict == "eliminated"],
            "cannot_eliminate": [v.subject_id for v in vs if v.verdict == "cannot_eliminate"],
            "maps": [],
        }  # fmt: skip
        written: list[str] = []
        if maps:
            for v in hits:
                name = f"hit-{_safe(c.ref)}-{v.subject_id}.html"
                hit_map(c, v, cfg, out / "maps" / name, offline, tiles)
                written.append(f"maps/{name}")
        item["maps"] = written
        summary["results"].append(item)
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _safe(ref: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", ref)[:60]


def hit_map(crime: Crime, v: Verdict, cfg: CrimeConfig, path: Path, offline: bool,
            tiles: Tiles | None = None) -> Path:  # fmt: skip
    """The crime's place and window, its vicinity, and the subject's hit positions."""
    page = new_page(f"{crime.ref}: {v.subject_id}", (crime.lat, crime.lon), offline, zoom=16,
                    tiles=tiles)  # fmt: skip
    r = cfg.radius(crime)
    circle(page, crime.lat, crime.lon, r, "#7b3294", "vicinity", f"vicinity {distance(r)}",
           fill=0.08, dash="6 4")  # fmt: skip
    dot(page, crime.lat, crime.lon, "#7b3294", "scene", f"{crime.ref} ({crime.type})",
        radius_px=7, label="X")  # fmt: skip
    for p in v.positions:
        label = f"{p.sequence}{p.number}"
        colour = "#d73027" if p.kind == "fix" else "#fdae61"
        tip = f"{label} {local_time(p.ts)} ±{distance(p.accuracy_m)} ({p.kind})"
        circle(page, p.lat, p.lon, p.accuracy_m, colour, f"accuracy {p.kind}", tip)
        dot(page, p.lat, p.lon, colour, f"position {p.kind}", tip, radius_px=4, label=label)
    lats = [crime.lat] + [p.lat for p in v.positions]
    lons = [crime.lon] + [p.lon for p in v.positions]
    fit(page, list(zip(lats, lons, strict=True)), padding=40)
    rows = "".join(
        f"<tr><td>{esc(p.sequence)}{p.number}</td><td>{local_time(p.ts)}</td>"
        f"<td>&plusmn;{distance(p.accuracy_m)}</td><td>{p.speed_kmh:.0f} km/h</td>"
        f"<td>{p.kind}</td></tr>"
        for p in v.positions
    )
    page.panel.append(
        f"<h1>{esc(crime.ref)}: {esc(v.subject_id)}</h1>"
        f'<p class="meta">{esc(crime.type)}, {local_time(crime.start)} to '
        f"{local_time(crime.end)}. Vicinity {distance(r)} (purple). Red: fixes; amber: "
        "positions between two fixes at most five minutes apart. Each letter is a separate "
        "visit to the vicinity.</p><table><thead><tr><th>#</th><th>time</th><th>accuracy</th>"
        f"<th>speed</th><th>kind</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    page.data = {
        "kind": "crime_hit", "crime_ref": crime.ref, "subject_id": v.subject_id,
        "positions": [{"label": f"{p.sequence}{p.number}", "ts": iso(p.ts), "lat": p.lat,
                       "lon": p.lon, "accuracy_m": p.accuracy_m, "kind": p.kind}
                      for p in v.positions],
    }  # fmt: skip
    return page.save(path)
