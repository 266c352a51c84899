"""Position fixes from tags.

A fix is one position report: tag id, event time, latitude/longitude (or BNG easting/
northing), accuracy radius, battery, strap state, charging and how the position was found.
:func:`parse_fix` validates one decoded record; :class:`FixBatch` holds many as columns for
the vectorised engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .crs import to_bng
from .times import TimeError, parse_ts

SOURCES = ("gps", "rf", "cell", "wifi")
STRAP = ("ok", "tamper")
KNOWN_FIELDS = frozenset(
    {
        "tag_id",
        "ts",
        "lat",
        "lon",
        "x",
        "y",
        "accuracy_m",
        "battery_pct",
        "strap",
        "charging",
        "source",
    }
)
#: Worst accuracy radius we still accept (a cell-site fix can be kilometres).
MAX_ACCURACY_M = 50_000.0


class FixError(ValueError):
    """A fix record that cannot be accepted; ``field`` names the offending field."""

    def __init__(self, reason: str, field: str | None, message: str):
        super().__init__(message)
        self.reason = reason
        self.field = field
        self.message = message


@dataclass(slots=True)
class Fix:
    tag_id: str
    ts: int  # epoch ms
    lat: float
    lon: float
    accuracy_m: float
    battery_pct: float | None = None
    strap: str = "ok"
    charging: bool | None = None
    source: str = "gps"
    extra: dict[str, Any] | None = None
    x: float | None = None  # BNG easting when given as such
    y: float | None = None

    @property
    def key(self) -> str:
        """Stable reference to this fix, used as evidence: ``TAG@ts_ms``."""
        return f"{self.tag_id}@{self.ts}"


def _number(rec: dict, name: str, required: bool) -> float | None:
    v = rec.get(name)
    if v is None or v == "":
        if required:
            raise FixError("missing_field", name, f"{name}: missing")
        return None
    if isinstance(v, bool):
        raise FixError("bad_value", name, f"{name}: expected a number, got a boolean")
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise FixError("bad_value", name, f"{name}: not a number") from None
    if not isinstance(v, int | float):
        raise FixError("bad_value", name, f"{name}: expected a number")
    f = float(v)
    if not math.isfinite(f):
        raise FixError("bad_value", name, f"{name}: not a finite number")
    return f


def _bool(rec: dict, name: str) -> bool | None:
    v = rec.get(name)
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false", "1", "0", "yes", "no"):
        return v.lower() in ("true", "1", "yes")
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    raise FixError("bad_value", name, f"{name}: expected true or false")


def parse_fix(rec: object, default_accuracy_m: float = 25.0) -> Fix:
    """Validate one decoded fix record.

    Raises
    ------
    FixError
        Naming the field and the reason; the caller keeps the raw record as a dead letter.
    """
    if not isinstance(rec, dict):
        raise FixError("malformed", None, "record is not an object")
    tag = rec.get("tag_id")
    if tag is None or tag == "":
        raise FixError("missing_field", "tag_id", "tag_id: missing")
    if not isinstance(tag, str):
        raise FixError("bad_value", "tag_id", "tag_id: expected a string")
    if "ts" not in rec or rec["ts"] in (None, ""):
        raise FixError("missing_field", "ts", "ts: missing")
    try:
        ts = parse_ts(rec["ts"])
    except TimeError as e:
        reason = "naive_time" if "no zone" in str(e) else "bad_value"
        raise FixError(reason, "ts", f"ts: {e}") from None

    has_ll = rec.get("lat") not in (None, "") or rec.get("lon") not in (None, "")
    x = y = None
    if has_ll or rec.get("x") in (None, ""):
        lat = _number(rec, "lat", True)
        lon = _number(rec, "lon", True)
        assert lat is not None and lon is not None
        if not -90.0 <= lat <= 90.0:
            raise FixError("out_of_range", "lat", "lat: outside -90..90")
        if not -180.0 <= lon <= 180.0:
            raise FixError("out_of_range", "lon", "lon: outside -180..180")
    else:
        x = _number(rec, "x", True)
        y = _number(rec, "y", True)
        assert x is not None and y is not None
        if not (-100_000 <= x <= 800_000 and -100_000 <= y <= 1_400_000):
            raise FixError("out_of_range", "x", "x/y: outside the British National Grid")
        lat = lon = math.nan  # filled in by FixBatch

    acc = _number(rec, "accuracy_m", False)
    if acc is None:
        acc = default_accuracy_m
    elif acc < 0 or acc > MAX_ACCURACY_M:
        raise FixError("out_of_range", "accuracy_m", f"accuracy_m: outside 0..{MAX_ACCURACY_M:g}")
    batt = _number(rec, "battery_pct", False)
    if batt is not None and not 0 <= batt <= 100:
        raise FixError("out_of_range", "battery_pct", "battery_pct: outside 0..100")
    strap = rec.get("strap", "ok")
    if strap in (None, ""):
        strap = "ok"
    if strap not in STRAP:
        raise FixError("bad_value", "strap", "strap: expected 'ok' or 'tamper'")
    source = rec.get("source", "gps")
    if source in (None, ""):
        source = "gps"
    if source not in SOURCES:
        raise FixError("bad_value", "source", "source: expected gps, rf, cell or wifi")
    charging = _bool(rec, "charging")
    extra = {k: v for k, v in rec.items() if k not in KNOWN_FIELDS} or None
    return Fix(tag, ts, lat, lon, acc, batt, strap, charging, source, extra, x, y)


@dataclass
class FixBatch:
    """Fixes as columns: what the engine consumes.

    ``x``/``y`` are BNG metres, computed once here for every fix.
    """

    tag_id: np.ndarray  # object (str)
    ts: np.ndarray  # int64 epoch ms
    lat: np.ndarray
    lon: np.ndarray
    x: np.ndarray
    y: np.ndarray
    accuracy_m: np.ndarray
    rank: np.ndarray  # int64: deterministic tie-break between conflicting duplicates
    fixes: list[Fix] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def from_fixes(cls, fixes: list[Fix]) -> FixBatch:
        n = len(fixes)
        lat = np.fromiter((f.lat for f in fixes), float, n)
        lon = np.fromiter((f.lon for f in fixes), float, n)
        x, y = to_bng(lon, lat) if n else (np.empty(0), np.empty(0))
        given = [i for i, f in enumerate(fixes) if f.x is not None]
        if given:
            from .crs import to_wgs84

            gx = np.array([fixes[i].x for i in given], float)
            gy = np.array([fixes[i].y for i in given], float)
            glon, glat = to_wgs84(gx, gy)
            x[given], y[given], lon[given], lat[given] = gx, gy, glon, glat
            for j, i in enumerate(given):
                fixes[i].lat, fixes[i].lon = float(glat[j]), float(glon[j])
        return cls(
            tag_id=np.array([f.tag_id for f in fixes], dtype=object),
            ts=np.fromiter((f.ts for f in fixes), np.int64, n),
            lat=lat,
            lon=lon,
            x=x,
            y=y,
            accuracy_m=np.fromiter((f.accuracy_m for f in fixes), float, n),
            rank=np.fromiter((fix_rank(f) for f in fixes), np.int64, n),
            fixes=fixes,
        )


def fix_rank(f: Fix) -> int:
    """Deterministic order between two different fixes reported for the same tag and instant.

    Tags store and forward, so the same fix can arrive twice; if the two copies differ, the
    one with the better (smaller) accuracy wins, then a content hash breaks ties. Whichever
    copy arrives first, the same one is kept.
    """
    import zlib

    content = f"{f.lat:.7f},{f.lon:.7f},{f.accuracy_m:.2f},{f.battery_pct},{f.strap},{f.source}"
    return int(min(f.accuracy_m, 1e6) * 100) * (1 << 32) + zlib.crc32(content.encode())
