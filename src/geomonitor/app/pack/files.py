"""The pack's data files beside the PDF (positions as CSV, GeoJSON and KML), its manifest
of SHA-256 digests, and checking a pack against its manifest.

``manifest.json``: ``{"exhibit", "kind", "ref", "subject_id", "produced", "software",
"files": [{"name", "bytes", "sha256"}]}``. The manifest's own SHA-256 is recorded in the
consultation log with the purpose given, so a pack can be matched to the row that made it.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from ... import __version__
from ...model.text import local_seconds
from ...model.times import iso
from .content import Pack

MANIFEST = "manifest.json"
POSITION_COLUMNS = (
    "ts",
    "local_time",
    "lat",
    "lon",
    "easting",
    "northing",
    "accuracy_m",
    "source",
    "battery_pct",
    "tag_id",
    "role",
    "evidence",
    "label",
)


def _row(p) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {
        "ts": iso(p.ts),
        "local_time": local_seconds(p.ts),
        "lat": f"{p.lat:.6f}",
        "lon": f"{p.lon:.6f}",
        "easting": f"{p.x:.1f}",
        "northing": f"{p.y:.1f}",
        "accuracy_m": f"{p.accuracy_m:.1f}",
        "source": p.source,
        "battery_pct": "" if p.battery_pct is None else f"{p.battery_pct:.0f}",
        "tag_id": p.tag_id,
        "role": p.role,
        "evidence": "yes" if p.evidence else "no",
        "label": p.label,
    }


def write_csv(pack: Pack, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=POSITION_COLUMNS)
        w.writeheader()
        w.writerows(_row(p) for p in pack.positions)
    return path


def write_geojson(pack: Pack, path: Path) -> Path:
    feats = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
            "properties": {k: v for k, v in _row(p).items() if k not in ("lat", "lon")},
        }
        for p in pack.positions
    ]
    doc = {"type": "FeatureCollection", "name": f"{pack.exhibit} positions", "features": feats}
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


def write_kml(pack: Pack, path: Path) -> Path:
    """KML 2.2 (Google Earth): a placemark per position with its time, and the path."""
    marks = []
    for p in pack.positions:
        name = escape(f"{p.label + ' ' if p.label else ''}{local_seconds(p.ts)}")
        desc = escape(f"{p.tag_id} ({p.role}), accuracy {p.accuracy_m:.0f} m, {p.source}")
        marks.append(
            f"<Placemark><name>{name}</name><description>{desc}</description>"
            f"<TimeStamp><when>{iso(p.ts)}</when></TimeStamp>"
            f"<Point><coordinates>{p.lon:.6f},{p.lat:.6f},0</coordinates></Point></Placemark>"
        )
    own = [p for p in pack.positions if p.role == "subject"]
    line = " ".join(f"{p.lon:.6f},{p.lat:.6f},0" for p in own)
    path_mark = (
        f"<Placemark><name>{escape(pack.subject_id)} path</name><LineString>"
        f"<coordinates>{line}</coordinates></LineString></Placemark>"
        if len(own) > 1
        else ""
    )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2">'
        f"<Document><name>{escape(pack.exhibit)}</name>{''.join(marks)}{path_mark}"
        "</Document></kml>\n",
        encoding="utf-8",
    )
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(pack: Pack, out: Path, names: list[str], produced: int) -> str:
    """The manifest of ``names`` in ``out``; returns the manifest's SHA-256."""
    doc = {
        "exhibit": pack.exhibit,
        "kind": pack.kind,
        "ref": pack.ref,
        "subject_id": pack.subject_id,
        "produced": iso(produced),
        "software": f"geomonitor {__version__}",
        "files": [
            {"name": n, "bytes": (out / n).stat().st_size, "sha256": _sha256(out / n)}
            for n in names
        ],
    }
    (out / MANIFEST).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return _sha256(out / MANIFEST)


@dataclass
class Check:
    """What :func:`verify` found."""

    manifest_sha256: str = ""
    files: int = 0
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return not (self.changed or self.missing or self.extra or self.problem)


def verify(folder: Path) -> Check:
    """Every file against the manifest: changed, missing, or not in it."""
    c = Check()
    path = folder / MANIFEST
    if not path.is_file():
        c.problem = f"no {MANIFEST} in {folder}"
        return c
    c.manifest_sha256 = _sha256(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        listed = {f["name"]: f["sha256"] for f in doc["files"]}
    except (ValueError, KeyError, TypeError):
        c.problem = f"{MANIFEST} is not a pack's manifest"
        return c
    c.files = len(listed)
    for name, digest in sorted(listed.items()):
        f = folder / name
        if Path(name).name != name:
            c.problem = f"{MANIFEST} names a file outside the pack: {name}"
        elif not f.is_file():
            c.missing.append(name)
        elif _sha256(f) != digest:
            c.changed.append(name)
    c.extra = sorted(
        p.name
        for p in folder.iterdir()
        if p.is_file() and p.name not in listed and p.name != MANIFEST
    )
    return c
