"""ANPR reads: a number plate (VRM) seen by a camera at a time and place.

Parsed and validated here; the rules that use them (declared vehicles, vehicles in exclusion
zones) build on this. A read may carry the camera's coordinates; otherwise the camera must be
registered.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ReadError, TimeError
from .times import parse_ts

KNOWN_FIELDS = frozenset(
    {"read_id", "camera_id", "vrm", "ts", "lat", "lon", "confidence", "direction"}
)
DIRECTIONS = frozenset({"N", "NE", "E", "SE", "S", "SW", "W", "NW"})
_NOT_ALNUM = re.compile(r"[^A-Z0-9]")


@dataclass(slots=True)
class Read:
    read_id: str
    camera_id: str
    vrm: str  # normalised: upper case, letters and digits only
    vrm_raw: str
    ts: int
    lat: float
    lon: float
    confidence: float | None
    direction: str | None
    extra: dict[str, Any] | None = None


def normalise_vrm(vrm: str) -> str:
    """``"yx19 abc"`` -> ``"YX19ABC"``."""
    return _NOT_ALNUM.sub("", vrm.upper())


def _float(rec: Mapping, name: str) -> float | None:
    v = rec.get(name)
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        raise ReadError("bad_value", name, f"{name}: expected a number")
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ReadError("bad_value", name, f"{name}: expected a number") from None
    if not math.isfinite(f):
        raise ReadError("bad_value", name, f"{name}: not a finite number")
    return f


def parse_read(rec: object, cameras: Mapping[str, Any], keep: frozenset[str] = frozenset()) -> Read:
    """Validate one decoded ANPR read; ``cameras`` maps camera id -> object with lat/lon.
    Fields the format does not name are dropped unless they are in ``keep``."""
    if not isinstance(rec, dict):
        raise ReadError("malformed", None, "record is not an object")
    for name in ("read_id", "camera_id", "vrm", "ts"):
        v = rec.get(name)
        if v is None or v == "":
            raise ReadError("missing_field", name, f"{name}: missing")
        if not isinstance(v, str):
            raise ReadError("bad_value", name, f"{name}: expected a string")
    try:
        ts = parse_ts(rec["ts"])
    except TimeError as e:
        reason = "naive_time" if "no zone" in str(e) else "bad_value"
        raise ReadError(reason, "ts", f"ts: {e}") from None
    vrm = normalise_vrm(rec["vrm"])
    if not vrm or len(vrm) > 10:
        raise ReadError("bad_value", "vrm", "vrm: not a plausible number plate")
    lat, lon = _float(rec, "lat"), _float(rec, "lon")
    if (lat is None) != (lon is None):
        missing = "lon" if lon is None else "lat"
        raise ReadError("missing_field", missing, f"{missing}: missing (give both or neither)")
    if lat is None or lon is None:
        cam = cameras.get(rec["camera_id"])
        if cam is None:
            raise ReadError(
                "unknown_camera",
                "camera_id",
                "camera_id: camera not registered and read has no lat/lon",
            )
        lat, lon = float(cam.lat), float(cam.lon)
    if not -90 <= lat <= 90:
        raise ReadError("out_of_range", "lat", "lat: outside -90..90")
    if not -180 <= lon <= 180:
        raise ReadError("out_of_range", "lon", "lon: outside -180..180")
    conf = _float(rec, "confidence")
    if conf is not None and not 0 <= conf <= 1:
        raise ReadError("out_of_range", "confidence", "confidence: outside 0..1")
    direction = rec.get("direction")
    if direction in (None, ""):
        direction = None
    elif not isinstance(direction, str) or direction.upper() not in DIRECTIONS:
        raise ReadError("bad_value", "direction", "direction: expected a compass point (N, NE...)")
    else:
        direction = direction.upper()
    extra = {k: v for k, v in rec.items() if k in keep and k not in KNOWN_FIELDS} or None
    return Read(
        rec["read_id"], rec["camera_id"], vrm, rec["vrm"], ts, lat, lon, conf, direction, extra
    )
