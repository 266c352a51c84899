"""Reported crimes to correlate with tag trails: where (a point), when (a window of at most
12 hours), what (a type), and their reference.

Two batch layouts are read (:func:`parse_crime_rows`):

* ours, a headed CSV: ``crime_ref, type, from, to`` and either ``lat, lon`` (WGS84) or
  ``easting, northing`` (British National Grid); times ISO 8601 with a zone;
* the national acquisitive-crime layout: 13 columns, no header: police force, crime type
  code (RB, BIAD, AB, BOTD, TOMV, TFP, TFMV), description, batch id, crime reference, from,
  to (``yyyyMMddHHmmss``, UTC), easting, northing, latitude, longitude, datum (``WGS84``
  or ``OSGB36``, the datum of the latitude and longitude), free text.

Exactly one coordinate pair per row; the window at most 12 hours; ``to`` not before
``from``. A bad row is refused with its line and reason; the good rows still run.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from pyproj import Transformer

from .crs import to_bng, to_wgs84
from .errors import RecordError
from .times import MS_PER_HOUR, parse_ts

NATIONAL_TYPES = {
    "RB": "robbery",
    "BIAD": "burglary in a dwelling",
    "AB": "aggravated burglary",
    "BOTD": "burglary other than a dwelling",
    "TOMV": "theft of a motor vehicle",
    "TFP": "theft from the person",
    "TFMV": "theft from a motor vehicle",
}
MAX_WINDOW_MS = 12 * MS_PER_HOUR
NATIONAL_COLUMNS = 13
OWN_COLUMNS = ("crime_ref", "type", "from", "to", "lat", "lon", "easting", "northing")


class CrimeError(RecordError):
    """A crime row that cannot be used; names its line and field."""

    def __init__(self, reason: str, field: str | None, message: str, line: int):
        super().__init__(reason, field, message)
        self.line = line


@dataclass(frozen=True)
class Crime:
    ref: str
    type: str
    x: float  # BNG
    y: float
    lat: float  # WGS84
    lon: float
    start: int  # epoch ms, UTC
    end: int
    line: int = 0


def _fail(line: int, field: str, reason: str, message: str) -> CrimeError:
    return CrimeError(reason, field, f"line {line}: {field}: {message}", line)


def _number(text: str, line: int, field: str) -> float | None:
    t = text.strip()
    if not t:
        return None
    try:
        v = float(t)
    except ValueError:
        raise _fail(line, field, "bad_value", "not a number") from None
    if not np.isfinite(v):
        raise _fail(line, field, "bad_value", "not a finite number")
    return v


_OSGB36 = Transformer.from_crs("EPSG:4277", "EPSG:27700", always_xy=True)


def _place(e: float | None, n: float | None, lat: float | None, lon: float | None,
           datum: str, line: int) -> tuple[float, float, float, float]:  # fmt: skip
    grid = e is not None or n is not None
    geo = lat is not None or lon is not None
    if grid and geo:
        msg = "both easting/northing and latitude/longitude: give exactly one pair"
        raise _fail(line, "coordinates", "two_places", msg)
    if not grid and not geo:
        raise _fail(line, "coordinates", "missing_field", "no easting/northing or lat/lon")
    if grid:
        if e is None or n is None:
            raise _fail(
                line, "northing" if n is None else "easting", "missing_field", "half a pair"
            )
        if not (0 <= e <= 700_000 and 0 <= n <= 1_300_000):
            raise _fail(line, "easting", "out_of_range", "not on the British National Grid")
        lon_, lat_ = to_wgs84(np.array([e]), np.array([n]))
        return e, n, float(lat_[0]), float(lon_[0])
    if lat is None or lon is None:
        raise _fail(
            line, "longitude" if lon is None else "latitude", "missing_field", "half a pair"
        )
    if not (49.0 <= lat <= 61.5 and -9.0 <= lon <= 2.5):
        raise _fail(line, "latitude", "out_of_range", "not in Great Britain")
    if datum == "OSGB36":
        x, y = _OSGB36.transform(lon, lat)
        lon_, lat_ = to_wgs84(np.array([x]), np.array([y]))
        return float(x), float(y), float(lat_[0]), float(lon_[0])
    if datum != "WGS84":
        raise _fail(line, "datum", "bad_value", "WGS84 or OSGB36")
    x_, y_ = to_bng(np.array([lon]), np.array([lat]))
    return float(x_[0]), float(y_[0]), lat, lon


def _window(start: int, end: int, line: int) -> None:
    if end < start:
        raise _fail(line, "to", "bad_window", "before from")
    if end - start > MAX_WINDOW_MS:
        raise _fail(line, "to", "bad_window", "the window is over 12 hours")


def _national_time(text: str, line: int, field: str) -> int:
    t = text.strip()
    try:
        if len(t) != 14 or not t.isdigit():
            raise ValueError
        d = datetime.strptime(t, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise _fail(line, field, "bad_time", "expected yyyyMMddHHmmss (UTC)") from None
    return int(d.timestamp() * 1000)


def parse_national_row(row: list[str], line: int) -> Crime:
    if len(row) != NATIONAL_COLUMNS:
        raise _fail(line, "row", "malformed", f"{len(row)} columns, not {NATIONAL_COLUMNS}")
    code, ref = row[1].strip().upper(), row[4].strip()
    if code not in NATIONAL_TYPES:
        raise _fail(line, "crime type", "bad_value", f"not one of {', '.join(NATIONAL_TYPES)}")
    if not ref:
        raise _fail(line, "crime reference", "missing_field", "empty")
    start = _national_time(row[5], line, "from")
    end = _national_time(row[6], line, "to")
    _window(start, end, line)
    e, n = _number(row[7], line, "easting"), _number(row[8], line, "northing")
    lat, lon = _number(row[9], line, "latitude"), _number(row[10], line, "longitude")
    x, y, la, lo = _place(e, n, lat, lon, row[11].strip().upper() or "WGS84", line)
    return Crime(ref[:64], code, x, y, la, lo, start, end, line)


def parse_own_row(row: dict[str, str], line: int) -> Crime:
    ref = (row.get("crime_ref") or "").strip()
    if not ref:
        raise _fail(line, "crime_ref", "missing_field", "empty")
    times = []
    for f in ("from", "to"):
        try:
            times.append(parse_ts((row.get(f) or "").strip()))
        except Exception:
            raise _fail(line, f, "bad_time", "an ISO 8601 time with a zone") from None
    _window(times[0], times[1], line)
    nums = {f: _number(row.get(f) or "", line, f) for f in ("easting", "northing", "lat", "lon")}
    x, y, la, lo = _place(
        nums["easting"], nums["northing"], nums["lat"], nums["lon"], "WGS84", line
    )
    return Crime(ref[:64], (row.get("type") or "").strip()[:40] or "unknown", x, y, la, lo,
                 times[0], times[1], line)  # fmt: skip


def parse_crime_rows(text: str) -> tuple[list[Crime], list[CrimeError]]:
    """Crimes from a batch file's text, either layout (ours has a header), and the rows
    refused."""
    first = text.lstrip().split("\n", 1)[0].lower()
    crimes: list[Crime] = []
    bad: list[CrimeError] = []
    if first.startswith("crime_ref"):
        for k, rec in enumerate(csv.DictReader(io.StringIO(text)), 2):
            try:
                crimes.append(parse_own_row(rec, k))
            except CrimeError as e:
                bad.append(e)
        return crimes, bad
    for k, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not any(c.strip() for c in row):
            continue
        try:
            crimes.append(parse_national_row(row, k))
        except CrimeError as e:
            bad.append(e)
    return crimes, bad
