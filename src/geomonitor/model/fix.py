"""Position fixes from tags.

A fix is one position report: tag id, event time, latitude/longitude (or BNG easting/
northing), accuracy radius, battery, strap state, charging and how the position was found.
:func:`parse_fix` validates one decoded record; :class:`FixBatch` holds many as columns for
the vectorised engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .crs import to_bng, to_wgs84
from .errors import FixError, TimeError
from .times import iso, parse_ts

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


def parse_fix(
    rec: object, default_accuracy_m: float = 25.0, keep: frozenset[str] = frozenset()
) -> Fix:
    """Validate one decoded fix record.

    Raises
    ------
    FixError
        Naming the field and the reason; the caller keeps the raw record as a dead letter.
    """
    return Fix(*validate_fix(rec, default_accuracy_m, keep))


#: A validated fix as a tuple, in :class:`Fix` field order (what batches are built from).
FixRow = tuple[str, int, float, float, float, Any, str, Any, str, Any, Any, Any]


def validate_fix(
    rec: object, default_accuracy_m: float = 25.0, keep: frozenset[str] = frozenset()
) -> FixRow:
    """Like :func:`parse_fix`, returning the fields as a :data:`FixRow` tuple.

    Fields the format does not name are dropped (data minimisation: a feed that carries a
    name or an address must not put it in the store) unless they are in ``keep``.
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
    if keep and rec.keys() - KNOWN_FIELDS:
        extra = {k: v for k, v in rec.items() if k in keep and k not in KNOWN_FIELDS} or None
    return (tag, ts, lat, lon, acc, batt, strap, charging, source, extra, x, y)


@dataclass
class FixBatch:
    """Fixes as columns: what the engine consumes and the store writes.

    ``x``/``y`` are BNG metres, computed once here for every fix (or given, for fixes
    reported in BNG, whose ``lat``/``lon`` are then computed).
    """

    tag_id: np.ndarray  # object (str)
    ts: np.ndarray  # int64 epoch ms
    lat: np.ndarray
    lon: np.ndarray
    x: np.ndarray
    y: np.ndarray
    accuracy_m: np.ndarray
    rank: np.ndarray  # int64: deterministic tie-break between conflicting duplicates
    battery_pct: Sequence[float | None] = ()
    strap: Sequence[str] = ()
    charging: Sequence[bool | None] = ()
    source: Sequence[str] = ()
    extra: Sequence[dict[str, Any] | None] = ()
    #: Device columns as arrays: battery (NaN when not reported), strap open, charging
    #: (-1 unknown, 0 no, 1 yes). Empty when the batch carries no device reports.
    battery: np.ndarray = field(default_factory=lambda: np.empty(0))
    tamper: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    charging_code: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, keep: np.ndarray) -> FixBatch:
        """The fixes where the boolean mask ``keep`` is true, in order."""
        idx = np.flatnonzero(keep)

        def pick(seq: Any) -> Any:
            return [seq[i] for i in idx.tolist()] if len(seq) else seq

        return FixBatch(
            tag_id=self.tag_id[idx],
            ts=self.ts[idx],
            lat=self.lat[idx],
            lon=self.lon[idx],
            x=self.x[idx],
            y=self.y[idx],
            accuracy_m=self.accuracy_m[idx],
            rank=self.rank[idx],
            battery_pct=pick(self.battery_pct),
            strap=pick(self.strap),
            charging=pick(self.charging),
            source=pick(self.source),
            extra=pick(self.extra),
            battery=self.battery[idx] if len(self.battery) else self.battery,
            tamper=self.tamper[idx] if len(self.tamper) else self.tamper,
            charging_code=self.charging_code[idx]
            if len(self.charging_code)
            else self.charging_code,
        )

    def record(self, i: int) -> dict[str, Any]:
        """Fix ``i`` as an interchange record (what is kept when it is refused late)."""
        rec: dict[str, Any] = {
            "tag_id": str(self.tag_id[i]),
            "ts": iso(int(self.ts[i])),
            "lat": float(self.lat[i]),
            "lon": float(self.lon[i]),
            "accuracy_m": float(self.accuracy_m[i]),
        }
        for name in ("battery_pct", "strap", "charging", "source"):
            seq = getattr(self, name)
            if len(seq) and seq[i] is not None:
                rec[name] = seq[i]
        return rec

    @classmethod
    def from_fixes(cls, fixes: Sequence[Fix]) -> FixBatch:
        return cls.from_rows(
            [
                (
                    f.tag_id,
                    f.ts,
                    f.lat,
                    f.lon,
                    f.accuracy_m,
                    f.battery_pct,
                    f.strap,
                    f.charging,
                    f.source,
                    f.extra,
                    f.x,
                    f.y,
                )
                for f in fixes
            ]
        )

    @classmethod
    def from_rows(cls, rows: Sequence[FixRow]) -> FixBatch:
        """Build a batch from validated rows (see :func:`validate_fix`)."""
        n = len(rows)
        if n == 0:
            e = np.empty(0)
            return cls(
                np.empty(0, object), np.empty(0, np.int64), e, e, e, e, e, np.empty(0, np.int64)
            )
        tag, ts, lat_c, lon_c, acc_c, batt, strap, charging, source, extra, gx_c, gy_c = zip(
            *rows, strict=True
        )
        lat = np.array(lat_c, float)
        lon = np.array(lon_c, float)
        x, y = to_bng(lon, lat)
        given = [i for i, v in enumerate(gx_c) if v is not None]
        if given:
            gx = np.array([gx_c[i] for i in given], float)
            gy = np.array([gy_c[i] for i in given], float)
            glon, glat = to_wgs84(gx, gy)
            x[given], y[given], lon[given], lat[given] = gx, gy, glon, glat
        acc = np.array(acc_c, float)
        strap_code = np.fromiter(map(_STRAP_CODE.__getitem__, strap), np.uint64, n)
        source_code = np.fromiter(map(_SOURCE_CODE.__getitem__, source), np.uint64, n)
        batt_arr = np.array([-1.0 if b is None else b for b in batt], float)
        return cls(
            tag_id=np.array(tag, dtype=object),
            ts=np.array(ts, np.int64),
            lat=lat,
            lon=lon,
            x=x,
            y=y,
            accuracy_m=acc,
            rank=rank_of(lat, lon, acc, batt_arr, strap_code, source_code),
            battery=np.where(batt_arr < 0, np.nan, batt_arr),
            tamper=strap_code == 1,
            charging_code=np.array([-1 if c is None else int(c) for c in charging], np.int8),
            battery_pct=batt,
            strap=strap,
            charging=charging,
            source=source,
            extra=extra,
        )


_STRAP_CODE = {"ok": 0, "tamper": 1}
_SOURCE_CODE = {name: i for i, name in enumerate(SOURCES)}
_MIX = (
    np.uint64(0x9E3779B97F4A7C15),
    np.uint64(0xC2B2AE3D27D4EB4F),
    np.uint64(0x165667B19E3779F9),
    np.uint64(0xD6E8FEB86659FD93),
    np.uint64(0xFF51AFD7ED558CCD),
)


def rank_of(
    lat: np.ndarray,
    lon: np.ndarray,
    acc: np.ndarray,
    batt: np.ndarray,
    strap_code: np.ndarray,
    source_code: np.ndarray,
) -> np.ndarray:
    """Deterministic order between different fixes reported for the same tag and instant.

    Tags store and forward, so the same fix can arrive twice; if the two copies differ, the
    one with the better (smaller) accuracy wins, then a hash of the content breaks ties.
    Whichever copy arrives first, the same one is kept: the rank depends only on the
    content (IEEE bit patterns mixed with fixed constants), in every process and platform.
    """
    with np.errstate(over="ignore"):
        h = lat.view(np.uint64) * _MIX[0]
        h ^= lon.view(np.uint64) * _MIX[1]
        h ^= acc.view(np.uint64) * _MIX[2]
        h ^= batt.view(np.uint64) * _MIX[3]
        h ^= (strap_code * np.uint64(8) + source_code) * _MIX[4]
        h ^= h >> np.uint64(29)
    coarse = (np.minimum(acc, 1e6) * 100).astype(np.int64)
    return (coarse << np.int64(32)) | (h & np.uint64(0xFFFFFFFF)).astype(np.int64)


def fix_rank(f: Fix) -> int:
    """:func:`rank_of` for one fix."""
    return int(FixBatch.from_fixes([f]).rank[0])
