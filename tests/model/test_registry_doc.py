"""The registry's JSON Schema: made from the models, shipped in docs/, and every shipped or
simulated registry validates against it (and loads)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from geomonitor.model.registry_doc import schema
from geomonitor.model.registry_load import load_registry_file
from geomonitor.sim import simulate

ROOT = Path(__file__).parents[2]


def test_the_schema_in_docs_is_the_one_the_models_make():
    shipped = json.loads((ROOT / "docs" / "registry.schema.json").read_text())
    assert shipped == schema(), "run: geomonitor registry schema > docs/registry.schema.json"


@pytest.fixture(scope="module")
def validator():
    jsonschema.Draft202012Validator.check_schema(schema())
    return jsonschema.Draft202012Validator(schema())


def test_the_sample_registry_validates_and_loads(validator):
    path = ROOT / "zones" / "sample-registry.json"
    validator.validate(json.loads(path.read_text()))
    reg, _ = load_registry_file(path)
    assert reg.subjects and reg.zones


def test_a_simulated_registry_validates_and_loads(validator, tmp_path):
    simulate(tmp_path, subjects=6, days=1, seed=3)
    validator.validate(json.loads((tmp_path / "registry.json").read_text()))
    reg, _ = load_registry_file(tmp_path / "registry.json")
    assert len(reg.subjects) == 6


def test_the_schema_refuses_what_the_loader_refuses(validator):
    doc = json.loads((ROOT / "zones" / "sample-registry.json").read_text())
    doc["orders"][0]["conditions"].append({"id": "C-X", "type": "curfew_maybe"})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(doc)
    doc["orders"][0]["conditions"][-1] = {
        "id": "C-X",
        "type": "curfew",
        "location": {"lat": 123.0, "lon": -1.5},
        "timetable": [{"days": ["mon"], "start": "19:00", "end": "07:00"}],
    }
    with pytest.raises(jsonschema.ValidationError, match="123"):
        validator.validate(doc)
