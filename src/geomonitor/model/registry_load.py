"""Reading a registry document into a :class:`~geomonitor.model.registry.Registry`.

:func:`parse_registry` validates the whole document and either returns a registry or raises
:class:`~geomonitor.model.errors.RegistryError` listing every problem with the path of the
bad field, e.g. ``orders[3].conditions[1].zone: unknown zone "Z-9"``. Nothing is
half-loaded: the store writes a registry only after it has validated completely.

Each item is first checked on its own against its model (:mod:`.registry_doc`), then what
needs the whole document: ids unique, references resolved, zones built, timetables read,
ages and consent at fitting, no tag fitted to two people at once.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import shapely
from pydantic import BaseModel, ValidationError

from . import geography
from .crs import BNG, WGS84
from .errors import RegistryError, TimetableError, ZoneError
from .orders import Variation
from .registry import (
    ADULT_AGE,
    MIN_AGE_TO_TAG,
    Camera,
    Condition,
    CurfewParams,
    DeclaredVehiclesParams,
    District,
    Fitting,
    NonAssociationParams,
    Order,
    Registry,
    Subject,
    Tag,
)
from .registry_doc import (
    CONDITION_DOCS,
    CONDITION_TYPES,
    CameraDoc,
    CurfewDoc,
    DeclaredVehiclesDoc,
    DistrictDoc,
    ExclusionZoneDoc,
    FittingDoc,
    NonAssociationDoc,
    OrderHeadDoc,
    SubjectDoc,
    TagDoc,
    VariationHeadDoc,
    ZoneDoc,
    error_lines,
)
from .times import UK, iso, to_datetime
from .timetable import Timetable
from .zone import Zone, zone_from_circle, zone_from_file, zone_from_geojson

M = TypeVar("M", bound=BaseModel)
#: A registry file larger than this is refused unread.
MAX_REGISTRY_BYTES = 256 << 20
#: Entity records as the store versions them, keyed by (kind, id).
Entities = dict[tuple[str, str], dict[str, Any]]


class _Reader:
    """Collects every problem of one document, each with its path."""

    def __init__(self, doc: dict[str, Any]):
        self.doc = doc
        self.errors: list[str] = []

    def add(self, path: str, msg: str) -> None:
        self.errors.append(f"{path}: {msg}")

    def items(
        self, key: str, model: type[M], id_key: str | None = "id"
    ) -> list[tuple[int, M, dict]]:
        """The valid items of a list with unique ids: (index, model, raw item)."""
        raw = self.doc.get(key, [])
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.add(key, "expected a list")
            return []
        return self.unique(raw, key, model, id_key)

    def unique(
        self, raw: list[Any], path: str, model: type[M], id_key: str | None = "id"
    ) -> list[tuple[int, M, dict]]:
        out: list[tuple[int, M, dict]] = []
        seen: dict[str, int] = {}
        for i, it in enumerate(raw):
            p = f"{path}[{i}]"
            got = self.validate(model, it, p)
            if got is None:
                continue
            if id_key is not None:
                k = getattr(got, id_key)
                if k in seen:
                    self.add(f"{p}.{id_key}", f'duplicate id "{k}" (also {path}[{seen[k]}])')
                    continue
                seen[k] = i
            out.append((i, got, it))
        return out

    def validate(self, model: type[M], item: Any, path: str) -> M | None:
        if not isinstance(item, dict):
            self.add(path, "expected an object")
            return None
        try:
            return model.model_validate(item)
        except ValidationError as e:
            self.errors.extend(error_lines(e, path))
            return None


def parse_registry(doc: Any, base_dir: Path | None = None) -> Registry:
    """Validate a registry document.

    Parameters
    ----------
    doc
        The decoded JSON document.
    base_dir
        Folder that relative zone ``file`` paths are read from (the registry file's folder).
    """
    if not isinstance(doc, dict):
        raise RegistryError(["(document): expected a JSON object"])
    r = _Reader(doc)
    entities: Entities = {}
    districts, district_ref = _districts(r, entities)
    zones = _zones(r, base_dir or Path.cwd(), entities, districts)
    subjects: dict[str, Subject] = {}
    for i, s, _ in r.items("subjects", SubjectDoc):
        dcode = district_ref(s.district, f"subjects[{i}].district")
        if dcode is not None:
            subjects[s.id] = Subject(s.id, dcode, s.birth_date, s.officer)
            entities[("subject", s.id)] = {
                "id": s.id,
                "district": dcode,
                "birth_date": s.birth_date.isoformat() if s.birth_date else None,
            }
            if s.officer is not None:
                entities[("subject", s.id)]["officer"] = s.officer
    orders = _orders(r, zones, subjects, entities)
    tags: dict[str, Tag] = {}
    for i, t, _ in r.items("tags", TagDoc):
        tdist = None if t.district is None else district_ref(t.district, f"tags[{i}].district")
        tags[t.id] = Tag(t.id, tdist, t.model, t.allocated_at)
        entities[("tag", t.id)] = {"id": t.id, "district": tdist, "model": t.model}
        if t.allocated_at is not None:
            entities[("tag", t.id)]["allocated_at"] = iso(t.allocated_at)
    fittings = _fittings(r, tags, subjects, entities)
    cameras: dict[str, Camera] = {}
    for _, c, _ in r.items("cameras", CameraDoc):
        cameras[c.id] = Camera(c.id, c.lat, c.lon)
        entities[("camera", c.id)] = {"id": c.id, "lat": c.lat, "lon": c.lon}
    if r.errors:
        raise RegistryError(r.errors)
    return Registry(districts, zones, subjects, orders, tags, fittings, cameras, entities)


def _districts(
    r: _Reader, entities: Entities
) -> tuple[dict[str, District], Callable[[Any, str], str | None]]:
    """Districts, and a resolver of references to them by code or (any case) name."""
    districts: dict[str, District] = {}
    by_name: dict[str, str] = {}
    for _, d, _ in r.items("districts", DistrictDoc, "code"):
        name = d.name or d.code
        districts[d.code] = District(d.code, name, d.duty_inbox)
        by_name[name.lower()] = d.code
        entities[("district", d.code)] = {"code": d.code, "name": name}
        if d.duty_inbox is not None:
            entities[("district", d.code)]["duty_inbox"] = d.duty_inbox

    def ref(v: Any, path: str) -> str | None:
        if isinstance(v, str):
            if v in districts:
                return v
            if v.lower() in by_name:
                return by_name[v.lower()]
        r.add(path, f'unknown district "{v}"')
        return None

    return districts, ref


def _zones(
    r: _Reader, base: Path, entities: Entities, districts: dict[str, District]
) -> dict[str, Zone]:
    zones: dict[str, Zone] = {}
    for i, z, raw in r.items("zones", ZoneDoc):
        p = f"zones[{i}]"
        name = z.name or z.id
        wrong = _coordinates_look_wrong(z)
        if wrong is not None:
            r.add(f"{p}.{'geometry' if z.geometry is not None else 'center'}", wrong)
            continue
        try:
            zone = _build_zone(z, name, base, p, r)
        except ZoneError as e:
            kind = "geometry" if z.geometry is not None else "file" if z.file else "center"
            r.add(f"{p}.{kind}", str(e).removeprefix(f"{kind}: "))
            continue
        except (KeyError, TypeError, ValueError) as e:
            r.add(p, f"cannot build zone ({e})")
            continue
        if zone is None:
            continue
        far = _far_from_districts(zone, districts)
        if far is not None:
            r.add(p, far)
            continue
        zones[z.id] = zone
        # The store keeps resolved geometry so a registry can be rebuilt from it alone.
        entities[("zone", z.id)] = {
            "id": z.id,
            "name": name,
            "geometry": shapely.geometry.mapping(zone.geometry),
            "crs": BNG,
            "defined_by": {k: v for k, v in raw.items() if k != "geometry"},
        }
    return zones


#: A zone further than this from every district of the registry is refused.
MAX_KM_FROM_DISTRICTS = 50


def _positions(geometry: Any) -> list[tuple[float, float]]:
    """The coordinate pairs of a GeoJSON geometry (numbers only), at most 10,000."""
    out: list[tuple[float, float]] = []
    stack = [geometry.get("coordinates") if isinstance(geometry, dict) else None]
    while stack and len(out) < 10_000:
        c = stack.pop()
        if isinstance(c, list | tuple):
            if len(c) >= 2 and all(isinstance(v, int | float) for v in c[:2]):
                out.append((float(c[0]), float(c[1])))
            else:
                stack.extend(c)
    return out


def _coordinates_look_wrong(z: ZoneDoc) -> str | None:
    """A WGS84 zone whose coordinates are metres, or latitude and longitude swapped."""
    if z.geometry is not None and (z.crs in (None, WGS84, "OGC:CRS84")):
        pts = _positions(z.geometry)
        if pts and all(abs(x) > 180 or abs(y) > 90 for x, y in pts):
            return (
                "coordinates look like British National Grid metres, not degrees: give "
                '"crs": "EPSG:27700" with them'
            )
        if pts and all(49 <= x <= 61 and -9 <= y <= 2.5 for x, y in pts):
            return (
                "latitude and longitude look swapped (the zone would lie off East Africa): "
                "GeoJSON gives [longitude, latitude]"
            )
    if z.center is not None and 49 <= z.center.lon <= 61 and -9 <= z.center.lat <= 2.5:
        return "lat and lon look swapped: lat is about 50-61 in Great Britain, lon about -8-2"
    return None


def _far_from_districts(zone: Zone, districts: dict[str, District]) -> str | None:
    """A zone far outside every district of the registry (for districts whose boundaries
    geomonitor knows), or outside Great Britain."""
    minx, miny, maxx, maxy = zone.geometry.bounds
    if maxx < -100_000 or minx > 800_000 or maxy < -100_000 or miny > 1_400_000:
        return "lies outside Great Britain: check its coordinates and their crs"
    known = [code for code in districts if code in geography.DISTRICTS]
    if not known:
        return None
    km = min(zone.geometry.distance(geography.district_boundary(c)) for c in known) / 1000
    if km > MAX_KM_FROM_DISTRICTS:
        return (
            f"lies {km:,.0f} km outside every district of the registry: check its "
            "coordinates and their crs"
        )
    return None


def _build_zone(z: ZoneDoc, name: str, base: Path, p: str, r: _Reader) -> Zone | None:
    if z.geometry is not None:
        return zone_from_geojson(z.id, name, z.geometry, z.crs or WGS84)
    if z.file is not None:
        fp = Path(z.file)
        if not fp.is_absolute():
            fp = base / fp if (base / fp).exists() else Path.cwd() / fp
        if not fp.exists():
            r.add(f"{p}.file", f'"{z.file}" not found (relative to the registry file)')
            return None
        return zone_from_file(z.id, name, fp)
    assert z.center is not None
    if z.radius_m is None:
        r.add(f"{p}.radius_m", "missing")
        return None
    return zone_from_circle(z.id, name, z.center.lat, z.center.lon, z.radius_m)


def _orders(
    r: _Reader, zones: dict[str, Zone], subjects: dict[str, Subject], entities: Entities
) -> dict[str, Order]:
    """Orders and their conditions; the conditions of an order with a bad field are still
    checked, so that every problem is reported at once."""
    orders: dict[str, Order] = {}
    raw_orders = r.doc.get("orders", [])
    if raw_orders is None:
        return orders
    if not isinstance(raw_orders, list):
        r.add("orders", "expected a list")
        return orders
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_orders):
        p = f"orders[{i}]"
        o = r.validate(OrderHeadDoc, raw, p)
        if o is not None and o.id in seen:
            r.add(f"{p}.id", f'duplicate id "{o.id}" (also orders[{seen[o.id]}])')
            continue
        if o is not None:
            seen[o.id] = i
        if not isinstance(raw, dict):
            continue
        subject = raw.get("subject")
        if isinstance(subject, str) and subject and subject not in subjects:
            r.add(f"{p}.subject", f'unknown subject "{subject}"')
        conds = _conditions(r, raw, p, str(raw.get("id")), subject, zones, subjects)
        varied = _variations(r, raw, p, subject, zones, subjects, o.starts if o else None)
        if o is not None and o.subject in subjects:
            conds = _in_force(conds, varied)
            variations = [v for v, _ in varied]
            orders[o.id] = Order(o.id, o.subject, o.type, o.starts, o.ends, conds, variations)
            entities[("order", o.id)] = dict(raw)
    return orders


def _variations(
    r: _Reader,
    raw: dict[str, Any],
    p: str,
    subject: Any,
    zones: dict[str, Zone],
    subjects: dict[str, Subject],
    order_starts: int | None,
) -> list[tuple[Variation, list[Condition]]]:
    """An order's variations, each with the conditions it puts in force, by effective time."""
    items = raw.get("variations")
    if items is None:
        return []
    if not isinstance(items, list):
        r.add(f"{p}.variations", "expected a list")
        return []
    oid = str(raw.get("id"))
    out: list[tuple[Variation, list[Condition]]] = []
    seen: dict[str, int] = {}
    when: dict[int, int] = {}
    for k, item in enumerate(items):
        vp = f"{p}.variations[{k}]"
        v = r.validate(VariationHeadDoc, item, vp)
        if not isinstance(item, dict):
            continue
        conds = _conditions(r, item, vp, oid, subject, zones, subjects)
        if v is None:
            continue
        if v.id in seen:
            r.add(f"{vp}.id", f'duplicate id "{v.id}" (also {p}.variations[{seen[v.id]}])')
            continue
        seen[v.id] = k
        if v.effective in when:
            r.add(f"{vp}.effective", f"same time as {p}.variations[{when[v.effective]}]")
            continue
        when[v.effective] = k
        if order_starts is not None and v.effective <= order_starts:
            r.add(f"{vp}.effective", "not after the order starts (correct the order itself)")
            continue
        variation = Variation(v.id, oid, v.type, v.reason, v.effective, tuple(c.id for c in conds))
        out.append((variation, conds))
    return sorted(out, key=lambda vc: vc[0].effective)


def _in_force(
    base: list[Condition], varied: list[tuple[Variation, list[Condition]]]
) -> list[Condition]:
    """Every condition cut to the time it is in force: the order's own until the first
    variation takes effect, each variation's until the next."""
    stretches: list[tuple[int | None, list[Condition]]] = [(None, base)]
    stretches += [(v.effective, conds) for v, conds in varied]
    out = []
    for k, (start, conds) in enumerate(stretches):
        end = stretches[k + 1][0] if k + 1 < len(stretches) else None
        for c in conds:
            s = c.starts if start is None else max(start, c.starts or start)
            e = c.ends if end is None else min(end, c.ends if c.ends is not None else end)
            if s is not None and e is not None and e <= s:
                continue  # not in force in this stretch at all
            out.append(replace(c, starts=s, ends=e))
    return out


def _conditions(
    r: _Reader,
    raw: dict[str, Any],
    p: str,
    oid: str,
    subject: Any,
    zones: dict[str, Zone],
    subjects: dict[str, Subject],
) -> list[Condition]:
    conds_raw = raw.get("conditions", [])
    if conds_raw is None:
        return []
    if not isinstance(conds_raw, list):
        r.add(f"{p}.conditions", "expected a list")
        return []
    conds = []
    seen: dict[str, int] = {}
    for j, c in enumerate(conds_raw):
        cp = f"{p}.conditions[{j}]"
        cid = c.get("id") if isinstance(c, dict) else None
        if isinstance(cid, str) and cid in seen:
            r.add(f"{cp}.id", f'duplicate id "{cid}" (also {p}.conditions[{seen[cid]}])')
            continue
        if isinstance(cid, str) and cid:
            seen[cid] = j
        cond = _condition(r, oid, subject, c, cp, zones, subjects)
        if cond is not None:
            conds.append(cond)
    return conds


def _condition(
    r: _Reader,
    oid: str,
    subject: Any,
    c: Any,
    p: str,
    zones: dict[str, Zone],
    subjects: dict[str, Subject],
) -> Condition | None:
    if not isinstance(c, dict):
        r.add(p, "expected an object")
        return None
    ctype = c.get("type")
    if ctype is None or ctype == "":
        r.add(f"{p}.type", "missing")
        return None
    model = CONDITION_DOCS.get(ctype) if isinstance(ctype, str) else None
    if model is None:
        r.add(f"{p}.type", f'unknown condition type "{ctype}" (use {", ".join(CONDITION_TYPES)})')
        return None
    n0 = len(r.errors)
    doc = r.validate(model, c, p)
    if doc is None:
        return None
    cond = Condition(
        doc.id, doc.type, oid, doc.starts, doc.ends, open_after=doc.open_after,
        close_after=doc.close_after,
    )  # fmt: skip
    zone = getattr(doc, "zone", None)
    if zone is not None:
        if zone not in zones:
            r.add(f"{p}.zone", f'unknown zone "{zone}"')
        cond.zone_id = zone
        if isinstance(doc, ExclusionZoneDoc) and doc.schedule is not None:
            sched, tz = doc.schedule, c.get("timezone", "Europe/London")
            if isinstance(sched, dict):
                tz, sched = sched.get("timezone", tz), sched.get("timetable")
            cond.schedule = _timetable(r, sched, tz, f"{p}.schedule")
            if cond.schedule is not None and any(w.place for w in cond.schedule.windows):
                r.add(f"{p}.schedule", "a zone's schedule has no addresses (only a curfew's)")
    elif isinstance(doc, CurfewDoc):
        cond.schedule = _timetable(r, doc.timetable, doc.timezone, f"{p}.timetable")
        cond.params = CurfewParams(
            doc.location.lat, doc.location.lon, doc.radius_m, doc.grace_minutes,
            doc.lateness_minutes,
        )  # fmt: skip
    elif isinstance(doc, DeclaredVehiclesDoc):
        cond.params = DeclaredVehiclesParams(tuple(doc.vrms))
    elif isinstance(doc, NonAssociationDoc):
        for k, s in enumerate(doc.subjects):
            if s not in subjects:
                r.add(f"{p}.subjects[{k}]", f'unknown subject "{s}"')
        if subject in doc.subjects:
            r.add(f"{p}.subjects", f'names the order\'s own subject "{subject}"')
        cond.params = NonAssociationParams(tuple(doc.subjects), doc.distance_m, doc.min_minutes)
    return cond if len(r.errors) == n0 else None


def _timetable(r: _Reader, entries: Any, tz: Any, path: str) -> Timetable | None:
    try:
        return Timetable.parse(entries, tz)
    except TimetableError as e:
        r.add(path, str(e))
        return None


def _age_on(birth: date, ms: int) -> int:
    d = to_datetime(ms).astimezone(UK).date()
    return d.year - birth.year - ((d.month, d.day) < (birth.month, birth.day))


def _fittings(
    r: _Reader, tags: dict[str, Tag], subjects: dict[str, Subject], entities: Entities
) -> list[Fitting]:
    fittings: list[Fitting] = []
    for i, f, raw in r.items("fittings", FittingDoc, None):
        p = f"fittings[{i}]"
        n0 = len(r.errors)
        if f.tag not in tags:
            r.add(f"{p}.tag", f'unknown tag "{f.tag}"')
        if f.subject not in subjects:
            r.add(f"{p}.subject", f'unknown subject "{f.subject}"')
        if f.consent.recorded_at > f.fitted_at:
            r.add(f"{p}.consent.recorded_at", "consent recorded after the fitting")
        guardian = bool(f.consent.guardian and f.consent.guardian.strip())
        if f.subject in subjects:
            bd = subjects[f.subject].birth_date
            if bd is None:
                r.add(f"{p}.subject", f'subject "{f.subject}" has no birth date; age cannot be '
                      "checked")  # fmt: skip
            else:
                age = _age_on(bd, f.fitted_at)
                if age < MIN_AGE_TO_TAG:
                    r.add(p, f'subject "{f.subject}" is under {MIN_AGE_TO_TAG} at fitting')
                elif age < ADULT_AGE and not guardian:
                    r.add(
                        f"{p}.consent.guardian",
                        f'subject "{f.subject}" is under {ADULT_AGE} at fitting: a parent or '
                        "guardian's consent is required",
                    )
        if len(r.errors) != n0:
            continue
        fit = Fitting(f.tag, f.subject, f.fitted_at, f.removed_at, f.consent.recorded_at, guardian)
        fittings.append(fit)
        entities[("fitting", f"{fit.tag_id}@{fit.fitted_at}")] = dict(raw)
    _check_overlaps(fittings, r)
    return fittings


def _check_overlaps(fittings: list[Fitting], r: _Reader) -> None:
    by_tag: dict[str, list[Fitting]] = {}
    for f in fittings:
        by_tag.setdefault(f.tag_id, []).append(f)
    inf = 2**62
    for tag, fl in by_tag.items():
        fl.sort(key=lambda f: f.fitted_at)
        for a, b in itertools.pairwise(fl):
            if b.fitted_at < (a.removed_at if a.removed_at is not None else inf):
                who = (
                    f'subjects "{a.subject_id}" and "{b.subject_id}"'
                    if a.subject_id != b.subject_id
                    else f'subject "{a.subject_id}" twice'
                )
                r.add("fittings", f'tag "{tag}" is fitted to {who} at once')


def load_registry_file(path: str | Path) -> tuple[Registry, dict]:
    """Read and validate a registry file; returns the registry and the raw document."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_REGISTRY_BYTES:
            raise RegistryError(
                [f"(document): {p} is over {MAX_REGISTRY_BYTES >> 20} MiB: not a registry"]
            )
        doc = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        msg = f"(document): not valid JSON (line {e.lineno}, column {e.colno})"
        raise RegistryError([msg]) from None
    except OSError as e:
        raise RegistryError([f"(document): cannot read {p} ({e.strerror})"]) from None
    return parse_registry(doc, p.parent), doc


def registry_from_entities(entities: Entities) -> Registry:
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
