"""Real West Yorkshire geography shipped with geomonitor.

Ward boundaries of the five districts (2013 ward codes) in WGS84, from the "UK-GeoJSON"
collection by Martin Chorley (CC BY 4.0); contains Ordnance Survey and Office for National
Statistics data © Crown copyright and database right, Open Government Licence v3. See
``data/west-yorkshire/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import orjson
import shapely
from shapely.geometry.base import BaseGeometry

from .zone import project_geometry

DISTRICTS = {
    "E08000032": "Bradford",
    "E08000033": "Calderdale",
    "E08000034": "Kirklees",
    "E08000035": "Leeds",
    "E08000036": "Wakefield",
}


@dataclass(frozen=True)
class Ward:
    code: str
    name: str
    district: str  # district code
    geojson: dict[str, Any]  # WGS84 GeoJSON geometry
    geometry: BaseGeometry  # BNG


@cache
def wards() -> tuple[Ward, ...]:
    """All 124 wards, in district then file order."""
    out = []
    base = resources.files("geomonitor") / "data" / "west-yorkshire"
    for code in DISTRICTS:
        doc = orjson.loads((base / f"{code}.geojson").read_bytes())
        for f in doc["features"]:
            g = f["geometry"]
            geom = project_geometry(shapely.geometry.shape(g), "EPSG:4326")
            if not geom.is_valid:
                geom = shapely.make_valid(geom)
            out.append(Ward(f["properties"]["WD13CD"], f["properties"]["WD13NM"], code, g, geom))
    return tuple(out)


@cache
def district_boundary(code: str) -> BaseGeometry:
    """A district (BNG) as the union of its wards."""
    return shapely.union_all([w.geometry for w in wards() if w.district == code])
