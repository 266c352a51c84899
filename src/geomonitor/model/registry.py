"""The registry: districts, zones, subjects, orders and their conditions, tags, fittings and
cameras, from one JSON document.

:func:`parse_registry` validates the whole document and either returns a :class:`Registry`
or raises :class:`RegistryError` listing every problem with the path of the bad field, e.g.
``orders[3].conditions[1].zone: unknown zone "Z-9"``. Nothing is half-loaded: the store
writes a registry only after it has validated completely.

Error messages name registry identifiers (pseudonymous ids such as ``S-0001``) but never
echo personal values such as birth dates or guardian names.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import shapely

from .crs import BNG, WGS84
from .times import TimeError, parse_ts, to_datetime
from .timetable import Timetable, TimetableError
from .zone import Zone, ZoneError, zone_from_circle, zone_from_file, zone_from_geojson

ORDER_TYPES = ("scpo", "licence", "iom_voluntary")
CONDITION_TYPES = (
    "exclusion_zone",
    "inclusion_zone",
    "curfew",
    "declared_vehicles",
    "non_association",
)
MIN_AGE_TO_TAG = 12
ADULT_AGE = 18
UK = ZoneInfo("Europe/London")


class RegistryError(ValueError):
    """The registry document is invalid; ``errors`` lists every problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        head = f"registry has {len(errors)} error(s):\n  " + "\n  ".join(errors[:50])
        if len(errors) > 50:
            head += f"\n  ... and {len(errors) - 50} more"
        super().__init__(head)


@dataclass(frozen=True)
class District:
    code: str
    name: str


@dataclass
class Condition:
    id: str
    type: str
    order_id: str
    starts: int | None = None
    ends: int | None = None
    zone_id: str | None = None
    schedule: Timetable | None = None
    params: dict[str, Any] = field(default_factory=dict)
    open_after: int | None = None
    close_after: int | None = None


@dataclass
class Order:
    id: str
    subject_id: str
    type: str
    starts: int
    ends: int | None
    conditions: list[Condition]


@dataclass(frozen=True)
class Subject:
    id: str
    district: str  # district code
    birth_date: date | None


@dataclass(frozen=True)
class Tag:
    id: str
    district: str | None
    model: str | None


@dataclass(frozen=True)
class Fitting:
    tag_id: str
    subject_id: str
    fitted_at: int
    removed_at: int | None
    consent_recorded_at: int
    guardian: bool


@dataclass(frozen=True)
class Camera:
    id: str
    lat: float
    lon: float


@dataclass
class Registry:
    districts: dict[str, District]
    zones: dict[str, Zone]
    subjects: dict[str, Subject]
    orders: dict[str, Order]
    tags: dict[str, Tag]
    fittings: list[Fitting]
    cameras: dict[str, Camera]
    #: Canonical entity records (what the store versions), keyed by (kind, id).
    entities: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def conditions(self, type_: str | None = None) -> list[tuple[Order, Condition]]:
        out = []
        for o in self.orders.values():
            for c in o.conditions:
                if type_ is None or c.type == type_:
                    out.append((o, c))
        return out


#: An instant after any order ends: when an order or condition without an end stops.
FAR_FUTURE = 2**62


def in_force(order: Order, cond: Condition) -> tuple[int, int]:
    """When a condition applies: from the later of its order's start and its own, until
    the earlier of their ends (:data:`FAR_FUTURE` when neither ends)."""
    starts = max(order.starts, cond.starts if cond.starts is not None else order.starts)
    ends = [e for e in (order.ends, cond.ends) if e is not None]
    return starts, min(ends) if ends else FAR_FUTURE


class _Errors:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, msg: str) -> None:
        self.items.append(f"{path}: {msg}")


def _list(doc: dict, key: str, errs: _Errors) -> list:
    v = doc.get(key, [])
    if v is None:
        return []
    if not isinstance(v, list):
        errs.add(key, "expected a list")
        return []
    return v


def _str(obj: dict, key: str, path: str, errs: _Errors, required: bool = True) -> str | None:
    v = obj.get(key)
    if v is None or v == "":
        if required:
            errs.add(f"{path}.{key}", "missing")
        return None
    if not isinstance(v, str):
        errs.add(f"{path}.{key}", "expected a string")
        return None
    return v


def _ts(obj: dict, key: str, path: str, errs: _Errors, required: bool = True) -> int | None:
    v = obj.get(key)
    if v is None:
        if required:
            errs.add(f"{path}.{key}", "missing")
        return None
    try:
        return parse_ts(v)
    except TimeError as e:
        errs.add(f"{path}.{key}", str(e))
        return None


def _num(
    obj: dict,
    key: str,
    path: str,
    errs: _Errors,
    default: float | None = None,
    positive: bool = True,
) -> float | None:
    v = obj.get(key, default)
    if v is None:
        errs.add(f"{path}.{key}", "missing")
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or v != v:
        errs.add(f"{path}.{key}", "expected a number")
        return None
    if positive and v <= 0:
        errs.add(f"{path}.{key}", "must be positive")
        return None
    return float(v)


def _latlon(obj: Any, path: str, errs: _Errors) -> tuple[float, float] | None:
    if not isinstance(obj, dict):
        errs.add(path, "expected {lat, lon}")
        return None
    lat, lon = obj.get("lat"), obj.get("lon")
    ok = True
    for name, v, lim in (("lat", lat, 90), ("lon", lon, 180)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not -lim <= v <= lim:
            errs.add(f"{path}.{name}", f"expected a number in -{lim}..{lim}")
            ok = False
    return (float(lat), float(lon)) if ok else None  # type: ignore[arg-type]


def _unique(items: list, key: str, path: str, errs: _Errors) -> dict[str, tuple[int, dict]]:
    seen: dict[str, tuple[int, dict]] = {}
    for i, it in enumerate(items):
        p = f"{path}[{i}]"
        if not isinstance(it, dict):
            errs.add(p, "expected an object")
            continue
        k = _str(it, key, p, errs)
        if k is None:
            continue
        if k in seen:
            errs.add(f"{p}.{key}", f'duplicate id "{k}" (also {path}[{seen[k][0]}])')
            continue
        seen[k] = (i, it)
    return seen


def parse_registry(doc: Any, base_dir: Path | None = None) -> Registry:
    """Validate a registry document.

    Parameters
    ----------
    doc
        The decoded JSON document.
    base_dir
        Folder that relative zone ``file`` paths are read from (the registry file's folder).
    """
    errs = _Errors()
    if not isinstance(doc, dict):
        raise RegistryError(["(document): expected a JSON object"])
    base = base_dir or Path.cwd()
    entities: dict[tuple[str, str], dict[str, Any]] = {}

    # Districts: referenced by code or by name.
    districts: dict[str, District] = {}
    by_name: dict[str, str] = {}
    for code, (i, d) in _unique(_list(doc, "districts", errs), "code", "districts", errs).items():
        name = _str(d, "name", f"districts[{i}]", errs) or code
        districts[code] = District(code, name)
        by_name[name.lower()] = code
        entities[("district", code)] = {"code": code, "name": name}

    def district_ref(v: Any, path: str, required: bool = True) -> str | None:
        if v is None:
            if required:
                errs.add(path, "missing")
            return None
        if isinstance(v, str):
            if v in districts:
                return v
            if v.lower() in by_name:
                return by_name[v.lower()]
        errs.add(path, f'unknown district "{v}"')
        return None

    # Zones.
    zones: dict[str, Zone] = {}
    for zid, (i, z) in _unique(_list(doc, "zones", errs), "id", "zones", errs).items():
        p = f"zones[{i}]"
        name = str(z["name"]) if isinstance(z.get("name"), str) else zid
        kinds = [k for k in ("geometry", "file", "center") if k in z]
        try:
            if len(kinds) != 1:
                errs.add(p, "give exactly one of geometry, file or center+radius_m")
                continue
            if kinds[0] == "geometry":
                crs = z.get("crs", WGS84)
                zone = zone_from_geojson(zid, name, z["geometry"], crs)
            elif kinds[0] == "file":
                f = z["file"]
                if not isinstance(f, str):
                    errs.add(f"{p}.file", "expected a path")
                    continue
                fp = Path(f)
                if not fp.is_absolute():
                    fp = base / fp if (base / fp).exists() else Path.cwd() / fp
                if not fp.exists():
                    errs.add(f"{p}.file", f'"{f}" not found (relative to the registry file)')
                    continue
                zone = zone_from_file(zid, name, fp)
            else:
                ll = _latlon(z["center"], f"{p}.center", errs)
                r = _num(z, "radius_m", p, errs)
                if ll is None or r is None:
                    continue
                zone = zone_from_circle(zid, name, ll[0], ll[1], r)
        except ZoneError as e:
            field_ = kinds[0] if kinds else "geometry"
            msg = str(e).removeprefix(f"{field_}: ")
            errs.add(f"{p}.{field_}", msg)
            continue
        except (KeyError, TypeError, ValueError) as e:
            errs.add(p, f"cannot build zone ({e})")
            continue
        zones[zid] = zone
        # The store keeps resolved geometry so a registry can be rebuilt from it alone.
        entities[("zone", zid)] = {
            "id": zid,
            "name": name,
            "geometry": shapely.geometry.mapping(zone.geometry),
            "crs": BNG,
            "defined_by": {k: v for k, v in z.items() if k not in ("geometry",)},
        }

    # Subjects.
    subjects: dict[str, Subject] = {}
    for sid, (i, s) in _unique(_list(doc, "subjects", errs), "id", "subjects", errs).items():
        p = f"subjects[{i}]"
        dcode = district_ref(s.get("district"), f"{p}.district")
        bd = None
        if s.get("birth_date") is not None:
            try:
                bd = date.fromisoformat(str(s["birth_date"]))
            except ValueError:
                errs.add(f"{p}.birth_date", "expected a date YYYY-MM-DD")
        if dcode is not None:
            subjects[sid] = Subject(sid, dcode, bd)
            entities[("subject", sid)] = {
                "id": sid,
                "district": dcode,
                "birth_date": bd.isoformat() if bd else None,
            }

    # Orders and conditions.
    orders: dict[str, Order] = {}
    for oid, (i, o) in _unique(_list(doc, "orders", errs), "id", "orders", errs).items():
        p = f"orders[{i}]"
        subj = _str(o, "subject", p, errs)
        if subj is not None and subj not in subjects:
            errs.add(f"{p}.subject", f'unknown subject "{subj}"')
        otype = _str(o, "type", p, errs)
        if otype is not None and otype not in ORDER_TYPES:
            errs.add(f"{p}.type", f'unknown order type "{otype}" (use {", ".join(ORDER_TYPES)})')
        starts = _ts(o, "starts", p, errs)
        ends = _ts(o, "ends", p, errs, required=False)
        if starts is not None and ends is not None and ends <= starts:
            errs.add(f"{p}.ends", "order ends before it starts")
        conds_raw = o.get("conditions", [])
        if not isinstance(conds_raw, list):
            errs.add(f"{p}.conditions", "expected a list")
            conds_raw = []
        conds: list[Condition] = []
        for cid, (j, c) in _unique(conds_raw, "id", f"{p}.conditions", errs).items():
            cond = _condition(oid, cid, c, f"{p}.conditions[{j}]", zones, subjects, errs)
            if (
                cond is not None
                and cond.type == "non_association"
                and subj in cond.params["subjects"]
            ):
                errs.add(
                    f"{p}.conditions[{j}].subjects", f'names the order\'s own subject "{subj}"'
                )
                continue
            if cond is not None:
                conds.append(cond)
        if subj is not None and otype is not None and starts is not None:
            orders[oid] = Order(oid, subj, otype, starts, ends, conds)
            entities[("order", oid)] = dict(o)

    # Tags.
    tags: dict[str, Tag] = {}
    for tid, (i, t) in _unique(_list(doc, "tags", errs), "id", "tags", errs).items():
        p = f"tags[{i}]"
        tdist = district_ref(t.get("district"), f"{p}.district", required=False)
        model = str(t["model"]) if isinstance(t.get("model"), str) else None
        tags[tid] = Tag(tid, tdist, model)
        entities[("tag", tid)] = {"id": tid, "district": tdist, "model": model}

    # Fittings.
    fittings: list[Fitting] = []
    for i, f in enumerate(_list(doc, "fittings", errs)):
        p = f"fittings[{i}]"
        if not isinstance(f, dict):
            errs.add(p, "expected an object")
            continue
        fit = _fitting(f, p, tags, subjects, errs)
        if fit is not None:
            fittings.append(fit)
            entities[("fitting", f"{fit.tag_id}@{fit.fitted_at}")] = dict(f)
    _check_overlaps(fittings, errs)

    # Cameras.
    cameras: dict[str, Camera] = {}
    for cid, (i, c) in _unique(_list(doc, "cameras", errs), "id", "cameras", errs).items():
        ll = _latlon(c, f"cameras[{i}]", errs)
        if ll is not None:
            cameras[cid] = Camera(cid, ll[0], ll[1])
            entities[("camera", cid)] = {"id": cid, "lat": ll[0], "lon": ll[1]}

    if errs.items:
        raise RegistryError(errs.items)
    return Registry(districts, zones, subjects, orders, tags, fittings, cameras, entities)


def _condition(
    oid: str,
    cid: str,
    c: dict,
    p: str,
    zones: dict[str, Zone],
    subjects: dict[str, Subject],
    errs: _Errors,
) -> Condition | None:
    n0 = len(errs.items)
    ctype = _str(c, "type", p, errs)
    if ctype is None:
        return None
    if ctype not in CONDITION_TYPES:
        errs.add(
            f"{p}.type", f'unknown condition type "{ctype}" (use {", ".join(CONDITION_TYPES)})'
        )
        return None
    starts = _ts(c, "starts", p, errs, required=False)
    ends = _ts(c, "ends", p, errs, required=False)
    if starts is not None and ends is not None and ends <= starts:
        errs.add(f"{p}.ends", "condition ends before it starts")
    cond = Condition(cid, ctype, oid, starts, ends)
    for key in ("open_after", "close_after"):
        if key in c:
            v = c[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                errs.add(f"{p}.{key}", "expected a whole number of fixes >= 1")
            else:
                setattr(cond, key, v)
    if ctype in ("exclusion_zone", "inclusion_zone"):
        z = _str(c, "zone", p, errs)
        if z is not None and z not in zones:
            errs.add(f"{p}.zone", f'unknown zone "{z}"')
        cond.zone_id = z
        if c.get("schedule") is not None:
            if ctype == "inclusion_zone":
                errs.add(f"{p}.schedule", "inclusion zones have no schedule")
            else:
                sched = c["schedule"]
                tz = c.get("timezone", "Europe/London")
                if isinstance(sched, dict):
                    tz = sched.get("timezone", tz)
                    sched = sched.get("timetable")
                try:
                    cond.schedule = Timetable.parse(sched, tz)
                except TimetableError as e:
                    errs.add(f"{p}.schedule", str(e))
    elif ctype == "curfew":
        loc = _latlon(c.get("location"), f"{p}.location", errs)
        radius = _num(c, "radius_m", p, errs, default=100.0)
        grace = _num(c, "grace_minutes", p, errs, default=0.0, positive=False)
        if grace is not None and grace < 0:
            errs.add(f"{p}.grace_minutes", "must not be negative")
        try:
            cond.schedule = Timetable.parse(c.get("timetable"), c.get("timezone", "Europe/London"))
        except TimetableError as e:
            errs.add(f"{p}.timetable", str(e))
        if loc is not None:
            cond.params = {"lat": loc[0], "lon": loc[1], "radius_m": radius, "grace_minutes": grace}
    elif ctype == "declared_vehicles":
        vrms = c.get("vrms")
        if not isinstance(vrms, list) or not all(isinstance(v, str) and v.strip() for v in vrms):
            errs.add(f"{p}.vrms", "expected a list of number plates")
        else:
            cond.params = {"vrms": list(vrms)}
    elif ctype == "non_association":
        others = c.get("subjects")
        if not isinstance(others, list) or not others:
            errs.add(f"{p}.subjects", "expected a non-empty list of subject ids")
        else:
            for k, s in enumerate(others):
                if s not in subjects:
                    errs.add(f"{p}.subjects[{k}]", f'unknown subject "{s}"')
        dist = _num(c, "distance_m", p, errs, default=50.0)
        mins = _num(c, "min_minutes", p, errs, default=10.0)
        cond.params = {"subjects": others, "distance_m": dist, "min_minutes": mins}
    return cond if len(errs.items) == n0 else None


def _age_on(birth: date, ms: int) -> int:
    d = to_datetime(ms).astimezone(UK).date()
    return d.year - birth.year - ((d.month, d.day) < (birth.month, birth.day))


def _fitting(
    f: dict, p: str, tags: dict[str, Tag], subjects: dict[str, Subject], errs: _Errors
) -> Fitting | None:
    n0 = len(errs.items)
    tag = _str(f, "tag", p, errs)
    if tag is not None and tag not in tags:
        errs.add(f"{p}.tag", f'unknown tag "{tag}"')
    subj = _str(f, "subject", p, errs)
    if subj is not None and subj not in subjects:
        errs.add(f"{p}.subject", f'unknown subject "{subj}"')
    fitted = _ts(f, "fitted_at", p, errs)
    removed = _ts(f, "removed_at", p, errs, required=False)
    if fitted is not None and removed is not None and removed <= fitted:
        errs.add(f"{p}.removed_at", "removed before it was fitted")
    consent = f.get("consent")
    recorded = None
    guardian = False
    if not isinstance(consent, dict) or consent.get("recorded_at") is None:
        errs.add(f"{p}.consent", "missing: every wearer volunteers and consent must be recorded")
    else:
        recorded = _ts(consent, "recorded_at", f"{p}.consent", errs)
        g = consent.get("guardian")
        guardian = isinstance(g, str) and bool(g.strip())
        if g is not None and not isinstance(g, str):
            errs.add(f"{p}.consent.guardian", "expected null or a name or reference")
        if recorded is not None and fitted is not None and recorded > fitted:
            errs.add(f"{p}.consent.recorded_at", "consent recorded after the fitting")
    if subj in subjects and fitted is not None:
        bd = subjects[subj].birth_date  # type: ignore[index]
        if bd is None:
            errs.add(f"{p}.subject", f'subject "{subj}" has no birth date; age cannot be checked')
        else:
            age = _age_on(bd, fitted)
            if age < MIN_AGE_TO_TAG:
                errs.add(p, f'subject "{subj}" is under {MIN_AGE_TO_TAG} at fitting')
            elif age < ADULT_AGE and not guardian:
                errs.add(
                    f"{p}.consent.guardian",
                    f'subject "{subj}" is under {ADULT_AGE} at fitting: a parent or '
                    "guardian's consent is required",
                )
    if len(errs.items) != n0:
        return None
    assert tag and subj and fitted is not None and recorded is not None
    return Fitting(tag, subj, fitted, removed, recorded, guardian)


def _check_overlaps(fittings: list[Fitting], errs: _Errors) -> None:
    by_tag: dict[str, list[tuple[int, Fitting]]] = {}
    for i, f in enumerate(fittings):
        by_tag.setdefault(f.tag_id, []).append((i, f))
    inf = 2**62
    for tag, fl in by_tag.items():
        fl.sort(key=lambda t: t[1].fitted_at)
        for (_, a), (_, b) in itertools.pairwise(fl):
            if b.fitted_at < (a.removed_at if a.removed_at is not None else inf):
                who = (
                    f'subjects "{a.subject_id}" and "{b.subject_id}"'
                    if a.subject_id != b.subject_id
                    else f'subject "{a.subject_id}" twice'
                )
                errs.add("fittings", f'tag "{tag}" is fitted to {who} at once')


def load_registry_file(path: str | Path) -> tuple[Registry, dict]:
    """Read and validate a registry file; returns the registry and the raw document."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        msg = f"(document): not valid JSON (line {e.lineno}, column {e.colno})"
        raise RegistryError([msg]) from None
    except OSError as e:
        raise RegistryError([f"(document): cannot read {p} ({e.strerror})"]) from None
    return parse_registry(doc, p.parent), doc


def registry_from_entities(entities: dict[tuple[str, str], dict[str, Any]]) -> Registry:
    """Rebuild a registry from the canonical entity records the store keeps."""
    doc: dict[str, list] = {
        k: [] for k in ("districts", "zones", "subjects", "orders", "tags", "fittings", "cameras")
    }
    plural = {
        "district": "districts",
        "zone": "zones",
        "subject": "subjects",
        "order": "orders",
        "tag": "tags",
        "fitting": "fittings",
        "camera": "cameras",
    }
    for (kind, _), rec in sorted(entities.items()):
        doc[plural[kind]].append(rec)
    return parse_registry(doc)
