"""Evidence packs: a candidate, or one subject's verdict on a crime, ready for a case file.

A pack is a folder: ``pack.pdf`` (exhibit numbers on every page), ``positions.csv``,
``positions.geojson``, ``positions.kml``, ``map.png`` and ``manifest.json`` (the SHA-256 of
every file). :func:`write_pack` writes one and returns the manifest's own SHA-256, which
the caller records in the consultation log with the purpose given; :func:`~.files.verify`
says whether a pack is still the one produced.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from ...model.errors import InputError
from .content import Pack, candidate_pack, crime_pack
from .figure import draw_map
from .files import MANIFEST, Check, verify, write_csv, write_geojson, write_kml, write_manifest
from .pdf import write_pdf

FILES = ("pack.pdf", "positions.csv", "positions.geojson", "positions.kml", "map.png")

__all__ = [
    "FILES",
    "MANIFEST",
    "Check",
    "Pack",
    "candidate_pack",
    "crime_pack",
    "verify",
    "write_pack",
    "zipped",
]


def write_pack(pack: Pack, out: Path, produced: int) -> str:
    """Write the pack's files into ``out`` (created; an existing pack there is refused);
    returns the manifest's SHA-256."""
    out.mkdir(parents=True, exist_ok=True)
    if (out / MANIFEST).exists():
        raise InputError(f"{out} already holds a pack: choose another folder")
    draw_map(pack, out / "map.png")
    write_pdf(pack, out / "pack.pdf", out / "map.png", produced)
    write_csv(pack, out / "positions.csv")
    write_geojson(pack, out / "positions.geojson")
    write_kml(pack, out / "positions.kml")
    return write_manifest(pack, out, list(FILES), produced)


def zipped(folder: Path) -> bytes:
    """The pack's folder as one zip (the desk hands it over this way)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in (*FILES, MANIFEST):
            z.write(folder / name, name)
    return buf.getvalue()
