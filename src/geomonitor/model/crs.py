"""Coordinate reference systems.

All metric geometry is done in British National Grid (EPSG:27700). Inputs arrive in WGS84
(EPSG:4326) or BNG. Transformers are built once with ``always_xy=True``: x is longitude or
easting, y is latitude or northing, whatever the CRS's axis order says.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from pyproj import CRS, Transformer

WGS84 = "EPSG:4326"
BNG = "EPSG:27700"


@cache
def transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


def to_bng(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 longitude/latitude arrays to BNG easting/northing arrays (metres)."""
    x, y = transformer(WGS84, BNG).transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x, float), np.asarray(y, float)


def to_wgs84(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BNG easting/northing arrays to WGS84 longitude/latitude arrays."""
    lon, lat = transformer(BNG, WGS84).transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon, float), np.asarray(lat, float)


def is_bng(crs: object) -> bool:
    return bool(CRS.from_user_input(crs).equals(CRS.from_user_input(BNG)))


def is_wgs84(crs: object) -> bool:
    c = CRS.from_user_input(crs)
    return bool(c.equals(CRS.from_user_input(WGS84)) or c.equals(CRS.from_user_input("OGC:CRS84")))
