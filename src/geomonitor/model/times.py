"""Event timestamps.

Every instant inside geomonitor is an ``int`` of milliseconds since the Unix epoch (UTC).
Inputs must carry a zone designator or offset; naive times are ambiguous (which side of a
daylight-saving change?) and are rejected.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from .errors import TimeError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)

#: Local time of every text for people (Europe/London: GMT in winter, BST in summer).
UK = ZoneInfo("Europe/London")

MS_PER_SECOND = 1000
MS_PER_MINUTE = 60_000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000


def parse_ts(value: object) -> int:
    """Parse an ISO 8601 timestamp with a zone into epoch milliseconds.

    Parameters
    ----------
    value
        A string such as ``"2026-11-21T21:14:05Z"`` or ``"2026-11-21T21:14:05+01:00"``.

    Raises
    ------
    TimeError
        If the value is not a string, is not ISO 8601, or has no zone.
    """
    if not isinstance(value, str):
        raise TimeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise TimeError("not an ISO 8601 timestamp with a date from 0001 to 9999") from None
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise TimeError("timestamp has no zone (add Z or an offset such as +01:00)")
    return (dt - _EPOCH) // _ONE_MS


def to_datetime(ms: int) -> datetime:
    """Epoch milliseconds to an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def iso(ms: int | None) -> str | None:
    """Epoch milliseconds to ISO 8601 UTC (``...Z``); ``None`` stays ``None``."""
    if ms is None:
        return None
    dt = to_datetime(ms)
    if ms % 1000:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def from_datetime(dt: datetime) -> int:
    """An aware datetime to epoch milliseconds."""
    if dt.tzinfo is None:
        raise TimeError("naive datetime")
    return (dt - _EPOCH) // _ONE_MS


def local_month(ms: int) -> tuple[int, int, str]:
    """The UK calendar month holding instant ``ms``: its start and end (epoch ms) and its
    label ``YYYY-MM``."""
    local = to_datetime(ms).astimezone(UK)
    first = datetime(local.year, local.month, 1, tzinfo=UK)
    nxt = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=UK)
    return from_datetime(first), from_datetime(nxt), f"{local.year:04d}-{local.month:02d}"
