"""Position fixes from tags.

A fix is one position report: tag id, event time, latitude/longitude (or BNG easting/
northing), accuracy radius, battery, strap state, charging and how the position was found.
:func:`parse_fix` validates one decoded record; :class:`FixBatch` holds many as columns for
the vectorised engine.
"""

from __future__ import annotations

import math
import struct
import zlib
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
    if type(tag) is not str:
        raise FixError("bad_value", "tag_id", "tag_id: expected a string")
    ts_raw = rec.get("ts")
    if ts_raw is None or ts_raw == "":
        raise FixError("missing_field", "ts", "ts: missing")
    try:
        ts = parse_ts(ts_raw)
    except TimeError as e:
        reason = "naive_time" if "no zone" in str(e) else "bad_value"
        raise FixError(reason, "ts", f"ts: {e}") from None

    lat = rec.get("lat")
    lon = rec.get("lon")
    x = y = None
    # Fast path: JSON numbers, finite and in range.
    if (
        (type(lat) is float or type(lat) is int)
        and (type(lon) is float or type(lon) is int)
        and (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0)
    ):
        lat = float(lat)
        lon = float(lon)
    elif lat not in (None, "") or lon not in (None, "") or rec.get("x") in (None, ""):
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

    acc = rec.get("accuracy_m")
    if type(acc) is float or type(acc) is int:
        acc = float(acc)
        if not 0.0 <= acc <= MAX_ACCURACY_M:  # also false for NaN
            raise FixError(
                "out_of_range", "accuracy_m", f"accuracy_m: outside 0..{MAX_ACCURACY_M:g}"
            )
    else:
        acc = _number(rec, "accuracy_m", False)
        if acc is None:
            acc = default_accuracy_m
        elif acc < 0 or acc > MAX_ACCURACY_M:
            raise FixError(
                "out_of_range", "accuracy_m", f"accuracy_m: outside 0..{MAX_ACCURACY_M:g}"
            )
    batt = rec.get("battery_pct")
    if type(batt) is int or type(batt) is float:
        batt = float(batt)
        if not 0.0 <= batt <= 100.0:
            raise FixError("out_of_range", "battery_pct", "battery_pct: outside 0..100")
    else:
        batt = _number(rec, "battery_pct", False)
        if batt is not None and not 0 <= batt <= 100:
            raise FixError("out_of_range", "battery_pct", "battery_pct: outside 0..100")
    strap = rec.get("strap")
    if strap is None or strap == "":
        strap = "ok"
    if strap not in STRAP:
        raise FixError("bad_value", "strap", "strap: expected 'ok' or 'tamper'")
    source = rec.get("source")
    if source is None or source == "":
        source = "gps"
    if source not in SOURCES:
        raise FixError("bad_value", "source", "source: expected gps, rf, cell or wifi")
    charging = rec.get("charging")
    if type(charging) is not bool:
        charging = _bool(rec, "charging")
    extra = None
    if rec.keys() - KNOWN_FIELDS:
        extra = {k: v for k, v in rec.items() if k not in KNOWN_FIELDS}
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


_RANK_PACK = struct.Struct("<dddd")
_STRAP_CODE = {"ok": 0, "tamper": 1}
_SOURCE_CODE = {name: i for i, name in enumerate(SOURCES)}


def fix_rank(f: Fix) -> int:
    """Deterministic order between two different fixes reported for the same tag and instant.

    Tags store and forward, so the same fix can arrive twice; if the two copies differ, the
    one with the better (smaller) accuracy wins, then a content checksum breaks ties.
    Whichever copy arrives first, the same one is kept (the rank is stable across processes).
    """
    content = _RANK_PACK.pack(
        f.lat, f.lon, f.accuracy_m, -1.0 if f.battery_pct is None else f.battery_pct
    ) + bytes((_STRAP_CODE[f.strap], _SOURCE_CODE[f.source]))
    return int(min(f.accuracy_m, 1e6) * 100) * (1 << 32) + zlib.crc32(content)
