"""The registry document as pydantic models: the shape and field rules of every entity.

:mod:`geomonitor.model.registry_load` validates a document item by item with these models
(so every problem is reported with its path, e.g. ``orders[3].conditions[1].zone``), then
checks what needs the whole document (references, ages, overlapping fittings) and builds a
:class:`~geomonitor.model.registry.Registry`. :class:`RegistryDocument` describes the whole
file; ``geomonitor registry schema`` and ``docs/registry.schema.json`` are made from it.

Messages describe what is wrong with a field and never quote its value when it could be
personal (a birth date, a guardian's name).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .errors import TimeError
from .orders import VARIATION_TYPES
from .times import parse_ts

ORDER_TYPES = ("scpo", "licence", "iom_voluntary")
CONDITION_TYPES = (
    "exclusion_zone",
    "inclusion_zone",
    "curfew",
    "declared_vehicles",
    "non_association",
)


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("registry", message)


# --------------------------------------------------------------------------- field types
#: Longest id (subject, order, zone...) and longest name or path accepted.
MAX_ID_CHARS = 100
MAX_TEXT_CHARS = 500


def _id(v: Any) -> str:
    if v is None or v == "":
        raise _fail("missing")
    if not isinstance(v, str):
        raise _fail("expected a string")
    if len(v) > MAX_ID_CHARS:
        raise _fail(f"too long ({len(v):,} characters; at most {MAX_ID_CHARS})")
    return v


def _text(v: Any) -> str | None:
    """An optional free-text field (a name): anything not a string counts as absent."""
    if isinstance(v, str) and len(v) > MAX_TEXT_CHARS:
        raise _fail(f"too long ({len(v):,} characters; at most {MAX_TEXT_CHARS})")
    return v if isinstance(v, str) else None


def _ts(v: Any) -> int:
    try:
        return parse_ts(v)
    except TimeError as e:
        raise _fail(str(e)) from None


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v != v:
        raise _fail("expected a number")
    return float(v)


def _positive(v: Any) -> float:
    f = _number(v)
    if f <= 0:
        raise _fail("must be positive")
    return f


def _not_negative(v: Any) -> float:
    f = _number(v)
    if f < 0:
        raise _fail("must not be negative")
    return f


def _lat(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not -90 <= v <= 90:
        raise _fail("expected a number in -90..90")
    return float(v)


def _lon(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not -180 <= v <= 180:
        raise _fail("expected a number in -180..180")
    return float(v)


def _fix_count(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise _fail("expected a whole number of fixes >= 1")
    return v


def _birth_date(v: Any) -> date | None:
    if v is None:
        return None
    try:
        return date.fromisoformat(str(v))
    except ValueError:
        raise _fail("expected a date YYYY-MM-DD") from None


def _guardian(v: Any) -> str | None:
    if v is not None and not isinstance(v, str):
        raise _fail("expected null or a name or reference")
    return v


def _plates(v: Any) -> list[str]:
    if not isinstance(v, list) or not all(
        isinstance(p, str) and p.strip() and len(p) <= 20 for p in v
    ):
        raise _fail("expected a list of number plates")
    return v


def _subject_ids(v: Any) -> list[str]:
    if not isinstance(v, list) or not v:
        raise _fail("expected a non-empty list of subject ids")
    return v


Id = Annotated[str, BeforeValidator(_id)]
Text = Annotated[str | None, BeforeValidator(_text)]


def _email(v: Any) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) or not EMAIL.fullmatch(v) or len(v) > 254:
        raise _fail("expected an email address (name@host)")
    return v


#: An address a notification can be sent to (one address; no display name).
EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
Email = Annotated[
    str | None,
    BeforeValidator(_email),
    WithJsonSchema({"type": ["string", "null"], "format": "email"}),
]
Timestamp = Annotated[
    int,
    BeforeValidator(_ts),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "with a zone"}),
]
Positive = Annotated[float, BeforeValidator(_positive), WithJsonSchema({"type": "number"})]
NotNegative = Annotated[float, BeforeValidator(_not_negative), WithJsonSchema({"type": "number"})]
Latitude = Annotated[
    float, BeforeValidator(_lat), WithJsonSchema({"type": "number", "minimum": -90, "maximum": 90})
]
Longitude = Annotated[
    float,
    BeforeValidator(_lon),
    WithJsonSchema({"type": "number", "minimum": -180, "maximum": 180}),
]
FixCount = Annotated[int, BeforeValidator(_fix_count), WithJsonSchema({"type": "integer"})]
#: A timetable: validated by :meth:`geomonitor.model.timetable.Timetable.parse`. Each row
#: starts on some days of the week, or on one date (which then replaces that day's weekly
#: rows); a curfew's row may name its own address.
TimetableSpec = Annotated[
    Any,
    WithJsonSchema(
        {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "days": {"type": "array", "items": {"type": "string"}},
                    "date": {"type": "string", "format": "date"},
                    "start": {"type": "string", "pattern": "^\\d\\d:\\d\\d$"},
                    "end": {"type": "string", "pattern": "^\\d\\d:\\d\\d$"},
                    "location": {
                        "type": "object",
                        "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                        "required": ["lat", "lon"],
                    },
                    "radius_m": {"type": "number", "exclusiveMinimum": 0},
                },
                "required": ["start", "end"],
                "oneOf": [{"required": ["days"]}, {"required": ["date"]}],
            },
        }
    ),
]


class _Item(BaseModel):
    # Fields the models do not name are kept in the stored record but not used.
    model_config = ConfigDict(extra="allow", frozen=True)


class LatLon(_Item):
    lat: Latitude
    lon: Longitude


# --------------------------------------------------------------------------- entities
class DistrictDoc(_Item):
    """A district; referred to elsewhere by code or by name."""

    code: Id
    name: Text = None
    #: The district's duty inbox: escalations, and mail for subjects with no officer.
    duty_inbox: Email = None


class ZoneDoc(_Item):
    """A zone: a GeoJSON geometry (WGS84 or BNG), a file, or a circle."""

    id: Id
    name: Text = None
    geometry: dict[str, Any] | None = None
    crs: str | None = None
    file: Annotated[str | None, BeforeValidator(lambda v: _expect_path(v))] = None
    center: LatLon | None = None
    radius_m: Positive | None = None

    @model_validator(mode="after")
    def _one_definition(self) -> ZoneDoc:
        given = [k for k in ("geometry", "file", "center") if k in self.model_fields_set]
        if len(given) != 1:
            raise _fail("give exactly one of geometry, file or center+radius_m")
        return self


def _expect_path(v: Any) -> str | None:
    if v is not None and not isinstance(v, str):
        raise _fail("expected a path")
    if v is not None and len(v) > MAX_TEXT_CHARS:
        raise _fail(f"too long ({len(v):,} characters; at most {MAX_TEXT_CHARS})")
    return v


class SubjectDoc(_Item):
    """A subject, by pseudonymous id; the birth date decides who may be tagged how."""

    id: Id
    district: Id
    birth_date: Annotated[
        date | None, BeforeValidator(_birth_date), WithJsonSchema({"type": "string"})
    ] = None
    #: The responsible officer's email address (told of the subject's candidates).
    officer: Email = None


class _ConditionDoc(_Item):
    id: Id
    type: str
    starts: Timestamp | None = None
    ends: Timestamp | None = None
    open_after: FixCount | None = None
    close_after: FixCount | None = None

    @field_validator("ends")
    @classmethod
    def _after_start(cls, v: int | None, info: ValidationInfo) -> int | None:
        starts = info.data.get("starts")
        if v is not None and starts is not None and v <= starts:
            raise _fail("condition ends before it starts")
        return v


class ExclusionZoneDoc(_ConditionDoc):
    """Must not be inside the zone (while the schedule, if any, applies)."""

    type: Literal["exclusion_zone"]
    zone: Id
    schedule: TimetableSpec | None = None
    timezone: str = "Europe/London"


def _no_schedule(v: Any) -> None:
    if v is not None:
        raise _fail("inclusion zones have no schedule")


class InclusionZoneDoc(_ConditionDoc):
    """Must stay inside the zone."""

    type: Literal["inclusion_zone"]
    zone: Id
    schedule: Annotated[None, BeforeValidator(_no_schedule)] = None


class CurfewDoc(_ConditionDoc):
    """Must be within ``radius_m`` of the address during the timetable's windows."""

    type: Literal["curfew"]
    location: LatLon
    radius_m: Positive = 100.0
    grace_minutes: NotNegative = 0.0
    timetable: TimetableSpec
    timezone: str = "Europe/London"
    #: Minutes late a month (late returns inside the grace period too) before the total is
    #: a candidate; default: the service's ``curfew_lateness_minutes``.
    lateness_minutes: Positive | None = None


class DeclaredVehiclesDoc(_ConditionDoc):
    """Must use only these vehicles."""

    type: Literal["declared_vehicles"]
    vrms: Annotated[
        list[str], BeforeValidator(_plates), WithJsonSchema({"type": "array", "minItems": 0})
    ]


class NonAssociationDoc(_ConditionDoc):
    """Must not meet these subjects (within ``distance_m`` for ``min_minutes``)."""

    type: Literal["non_association"]
    subjects: Annotated[
        list[str],
        BeforeValidator(_subject_ids),
        WithJsonSchema({"type": "array", "items": {"type": "string"}, "minItems": 1}),
    ]
    distance_m: Positive = 50.0
    min_minutes: Positive = 10.0


#: The model of each condition type.
CONDITION_DOCS: dict[str, type[_ConditionDoc]] = {
    "exclusion_zone": ExclusionZoneDoc,
    "inclusion_zone": InclusionZoneDoc,
    "curfew": CurfewDoc,
    "declared_vehicles": DeclaredVehiclesDoc,
    "non_association": NonAssociationDoc,
}
ConditionDoc = Annotated[
    ExclusionZoneDoc | InclusionZoneDoc | CurfewDoc | DeclaredVehiclesDoc | NonAssociationDoc,
    Field(discriminator="type"),
]


def _order_type(v: Any) -> str:
    v = _id(v)
    if v not in ORDER_TYPES:
        raise _fail(f'unknown order type "{v}" (use {", ".join(ORDER_TYPES)})')
    return v


def _reason(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _fail("missing: say why the order changed")
    if len(v) > MAX_TEXT_CHARS:
        raise _fail(f"too long ({len(v):,} characters; at most {MAX_TEXT_CHARS})")
    return v.strip()


def _variation_type(v: Any) -> str:
    v = _id(v)
    if v not in VARIATION_TYPES:
        raise _fail(f'unknown variation type "{v}" (use {", ".join(VARIATION_TYPES)})')
    return v


class VariationDoc(_Item):
    """A change to an order: from ``effective`` (which may be in the past) its conditions
    are ``conditions``. Variations are only ever added, never changed or removed."""

    id: Id
    type: Annotated[
        str, BeforeValidator(_variation_type), WithJsonSchema({"enum": list(VARIATION_TYPES)})
    ]
    reason: Annotated[
        str, BeforeValidator(_reason), WithJsonSchema({"type": "string", "minLength": 1})
    ]
    effective: Timestamp
    conditions: list[ConditionDoc] = Field(default_factory=list)


class OrderDoc(_Item):
    """An order (SCPO, licence or voluntary IOM agreement) binding one subject."""

    id: Id
    subject: Id
    type: Annotated[str, BeforeValidator(_order_type), WithJsonSchema({"enum": list(ORDER_TYPES)})]
    starts: Timestamp
    ends: Timestamp | None = None
    conditions: list[ConditionDoc] = Field(default_factory=list)
    variations: list[VariationDoc] = Field(default_factory=list)

    @field_validator("ends")
    @classmethod
    def _after_start(cls, v: int | None, info: ValidationInfo) -> int | None:
        starts = info.data.get("starts")
        if v is not None and starts is not None and v <= starts:
            raise _fail("order ends before it starts")
        return v


class OrderHeadDoc(OrderDoc):
    """An order without its conditions (validated one by one, each with its own path)."""

    conditions: Any = None
    variations: Any = None


class VariationHeadDoc(VariationDoc):
    """A variation without its conditions (validated one by one)."""

    conditions: Any = None


class TagDoc(_Item):
    """A tag unit, allocated to a district or in stock."""

    id: Id
    district: Text = None
    model: Text = None
    #: When the unit came to its district (or into stock); the inventory's first entry.
    allocated_at: Timestamp | None = None


class ConsentDoc(_Item):
    recorded_at: Timestamp
    guardian: Annotated[str | None, BeforeValidator(_guardian)] = None


def _consent(v: Any) -> Any:
    if not isinstance(v, dict) or v.get("recorded_at") is None:
        raise _fail("missing: every wearer volunteers and consent must be recorded")
    return v


class FittingDoc(_Item):
    """A tag fitted to a subject, with the consent on record."""

    tag: Id
    subject: Id
    fitted_at: Timestamp
    removed_at: Timestamp | None = None
    consent: Annotated[ConsentDoc, BeforeValidator(_consent)] = Field(
        default=None, validate_default=True
    )

    @field_validator("removed_at")
    @classmethod
    def _after_fitting(cls, v: int | None, info: ValidationInfo) -> int | None:
        fitted = info.data.get("fitted_at")
        if v is not None and fitted is not None and v <= fitted:
            raise _fail("removed before it was fitted")
        return v


class CameraDoc(_Item):
    """An ANPR camera (surveyed position)."""

    id: Id
    lat: Latitude
    lon: Longitude


class RegistryDocument(_Item):
    """A whole registry file."""

    districts: list[DistrictDoc] = Field(default_factory=list)
    zones: list[ZoneDoc] = Field(default_factory=list)
    subjects: list[SubjectDoc] = Field(default_factory=list)
    orders: list[OrderDoc] = Field(default_factory=list)
    tags: list[TagDoc] = Field(default_factory=list)
    fittings: list[FittingDoc] = Field(default_factory=list)
    cameras: list[CameraDoc] = Field(default_factory=list)


# --------------------------------------------------------------------------- errors
_MESSAGES = {
    "missing": "missing",
    "string_type": "expected a string",
    "dict_type": "expected an object",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "list_type": "expected a list",
    "none_required": "must be absent",
}


def error_lines(e: ValidationError, path: str) -> list[str]:
    """A validation error as ``path.field: message`` lines."""
    out = []
    for err in e.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        msg = _MESSAGES.get(err["type"], err["msg"])
        out.append(f"{path}{loc}: {msg}")
    return out


def schema() -> dict[str, Any]:
    """The JSON Schema of a registry file."""
    doc = RegistryDocument.model_json_schema()
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = "geomonitor registry"
    return doc


__all__ = [
    "CONDITION_DOCS",
    "CONDITION_TYPES",
    "ORDER_TYPES",
    "CameraDoc",
    "DistrictDoc",
    "FittingDoc",
    "OrderHeadDoc",
    "RegistryDocument",
    "SubjectDoc",
    "TagDoc",
    "VariationHeadDoc",
    "ZoneDoc",
    "error_lines",
    "schema",
]
