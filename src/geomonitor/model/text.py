"""Words and numbers for people: distances, durations and local times as a desk officer
reads them. Every text and table shown to people uses these; JSON stays in UTC and metres.

Local time is Europe/London, with its zone (GMT or BST) always written, so a time read
aloud on the night the clocks change is never ambiguous.
"""

from __future__ import annotations

from .errors import InputError
from .times import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, UK, parse_ts, to_datetime


def distance(metres: float) -> str:
    """``7 m``, ``140 m``, ``850 m``, ``1.4 km``, ``143 km``."""
    m = abs(float(metres))
    if m < 100:
        return f"{m:.0f} m"
    if m < 1000:
        return f"{round(m, -1):.0f} m"
    if m < 9_950:
        return f"{m / 1000:.1f} km"
    return f"{m / 1000:.0f} km"


def duration(ms: float) -> str:
    """``40 s``, ``23 min``, ``3 h 20 min``, ``1 day 4 h``, ``12 days``."""
    ms = max(0.0, float(ms))
    if ms < MS_PER_MINUTE:
        return f"{ms / 1000:.0f} s"
    minutes = int(ms // MS_PER_MINUTE)
    if ms < MS_PER_HOUR:
        return f"{minutes} min"
    if ms < MS_PER_DAY:
        h, m = divmod(minutes, 60)
        return f"{h} h" if m == 0 else f"{h} h {m} min"
    days, rest = divmod(int(ms // MS_PER_HOUR), 24)
    if days >= 3:
        return f"{days + (1 if rest >= 12 else 0)} days"
    unit = "day" if days == 1 else "days"
    return f"{days} {unit}" if rest == 0 else f"{days} {unit} {rest} h"


def local_time(ms: int) -> str:
    """A UK wall-clock time, e.g. ``Sat 21 Nov 2026 21:14 GMT``."""
    return to_datetime(ms).astimezone(UK).strftime("%a %d %b %Y %H:%M %Z")


def local_short(ms: int | None) -> str:
    """A UK wall-clock time for tables, e.g. ``Sat 21 Nov 21:14 GMT`` (``-`` for none)."""
    if ms is None:
        return "-"
    return to_datetime(ms).astimezone(UK).strftime("%a %d %b %H:%M %Z")


def local_day(ms: int) -> str:
    """A UK local date, e.g. ``Sat 21 Nov``."""
    return to_datetime(ms).astimezone(UK).strftime("%a %d %b")


def local_clock(ms: int, ref: int) -> str:
    """Like :func:`local_time`, but only the clock when on the same local day as ``ref``."""
    a = to_datetime(ms).astimezone(UK)
    b = to_datetime(ref).astimezone(UK)
    if a.date() == b.date():
        return a.strftime("%H:%M %Z")
    return local_time(ms)


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 fix``, ``3 fixes``."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


#: characters refused in free text: NUL and the other C0/C1 controls (a line break and a
#: tab are allowed), and the bidirectional controls that make text display in another
#: order than it was written (a right-to-left override turns "fine 01" into "10 enif")
REFUSED_CHARS = {
    **{c: f"U+{c:04X}" for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)},
    **{c: f"U+{c:04X}" for c in range(0x7F, 0xA0)},
    **{
        c: f"U+{c:04X}"
        for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
    },
}


def free_text(value: str | None, what: str, max_chars: int) -> str:
    """Text a person typed (a note, a reason, a purpose), trimmed; refused (a
    :class:`~geomonitor.model.errors.InputError` naming ``what`` and the character) if it
    holds a control or bidirectional character or is longer than ``max_chars``."""
    t = (value or "").strip()
    if len(t) > max_chars:
        raise InputError(f"{what}: over {max_chars} characters")
    bad = next((REFUSED_CHARS[ord(ch)] for ch in t if ord(ch) in REFUSED_CHARS), None)
    if bad is not None:
        raise InputError(f"{what}: holds the control character {bad} (not allowed in text)")
    return t


def local_seconds(ms: int) -> str:
    """A UK wall-clock time to the second, for evidence: ``Mon 16 Nov 2026 18:35:01 GMT``."""
    return to_datetime(ms).astimezone(UK).strftime("%a %d %b %Y %H:%M:%S %Z")


#: each kind of candidate and device event, as a desk officer says it
KIND_WORDS = {
    "exclusion_zone": "exclusion zone",
    "outside_inclusion_zone": "outside inclusion zone",
    "curfew_late_return": "curfew: late return",
    "curfew_absent": "curfew: absent",
    "curfew_no_signal": "curfew: no signal",
    "curfew_lateness": "curfew: late too often",
    "strap_tamper": "strap tamper",
    "no_contact": "no contact",
    "low_battery": "low battery",
    "battery_depleted": "battery depleted",
    "poor_accuracy": "poor accuracy",
    "implausible_jump": "implausible jump",
    "conflicting_fix": "conflicting fix",
    "vehicle_in_exclusion_zone": "vehicle in exclusion zone",
    "curfew_vehicle_sighting": "vehicle seen in curfew",
    "undeclared_vehicle": "undeclared vehicle",
    "non_association": "non-association",
    "feed_outage": "feed outage",
}


def kind_words(kind: str) -> str:
    """A kind in words (``curfew_absent`` -> ``curfew: absent``); unknown kinds with their
    underscores as spaces."""
    return KIND_WORDS.get(kind, kind.replace("_", " "))


def _iso_like(v: object) -> bool:
    return isinstance(v, str) and len(v) >= 20 and v[4:5] == "-" and v.endswith("Z")


def detail_value(key: str, value: object) -> str:
    """A candidate's or device event's detail for people, by what its key says it holds:
    ``*_m`` a distance, ``*_minutes`` / ``*_ms`` a duration, ``*_pct`` a percentage, an
    ISO time in local time, lists joined, yes/no, ``-`` for none."""
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(detail_value(key, x) for x in value) if value else "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if _iso_like(value):
        try:
            return local_time(parse_ts(value))
        except InputError:
            return str(value)
    if isinstance(value, int | float):
        if key.endswith("_m"):
            return distance(value)
        if key.endswith("_minutes"):
            return duration(value * MS_PER_MINUTE)
        if key.endswith("_ms"):
            return duration(value)
        if key.endswith("_pct") or "_pct_" in key:
            return f"{value:.0f}%"
        if key == "km_h" or key.endswith("_kmh"):
            return f"{value:.0f} km/h"
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
    return str(value)


def detail_label(key: str) -> str:
    """A detail's key for people: ``furthest_m`` -> ``furthest``, ``window_start`` ->
    ``window start``."""
    for unit in ("_minutes", "_ms", "_pct", "_m"):
        if key.endswith(unit):
            key = key[: -len(unit)]
            break
    return key.replace("_pct_", "_").replace("_", " ")


def details_words(details: dict[str, object]) -> str:
    """Every detail as ``label value``, joined by semicolons (for one table cell)."""
    return "; ".join(f"{detail_label(k)} {detail_value(k, v)}" for k, v in sorted(details.items()))
