import json

import pytest
import shapely

from geomonitor.model.errors import RegistryError
from geomonitor.model.registry_load import load_registry_file, parse_registry

from ..conftest import BASE_DOC, make_doc


def errors_of(doc) -> list[str]:
    with pytest.raises(RegistryError) as e:
        parse_registry(doc)
    return e.value.errors


def test_base_document_is_valid():
    reg = parse_registry(make_doc())
    assert set(reg.subjects) == {"S-0001", "S-0002"}
    assert reg.subjects["S-0002"].district == "E08000035"  # referenced by code
    assert reg.subjects["S-0001"].district == "E08000035"  # referenced by name
    zone = reg.zones["Z-CIRCLE"]
    assert zone.area_m2 == pytest.approx(3.14159 * 300**2, rel=1e-3)


def test_unknown_zone_reference_names_the_path():
    doc = make_doc()
    doc["orders"][0]["conditions"].append({"id": "C-2", "type": "exclusion_zone", "zone": "Z-9"})
    assert errors_of(doc) == ['orders[0].conditions[1].zone: unknown zone "Z-9"']


def test_a_non_association_cannot_name_the_subject_it_binds():
    doc = make_doc()
    doc["orders"][0]["conditions"].append(
        {"id": "C-2", "type": "non_association", "subjects": ["S-0002", "S-0001"]}
    )
    assert errors_of(doc) == [
        'orders[0].conditions[1].subjects: names the order\'s own subject "S-0001"'
    ]


def test_every_problem_is_reported_not_just_the_first():
    doc = make_doc()
    doc["orders"][0]["subject"] = "S-404"
    doc["orders"][0]["ends"] = "2025-01-01T00:00:00Z"
    doc["tags"][0]["district"] = "Atlantis"
    errs = errors_of(doc)
    assert 'orders[0].subject: unknown subject "S-404"' in errs
    assert "orders[0].ends: order ends before it starts" in errs
    assert 'tags[0].district: unknown district "Atlantis"' in errs


def test_tag_fitted_to_two_subjects_at_once():
    doc = make_doc()
    doc["fittings"].append(
        {
            "tag": "BUD-0001",
            "subject": "S-0002",
            "fitted_at": "2026-06-01T00:00:00Z",
            "consent": {"recorded_at": "2026-06-01T00:00:00Z"},
        }
    )
    assert errors_of(doc) == [
        'fittings: tag "BUD-0001" is fitted to subjects "S-0001" and "S-0002" at once'
    ]


def test_refitting_after_removal_is_fine():
    doc = make_doc()
    doc["fittings"][0]["removed_at"] = "2026-05-01T00:00:00Z"
    doc["fittings"].append(
        {
            "tag": "BUD-0001",
            "subject": "S-0002",
            "fitted_at": "2026-06-01T00:00:00Z",
            "consent": {"recorded_at": "2026-06-01T00:00:00Z"},
        }
    )
    assert len(parse_registry(doc).fittings) == 3


def test_fitting_without_consent():
    doc = make_doc()
    del doc["fittings"][1]["consent"]
    errs = errors_of(doc)
    assert len(errs) == 1 and errs[0].startswith("fittings[1].consent: missing")


def test_child_under_twelve_cannot_be_tagged():
    doc = make_doc()
    doc["subjects"][1]["birth_date"] = "2015-03-01"  # 10 at fitting
    doc["fittings"][1]["consent"]["guardian"] = "G-REF-1"
    assert errors_of(doc) == ['fittings[1]: subject "S-0002" is under 12 at fitting']


def test_youth_needs_guardian_consent():
    doc = make_doc()
    doc["subjects"][1]["birth_date"] = "2010-03-01"  # 15 at fitting
    errs = errors_of(doc)
    assert len(errs) == 1 and errs[0].startswith("fittings[1].consent.guardian:")
    assert "2010" not in errs[0]  # no personal values echoed
    doc["fittings"][1]["consent"]["guardian"] = "G-REF-1"
    parse_registry(doc)


def test_twelfth_birthday_counts_in_uk_local_date():
    doc = make_doc()
    doc["subjects"][1]["birth_date"] = "2014-01-01"
    doc["fittings"][1]["consent"]["guardian"] = "G-REF-1"
    # 2026-01-01T00:00Z is already 1 January in the UK: twelve today.
    parse_registry(doc)
    doc["subjects"][1]["birth_date"] = "2014-01-02"
    assert errors_of(doc) == ['fittings[1]: subject "S-0002" is under 12 at fitting']


def test_order_ending_before_it_starts_and_bad_condition():
    doc = make_doc()
    doc["orders"][0]["ends"] = "2025-12-31T00:00:00Z"
    doc["orders"][0]["conditions"][0]["type"] = "be_good"
    errs = errors_of(doc)
    assert "orders[0].ends: order ends before it starts" in errs
    assert any(e.startswith("orders[0].conditions[0].type: unknown condition type") for e in errs)


def test_all_condition_types_accepted():
    doc = make_doc()
    doc["orders"][0]["conditions"] += [
        {"id": "C-2", "type": "inclusion_zone", "zone": "Z-CIRCLE"},
        {
            "id": "C-3",
            "type": "curfew",
            "location": {"lat": 53.8, "lon": -1.55},
            "radius_m": 100,
            "timetable": [{"days": ["mon"], "start": "19:00", "end": "07:00"}],
            "timezone": "Europe/London",
            "grace_minutes": 15,
        },
        {"id": "C-4", "type": "declared_vehicles", "vrms": ["YX19 ABC"]},
        {
            "id": "C-5",
            "type": "non_association",
            "subjects": ["S-0002"],
            "distance_m": 50,
            "min_minutes": 10,
        },
        {
            "id": "C-6",
            "type": "exclusion_zone",
            "zone": "Z-CIRCLE",
            "schedule": [{"days": ["sat", "sun"], "start": "20:00", "end": "06:00"}],
            "starts": "2026-02-01T00:00:00Z",
            "ends": "2026-12-01T00:00:00Z",
            "open_after": 3,
        },
    ]
    reg = parse_registry(doc)
    types = [c.type for _, c in reg.conditions()]
    assert types == [
        "exclusion_zone",
        "inclusion_zone",
        "curfew",
        "declared_vehicles",
        "non_association",
        "exclusion_zone",
    ]
    assert reg.orders["O-0001"].conditions[-1].open_after == 3


def test_bad_curfew_and_schedule_are_named():
    doc = make_doc()
    doc["orders"][0]["conditions"] += [
        {
            "id": "C-3",
            "type": "curfew",
            "location": {"lat": 153.8, "lon": -1.55},
            "timetable": [{"days": ["mon"], "start": "19:00", "end": "07:00"}],
        },
        {
            "id": "C-4",
            "type": "exclusion_zone",
            "zone": "Z-CIRCLE",
            "schedule": [{"days": ["someday"], "start": "20:00", "end": "06:00"}],
        },
    ]
    errs = errors_of(doc)
    assert any(e.startswith("orders[0].conditions[1].location.lat") for e in errs)
    assert any(e.startswith("orders[0].conditions[2].schedule: [0].days") for e in errs)


def test_duplicate_ids():
    doc = make_doc()
    doc["subjects"].append(dict(doc["subjects"][0]))
    assert errors_of(doc) == ['subjects[2].id: duplicate id "S-0001" (also subjects[0])']


def test_polygon_with_hole_in_wgs84_and_multipolygon_in_bng():
    outer = [[-1.56, 53.79], [-1.54, 53.79], [-1.54, 53.81], [-1.56, 53.81], [-1.56, 53.79]]
    hole = [
        [-1.552, 53.798],
        [-1.548, 53.798],
        [-1.548, 53.802],
        [-1.552, 53.802],
        [-1.552, 53.798],
    ]
    multi = {
        "type": "MultiPolygon",
        "coordinates": [
            [[[430000, 433000], [430100, 433000], [430100, 433100], [430000, 433000]]],
            [[[431000, 433000], [431100, 433000], [431100, 433100], [431000, 433000]]],
        ],
    }
    doc = make_doc(
        zones=BASE_DOC["zones"]
        + [
            {"id": "Z-HOLE", "geometry": {"type": "Polygon", "coordinates": [outer, hole]}},
            {"id": "Z-MULTI", "geometry": multi, "crs": "EPSG:27700"},
        ]
    )
    reg = parse_registry(doc)
    assert len(reg.zones["Z-HOLE"].geometry.interiors) == 1
    assert reg.zones["Z-MULTI"].geometry.geom_type == "MultiPolygon"
    assert reg.zones["Z-MULTI"].area_m2 == pytest.approx(2 * 5000)


def test_invalid_and_non_areal_geometry_refused():
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [[-1.56, 53.79], [-1.54, 53.81], [-1.54, 53.79], [-1.56, 53.81], [-1.56, 53.79]]
        ],
    }
    doc = make_doc(
        zones=BASE_DOC["zones"]
        + [
            {"id": "Z-BOW", "geometry": bowtie},
            {"id": "Z-LINE", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}},
        ]
    )
    errs = errors_of(doc)
    assert any(e.startswith("zones[1].geometry: geometry is not valid") for e in errs)
    assert any(e.startswith("zones[2].geometry: geometry must be a Polygon") for e in errs)


def test_zone_from_file_bng_and_relative_to_registry(tmp_path):
    import geopandas as gpd

    poly = shapely.box(430000, 433000, 430500, 433400)
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[poly], crs="EPSG:27700").to_file(
        tmp_path / "haunt.geojson", driver="GeoJSON"
    )
    doc = make_doc(zones=BASE_DOC["zones"] + [{"id": "Z-FILE", "file": "haunt.geojson"}])
    (tmp_path / "registry.json").write_text(json.dumps(doc))
    reg, _ = load_registry_file(tmp_path / "registry.json")
    assert reg.zones["Z-FILE"].area_m2 == pytest.approx(500 * 400)
    doc["zones"][1]["file"] = "missing.geojson"
    (tmp_path / "registry.json").write_text(json.dumps(doc))
    with pytest.raises(RegistryError, match=r"zones\[1\]\.file"):
        load_registry_file(tmp_path / "registry.json")


def test_registry_file_that_is_not_json(tmp_path):
    p = tmp_path / "r.json"
    p.write_text("{oops")
    with pytest.raises(RegistryError, match="not valid JSON"):
        load_registry_file(p)


def test_oversize_strings_are_refused_with_their_path():
    """A 50 MB zone name must not reach the store (nor a 52 MB alerts show)."""
    doc = make_doc()
    doc["zones"][0]["name"] = "x" * 5_000_000
    doc["subjects"][0]["id"] = "S-" + "9" * 200
    errs = errors_of(doc)
    assert any(e.startswith("zones[0].name: too long (5,000,000 characters") for e in errs)
    assert any(e.startswith("subjects[0].id: too long") for e in errs)
    assert not any("xxxx" in e for e in errs)


LEEDS_SQUARE = [[-1.55, 53.79], [-1.54, 53.79], [-1.54, 53.80], [-1.55, 53.80], [-1.55, 53.79]]


@pytest.mark.parametrize(
    ("zone", "path", "says"),
    [
        (  # latitude and longitude swapped: it would lie off Somalia
            {"geometry": {"type": "Polygon", "coordinates": [[[y, x] for x, y in LEEDS_SQUARE]]}},
            "zones[1].geometry",
            "latitude and longitude look swapped",
        ),
        (  # BNG metres given as degrees
            {
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[430000, 433000], [431000, 433000], [431000, 434000], [430000, 433000]]
                    ],
                }
            },
            "zones[1].geometry",
            'give "crs": "EPSG:27700"',
        ),
        (  # a circle round the wrong way
            {"center": {"lat": -1.55, "lon": 53.8}, "radius_m": 200},
            "zones[1].center",
            "look swapped",
        ),
        (  # London: far outside Leeds, the registry's only district
            {"center": {"lat": 51.5, "lon": -0.12}, "radius_m": 200},
            "zones[1]",
            "km outside every district of the registry",
        ),
    ],
)
def test_zones_that_look_wrong_are_refused_saying_why(zone, path, says):
    doc = make_doc(zones=[*BASE_DOC["zones"], {"id": "Z-BAD", **zone}])
    (err,) = errors_of(doc)
    assert err.startswith(f"{path}: ") and says in err


def test_the_same_square_in_the_right_order_and_in_metres_with_its_crs_loads():
    right = {"id": "Z-OK", "geometry": {"type": "Polygon", "coordinates": [LEEDS_SQUARE]}}
    metres = {
        "id": "Z-BNG",
        "crs": "EPSG:27700",
        "geometry": {"type": "Polygon", "coordinates": [[[430000, 433000], [431000, 433000],
                                                         [431000, 434000], [430000, 433000]]]},
    }  # fmt: skip
    reg = parse_registry(make_doc(zones=[*BASE_DOC["zones"], right, metres]))
    assert {"Z-OK", "Z-BNG"} <= set(reg.zones)
