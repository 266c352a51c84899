"""Shared helpers: a small registry around Leeds city centre and fixes placed in metres."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from geomonitor.model.crs import to_bng, to_wgs84
from geomonitor.model.fix import Fix, FixBatch
from geomonitor.model.registry import Registry
from geomonitor.model.registry_load import parse_registry
from geomonitor.model.times import parse_ts

# Leeds Town Hall, roughly.
CENTRE_LAT, CENTRE_LON = 53.7997, -1.5492
CX, CY = (float(v[0]) for v in to_bng(np.array([CENTRE_LON]), np.array([CENTRE_LAT])))
T0 = parse_ts("2026-11-21T18:00:00Z")
MINUTE = 60_000

BASE_DOC: dict[str, Any] = {
    "districts": [{"code": "E08000035", "name": "Leeds"}],
    "zones": [
        {
            "id": "Z-CIRCLE",
            "name": "Victim address",
            "center": {"lat": CENTRE_LAT, "lon": CENTRE_LON},
            "radius_m": 300,
        },
    ],
    "subjects": [
        {"id": "S-0001", "district": "Leeds", "birth_date": "1990-04-01"},
        {"id": "S-0002", "district": "E08000035", "birth_date": "1985-07-12"},
    ],
    "orders": [
        {
            "id": "O-0001",
            "subject": "S-0001",
            "type": "scpo",
            "starts": "2026-01-01T00:00:00Z",
            "ends": None,
            "conditions": [{"id": "C-1", "type": "exclusion_zone", "zone": "Z-CIRCLE"}],
        },
    ],
    "tags": [
        {"id": "BUD-0001", "district": "Leeds", "model": "Buddi"},
        {"id": "BUD-0002", "district": "Leeds", "model": "Buddi"},
        {"id": "BUD-0099", "district": "Leeds", "model": "Buddi"},
    ],
    "fittings": [
        {
            "tag": "BUD-0001",
            "subject": "S-0001",
            "fitted_at": "2026-01-01T00:00:00Z",
            "removed_at": None,
            "consent": {"recorded_at": "2025-12-31T12:00:00Z", "guardian": None},
        },
        {
            "tag": "BUD-0002",
            "subject": "S-0002",
            "fitted_at": "2026-01-01T00:00:00Z",
            "removed_at": None,
            "consent": {"recorded_at": "2025-12-31T12:00:00Z", "guardian": None},
        },
    ],
    "cameras": [{"id": "CAM-0001", "lat": 53.80, "lon": -1.55}],
}


def make_doc(**changes: Any) -> dict[str, Any]:
    """A deep copy of the base registry document with top-level keys replaced."""
    doc = copy.deepcopy(BASE_DOC)
    doc.update(copy.deepcopy(changes))
    return doc


def make_registry(**changes: Any) -> Registry:
    return parse_registry(make_doc(**changes))


def fix_at(
    dx: float, dy: float, minute: float, acc: float = 10.0, tag: str = "BUD-0001", **kw: Any
) -> Fix:
    """A fix ``dx, dy`` metres east/north of the centre, ``minute`` minutes after T0."""
    lon, lat = to_wgs84(np.array([CX + dx]), np.array([CY + dy]))
    return Fix(tag, T0 + int(minute * MINUTE), float(lat[0]), float(lon[0]), acc, **kw)


def batch(fixes: list[Fix]) -> FixBatch:
    return FixBatch.from_fixes(list(fixes))


@pytest.fixture
def registry() -> Registry:
    return make_registry()


def deliver(engine, arrival: list[Fix], rng, max_batch: int) -> list[dict]:
    """Feed fixes to ``engine`` in random-sized batches; return the candidates obtained by
    applying its change stream (upserts and retractions) in order, sorted by id."""
    live: dict[str, dict] = {}
    i = 0
    while i < len(arrival):
        k = rng.randint(1, max_batch)
        res = engine.process(batch(arrival[i : i + k]))
        for cid in res.retracted:
            del live[cid]
        for c in res.upserts:
            live[c.id] = c.to_json()
        i += k
    return [live[k] for k in sorted(live)]


@pytest.fixture(scope="session")
def kafka_broker():
    """A real Kafka-protocol broker (tansu) for the whole test session."""
    from .broker import Broker

    b = Broker()
    yield b
    b.stop()
